//! Redis access, shared by the store (entities) and the queue (work): connections, the key
//! catalogue ([`keys`]) and the errors of both.
//!
//! One Redis server or a Redis Cluster: a connection choice, not a second code path. Every
//! key carries a hash tag (`{o.<org>}`, `{p.<n>}`), so each script and pipeline touches one
//! slot and a cluster connection routes it to its master, following MOVED/ASK redirections
//! and topology changes (failover, resharding) by itself.
//!
//! Every thread (HTTP worker, worker arbiter) gets `redis.pool_size` multiplexed connections
//! of its own on first use: each pipelines the commands of all concurrent requests of that
//! thread over one socket, its I/O stays on the thread that uses it, and it reconnects by
//! itself. A checkout pool (deadpool-redis) was measured first: it sends UNWATCH+PING on every
//! checkout, doubling the round trips of the hot path, and holds a socket per request.
//! Blocking stream reads get a dedicated connection each ([`Db::dedicated`]): a blocking
//! command on a shared multiplexed connection would hold up every command queued behind it.

pub mod error;
pub mod keys;
pub mod script;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::config::{Config, RedisConfig};
pub use error::StoreError;
pub use keys::Keys;

/// Timeout of a connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of one command's answer on shared connections.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection for one or more commands: cheap to clone, pipelines concurrent commands.
#[derive(Clone)]
pub enum Connection {
    /// To one Redis server, reconnecting by itself.
    Single(ConnectionManager),
    /// A dedicated connection to one Redis server (blocking reads).
    Dedicated(MultiplexedConnection),
    /// To a Redis Cluster: routed by key slot, following redirections and failovers.
    Cluster(ClusterConn),
}

/// A cluster connection, marked wedged when one of its commands times out.
///
/// redis-rs (1.8) follows MOVED/ASK and refreshes its slot map by itself, but a cluster
/// connection was seen to stop answering for good after a manual failover under load (about
/// one run in ten of the failover test): every command on it timed out for minutes, while
/// the process's other connections (other threads) kept working. A thread's cached
/// connection that timed out is therefore replaced on its next use ([`Db::conn`]); commands
/// already sent on it end with their own timeout.
#[derive(Clone)]
pub struct ClusterConn {
    inner: ClusterConnection,
    wedged: Arc<AtomicBool>,
}

impl ClusterConn {
    fn new(inner: ClusterConnection) -> Self {
        ClusterConn {
            inner,
            wedged: Arc::default(),
        }
    }

    /// `answer`, marking the connection wedged when it is a timeout.
    fn watch<'a, T: Send + 'a>(
        wedged: Arc<AtomicBool>,
        answer: RedisFuture<'a, T>,
    ) -> RedisFuture<'a, T> {
        Box::pin(async move {
            let answer = answer.await;
            if answer.as_ref().is_err_and(redis::RedisError::is_timeout) {
                wedged.store(true, Ordering::Relaxed);
            }
            answer
        })
    }
}

