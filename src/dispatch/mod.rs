//! The worker: owns partitions through leases, and for each one runs a partition task that
//! fans messages out to per-endpoint actors.
//!
//! ```text
//! coordinator (heartbeat) ── lease acquire/renew/release ──► partition task (one per owned
//! partition, on arbiter p mod K) ──► EndpointActor (one per endpoint) ──► delivery
//! ```
//!
//! The coordinator renews every owned lease on each heartbeat. A lease found lost (or not
//! renewed for longer than `lease_ttl - heartbeat`, e.g. Redis unreachable) aborts its
//! partition before the lease can pass to another node. Partitions that the even assignment
//! moves elsewhere are drained, then released, so the next owner starts at once.

pub mod endpoint;
pub mod messages;
pub mod partition;
pub mod routing;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_rt::Arbiter;
use tokio::sync::{oneshot, watch};

use crate::config::Config;
use crate::delivery::Deliverer;
use crate::queue::{lease, QueueScripts};
use crate::retry::RetryPolicy;
use crate::store::Store;
use crate::telemetry::metrics;
use partition::StopMode;

/// Services every partition and endpoint actor of a node shares.
pub struct Shared {
    /// Redis store (pooled connections, keys, retention).
    pub store: Store,
    /// Node configuration.
    pub config: Arc<Config>,
    /// The one pooled HTTP client.
    pub deliverer: Deliverer,
    /// Retry schedule.
    pub policy: RetryPolicy,
    /// Scripts of the delivery path.
    pub scripts: QueueScripts,
    /// Node-wide cap on requests in flight (`worker.max_in_flight`).
    pub node_permits: tokio::sync::Semaphore,
}

/// A running partition, as the coordinator tracks it.
struct Owned {
    /// Lease token ("node:epoch").
    token: String,
    /// Asks the partition to drain or abort.
    stop: watch::Sender<StopMode>,
    /// Resolves when the partition task has ended.
    done: oneshot::Receiver<()>,
    /// Last successful renewal.
    renewed: Instant,
    /// When a drain was requested (rebalancing away).
    draining_since: Option<Instant>,
}

impl Owned {
    fn finished(&mut self) -> bool {
        !matches!(
            self.done.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )
    }
}

/// Handle of a running worker.
pub struct Worker {
    /// Id of this node in the live set.
    pub node_id: String,
    stop: watch::Sender<bool>,
    done: oneshot::Receiver<()>,
}

impl Worker {
    /// Starts the coordinator; partitions follow on the next heartbeats.
    pub async fn start(config: Arc<Config>, store: Store) -> Worker {
        let shared = Arc::new(Shared {
            deliverer: Deliverer::new(&config.delivery),
            policy: RetryPolicy::new(&config.retry),
            scripts: QueueScripts::load(),
            node_permits: tokio::sync::Semaphore::new(config.worker.max_in_flight),
            store,
            config: config.clone(),
        });
        let threads = match config.worker.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
        let node_id = uuid::Uuid::new_v4().to_string();
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = oneshot::channel();
        actix_rt::spawn(coordinate(
            shared,
            node_id.clone(),
            arbiters,
            stop_rx,
            done_tx,
        ));
        Worker {
            node_id,
            stop,
            done,
        }
    }

