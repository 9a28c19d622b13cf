//! Recovery jobs: re-send to one endpoint every message whose last attempt there failed
//! within a time window, for any volume.
//!
//! A job is a Redis hash holding its window, progress and a cursor into the application's
//! message list. Whichever API node runs it writes progress after every chunk; a job whose
//! progress is older than [`STALE_AFTER`] (its node died) is resumed from the cursor by the
//! next status request, on any node. Re-sends are ordinary single-endpoint stream entries.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{AsyncCommands, Script};
use uuid::Uuid;

use super::ordered::{self, member_id};
use super::{opt_field, Fields, Store};
use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::StoreError;
use crate::domain::{Attempt, AttemptStatus};
use crate::queue::outbox::{OpsEvent, OutboxEvent, EVENT_FIELD};

/// Claims a stalled job (recovery or erasure) for resuming.
static CLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/job_claim.lua")));
static START: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/recovery_start.lua")));
static FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/recovery_finish.lua")));

/// Messages examined per chunk (one pipeline of attempt lists each).
const CHUNK: usize = 200;
/// A running job (recovery, erasure) with no progress for this long is resumed by the next
/// status request (and, for an erasure, by its partition's owner).
pub const STALE_AFTER: Duration = Duration::from_secs(30);
/// Finished jobs stay readable this long.
pub(crate) const JOB_TTL: Duration = Duration::from_secs(24 * 3600);

/// A recovery job and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryJob {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// Start of the window (epoch ms): attempts at or after it count.
    pub since: i64,
    /// End of the window (epoch ms), `None` = until the job started.
    pub until: Option<i64>,
    pub status: JobStatus,
    /// Messages examined so far.
    pub scanned: u64,
    /// Messages queued for re-sending so far.
    pub resent: u64,
    pub created: i64,
    pub updated: i64,
}

/// Where a background job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    Done,
}

impl JobStatus {
    /// Stable lowercase name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Done => "done",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<JobStatus> {
        [JobStatus::Running, JobStatus::Done]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

fn job_from_fields(id: Uuid, fields: &Fields) -> Option<RecoveryJob> {
    let int = |name: &str| opt_field(fields, name).and_then(|v| v.parse::<i64>().ok());
    Some(RecoveryJob {
        id,
        endpoint_id: Uuid::parse_str(fields.get("endpoint")?).ok()?,
        since: int("since")?,
        until: int("until"),
        status: JobStatus::parse(fields.get("status")?)?,
        scanned: int("scanned").unwrap_or(0) as u64,
        resent: int("resent").unwrap_or(0) as u64,
        created: int("created")?,
        updated: int("updated")?,
    })
}

/// Whether `message`'s last attempt to `endpoint` failed for good inside the window.
fn needs_resend(attempts: &[Attempt], endpoint: Uuid, since: i64, until: i64) -> bool {
    attempts
        .iter()
        .rev()
        .find(|a| a.endpoint_id == endpoint)
        .is_some_and(|a| {
            a.status == AttemptStatus::Failed && a.timestamp >= since && a.timestamp <= until
        })
}

/// What asking for a recovery did.
#[derive(Debug)]
pub enum Started {
    /// A new job, to be run with [`Store::run_recovery`].
    New(RecoveryJob),
    /// A job is already running for the endpoint: this one.
    AlreadyRunning(Uuid),
}

impl Store {
    /// Creates a job, unless one is already running for the endpoint.
    pub async fn create_recovery(
        &self,
        app: Uuid,
        endpoint: Uuid,
        since: i64,
        until: Option<i64>,
        oldest_message: i64,
    ) -> Result<Started, StoreError> {
        let id = Uuid::new_v4();
        let now = now_ms();
        let key = self.db.keys.recovery(app, id);
        let cursor = ordered::member(oldest_message.max(0), Uuid::nil());
        let until_text = until.map(|u| u.to_string()).unwrap_or_default();
        let fields = [
            ("endpoint", endpoint.to_string()),
            ("since", since.to_string()),
            ("until", until_text),
            // Attempts are never later than now: a window ending in the future ends now.
            ("limit", until.unwrap_or(now).min(now).to_string()),
            ("status", JobStatus::Running.as_str().to_string()),
            ("scanned", "0".to_string()),
            ("resent", "0".to_string()),
            ("cursor", cursor),
            ("created", now.to_string()),
            ("updated", now.to_string()),
        ];
        let mut call = ScriptCall::new(
            &START,
            &[
                self.db.keys.recovering(app, endpoint),
                key.clone(),
                self.db.keys.recovery_jobs(app),
            ],
        );
        call.arg(id.to_string()).arg(JOB_TTL.as_secs());
        for (name, value) in &fields {
            call.arg(*name).arg(value);
        }
        let mut conn = self.conn().await?;
        let (created, job): (i64, String) = call.invoke(&mut conn).await?;
        let job =
            Uuid::parse_str(&job).map_err(|_| StoreError::Corrupt("recovery job id".into()))?;
        if created == 0 {
            return Ok(Started::AlreadyRunning(job));
        }
        let fields: Fields = conn.hgetall(&key).await?;
        job_from_fields(id, &fields)
            .map(Started::New)
            .ok_or(StoreError::NotFound("recovery job"))
    }

    /// A job, and whether this caller claimed it for resuming (it was running without
    /// progress for [`STALE_AFTER`]: its node died).
    pub async fn recovery(
        &self,
        app: Uuid,
        id: Uuid,
    ) -> Result<Option<(RecoveryJob, bool)>, StoreError> {
        let (fields, claimed) = self.claim_job(&self.db.keys.recovery(app, id)).await?;
        Ok(job_from_fields(id, &fields).map(|job| (job, claimed)))
    }

