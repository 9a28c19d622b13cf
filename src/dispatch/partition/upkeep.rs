//! A partition's periodic duties, beside reading and delivering: moving due retries into the
//! stream, releasing parked backlogs as their circuits allow, reclaiming entries left pending
//! too long, relaying the outbox of operational events, resuming erasures and purges that a
//! dead node left, publishing queue depths and stopping idle actors. Each runs on a tick of
//! the partition's loop ([`super::run`]); a failure is logged (throttled) and tried again on
//! the next tick.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::{Batch, Partition};
use crate::clock::now_ms;
use crate::db::StoreError;
use crate::dispatch::messages::StopIfIdle;
use crate::queue::retry::{self, Moved};
use crate::queue::{park, stream};
use crate::telemetry::metrics;

/// Due retries moved per script call.
const MOVE_BATCH: usize = 500;
/// Operational events relayed per tick.
const RELAY_BATCH: usize = 100;
/// Parked endpoints looked at per tick.
const RELEASE_ENDPOINTS: usize = 64;
/// Pause after releasing a probe of a parked backlog before releasing another, when the
/// endpoint's circuit has not changed meanwhile.
const PROBE_PAUSE: Duration = Duration::from_secs(1);
/// Entities a partition purges per housekeeping tick.
const PURGE_BUDGET: usize = 2_000;

impl Partition {
    /// Moves due retries into the stream, at most `queue.move_limit` per tick; true when the
    /// lease turned out to be lost.
    pub(super) async fn move_due(&mut self) -> bool {
        let db = &self.context.store.db;
        let limit = self.context.config.queue.move_limit;
        let mut moved_total = 0;
        while moved_total < limit {
            let batch = MOVE_BATCH.min(limit - moved_total);
            match retry::move_due(db, self.number, self.fence.lease(), now_ms(), batch).await {
                Ok(Moved::LeaseLost) => return true,
                Ok(Moved::Moved(n)) => {
                    moved_total += n;
                    if n < batch {
                        break;
                    }
                }
                Err(e) => {
                    if let Some(skipped) = self.throttles.mover.allow(Instant::now()) {
                        tracing::warn!(partition = self.number, error = %e, skipped, "could not move due retries");
                    }
                    break;
                }
            }
        }
        false
    }

    /// Releases what the circuits of parked endpoints allow; true when the lease turned out
    /// to be lost.
    pub(super) async fn release_parked(&mut self) -> bool {
        let db = &self.context.store.db;
        let now = now_ms();
        let due = match park::due(db, self.number, now, RELEASE_ENDPOINTS).await {
            Ok(due) => due,
            Err(e) => {
                if let Some(skipped) = self.throttles.mover.allow(Instant::now()) {
                    tracing::warn!(partition = self.number, error = %e, skipped, "could not read parked endpoints");
                }
                return false;
            }
        };
        let batch = self.context.config.queue.release_batch;
        let pause = PROBE_PAUSE.as_millis() as u64;
        for endpoint in due {
            match park::release(
                db,
                self.number,
                self.fence.token(),
                endpoint,
                now,
                batch,
                pause,
            )
            .await
            {
                Ok(n) => metrics::RELEASED.inc_by(n as u64),
                Err(StoreError::LeaseLost) => return true,
                Err(e) => {
                    if let Some(skipped) = self.throttles.mover.allow(Instant::now()) {
                        tracing::warn!(partition = self.number, error = %e, skipped, "could not release parked work");
                    }
                    return false;
                }
            }
        }
        false
    }

