//! Erasing message payloads (GDPR requests): one message at once, or every message of an
//! application matching a filter as a tracked background job.
//!
//! An erased message keeps its hash without the `payload` field (plus `erased`, the time), its
//! attempts and its list entry; deliveries still pending for it find no payload and end, as for
//! an expired message. The answer an Idempotency-Key stored for the request that created it
//! (which holds the payload) is deleted first: nothing of the payload stays in Redis.
//!
//! Jobs have the shape of recovery jobs (`recovery.rs`): a hash with the filter, a cursor into
//! the application's message list and the progress, written after every chunk; a job without
//! progress for [`STALE_AFTER`](super::recovery::STALE_AFTER) is claimed (`scripts/job_claim.lua`) and resumed from its
//! cursor. Like purges (`purge.rs`), running jobs are also listed in their partition, so its
//! owner resumes them even when nobody asks for their status.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use uuid::Uuid;

use super::messages::message_from_fields;
use super::ordered::{self, member_id};
use super::recovery::{JobStatus, JOB_TTL};
use super::{opt_field, opt_int, script_fields, Fields, Store};
use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::StoreError;
use crate::domain::Message;

static ERASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/message_erase.lua")));

/// Messages examined per chunk.
const CHUNK: usize = 200;

/// Which messages of an application a job erases (all of them when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EraseFilter {
    /// Only messages whose uid starts with this.
    pub uid_prefix: Option<String>,
    /// Only messages with this channel.
    pub channel: Option<String>,
    /// Only messages created before this time (epoch ms); absent: before the job started.
    pub before: Option<i64>,
}

impl EraseFilter {
    fn matches(&self, uid: Option<&str>, channels: &[String]) -> bool {
        self.uid_prefix
            .as_deref()
            .is_none_or(|prefix| uid.is_some_and(|uid| uid.starts_with(prefix)))
            && self.channel.as_ref().is_none_or(|c| channels.contains(c))
    }
}

/// An erasure job and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasureJob {
    pub id: Uuid,
    pub filter: EraseFilter,
    pub status: JobStatus,
    /// Messages examined so far.
    pub scanned: u64,
    /// Payloads erased so far.
    pub erased: u64,
    pub created: i64,
    pub updated: i64,
}

fn job_from_fields(id: Uuid, fields: &Fields) -> Option<ErasureJob> {
    let count = |name: &str| opt_int(fields, name).unwrap_or(0) as u64;
    Some(ErasureJob {
        id,
        filter: EraseFilter {
            uid_prefix: opt_field(fields, "uidPrefix"),
            channel: opt_field(fields, "channel"),
            before: opt_int(fields, "before"),
        },
        status: JobStatus::parse(fields.get("status")?)?,
        scanned: count("scanned"),
        erased: count("erased"),
        created: opt_int(fields, "created")?,
        updated: opt_int(fields, "updated")?,
    })
}

fn index_member(app: Uuid, job: Uuid) -> String {
    format!("{app}|{job}")
}

fn parse_index_member(member: &str) -> Option<(Uuid, Uuid)> {
    let (app, job) = member.split_once('|')?;
    Some((Uuid::parse_str(app).ok()?, Uuid::parse_str(job).ok()?))
}

impl Store {
    /// Deletes what an Idempotency-Key stored for the request that created a message (the
    /// answer holds the payload); `name` is the message's `idem` field, `<org>:<key hash>`.
    async fn forget_answers(&self, names: &[String]) -> Result<(), StoreError> {
        let keys: Vec<String> = names
            .iter()
            .filter_map(|name| name.split_once(':'))
            .map(|(org, hash)| self.db.keys.idempotency(org, hash))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.del(key).ignore();
        }
        let mut conn = self.conn().await?;
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Erases one message's payload; returns the message (without it).
    pub async fn erase_message(&self, app: Uuid, message: Uuid) -> Result<Message, StoreError> {
        let key = self.db.keys.message(app, message);
        let mut conn = self.conn().await?;
        let (exists, idem): (bool, Option<String>) = redis::pipe()
            .exists(&key)
            .hget(&key, "idem")
            .query_async(&mut conn)
            .await?;
        if !exists {
            return Err(StoreError::NotFound("message"));
        }
        self.forget_answers(
            &idem
                .into_iter()
                .filter(|i| !i.is_empty())
                .collect::<Vec<_>>(),
        )
        .await?;
        let answer = ScriptCall::new(&ERASE, &[&key])
            .arg(now_ms())
            .invoke(&mut conn)
            .await?;
        match script_fields(answer)? {
            Ok(fields) => message_from_fields(&fields),
            Err(_) => Err(StoreError::NotFound("message")),
        }
    }

