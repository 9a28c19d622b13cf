//! The coordinator: on every heartbeat, announces the node, renews the leases it holds,
//! computes the assignment, and carries out the [`plan`](super::plan) (fence, drain, release,
//! acquire). On shutdown, it drains every partition while still renewing their leases, then
//! releases them and leaves the live set.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_rt::Arbiter;
use futures_util::future::join_all;
use tokio::sync::{oneshot, watch};

use super::fence::Fence;
use super::partition::{self, Mode};
use super::partition::{hub, ThreadShare};
use super::plan::{plan, Held, LeaseAction, Timing};
use super::recorder::{self, Recorder};
use super::WorkerContext;
use crate::db::StoreError;
use crate::queue::assignment;
use crate::queue::lease::{self, Lease, Renewal};
use crate::telemetry::metrics;

/// A partition this node holds: its lease and its running task.
struct HeldPartition {
    /// The lease, shared with the partition task and its actors.
    fence: Arc<Fence>,
    /// Tells the partition task to drain or abort.
    mode: watch::Sender<Mode>,
    /// Resolves when the partition task has ended.
    done: oneshot::Receiver<()>,
    /// Last successful renewal.
    renewed: Instant,
    /// When a hand-over drain was requested.
    draining_since: Option<Instant>,
}

impl HeldPartition {
    fn finished(&mut self) -> bool {
        !matches!(
            self.done.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )
    }
}

/// Bounds one Redis call of a heartbeat to `limit`. On a Redis Cluster a call to a master
/// that has just died waits for the client's own timeout (seconds, then the failover), which
/// must not hold up the renewals of the leases living on the other masters.
async fn bounded<T>(
    limit: Duration,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(limit, call).await {
        Ok(answer) => answer,
        Err(_) => Err(StoreError::Redis(
            std::io::Error::from(std::io::ErrorKind::TimedOut).into(),
        )),
    }
}

struct Coordinator {
    context: Arc<WorkerContext>,
    node_id: String,
    /// Threads the partitions (and their endpoint actors) run on: partition p on p mod K.
    arbiters: Vec<Arbiter>,
    /// What each thread's partitions share: its stream reader and its recorder.
    threads: Vec<ThreadShare>,
    held: HashMap<u16, HeldPartition>,
}

