//! The partition's side of FIFO lanes: deliveries to ordered endpoints are pushed to their
//! lane at fan-out (in stream order), and the lane runner hands each due lane's head to the
//! endpoint's actor, one at a time per lane; when a head's outcome is recorded, the lane's
//! next head goes at once.

use std::time::Duration;

use super::{Partition, Stalled};
use crate::clock::now_ms;
use crate::db::StoreError;
use crate::dispatch::messages::{Enqueue, Job, LaneJob};
use crate::dispatch::routing::Route;
use crate::queue::lane::{self, FromEntry, Lane};
use crate::queue::stream::{Entry, Read};
use crate::queue::{Target, Task};
use crate::telemetry::metrics;

use super::fanout::{self, MessageData};

/// Lanes looked at per runner pass.
const LANES_PER_PASS: usize = 64;
/// Lane heads in flight at most per partition.
const MAX_LANES_IN_FLIGHT: usize = 512;
/// When a lane that cannot go now (endpoint paused, disabled or gone) is looked at again,
/// at the latest (a resume or re-enabling makes it due at once).
const HELD_RECHECK: Duration = Duration::from_secs(60);

impl Partition {
    /// Appends an entry's delivery to `route`'s lane (the lane of its ordering key).
    pub(super) async fn push_to_lane(
        &mut self,
        entry: &Entry,
        message: &MessageData,
        route: &Route,
    ) -> Result<(), Stalled> {
        let max_lanes = self.context.config.endpoint.max_lanes;
        let lane = Lane::of(
            entry.task.app,
            route.id,
            message.ordering_key.as_deref(),
            max_lanes,
        );
        let task = Task {
            app: entry.task.app,
            message: entry.task.message,
            created: entry.task.created,
            target: Target::Endpoint {
                id: route.id,
                attempts: match entry.task.target {
                    Target::Endpoint { attempts, .. } => attempts,
                    _ => 0,
                },
            },
        };
        let db = &self.context.store.db;
        let from = FromEntry {
            entry: &entry.id,
            done_ttl_secs: self.context.store.retention_secs(),
        };
        match lane::push(
            db,
            self.number,
            self.fence.token(),
            &lane,
            &task,
            from,
            now_ms(),
        )
        .await
        {
            Ok(()) => {
                self.lanes_ready.push(lane);
                Ok(())
            }
            Err(StoreError::LeaseLost) => {
                metrics::FENCED_WRITES.inc();
                self.lease_lost = true;
                Err(Stalled)
            }
            Err(e) => {
                if let Some(skipped) = self.throttles.load.allow(std::time::Instant::now()) {
                    tracing::warn!(partition = self.number, error = %e, skipped, "could not push to a lane");
                }
                Err(Stalled)
            }
        }
    }

    /// A lane's head ended: the lane may go on at once.
    pub(super) fn lane_ended(&mut self, lane: Lane, continues: bool) {
        self.lanes_in_flight.remove(&lane);
        if continues {
            self.lanes_ready.push(lane);
        }
    }

    /// Hands the heads of the lanes known to be ready, then of due lanes, to their actors;
    /// true when the lease turned out to be lost.
    pub(super) async fn run_lanes(&mut self, look_for_due: bool) -> bool {
        let db = &self.context.store.db;
        let now = now_ms();
        let mut candidates = std::mem::take(&mut self.lanes_ready);
        if look_for_due {
            match lane::due(db, self.number, now, LANES_PER_PASS).await {
                Ok(due) => candidates.extend(due),
                Err(e) => {
                    if let Some(skipped) = self.throttles.mover.allow(std::time::Instant::now()) {
                        tracing::warn!(partition = self.number, error = %e, skipped, "could not read due lanes");
                    }
                }
            }
        }
        candidates.sort_by_key(|a| a.member());
        candidates.dedup();
        let hold = self.context.config.queue.reclaim_idle;
        let mut taken: Vec<(Lane, String, Task)> = Vec::new();
        for lane in candidates {
            if self.lanes_in_flight.contains(&lane)
                || self.lanes_in_flight.len() >= MAX_LANES_IN_FLIGHT
            {
                continue;
            }
            match lane::take(db, self.number, self.fence.token(), &lane, now, hold).await {
                Ok(Some((head, task))) => {
                    self.lanes_in_flight.insert(lane.clone());
                    taken.push((lane, head, task));
                }
                Ok(None) => {}
                Err(StoreError::LeaseLost) => return true,
                Err(e) => {
                    tracing::warn!(partition = self.number, error = %e, "could not take a lane's head");
                    break;
                }
            }
        }
        if taken.is_empty() {
            return false;
        }
        self.start_heads(taken).await
    }

