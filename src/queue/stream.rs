//! Partition streams: the consumer group, reading entries (pending ones first) and
//! acknowledging them. Entries are tiny (one [`TASK_FIELD`] holding a [`Task`]); the payload
//! stays in the message hash. Entries are deleted once acknowledged, never trimmed by MAXLEN
//! (trimming ignores consumer groups and would drop unread work).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Value};

use super::task::Task;
use crate::db::StoreError;

/// Consumer group of every partition stream.
pub const GROUP: &str = "workers";
/// The one field of a stream entry: the encoded task.
pub const TASK_FIELD: &str = "t";

/// Consumer name of a partition: the same whichever node owns it, so a new owner re-reads
/// the entries a dead owner left pending.
pub fn consumer_name(partition: u16) -> String {
    format!("p{partition}")
}

/// One stream entry read.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Stream entry id, acknowledged when its work is done or durably rescheduled.
    pub id: String,
    pub task: Task,
}

/// What one read returned: parsed entries, and ids of entries that no longer parse (deleted
/// while pending, or written by something else), to acknowledge and forget.
#[derive(Debug, Default)]
pub struct Read {
    pub entries: Vec<Entry>,
    pub broken: Vec<String>,
}

impl Read {
    /// Entries and broken ids together.
    pub fn len(&self) -> usize {
        self.entries.len() + self.broken.len()
    }

    /// Nothing came back.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The highest id read (pending re-reads continue after it).
    pub fn last_id(&self) -> Option<&str> {
        let last_entry = self.entries.last().map(|e| e.id.as_str());
        let last_broken = self.broken.last().map(String::as_str);
        last_entry.max(last_broken)
    }
}

/// A dedicated (non-pooled) connection for blocking reads, whose response timeout outlasts
/// BLOCK so the client never cuts a legitimate wait short. It is not shared: a blocking
/// command on a multiplexed connection would hold up every command queued behind it.
pub async fn blocking_connection(
    client: &redis::Client,
    block: Duration,
) -> Result<MultiplexedConnection, StoreError> {
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
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() != Some("BUSYGROUP") => Err(e.into()),
        _ => Ok(()),
    }
}

/// Where a read starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// This consumer's pending entries after this id (`0` to start).
    Pending(String),
    /// New entries, waiting up to BLOCK for some.
    New,
}

/// Reads up to `count` entries from `cursor`.
pub async fn read(
    conn: &mut MultiplexedConnection,
    stream: &str,
    consumer: &str,
    cursor: &Cursor,
    count: usize,
    block: Duration,
) -> Result<Read, StoreError> {
    let mut options = StreamReadOptions::default()
        .group(GROUP, consumer)
        .count(count);
    let from = match cursor {
        Cursor::Pending(after) => after.as_str(),
        Cursor::New => {
            options = options.block(block.as_millis() as usize);
            ">"
        }
    };
    let reply: Option<StreamReadReply> = conn.xread_options(&[stream], &[from], &options).await?;
    let mut read = Read::default();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        for entry in key.ids {
            let task = match entry.map.get(TASK_FIELD) {
                Some(Value::BulkString(bytes)) => {
                    std::str::from_utf8(bytes).ok().and_then(Task::decode)
                }
                _ => None,
            };
            match task {
                Some(task) => read.entries.push(Entry { id: entry.id, task }),
                None => read.broken.push(entry.id),
            }
        }
    }
    Ok(read)
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
        .xack(stream, GROUP, ids)
        .ignore()
        .xdel(stream, ids)
        .ignore()
        .query_async(conn)
        .await?;
    Ok(())
}

/// Appends a task (a resend) to a partition stream.
pub async fn append<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    stream: &str,
    task: &Task,
) -> Result<(), StoreError> {
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg(TASK_FIELD)
        .arg(task.encode())
        .query_async(conn)
        .await?;
    Ok(())
}
