//! The Redis store: every read and write of entities, indexes and the accepted-message stream.
//!
//! Key layout lives in [`keys`]; multi-key changes are Lua scripts in `scripts/`, each with a
//! KEYS/ARGV header. Entities are Redis hashes with one field per attribute; list-valued
//! attributes are JSON. Nothing here knows about HTTP: outcomes a client caused come back as
//! [`StoreError::NotFound`] / [`StoreError::Conflict`] and are mapped to HTTP in `error.rs`.

pub mod applications;
pub mod endpoints;
pub mod idempotency;
pub mod keys;
pub mod messages;
pub mod recovery;
pub mod tokens;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use crate::config::Config;
use crate::error::StoreError;
pub use keys::Keys;

/// Loaded Lua scripts (sent by SHA after the first call).
#[derive(Debug)]
pub struct Scripts {
    pub app_upsert: Script,
    pub app_delete: Script,
    pub app_purge: Script,
    pub endpoint_upsert: Script,
    pub endpoint_delete: Script,
    pub endpoint_disable: Script,
    pub message_create: Script,
    pub idempotency_begin: Script,
    pub idempotency_finish: Script,
    pub recovery_claim: Script,
}

impl Scripts {
    fn load() -> Self {
        Scripts {
            app_upsert: Script::new(include_str!("scripts/app_upsert.lua")),
            app_delete: Script::new(include_str!("scripts/app_delete.lua")),
            app_purge: Script::new(include_str!("scripts/app_purge.lua")),
            endpoint_upsert: Script::new(include_str!("scripts/endpoint_upsert.lua")),
            endpoint_delete: Script::new(include_str!("scripts/endpoint_delete.lua")),
            endpoint_disable: Script::new(include_str!("scripts/endpoint_disable.lua")),
            message_create: Script::new(include_str!("scripts/message_create.lua")),
            idempotency_begin: Script::new(include_str!("scripts/idempotency_begin.lua")),
            idempotency_finish: Script::new(include_str!("scripts/idempotency_finish.lua")),
            recovery_claim: Script::new(include_str!("scripts/recovery_claim.lua")),
        }
    }
}

/// A connection for one or more commands: cheap to clone, pipelines concurrent commands.
pub type Connection = ConnectionManager;

/// Distinguishes stores, so thread-local connections of one store never serve another
/// (tests run many stores, each with its own prefix and maybe Redis, on shared threads).
static NEXT_STORE_ID: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's connections, per store: (connections, round-robin cursor).
    static LOCAL: RefCell<HashMap<usize, (Vec<ConnectionManager>, usize)>> =
        RefCell::new(HashMap::new());
}

/// Shared handle to Redis: per-thread multiplexed connections, the key catalogue and the
/// scripts.
///
/// Every thread (HTTP worker, worker arbiter) gets `redis.pool_size` multiplexed connections
/// of its own on first use: each pipelines the commands of all concurrent requests of that
/// thread over one socket, its I/O stays on the thread that uses it, and it reconnects by
/// itself. A checkout pool (deadpool-redis) was measured first: it sends UNWATCH+PING on every
/// checkout, doubling the round trips of the hot path, and holds a socket per request.
#[derive(Clone)]
pub struct Store {
    /// Key of this store's thread-local connections.
    id: usize,
    /// How to open a connection.
    client: redis::Client,
    /// Timeouts and reconnection policy of every connection.
    settings: ConnectionManagerConfig,
    /// Connections per thread.
    per_thread: usize,
    /// Key catalogue of this deployment.
    pub keys: Keys,
    /// Scripts shared by every clone.
    pub scripts: Arc<Scripts>,
    /// Message/attempt retention, applied as key expiry.
    pub retention: Duration,
}

impl Store {
    /// Connects to Redis (failing fast when it does not answer).
    pub async fn connect(config: &Config) -> Result<Self, StoreError> {
        let client = redis::Client::open(config.redis.url.as_str())?;
        let settings = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let store = Store {
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
            client,
            settings,
            per_thread: config.redis.pool_size.max(1),
            keys: Keys::new(&config.redis.prefix, config.queue.partitions),
            scripts: Arc::new(Scripts::load()),
            retention: config.retention.messages,
        };
        store.ping().await?;
        Ok(store)
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
}

/// A hash read back from Redis: field → value.
pub type Fields = HashMap<String, String>;

/// Interprets a script answer that is either a negative status code or a HGETALL array.
pub(crate) fn script_fields(value: Value) -> Result<Result<Fields, i64>, StoreError> {
    match value {
        Value::Int(code) => Ok(Err(code)),
        other => Ok(Ok(redis::from_redis_value(other)?)),
    }
}

/// A required field of a stored hash.
pub(crate) fn field<'a>(fields: &'a Fields, name: &str) -> Result<&'a str, StoreError> {
    fields
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("missing field {name}")))
}

/// A required numeric field of a stored hash.
pub(crate) fn int_field(fields: &Fields, name: &str) -> Result<i64, StoreError> {
    field(fields, name)?
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("field {name} is not a number")))
}

/// A JSON-encoded field of a stored hash.
pub(crate) fn json_field<T: serde::de::DeserializeOwned>(
    fields: &Fields,
    name: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(field(fields, name)?)
        .map_err(|e| StoreError::Corrupt(format!("field {name}: {e}")))
}

/// An optional string field stored as "" when absent.
pub(crate) fn opt_field(fields: &Fields, name: &str) -> Option<String> {
    fields.get(name).filter(|v| !v.is_empty()).cloned()
}

/// One page of a creation-ordered list plus the cursor of the next page.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Cursor for `?iterator=`, present when more items follow.
    pub next: Option<String>,
}

/// Reads `limit` members after `cursor` (exclusive) from a lexicographic sorted set,
/// oldest first or newest first, fetching one extra to know whether more follow.
pub(crate) async fn page_members(
    conn: &mut Connection,
    key: &str,
    cursor: Option<&str>,
    limit: usize,
    newest_first: bool,
) -> Result<(Vec<String>, bool), StoreError> {
    let mut members: Vec<String> = if newest_first {
        let max = cursor.map_or("+".to_string(), |c| format!("({c}"));
        redis::cmd("ZREVRANGEBYLEX")
            .arg(key)
            .arg(max)
            .arg("-")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(conn)
            .await?
    } else {
        let min = cursor.map_or("-".to_string(), |c| format!("({c}"));
        redis::cmd("ZRANGEBYLEX")
            .arg(key)
            .arg(min)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(conn)
            .await?
    };
    let more = members.len() > limit;
    members.truncate(limit);
    Ok((members, more))
}