    /// A job's hash (recovery or erasure), and whether this caller claimed the job for
    /// resuming because it made no progress for [`STALE_AFTER`].
    pub(crate) async fn claim_job(&self, key: &str) -> Result<(Fields, bool), StoreError> {
        let mut conn = self.conn().await?;
        let claimed: i64 = ScriptCall::new(&CLAIM, &[key])
            .arg(now_ms())
            .arg(STALE_AFTER.as_millis() as u64)
            .invoke(&mut conn)
            .await?;
        let fields: Fields = conn.hgetall(key).await?;
        Ok((fields, claimed == 1))
    }

    /// Runs (or resumes) a job to the end: walks the application's messages from the job's
    /// cursor, reads their attempts chunk by chunk, and queues a re-send for every message
    /// whose last attempt to the endpoint failed inside the window.
    pub async fn run_recovery(&self, app: Uuid, id: Uuid) -> Result<(), StoreError> {
        let key = self.db.keys.recovery(app, id);
        let mut conn = self.conn().await?;
        let fields: Fields = conn.hgetall(&key).await?;
        let Some(job) = job_from_fields(id, &fields) else {
            return Err(StoreError::NotFound("recovery job"));
        };
        let limit: i64 = opt_field(&fields, "limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(now_ms);
        let mut cursor = opt_field(&fields, "cursor").unwrap_or_else(|| "0".into());
        let end = ordered::member(limit.saturating_add(1), Uuid::nil());
        let (mut scanned, mut resent) = (job.scanned, job.resent);
        loop {
            let members: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(self.db.keys.messages(app))
                .arg(format!("({cursor}"))
                .arg(format!("({end}"))
                .arg("LIMIT")
                .arg(0)
                .arg(CHUNK)
                .query_async(&mut conn)
                .await?;
            let ids: Vec<Uuid> = members.iter().filter_map(|m| member_id(m)).collect();
            if !ids.is_empty() {
                let mut pipe = redis::pipe();
                for message in &ids {
                    pipe.lrange(self.db.keys.attempts(app, *message), 0, -1);
                }
                let lists: Vec<Vec<String>> = pipe.query_async(&mut conn).await?;
                for (message, rows) in ids.iter().zip(lists) {
                    let attempts: Vec<Attempt> = rows
                        .iter()
                        .filter_map(|r| super::attempts::decode(r).ok())
                        .collect();
                    if needs_resend(&attempts, job.endpoint_id, job.since, limit) {
                        self.enqueue_resend(app, *message, job.endpoint_id).await?;
                        resent += 1;
                    }
                }
            }
            scanned += ids.len() as u64;
            let done = members.len() < CHUNK;
            if let Some(last) = members.last() {
                cursor = last.clone();
            }
            let progress = [
                ("cursor", cursor.clone()),
                ("scanned", scanned.to_string()),
                ("resent", resent.to_string()),
                ("updated", now_ms().to_string()),
            ];
            if !done {
                let _: () = redis::pipe()
                    .hset_multiple(&key, &progress)
                    .expire(&key, JOB_TTL.as_secs() as i64)
                    .query_async(&mut conn)
                    .await?;
                continue;
            }
            // Finished: the final progress, the endpoint's marker and the recovery.finished
            // event in one step (once, whichever node gets there first).
            let keys = &self.db.keys;
            let event =
                OutboxEvent::new(OpsEvent::RecoveryFinished, app, job.endpoint_id, now_ms())
                    .with("jobId", id.to_string())
                    .with("scanned", scanned)
                    .with("resent", resent);
            let mut finish = ScriptCall::new(
                &FINISH,
                &[
                    key.clone(),
                    keys.recovering(app, job.endpoint_id),
                    keys.outbox(keys.partition_of(app)),
                ],
            );
            finish
                .arg(id.to_string())
                .arg(JOB_TTL.as_secs())
                .arg(EVENT_FIELD)
                .arg(event.encode())
                .arg("status")
                .arg(JobStatus::Done.as_str());
            for (name, value) in &progress {
                finish.arg(*name).arg(value);
            }
            let _: i64 = finish.invoke(&mut conn).await?;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(endpoint: Uuid, at: i64, status: AttemptStatus) -> Attempt {
        Attempt {
            endpoint_id: endpoint,
            attempt: 1,
            timestamp: at,
            status,
            response_status_code: Some(500),
            error: None,
            duration_ms: 1,
            response_body: None,
            next_attempt: None,
        }
    }

    #[test]
    fn only_final_failures_inside_the_window_count() {
        let ep = Uuid::new_v4();
        let other = Uuid::new_v4();
        let failed = attempt(ep, 100, AttemptStatus::Failed);
        assert!(needs_resend(std::slice::from_ref(&failed), ep, 50, 150));
        assert!(
            !needs_resend(std::slice::from_ref(&failed), ep, 101, 150),
            "before the window"
        );
        assert!(
            !needs_resend(std::slice::from_ref(&failed), ep, 50, 99),
            "after the window"
        );
        assert!(
            !needs_resend(std::slice::from_ref(&failed), other, 50, 150),
            "other endpoint"
        );
        let later_success = attempt(ep, 120, AttemptStatus::Success);
        assert!(!needs_resend(&[failed.clone(), later_success], ep, 50, 150));
        let pending = attempt(ep, 100, AttemptStatus::Pending);
        assert!(!needs_resend(&[pending], ep, 50, 150), "still retrying");
        let other_after = attempt(other, 130, AttemptStatus::Success);
        assert!(needs_resend(&[failed, other_after], ep, 50, 150));
    }
}
