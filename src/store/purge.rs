//! Purging a deleted application's partition-side data, as a resumable background job.
//!
//! Deleting an application first records a purge request in its partition
//! (`{p.n}:purges`, member `<app>|<org>`, scored by the request time), then removes the
//! application from its organisation. The API node purges at once in the background; the
//! partition's owner resumes any request older than [`RESUME_AFTER`] (the API node died, or
//! Redis failed half-way), and drops a request whose application still exists an hour later
//! (its deletion failed). Purging is idempotent: its marker first (workers stop routing), then
//! endpoints, messages, attempts, uid and idempotency reservations, recovery jobs, parked
//! backlogs and retries, a bounded batch at a time.

use std::time::Duration;

use redis::AsyncCommands;
use uuid::Uuid;

use super::ordered::member_id;
use super::Store;
use crate::clock::now_ms;
use crate::db::StoreError;
use crate::queue::{park, Task};

/// Entities deleted per batch.
const BATCH: usize = 500;
/// A purge request this old is resumed by the partition's owner.
pub const RESUME_AFTER: Duration = Duration::from_secs(30);
/// A purge request whose application still exists this long after it is dropped.
const ABANDON_AFTER: Duration = Duration::from_secs(3600);

/// A purge request waiting in a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeRequest {
    pub app: Uuid,
    pub org: String,
    /// When it was requested, epoch ms.
    pub requested: i64,
}

fn member(app: Uuid, org: &str) -> String {
    format!("{app}|{org}")
}

fn parse_member(member: &str, requested: i64) -> Option<PurgeRequest> {
    let (app, org) = member.split_once('|')?;
    Some(PurgeRequest {
        app: Uuid::parse_str(app).ok()?,
        org: org.to_string(),
        requested,
    })
}