    /// Graceful stop: drain partitions, release leases, leave the live set.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}

struct Coordinator {
    shared: Arc<Shared>,
    node_id: String,
    arbiters: Vec<Arbiter>,
    owned: HashMap<u16, Owned>,
}

async fn coordinate(
    shared: Arc<Shared>,
    node_id: String,
    arbiters: Vec<Arbiter>,
    mut stop: watch::Receiver<bool>,
    done: oneshot::Sender<()>,
) {
    let mut tick = tokio::time::interval(shared.config.worker.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut coordinator = Coordinator {
        shared,
        node_id,
        arbiters,
        owned: HashMap::new(),
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
    async fn heartbeat(&mut self) {
        let config = self.shared.config.clone();
        let ttl = config.worker.lease_ttl;
        let shared = self.shared.clone();
        let store = &shared.store;
        let mut conn = match store.conn().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat: redis unavailable");
                self.abort_stale(ttl);
                return;
            }
        };
        let live = match lease::heartbeat(&mut conn, &store.keys, &self.node_id, ttl).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed");
                self.abort_stale(ttl);
                return;
            }
        };
        let wanted = lease::assigned(store.keys.partitions(), &live, &self.node_id);
        // Renew everything held, including partitions being drained away.
        let mut lost = Vec::new();
        for (p, owned) in self.owned.iter_mut() {
            match lease::renew(
                &mut conn,
                &self.shared.scripts,
                &store.keys,
                *p,
                &owned.token,
                ttl,
            )
            .await
            {
                Ok(true) => owned.renewed = Instant::now(),
                Ok(false) => lost.push(*p),
                Err(e) => tracing::warn!(partition = p, error = %e, "lease renewal failed"),
            }
        }
        for p in lost {
            tracing::warn!(partition = p, "lease lost; aborting partition");
            if let Some(owned) = self.owned.remove(&p) {
                let _ = owned.stop.send(StopMode::Abort);
            }
        }
        self.abort_stale(ttl);
        // Finish hand-overs: drained (or self-stopped) partitions give their lease back.
        let drain_limit = config.shutdown.timeout;
        let mut finished = Vec::new();
        for (p, owned) in self.owned.iter_mut() {
            let unwanted = !wanted.contains(p);
            if unwanted && owned.draining_since.is_none() {
                owned.draining_since = Some(Instant::now());
                let _ = owned.stop.send(StopMode::Drain);
            }
            if owned
                .draining_since
                .is_some_and(|t| t.elapsed() > drain_limit)
            {
                let _ = owned.stop.send(StopMode::Abort);
            }
            if owned.finished() {
                finished.push(*p);
            }
        }
        for p in finished {
            if let Some(owned) = self.owned.remove(&p) {
                if let Err(e) = lease::release(
                    &mut conn,
                    &self.shared.scripts,
                    &store.keys,
                    p,
                    &owned.token,
                )
                .await
                {
                    tracing::warn!(partition = p, error = %e, "lease release failed");
                }
            }
        }
        for p in wanted {
            if self.owned.contains_key(&p) {
                continue;
            }
            match lease::acquire(
                &mut conn,
                &self.shared.scripts,
                &store.keys,
                p,
                &self.node_id,
                ttl,
            )
            .await
            {
                Ok(Some(token)) => self.start_partition(p, token),
                Ok(None) => {} // still held by its previous owner; try again next heartbeat
                Err(e) => tracing::warn!(partition = p, error = %e, "lease acquisition failed"),
            }
        }
        metrics::OWNED_PARTITIONS.set(self.owned.len() as i64);
    }

    /// Aborts partitions whose lease may expire before we could renew it (fencing).
    fn abort_stale(&mut self, ttl: Duration) {
        let margin = ttl.saturating_sub(self.shared.config.worker.heartbeat);
        let stale: Vec<u16> = self
            .owned
            .iter()
            .filter(|(_, o)| o.renewed.elapsed() >= margin)
            .map(|(p, _)| *p)
            .collect();
        for p in stale {
            tracing::warn!(
                partition = p,
                "lease not renewed in time; aborting partition"
            );
            if let Some(owned) = self.owned.remove(&p) {
                let _ = owned.stop.send(StopMode::Abort);
            }
        }
    }

    fn start_partition(&mut self, number: u16, token: String) {
        let (stop, stop_rx) = watch::channel(StopMode::Run);
        let (done_tx, done) = oneshot::channel();
        let shared = self.shared.clone();
        let task_token = token.clone();
        let arbiter = &self.arbiters[usize::from(number) % self.arbiters.len()];
        arbiter.spawn_fn(move || {
            actix_rt::spawn(async move {
                partition::run(shared, number, task_token, stop_rx).await;
                let _ = done_tx.send(());
            });
        });
        self.owned.insert(
            number,
            Owned {
                token,
                stop,
                done,
                renewed: Instant::now(),
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
        let store = self.shared.store.clone();
        let config = self.shared.config.clone();
        let mut held = Vec::new();
        let mut pending = Vec::new();
        for (p, owned) in self.owned.drain() {
            let _ = owned.stop.send(StopMode::Drain);
            held.push((p, owned.token, owned.stop));
            pending.push(owned.done);
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
        for (_, _, stop) in &held {
            // Partitions still draining stop now; their unfinished entries stay pending.
            let _ = stop.send(StopMode::Abort);
        }
        if let Ok(mut conn) = store.conn().await {
            for (p, token, _) in &held {
                let _ =
                    lease::release(&mut conn, &self.shared.scripts, &store.keys, *p, token).await;
            }
            let _ = lease::leave(&mut conn, &store.keys, &self.node_id).await;
        }
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
    async fn renew_while_draining(&self, held: &[(u16, String, watch::Sender<StopMode>)]) -> bool {
        let store = &self.shared.store;
        let ttl = self.shared.config.worker.lease_ttl;
        let Ok(mut conn) = store.conn().await else {
            return false;
        };
        if let Err(e) = lease::heartbeat(&mut conn, &store.keys, &self.node_id, ttl).await {
            tracing::warn!(error = %e, "heartbeat failed while draining");
            return false;
        }
        for (p, token, stop) in held {
            let renewed =
                lease::renew(&mut conn, &self.shared.scripts, &store.keys, *p, token, ttl).await;
            match renewed {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(
                        partition = p,
                        "lease lost while draining; aborting partition"
                    );
                    let _ = stop.send(StopMode::Abort);
                }
                Err(e) => tracing::warn!(partition = p, error = %e, "lease renewal failed"),
            }
        }
        true
    }
}