    /// Loads the messages of taken heads and sends each to its endpoint's actor.
    async fn start_heads(&mut self, taken: Vec<(Lane, String, Task)>) -> bool {
        let context = self.context.clone();
        let db = &context.store.db;
        let read = Read {
            entries: taken
                .iter()
                .map(|(_, _, task)| Entry {
                    id: String::new(),
                    task: task.clone(),
                })
                .collect(),
            broken: Vec::new(),
            pending: false,
        };
        let loaded = match fanout::load(db, self.number, &read).await {
            Ok(loaded) => loaded,
            Err(e) => {
                // Left taken: each lane is due again when its hold ends.
                tracing::warn!(partition = self.number, error = %e, "could not load lane heads");
                for (lane, _, _) in &taken {
                    self.lanes_in_flight.remove(lane);
                }
                return false;
            }
        };
        for (app, version) in loaded
            .versions
            .iter()
            .filter_map(|(a, v)| Some((*a, (*v)?)))
        {
            if !self.routes.is_current(app, version) {
                if let Ok((version, endpoints)) = self.context.store.all_endpoints(app).await {
                    self.routes.insert(app, version, &endpoints);
                }
            }
        }
        let now = now_ms();
        for ((lane, head, task), message) in taken.into_iter().zip(loaded.messages) {
            let route = self.routes.route(lane.app, lane.endpoint);
            let held = route.as_ref().is_none_or(|r| !r.enabled || r.paused);
            let outcome = match (message, route) {
                // Nothing left to deliver: the next head goes.
                (None, _) => lane::skip(db, self.number, self.fence.token(), &lane, &head, now)
                    .await
                    .map(|next| {
                        if next {
                            self.lanes_ready.push(lane.clone());
                        }
                    }),
                // Paused, disabled or deleted: the lane waits, in order.
                (Some(_), _) if held => {
                    let again = now + HELD_RECHECK.as_millis() as i64;
                    lane::defer(db, self.number, self.fence.token(), &lane, again).await
                }
                (Some(message), Some(route)) => {
                    let actor = self.actor(lane.app, &route);
                    actor.do_send(Enqueue(Job {
                        entry: String::new(),
                        task,
                        route,
                        payload: message.payload,
                        sole: false,
                        done_set: false,
                        ticket: self.context.activity.job(),
                        lane: Some(LaneJob {
                            lane: lane.clone(),
                            head,
                        }),
                    }));
                    continue;
                }
                (Some(_), None) => Ok(()),
            };
            self.lanes_in_flight.remove(&lane);
            match outcome {
                Err(StoreError::LeaseLost) => return true,
                Err(e) => {
                    tracing::warn!(partition = self.number, error = %e, "could not move a lane on")
                }
                Ok(()) => {}
            }
        }
        false
    }

    /// An ordered endpoint was resumed, re-enabled or changed: its lanes are due at once (or,
    /// when it was deleted, are deleted).
    pub(super) async fn refresh_lanes(
        &mut self,
        app: uuid::Uuid,
        endpoint: uuid::Uuid,
        route: Option<&Route>,
    ) {
        let db = &self.context.store.db;
        let result = match route {
            None => lane::delete_endpoint_lanes(db, self.number, app, endpoint).await,
            Some(route) if route.enabled && !route.paused => {
                lane::wake_endpoint(db, self.number, app, endpoint, now_ms()).await
            }
            Some(_) => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(partition = self.number, error = %e, "could not refresh an endpoint's lanes");
        }
    }
}
