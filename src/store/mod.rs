//! The entities in Redis: applications, endpoints and their health, messages and their
//! attempts, tokens, dashboard sessions, the event-type catalogue, idempotency records and
//! recovery jobs.
//!
//! Entities are Redis hashes with one field per attribute (list-valued attributes as JSON);
//! each module owns the layout of its entity. Multi-key changes are Lua scripts in `scripts/`,
//! each with a KEYS/ARGV header, called from the module of their entity. Nothing here knows
//! about HTTP: outcomes a client caused come back as [`StoreError::NotFound`] /
//! [`StoreError::Conflict`] and are mapped to HTTP once, in `api::error`.

pub mod applications;
pub mod attempts;
pub mod endpoints;
pub mod erasure;
pub mod event_types;
pub mod health;
pub mod idempotency;
pub mod messages;
pub mod ops;
pub mod ordered;
pub mod purge;
pub mod recovery;
pub mod sessions;
pub mod tokens;

use std::collections::HashMap;
use std::time::Duration;

use redis::Value;

use crate::config::Config;
pub use crate::db::{Connection, Db, StoreError};

/// The entity store: Redis access plus what the entities' lifetimes depend on.
#[derive(Clone)]
pub struct Store {
    /// Connections and the key catalogue.
    pub db: Db,
    /// Message/attempt retention, applied as key expiry.
    pub retention: Duration,
    /// Replicas that must acknowledge an accepted message, and how long to wait for them.
    pub replicas: (u32, Duration),
}

impl Store {
    /// Connects to Redis (failing fast when it does not answer).
    pub async fn connect(config: &Config) -> Result<Self, StoreError> {
        Ok(Store {
            db: Db::connect(config).await?,
            retention: config.retention.messages,
            replicas: (config.redis.min_replicas_ack, config.redis.replicas_timeout),
        })
    }

    /// A connection of this thread.
    pub async fn conn(&self) -> Result<Connection, StoreError> {
        self.db.conn().await
    }

    /// Whether Redis answers (health check).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await
    }

    /// Retention in whole seconds, as key expiries take it.
    pub fn retention_secs(&self) -> u64 {
        self.retention.as_secs().max(1)
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

/// A required id field of a stored hash.
pub(crate) fn id_field(fields: &Fields, name: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(field(fields, name)?)
        .map_err(|_| StoreError::Corrupt(format!("field {name} is not an id")))
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

/// An optional numeric field stored as "" when absent.
pub(crate) fn opt_int(fields: &Fields, name: &str) -> Option<i64> {
    opt_field(fields, name).and_then(|v| v.parse().ok())
}

/// One page of a creation-ordered list plus the cursor of the next page.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Cursor for `?iterator=`, present when more items follow.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// The same page with every item converted (to an API shape).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}