    /// Delivers again the entries pending for longer than `queue.reclaim_idle` that are not
    /// in this node's hands (their outcome could not be recorded, or their read reply was
    /// lost); true when the lease turned out to be lost.
    pub(super) async fn reclaim(&mut self) -> bool {
        let config = &self.context.config.queue;
        // Reclaimed entries enter the window like read ones: take what room there is.
        let room = self.window.available().min(config.batch_size);
        if room == 0 {
            return false;
        }
        let db = &self.context.store.db;
        let claimed = stream::reclaim(
            db,
            self.number,
            self.fence.token(),
            config.reclaim_idle,
            &self.reclaim_cursor,
            room,
        )
        .await;
        let (next, mut read) = match claimed {
            Ok(claimed) => claimed,
            Err(StoreError::LeaseLost) => return true,
            Err(e) => {
                if let Some(skipped) = self.throttles.reclaim.allow(Instant::now()) {
                    tracing::warn!(partition = self.number, error = %e, skipped, "could not reclaim pending entries");
                }
                return false;
            }
        };
        self.reclaim_cursor = next;
        // Entries still in hand here (slow endpoints, rate limits) are not lost: skip them.
        let deferred: HashSet<&str> = self
            .deferred
            .iter()
            .flat_map(|b| b.read.entries.iter().map(|e| e.id.as_str()))
            .collect();
        let held = |id: &str| self.ledger.holds(id) || deferred.contains(id);
        read.entries.retain(|e| !held(&e.id));
        read.broken.retain(|id| !held(id));
        let taken = read.len();
        if taken == 0 {
            return false;
        }
        if !self.window.try_take(taken) {
            return false; // no room after all: they come back next time
        }
        tracing::info!(
            partition = self.number,
            entries = taken,
            "reclaimed pending entries"
        );
        metrics::RECLAIMED.inc_by(taken as u64);
        self.handle(Batch {
            read,
            permits_each: 1,
            loaded: None,
        })
        .await;
        false
    }

    /// Relays the partition's operational events into messages of their organisations'
    /// operational applications (`store::ops`); what fails waits for the next tick.
    pub(super) async fn relay_outbox(&mut self) {
        if let Err(e) = self
            .context
            .store
            .relay_outbox(self.number, RELAY_BATCH)
            .await
        {
            if let Some(skipped) = self.throttles.mover.allow(Instant::now()) {
                tracing::warn!(partition = self.number, error = %e, skipped, "could not relay operational events");
            }
        }
    }

    /// Resumes erasure jobs of this partition whose node died, in the background (a job may be
    /// long; the claim keeps another node from running it at the same time).
    pub(super) async fn resume_erasures(&mut self) {
        let store = &self.context.store;
        match store.claim_stale_erasures(self.number).await {
            Ok(claimed) => {
                for (app, job) in claimed {
                    let store = store.clone();
                    actix_rt::spawn(async move {
                        if let Err(e) = store.run_erasure(app, job).await {
                            tracing::warn!(error = %e, %job, "erasure job interrupted; it is resumed later");
                        }
                    });
                }
            }
            Err(e) => {
                if let Some(skipped) = self.throttles.mover.allow(Instant::now()) {
                    tracing::warn!(partition = self.number, error = %e, skipped, "could not read erasure jobs");
                }
            }
        }
    }

    /// Resumes the purges of deleted applications that their API node did not finish.
    pub(super) async fn resume_purges(&mut self) {
        let store = &self.context.store;
        let requests = match store.stale_purges(self.number, 4).await {
            Ok(requests) => requests,
            Err(e) => {
                if let Some(skipped) = self.throttles.mover.allow(Instant::now()) {
                    tracing::warn!(partition = self.number, error = %e, skipped, "could not read purge requests");
                }
                return;
            }
        };
        for request in requests {
            match store.purge_step(&request, PURGE_BUDGET).await {
                Ok(true) => {
                    tracing::info!(app = %request.app, "purge of a deleted application finished")
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(app = %request.app, error = %e, "purge step failed; resumed later");
                    return;
                }
            }
        }
    }

    pub(super) async fn publish_depth(&self) {
        let db = &self.context.store.db;
        let Ok(mut conn) = db.conn().await else {
            return;
        };
        let depth: Result<(i64, i64), _> = redis::pipe()
            .xlen(db.keys.stream(self.number))
            .zcard(db.keys.retry(self.number))
            .query_async(&mut conn)
            .await;
        if let Ok((stream, retry)) = depth {
            let label = self.number.to_string();
            metrics::QUEUE_DEPTH
                .with_label_values(&[&label, "stream"])
                .set(stream);
            metrics::QUEUE_DEPTH
                .with_label_values(&[&label, "retry"])
                .set(retry);
        }
    }

    /// Stops actors that have been idle for the idle timeout, so memory follows activity.
    pub(super) async fn stop_idle_actors(&mut self) {
        let asks: Vec<_> = self
            .actors
            .iter()
            .map(|(id, addr)| {
                let ask = addr.send(StopIfIdle);
                let id = *id;
                async move { (id, ask.await.unwrap_or(true)) }
            })
            .collect();
        for (id, stopped) in futures_util::future::join_all(asks).await {
            if stopped {
                self.actors.remove(&id);
            }
        }
        // Routes of applications with no live actor are cheap to reload; drop them too.
        if self.actors.is_empty() {
            self.routes.clear();
        }
    }
}