    /// Starts a job erasing the payloads of `app`'s messages that match `filter` and exist now.
    pub async fn create_erasure(
        &self,
        app: Uuid,
        filter: &EraseFilter,
    ) -> Result<ErasureJob, StoreError> {
        let keys = &self.db.keys;
        let id = Uuid::new_v4();
        let now = now_ms();
        let key = keys.erasure(app, id);
        // Messages created from now on are not the job's: it ends.
        let end = filter.before.unwrap_or(now + 1).min(now + 1);
        let fields = [
            ("uidPrefix", filter.uid_prefix.clone().unwrap_or_default()),
            ("channel", filter.channel.clone().unwrap_or_default()),
            (
                "before",
                filter.before.map(|b| b.to_string()).unwrap_or_default(),
            ),
            ("end", ordered::member(end.max(0), Uuid::nil())),
            ("cursor", String::new()),
            ("status", JobStatus::Running.as_str().to_string()),
            ("scanned", "0".to_string()),
            ("erased", "0".to_string()),
            ("created", now.to_string()),
            ("updated", now.to_string()),
        ];
        let mut conn = self.conn().await?;
        let _: () = redis::pipe()
            .atomic()
            .hset_multiple(&key, &fields)
            .ignore()
            .expire(&key, JOB_TTL.as_secs() as i64)
            .ignore()
            .sadd(keys.recovery_jobs(app), id.to_string())
            .ignore()
            .zadd(
                keys.erasures(keys.partition_of(app)),
                index_member(app, id),
                now,
            )
            .ignore()
            .query_async(&mut conn)
            .await?;
        let fields: Fields = fields
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect();
        job_from_fields(id, &fields).ok_or(StoreError::NotFound("erasure job"))
    }

    /// A job, and whether this caller claimed it for resuming (no progress for
    /// [`STALE_AFTER`](super::recovery::STALE_AFTER): its node died).
    pub async fn erasure(
        &self,
        app: Uuid,
        id: Uuid,
    ) -> Result<Option<(ErasureJob, bool)>, StoreError> {
        let (fields, claimed) = self.claim_job(&self.db.keys.erasure(app, id)).await?;
        Ok(job_from_fields(id, &fields).map(|job| (job, claimed)))
    }

    /// Runs (or resumes) a job to the end, a chunk of the application's messages at a time.
    pub async fn run_erasure(&self, app: Uuid, id: Uuid) -> Result<(), StoreError> {
        let keys = &self.db.keys;
        let key = keys.erasure(app, id);
        let mut conn = self.conn().await?;
        let fields: Fields = conn.hgetall(&key).await?;
        let Some(job) = job_from_fields(id, &fields) else {
            return Err(StoreError::NotFound("erasure job"));
        };
        let end = opt_field(&fields, "end").unwrap_or_else(|| "0".into());
        let mut cursor = opt_field(&fields, "cursor");
        let (mut scanned, mut erased) = (job.scanned, job.erased);
        loop {
            let from = cursor.as_ref().map_or("-".to_string(), |c| format!("({c}"));
            let members: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(keys.messages(app))
                .arg(from)
                .arg(format!("({end}"))
                .arg("LIMIT")
                .arg(0)
                .arg(CHUNK)
                .query_async(&mut conn)
                .await?;
            let ids: Vec<Uuid> = members.iter().filter_map(|m| member_id(m)).collect();
            erased += self.erase_chunk(app, &job.filter, &ids).await?;
            scanned += ids.len() as u64;
            let done = members.len() < CHUNK;
            if let Some(last) = members.last() {
                cursor = Some(last.clone());
            }
            let status = if done {
                JobStatus::Done
            } else {
                JobStatus::Running
            };
            let mut pipe = redis::pipe();
            pipe.hset_multiple(
                &key,
                &[
                    ("cursor", cursor.clone().unwrap_or_default()),
                    ("scanned", scanned.to_string()),
                    ("erased", erased.to_string()),
                    ("updated", now_ms().to_string()),
                    ("status", status.as_str().to_string()),
                ],
            )
            .expire(&key, JOB_TTL.as_secs() as i64);
            if done {
                pipe.zrem(keys.erasures(keys.partition_of(app)), index_member(app, id));
            }
            let _: () = pipe.query_async(&mut conn).await?;
            if done {
                return Ok(());
            }
        }
    }

