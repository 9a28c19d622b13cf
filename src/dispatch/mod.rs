//! The worker: owns partitions through leases, and for each one runs a partition task that
//! fans messages out to per-endpoint actors, which deliver them.
//!
//! ```text
//! coordinator (heartbeat: plan lease actions) ──► partition task (one per held partition,
//! on arbiter p mod K: reader, fan-out, ledger of acknowledgements, retry mover; on one
//! Redis server the arbiter's shared reader reads the new entries of all its partitions)
//!   ──► EndpointActor (one per endpoint: gate = queue, caps, limiter, breaker)
//!     ──► attempt (send, decide, record) ──► delivery / retry
//! ```
//!
//! Decisions are pure and unit-tested: the coordinator's [`plan`], the actor's
//! [`endpoint::gate`], the partition's [`partition::ledger`] and `retry::decide`. The modules
//! around them are thin shells doing I/O.

pub mod activity;
pub mod coordinator;
pub mod endpoint;
pub mod fence;
pub mod messages;
pub mod partition;
pub mod plan;
pub mod recorder;
pub mod routing;

use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::config::Config;
use crate::delivery::WebhookClient;
use crate::retry::RetryPolicy;
use crate::store::Store;

/// What every partition and endpoint actor of a node uses.
pub struct WorkerContext {
    /// Entities (endpoints, messages, health) and Redis access.
    pub store: Store,
    /// Node configuration.
    pub config: Arc<Config>,
    /// The one pooled HTTP client.
    pub client: WebhookClient,
    /// Retry schedule.
    pub policy: RetryPolicy,
    /// Node-wide cap on requests in flight (`worker.max_in_flight`).
    pub node_permits: tokio::sync::Semaphore,
    /// What the node is doing right now.
    pub activity: Arc<activity::Activity>,
}

/// Handle of a running worker.
pub struct Worker {
    /// Id of this node in the live set.
    pub node_id: String,
    context: Arc<WorkerContext>,
    stop: watch::Sender<bool>,
    done: oneshot::Receiver<()>,
}

impl Worker {
    /// Starts the coordinator; partitions follow on the next heartbeats.
    pub async fn start(config: Arc<Config>, store: Store) -> Worker {
        let context = Arc::new(WorkerContext {
            client: WebhookClient::new(&config.delivery, config.worker.max_in_flight),
            policy: RetryPolicy::new(&config.retry),
            node_permits: tokio::sync::Semaphore::new(config.worker.max_in_flight),
            activity: Arc::default(),
            store,
            config,
        });
        let node_id = uuid::Uuid::new_v4().to_string();
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = oneshot::channel();
        actix_rt::spawn(coordinator::run(
            context.clone(),
            node_id.clone(),
            stop_rx,
            done_tx,
        ));
        Worker {
            node_id,
            context,
            stop,
            done,
        }
    }

    /// What the node is doing right now.
    pub fn activity(&self) -> activity::ActivitySnapshot {
        self.context.activity.snapshot()
    }

    /// Graceful stop: drain partitions, release leases, leave the live set.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.done.await;
    }
}
