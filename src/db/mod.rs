//! Redis access, shared by the store (entities) and the queue (work): connections, the key
//! catalogue ([`keys`]) and the errors of both.
//!
//! Every thread (HTTP worker, worker arbiter) gets `redis.pool_size` multiplexed connections
//! of its own on first use: each pipelines the commands of all concurrent requests of that
//! thread over one socket, its I/O stays on the thread that uses it, and it reconnects by
//! itself. A checkout pool (deadpool-redis) was measured first: it sends UNWATCH+PING on every
//! checkout, doubling the round trips of the hot path, and holds a socket per request.

pub mod error;
pub mod keys;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::Config;
pub use error::StoreError;
pub use keys::Keys;

/// A connection for one or more commands: cheap to clone, pipelines concurrent commands.
pub type Connection = ConnectionManager;

/// Distinguishes handles, so thread-local connections of one never serve another (tests run
/// many nodes, each with its own prefix and maybe Redis, on shared threads).
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's connections, per handle: (connections, round-robin cursor).
    static LOCAL: RefCell<HashMap<usize, (Vec<ConnectionManager>, usize)>> =
        RefCell::new(HashMap::new());
}

/// Shared handle to Redis: per-thread multiplexed connections and the key catalogue.
#[derive(Clone)]
pub struct Db {
    /// Key of this handle's thread-local connections.
    id: usize,
    /// How to open a connection.
    client: redis::Client,
    /// Timeouts and reconnection policy of every connection.
    settings: ConnectionManagerConfig,
    /// Connections per thread.
    per_thread: usize,
    /// Key catalogue of this deployment.
    pub keys: Keys,
}

impl Db {
    /// Connects to Redis (failing fast when it does not answer).
    pub async fn connect(config: &Config) -> Result<Self, StoreError> {
        let client = redis::Client::open(config.redis.url.as_str())?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let db = Db {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            client,
            settings,
            per_thread: config.redis.pool_size.max(1),
            keys: Keys::new(&config.redis.prefix, config.queue.partitions),
        };
        db.ping().await?;
        Ok(db)
    }

    /// A connection of this thread (opened on first use on the thread).
    pub async fn conn(&self) -> Result<Connection, StoreError> {
        let found = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let (conns, cursor) = local.get_mut(&self.id)?;
            if conns.len() < self.per_thread {
                return None;
            }
            *cursor = cursor.wrapping_add(1);
            conns.get(*cursor % conns.len()).cloned()
        });
        if let Some(conn) = found {
            return Ok(conn);
        }
        let conn =
            ConnectionManager::new_with_config(self.client.clone(), self.settings.clone()).await?;
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let (conns, _) = local.entry(self.id).or_default();
            if conns.len() < self.per_thread {
                conns.push(conn.clone());
            }
        });
        Ok(conn)
    }

    /// Whether Redis answers (health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// The Redis URL this handle connects to (blocking readers open their own connections).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }
}