    /// Erases the payloads of those of `ids` that match; returns how many it erased.
    async fn erase_chunk(
        &self,
        app: Uuid,
        filter: &EraseFilter,
        ids: &[Uuid],
    ) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let keys = &self.db.keys;
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("HMGET")
                .arg(keys.message(app, *id))
                .arg("uid")
                .arg("channels")
                .arg("idem")
                .arg("erased");
        }
        let mut conn = self.conn().await?;
        type Row = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = pipe.query_async(&mut conn).await?;
        let mut matched = Vec::new();
        let mut answers = Vec::new();
        for (id, (uid, channels, idem, done)) in ids.iter().zip(rows) {
            let Some(channels) = channels else {
                continue; // expired meanwhile
            };
            let channels: Vec<String> = serde_json::from_str(&channels).unwrap_or_default();
            if done.is_some()
                || !filter.matches(uid.as_deref().filter(|u| !u.is_empty()), &channels)
            {
                continue;
            }
            matched.push(*id);
            answers.extend(idem.filter(|i| !i.is_empty()));
        }
        if matched.is_empty() {
            return Ok(0);
        }
        self.forget_answers(&answers).await?;
        let now = now_ms();
        let mut pipe = redis::pipe();
        pipe.load_script(&ERASE).ignore();
        for id in &matched {
            pipe.invoke_script(ERASE.key(keys.message(app, *id)).arg(now))
                .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(matched.len() as u64)
    }

    /// Claims the partition's erasure jobs whose node died (no progress for [`STALE_AFTER`](super::recovery::STALE_AFTER)),
    /// for the caller to run ([`Store::run_erasure`]); forgets finished or expired ones.
    pub async fn claim_stale_erasures(
        &self,
        partition: u16,
    ) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
        let index = self.db.keys.erasures(partition);
        let mut conn = self.conn().await?;
        let members: Vec<String> = conn.zrange(&index, 0, 15).await?;
        let mut claimed = Vec::new();
        for member in members {
            let found = match parse_index_member(&member) {
                Some((app, id)) => self.erasure(app, id).await?.map(|job| (app, job)),
                None => None,
            };
            match found {
                Some((app, (job, true))) => claimed.push((app, job.id)),
                Some((_, (job, false))) if job.status == JobStatus::Running => {}
                _ => {
                    let _: () = conn.zrem(&index, &member).await?;
                }
            }
        }
        Ok(claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_select_by_uid_prefix_and_channel() {
        let all = EraseFilter::default();
        let by_uid = EraseFilter {
            uid_prefix: Some("user-42-".into()),
            ..EraseFilter::default()
        };
        let by_channel = EraseFilter {
            channel: Some("eu".into()),
            ..EraseFilter::default()
        };
        let eu = vec!["eu".to_string()];
        assert!(all.matches(None, &[]));
        assert!(by_uid.matches(Some("user-42-a"), &[]));
        assert!(!by_uid.matches(Some("user-421"), &[]));
        assert!(!by_uid.matches(None, &eu));
        assert!(by_channel.matches(None, &eu));
        assert!(!by_channel.matches(Some("user-42-a"), &[]));
        let app = Uuid::new_v4();
        let job = Uuid::new_v4();
        assert_eq!(
            parse_index_member(&index_member(app, job)),
            Some((app, job))
        );
        assert_eq!(parse_index_member("x|y"), None);
    }
}