impl Store {
    /// Records that `app` of `org` is to be purged.
    pub async fn request_purge(&self, org: &str, app: Uuid) -> Result<(), StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let _: () = conn
            .zadd(
                keys.purges(keys.partition_of(app)),
                member(app, org),
                now_ms(),
            )
            .await?;
        Ok(())
    }

    /// Purge requests of `partition` older than [`RESUME_AFTER`] (at most `max`).
    pub async fn stale_purges(
        &self,
        partition: u16,
        max: usize,
    ) -> Result<Vec<PurgeRequest>, StoreError> {
        let mut conn = self.conn().await?;
        let before = now_ms() - RESUME_AFTER.as_millis() as i64;
        let found: Vec<(String, i64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.db.keys.purges(partition))
            .arg("-inf")
            .arg(before)
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(0)
            .arg(max)
            .query_async(&mut conn)
            .await?;
        Ok(found
            .iter()
            .filter_map(|(m, requested)| parse_member(m, *requested))
            .collect())
    }

    /// Purges up to about `budget` entities of a requested purge; true once it is over (the
    /// request is then removed). A request whose application still exists is left alone, and
    /// dropped after an hour.
    pub async fn purge_step(
        &self,
        request: &PurgeRequest,
        budget: usize,
    ) -> Result<bool, StoreError> {
        let keys = &self.db.keys;
        let app = request.app;
        let partition = keys.partition_of(app);
        let request_key = keys.purges(partition);
        if self.application_exists(&request.org, app).await? {
            let age = now_ms() - request.requested;
            if age >= ABANDON_AFTER.as_millis() as i64 {
                let mut conn = self.conn().await?;
                let _: () = conn.zrem(request_key, member(app, &request.org)).await?;
                return Ok(true);
            }
            return Ok(false);
        }
        let mut conn = self.conn().await?;
        let _: () = conn
            .del(&[keys.app_marker(app), keys.endpoint_uids(app)])
            .await?;
        let mut spent = 0;
        while spent < budget {
            let done = self.purge_endpoints(app).await? + self.purge_messages(app).await?;
            if done == 0 {
                break;
            }
            spent += done;
        }
        if spent >= budget {
            return Ok(false);
        }
        self.purge_jobs(app).await?;
        self.purge_retries(app).await?;
        let _: () = conn.zrem(request_key, member(app, &request.org)).await?;
        Ok(true)
    }

    /// Purges everything of `app` now (the API node's background task).
    pub async fn purge_now(&self, org: &str, app: Uuid) -> Result<(), StoreError> {
        let request = PurgeRequest {
            app,
            org: org.to_string(),
            requested: now_ms(),
        };
        while !self.purge_step(&request, usize::MAX).await? {}
        Ok(())
    }

    /// One batch of endpoints with their health, parked backlogs and recovery markers.
    async fn purge_endpoints(&self, app: Uuid) -> Result<usize, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let members: Vec<String> = conn
            .zrange(keys.endpoints(app), 0, BATCH as isize - 1)
            .await?;
        if members.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for id in members.iter().filter_map(|m| member_id(m)) {
            pipe.del(&[
                keys.endpoint(app, id),
                keys.endpoint_health(app, id),
                keys.parked(app, id),
                keys.recovering(app, id),
                keys.endpoint_log(app, id),
                keys.endpoint_stats(app, id),
            ])
            .ignore()
            .zrem(
                keys.parked_index(keys.partition_of(app)),
                park::index_member(app, id),
            )
            .ignore();
        }
        pipe.zrem(keys.endpoints(app), &members).ignore();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(members.len())
    }

    /// One batch of messages with their attempts and their uid and idempotency reservations.
    async fn purge_messages(&self, app: Uuid) -> Result<usize, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let members: Vec<String> = conn
            .zrange(keys.messages(app), 0, BATCH as isize - 1)
            .await?;
        if members.is_empty() {
            return Ok(0);
        }
        let ids: Vec<Uuid> = members.iter().filter_map(|m| member_id(m)).collect();
        let mut reservations = redis::pipe();
        for id in &ids {
            reservations
                .cmd("HMGET")
                .arg(keys.message(app, *id))
                .arg("uid")
                .arg("idem");
        }
        let reservations: Vec<(Option<String>, Option<String>)> =
            reservations.query_async(&mut conn).await?;
        let mut pipe = redis::pipe();
        for (id, (uid, idem)) in ids.iter().zip(reservations) {
            pipe.del(&[keys.message(app, *id), keys.attempts(app, *id)])
                .ignore();
            if let Some(uid) = uid.filter(|u| !u.is_empty()) {
                pipe.del(keys.message_uid(app, &uid)).ignore();
            }
            if let Some(idem) = idem.filter(|k| !k.is_empty()) {
                pipe.del(keys.message_idempotency_by_name(app, &idem))
                    .ignore();
            }
        }
        pipe.zrem(keys.messages(app), &members).ignore();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(members.len())
    }

    /// The application's background jobs (recovery, erasure).
    async fn purge_jobs(&self, app: Uuid) -> Result<(), StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let jobs: Vec<String> = conn.smembers(keys.recovery_jobs(app)).await?;
        let mut pipe = redis::pipe();
        for job in jobs.iter().filter_map(|j| Uuid::parse_str(j).ok()) {
            pipe.del(&[keys.recovery(app, job), keys.erasure(app, job)])
                .ignore();
        }
        pipe.del(keys.recovery_jobs(app)).ignore();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Removes an application's scheduled retries from its partition's retry set.
    async fn purge_retries(&self, app: Uuid) -> Result<(), StoreError> {
        let keys = &self.db.keys;
        let key = keys.retry(keys.partition_of(app));
        let pattern = Task::app_pattern(app);
        let mut conn = self.conn().await?;
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("ZSCAN")
                .arg(&key)
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            // ZSCAN returns member, score pairs.
            let members: Vec<&String> = batch.iter().step_by(2).collect();
            if !members.is_empty() {
                let _: () = conn.zrem(&key, members).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_name_app_and_org() {
        let app = Uuid::new_v4();
        assert_eq!(
            parse_member(&member(app, "acme.eu"), 5),
            Some(PurgeRequest {
                app,
                org: "acme.eu".into(),
                requested: 5
            })
        );
        assert_eq!(parse_member("nope", 0), None);
    }
}
