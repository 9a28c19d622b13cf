//! Partition streams, retry sets and leases: the durable queue between the API and the
//! delivery workers.
//!
//! Layout per partition `n` (see `store::keys`): a stream `{p.n}:stream` read by the consumer
//! group `workers` with the consumer name `p<n>` (derived from the partition, not the node,
//! so a new owner re-reads the pending entries of a dead owner by reading from id `0`); a
//! sorted set `{p.n}:retry` of scheduled retries scored by due time (ms); a lease
//! `{p.n}:lease` naming the owning node and its fencing epoch.
//!
//! Stream entries are tiny (`a` app, `m` message, `c` created ms, and for single-endpoint
//! tasks `e` endpoint and `n` attempts already made); the payload stays in the message hash.
//! Entries are deleted once acknowledged, never trimmed by MAXLEN.

pub mod cluster;
pub mod lease;

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Script, Value};
use uuid::Uuid;

use crate::error::StoreError;
use crate::store::keys::CONSUMER_GROUP;

/// One unit of work read from a partition stream.
#[derive(Debug, Clone)]
pub struct Task {
    /// Stream entry id, acknowledged when the work is done or durably rescheduled.
    pub entry_id: String,
    pub app: Uuid,
    pub message: Uuid,
    /// Message creation time (ms), for the create→delivery lag; absent on retries.
    pub created: Option<i64>,
    /// The one endpoint of a retry or resend; `None` means fan out to every match.
    pub endpoint: Option<Uuid>,
    /// Attempts already made in this delivery chain.
    pub attempts: u32,
}

impl Task {
    fn parse(entry_id: String, map: &HashMap<String, Value>) -> Option<Task> {
        let text = |k: &str| -> Option<String> {
            match map.get(k)? {
                Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
                Value::SimpleString(s) => Some(s.clone()),
                _ => None,
            }
        };
        Some(Task {
            entry_id,
            app: Uuid::parse_str(&text("a")?).ok()?,
            message: Uuid::parse_str(&text("m")?).ok()?,
            created: text("c").and_then(|c| c.parse().ok()),
            endpoint: text("e").and_then(|e| Uuid::parse_str(&e).ok()),
            attempts: text("n").and_then(|n| n.parse().ok()).unwrap_or(0),
        })
    }
}

/// Consumer name of a partition: the same whichever node owns it.
pub fn consumer_name(partition: u16) -> String {
    format!("p{partition}")
}

/// Scripts of the delivery path.
#[derive(Debug)]
pub struct QueueScripts {
    pub move_due: Script,
    pub record_attempt: Script,
    pub circuit_publish: Script,
    pub lease_acquire: Script,
    pub lease_renew: Script,
    pub lease_release: Script,
}

impl QueueScripts {
    pub fn load() -> Self {
        QueueScripts {
            move_due: Script::new(include_str!("scripts/move_due.lua")),
            record_attempt: Script::new(include_str!("scripts/record_attempt.lua")),
            circuit_publish: Script::new(include_str!("scripts/circuit_publish.lua")),
            lease_acquire: Script::new(include_str!("scripts/lease_acquire.lua")),
            lease_renew: Script::new(include_str!("scripts/lease_renew.lua")),
            lease_release: Script::new(include_str!("scripts/lease_release.lua")),
        }
    }
}

/// A dedicated (non-pooled) connection for blocking reads, whose response timeout outlasts
/// BLOCK so the client never cuts a legitimate wait short.
pub async fn blocking_connection(
    url: &str,
    block: Duration,
) -> Result<MultiplexedConnection, StoreError> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(block + Duration::from_secs(10)))
        .set_connection_timeout(Some(Duration::from_secs(5)));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// Creates the partition's consumer group (and stream) if missing.
pub async fn ensure_group<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
) -> Result<(), StoreError> {
    let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(CONSUMER_GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
        _ => Ok(()),
    }
}

/// Reads up to `count` tasks: pending ones after `after` when `after` is an id (`0` to
/// start), new ones when it is `>`. Entries that no longer parse (deleted while pending) come
/// back as ids to acknowledge.
pub async fn read_tasks(
    conn: &mut MultiplexedConnection,
    stream: &str,
    consumer: &str,
    after: &str,
    count: usize,
    block: Option<Duration>,
) -> Result<(Vec<Task>, Vec<String>), StoreError> {
    let mut options = StreamReadOptions::default()
        .group(CONSUMER_GROUP, consumer)
        .count(count);
    if let Some(block) = block {
        options = options.block(block.as_millis() as usize);
    }
    let reply: Option<StreamReadReply> = conn.xread_options(&[stream], &[after], &options).await?;
    let mut tasks = Vec::new();
    let mut broken = Vec::new();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        for entry in key.ids {
            match Task::parse(entry.id.clone(), &entry.map) {
                Some(task) => tasks.push(task),
                None => broken.push(entry.id),
            }
        }
    }
    Ok((tasks, broken))
}

/// Acknowledges and deletes finished entries (so the stream does not grow).
pub async fn ack<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    ids: &[String],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let _: () = redis::pipe()
        .xack(stream, CONSUMER_GROUP, ids)
        .ignore()
        .xdel(stream, ids)
        .ignore()
        .query_async(conn)
        .await?;
    Ok(())
}

/// Member of the retry set for one scheduled delivery; starts with the app id so an
/// application's retries can be found by pattern when it is deleted.
pub fn retry_member(app: Uuid, message: Uuid, endpoint: Uuid, attempts: u32) -> String {
    let nonce: u32 = rand::random();
    format!("{app}|{message}|{endpoint}|{attempts}|{nonce:08x}")
}