impl Connection {
    /// Whether a thread may keep using this cached connection.
    fn usable(&self) -> bool {
        match self {
            Connection::Cluster(c) => !c.wedged.load(Ordering::Relaxed),
            _ => true,
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Dedicated(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => {
                ClusterConn::watch(c.wedged.clone(), c.inner.req_packed_command(cmd))
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Dedicated(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => ClusterConn::watch(
                c.wedged.clone(),
                c.inner.req_packed_commands(pipeline, offset, count),
            ),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Dedicated(c) => c.get_db(),
            Connection::Cluster(c) => c.inner.get_db(),
        }
    }
}

/// How to open connections.
#[derive(Clone)]
enum Target {
    Single {
        client: redis::Client,
        settings: ConnectionManagerConfig,
    },
    Cluster {
        nodes: Vec<String>,
        client: ClusterClient,
    },
}

/// Distinguishes handles, so thread-local connections of one never serve another (tests run
/// many nodes, each with its own prefix and maybe Redis, on shared threads).
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's connections, per handle: (connections, round-robin cursor).
    static LOCAL: RefCell<HashMap<usize, (Vec<Connection>, usize)>> =
        RefCell::new(HashMap::new());
}

/// Shared handle to Redis: per-thread multiplexed connections and the key catalogue.
#[derive(Clone)]
pub struct Db {
    /// Key of this handle's thread-local connections.
    id: usize,
    target: Target,
    /// Connections per thread.
    per_thread: usize,
    /// Key catalogue of this deployment.
    pub keys: Keys,
}

fn cluster_client(nodes: &[String], response_timeout: Duration) -> ClusterClientBuilder {
    ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(CONNECT_TIMEOUT)
        .response_timeout(response_timeout)
}

impl Db {
    /// Connects to Redis (failing fast when it does not answer).
    pub async fn connect(config: &Config) -> Result<Self, StoreError> {
        let db = Db {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            target: Self::target(&config.redis)?,
            per_thread: config.redis.pool_size.max(1),
            keys: Keys::new(&config.redis.prefix, config.queue.partitions),
        };
        db.ping().await?;
        Ok(db)
    }

    fn target(config: &RedisConfig) -> Result<Target, StoreError> {
        if config.cluster {
            let nodes = config.nodes();
            return Ok(Target::Cluster {
                client: cluster_client(&nodes, RESPONSE_TIMEOUT).build()?,
                nodes,
            });
        }
        Ok(Target::Single {
            client: redis::Client::open(config.url.as_str())?,
            settings: ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(3)
                .set_max_delay(Duration::from_secs(2)),
        })
    }

    /// Whether this handle talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster { .. })
    }

    /// A connection of this thread (opened on first use on the thread).
    pub async fn conn(&self) -> Result<Connection, StoreError> {
        let found = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let (conns, cursor) = local.get_mut(&self.id)?;
            conns.retain(Connection::usable);
            if conns.len() < self.per_thread {
                return None;
            }
            *cursor = cursor.wrapping_add(1);
            conns.get(*cursor % conns.len()).cloned()
        });
        if let Some(conn) = found {
            return Ok(conn);
        }
        let conn = match &self.target {
            Target::Single { client, settings } => Connection::Single(
                ConnectionManager::new_with_config(client.clone(), settings.clone()).await?,
            ),
            Target::Cluster { client, .. } => {
                Connection::Cluster(ClusterConn::new(client.get_async_connection().await?))
            }
        };
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let (conns, _) = local.entry(self.id).or_default();
            if conns.len() < self.per_thread {
                conns.push(conn.clone());
            }
        });
        Ok(conn)
    }

    /// A connection of its own, whose answers may take up to `response_timeout` (blocking
    /// reads wait up to BLOCK for new entries).
    ///
    /// On a cluster it makes no retries of its own: a stream read that failed (its master
    /// died) must not be replayed by the client seconds later on the promoted replica, where
    /// it would claim entries into the pending list after this node lost the partition and
    /// the new owner re-read that list, leaving them for the slow reclaim. The reader reads
    /// only while its lease is surely ours and reconnects by itself on an error (following a
    /// MOVED or ASK that way).
    pub async fn dedicated(&self, response_timeout: Duration) -> Result<Connection, StoreError> {
        match &self.target {
            Target::Single { client, .. } => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_response_timeout(Some(response_timeout))
                    .set_connection_timeout(Some(CONNECT_TIMEOUT));
                Ok(Connection::Dedicated(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Target::Cluster { nodes, .. } => Ok(Connection::Cluster(ClusterConn::new(
                cluster_client(nodes, response_timeout)
                    .retries(0)
                    .build()?
                    .get_async_connection()
                    .await?,
            ))),
        }
    }

    /// Waits until `replicas` replicas acknowledged the writes `conn` made so far (Redis
    /// WAIT, sent to the master of `key`'s slot), at most `timeout`; answers how many did.
    pub async fn wait_replicas(
        conn: &mut Connection,
        key: &str,
        replicas: u32,
        timeout: Duration,
    ) -> Result<u32, StoreError> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas).arg(timeout.as_millis() as u64);
        let reply: redis::RedisResult<Value> = match conn {
            Connection::Cluster(cluster) => {
                let route = Route::with_key(key, SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                cluster.inner.route_command(wait, routing).await
            }
            other => wait.query_async(other).await,
        };
        match reply.and_then(Value::extract_error) {
            Ok(acked) => Ok(redis::from_redis_value(acked)?),
            // An error reply, typically "WAIT cannot be used with replica instances" from a
            // node that stopped being the slot's master a moment ago (a failover, the slot
            // map not refreshed yet): nothing confirms a replica has the write.
            Err(e) if e.code().is_some() => {
                tracing::warn!(error = %e, "WAIT refused: counting no replica acknowledgement");
                Ok(0)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether Redis answers (health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