/// Runs the coordinator until `stop`, then shuts the node's worker down gracefully.
pub async fn run(
    context: Arc<WorkerContext>,
    node_id: String,
    mut stop: watch::Receiver<bool>,
    done: oneshot::Sender<()>,
) {
    let threads = match context.config.worker.threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let mut tick = tokio::time::interval(context.config.worker.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
    let threads = arbiters
        .iter()
        .map(|arbiter| {
            let (recorder, queue) =
                Recorder::new(context.store.db.clone(), context.store.retention_secs());
            let hub = (!context.config.redis.cluster).then(|| {
                let (hub, subscriptions) = tokio::sync::mpsc::unbounded_channel();
                let context = context.clone();
                arbiter.spawn_fn(move || {
                    actix_rt::spawn(hub::run(context, subscriptions));
                });
                hub
            });
            arbiter.spawn_fn(move || {
                actix_rt::spawn(recorder::run(queue));
            });
            ThreadShare { hub, recorder }
        })
        .collect();
    let mut coordinator = Coordinator {
        context,
        node_id,
        arbiters,
        threads,
        held: HashMap::new(),
    };
    tracing::info!(node = %coordinator.node_id, "worker started");
    loop {
        tokio::select! {
            _ = tick.tick() => coordinator.heartbeat().await,
            _ = stop.changed() => break,
        }
    }
    coordinator.shutdown().await;
    let _ = done.send(());
}

impl Coordinator {
    fn timing(&self) -> Timing {
        let config = &self.context.config;
        Timing {
            lease_ttl: config.worker.lease_ttl,
            heartbeat: config.worker.heartbeat,
            drain_limit: config.shutdown.timeout,
        }
    }

    /// How long one Redis call of a heartbeat may take ([`bounded`]).
    fn call_limit(&self) -> Duration {
        self.context.config.worker.lease_ttl / 4
    }

    async fn heartbeat(&mut self) {
        let db = &self.context.store.db;
        let ttl = self.context.config.worker.lease_ttl;
        let limit = self.call_limit();
        let mut lost = BTreeSet::new();
        // The announcement and every renewal at once, each bounded: a lease is renewed as
        // long as its own partition's master answers.
        let renewals = join_all(self.held.iter().map(|(p, held)| async move {
            let asked = Instant::now();
            let renewal = bounded(limit, lease::renew(db, *p, held.fence.lease(), ttl)).await;
            (*p, asked, renewal)
        }));
        let (live, renewals) = tokio::join!(
            bounded(limit, lease::heartbeat(db, &self.node_id, ttl)),
            renewals
        );
        for (p, asked, renewal) in renewals {
            match renewal {
                Ok(Renewal::Renewed) => {
                    if let Some(held) = self.held.get_mut(&p) {
                        held.renewed = asked;
                        held.fence.renewed(asked);
                    }
                }
                Ok(Renewal::Lost) => {
                    lost.insert(p);
                }
                Err(e) => tracing::warn!(partition = p, error = %e, "lease renewal failed"),
            }
        }
        // Without the live set or the lease holders there is no assignment: keep what is
        // held (the plan fences what can no longer be renewed in time) and take nothing new.
        let wanted: BTreeSet<u16> = match live {
            Ok(live) => match bounded(limit, lease::holders(db)).await {
                Ok(holders) => {
                    assignment::assigned(db.keys.partitions(), &live, &holders, &self.node_id)
                        .into_iter()
                        .collect()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the lease holders");
                    self.held.keys().copied().collect()
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed");
                self.held.keys().copied().collect()
            }
        };
        let view: Vec<Held> = self
            .held
            .iter_mut()
            .map(|(p, h)| Held {
                partition: *p,
                renewed: h.renewed,
                lost: lost.contains(p),
                draining_since: h.draining_since,
                finished: h.finished(),
            })
            .collect();
        for action in plan(&view, &wanted, Instant::now(), self.timing()) {
            self.carry_out(action).await;
        }
        metrics::OWNED_PARTITIONS.set(self.held.len() as i64);
    }

    async fn carry_out(&mut self, action: LeaseAction) {
        let db = &self.context.store.db;
        match action {
            LeaseAction::Fence(p) => {
                tracing::warn!(
                    partition = p,
                    "lease lost or not renewed in time; stopping partition"
                );
                if let Some(held) = self.held.remove(&p) {
                    let _ = held.mode.send(Mode::Abort);
                }
            }
            LeaseAction::Drain(p) => {
                if let Some(held) = self.held.get_mut(&p) {
                    held.draining_since = Some(Instant::now());
                    let _ = held.mode.send(Mode::Drain);
                }
            }
            LeaseAction::CutDrain(p) => {
                if let Some(held) = self.held.get(&p) {
                    let _ = held.mode.send(Mode::Abort);
                }
            }
            LeaseAction::Release(p) => {
                if let Some(held) = self.held.remove(&p) {
                    if let Err(e) =
                        bounded(self.call_limit(), lease::release(db, p, held.fence.lease())).await
                    {
                        tracing::warn!(partition = p, error = %e, "lease release failed");
                    }
                }
            }
            LeaseAction::Acquire(p) => {
                let ttl = self.context.config.worker.lease_ttl;
                let asked = Instant::now();
                match bounded(self.call_limit(), lease::acquire(db, p, &self.node_id, ttl)).await {
                    Ok(Some(lease)) => self.start_partition(p, lease, asked),
                    Ok(None) => {} // still held by its previous owner; try again next heartbeat
                    Err(e) => tracing::warn!(partition = p, error = %e, "lease acquisition failed"),
                }
            }
        }
    }

    fn start_partition(&mut self, number: u16, lease: Lease, acquired: Instant) {
        let (mode, mode_rx) = watch::channel(Mode::Active);
        let (done_tx, done) = oneshot::channel();
        let context = self.context.clone();
        let timing = self.timing();
        // Surely ours until the plan would fence it for want of a renewal.
        let margin = timing.lease_ttl.saturating_sub(timing.heartbeat);
        let fence = Arc::new(Fence::new(lease, acquired, margin));
        let task_fence = fence.clone();
        let thread = usize::from(number) % self.arbiters.len();
        let share = self.threads[thread].clone();
        self.arbiters[thread].spawn_fn(move || {
            actix_rt::spawn(async move {
                partition::run(context, number, task_fence, share, mode_rx).await;
                let _ = done_tx.send(());
            });
        });
        self.held.insert(
            number,
            HeldPartition {
                fence,
                mode,
                done,
                renewed: acquired,
                draining_since: None,
            },
        );
    }

    /// Drains every partition (bounded by the shutdown timeout), releases the leases and
    /// leaves the live set, so other nodes take over at once.
    ///
    /// The leases are renewed while the partitions drain: a drain may outlast a lease, and no
    /// other node may take over a partition whose deliveries are still in flight here. Part of
    /// the shutdown timeout (which also bounds the whole process stop) is kept for the release,
    /// so the leases go back even when the drain runs out of time.
    async fn shutdown(mut self) {
        let context = self.context.clone();
        let config = &context.config;
        let db = &context.store.db;
        let mut held = Vec::new();
        let mut pending = Vec::new();
        for (p, partition) in self.held.drain() {
            let _ = partition.mode.send(Mode::Drain);
            held.push((p, partition.fence, partition.mode));
            pending.push(partition.done);
        }
        let limit = config.shutdown.timeout;
        let margin = (limit / 4).min(Duration::from_secs(1));
        let deadline = tokio::time::Instant::now() + limit.saturating_sub(margin);
        let drain = async {
            for done in pending {
                let _ = tokio::time::timeout_at(deadline, done).await;
            }
        };
        let renew = async {
            let mut tick = tokio::time::interval(config.worker.heartbeat);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // As while running: without a renewal for this long, the leases may expire
            // elsewhere, so the drain ends here.
            let margin = config
                .worker
                .lease_ttl
                .saturating_sub(config.worker.heartbeat);
            let mut renewed = Instant::now();
            loop {
                tick.tick().await;
                if self.renew_while_draining(&held).await {
                    renewed = Instant::now();
                } else if renewed.elapsed() >= margin {
                    tracing::warn!("leases not renewed in time; ending the drain");
                    return;
                }
            }
        };
        tokio::select! {
            _ = drain => {}
            _ = renew => {}
        }
        for (_, _, mode) in &held {
            // Partitions still draining stop now; their unfinished entries stay pending.
            let _ = mode.send(Mode::Abort);
        }
        for (p, fence, _) in &held {
            let _ = lease::release(db, *p, fence.lease()).await;
        }
        let _ = lease::leave(db, &self.node_id).await;
        for arbiter in self.arbiters.drain(..) {
            arbiter.stop();
            let _ = arbiter.join();
        }
        metrics::OWNED_PARTITIONS.set(0);
        tracing::info!(node = %self.node_id, "worker stopped");
    }

    /// One heartbeat of a stopping node: stays in the live set and renews the leases of the
    /// partitions still draining; a partition whose lease was lost stops at once (fencing).
    /// False when Redis could not be reached.
    async fn renew_while_draining(&self, held: &[(u16, Arc<Fence>, watch::Sender<Mode>)]) -> bool {
        let db = &self.context.store.db;
        let ttl = self.context.config.worker.lease_ttl;
        if let Err(e) = lease::heartbeat(db, &self.node_id, ttl).await {
            tracing::warn!(error = %e, "heartbeat failed while draining");
            return false;
        }
        for (p, fence, mode) in held {
            let asked = Instant::now();
            match lease::renew(db, *p, fence.lease(), ttl).await {
                Ok(Renewal::Renewed) => fence.renewed(asked),
                Ok(Renewal::Lost) => {
                    tracing::warn!(
                        partition = p,
                        "lease lost while draining; stopping partition"
                    );
                    let _ = mode.send(Mode::Abort);
                }
                Err(e) => tracing::warn!(partition = p, error = %e, "lease renewal failed"),
            }
        }
        true
    }
}
