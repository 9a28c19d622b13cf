//! Partition streams: the consumer group, reading entries (pending ones first) and
//! acknowledging them. Entries are tiny (one [`TASK_FIELD`] holding a [`Task`]); the payload
//! stays in the message hash. Entries are deleted once acknowledged, never trimmed by MAXLEN
//! (trimming ignores consumer groups and would drop unread work).

use std::time::Duration;

use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Value};

use std::sync::LazyLock;

use redis::Script;

use super::task::Task;
use crate::db::script::ScriptCall;
use crate::db::{Connection, Db, StoreError};

static ACK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/ack.lua")));
static RECLAIM: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/reclaim.lua")));

/// Consumer group of every partition stream.
pub const GROUP: &str = "workers";
/// The one field of a stream entry: the encoded task.
pub const TASK_FIELD: &str = "t";

/// Consumer name of every partition's owner: the same whichever node owns it, so a new owner
/// re-reads the entries a dead owner left pending, and the same for every partition, so one
/// XREADGROUP can read the streams of many partitions ([`read_new`]). (Before 2026-12 it was
/// `p<partition>`: entries an older node left pending under that name come back through the
/// reclaim, after `queue.reclaim_idle`.)
pub const CONSUMER: &str = "owner";

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
    /// The entries were pending already (read again after a hand-over, or reclaimed): some of
    /// their endpoints may be done with them.
    pub pending: bool,
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

/// A dedicated connection for blocking reads, whose response timeout outlasts BLOCK so the
/// client never cuts a legitimate wait short.
pub async fn blocking_connection(db: &Db, block: Duration) -> Result<Connection, StoreError> {
    db.dedicated(block + Duration::from_secs(10)).await
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
    conn: &mut Connection,
    stream: &str,
    cursor: &Cursor,
    count: usize,
    block: Duration,
) -> Result<Read, StoreError> {
    let mut options = StreamReadOptions::default()
        .group(GROUP, CONSUMER)
        .count(count);
    let from = match cursor {
        Cursor::Pending(after) => after.as_str(),
        Cursor::New => {
            options = options.block(block.as_millis() as usize);
            ">"
        }
    };
    let reply: Option<StreamReadReply> = conn.xread_options(&[stream], &[from], &options).await?;
    let mut reads = parse_reply(reply, 1, |_| Some(0));
    let mut read = reads.pop().unwrap_or_default();
    read.pending = matches!(cursor, Cursor::Pending(_));
    Ok(read)
}

/// Reads up to `count` new entries of each of `streams` in one XREADGROUP, waiting up to
/// `block` for the first; one [`Read`] per stream, in order (one server only: the streams
/// are in different slots).
pub async fn read_new(
    conn: &mut Connection,
    streams: &[&str],
    count: usize,
    block: Duration,
) -> Result<Vec<Read>, StoreError> {
    let options = StreamReadOptions::default()
        .group(GROUP, CONSUMER)
        .count(count)
        .block(block.as_millis() as usize);
    let ids = vec![">"; streams.len()];
    let reply: Option<StreamReadReply> = conn.xread_options(streams, &ids, &options).await?;
    Ok(parse_reply(reply, streams.len(), |key| {
        streams.iter().position(|s| *s == key)
    }))
}

/// Splits a read's reply into one [`Read`] per stream, placed by `index_of` its key.
fn parse_reply(
    reply: Option<StreamReadReply>,
    streams: usize,
    index_of: impl Fn(&str) -> Option<usize>,
) -> Vec<Read> {
    let mut reads: Vec<Read> = (0..streams).map(|_| Read::default()).collect();
    for key in reply.map(|r| r.keys).unwrap_or_default() {
        let Some(read) = index_of(&key.key).and_then(|i| reads.get_mut(i)) else {
            continue;
        };
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
    reads
}

/// Acknowledges and deletes finished entries (so the stream does not grow), and the done
/// sets of `fanned` ones (entries that went to several endpoints), under `lease`.
pub async fn ack(
    db: &Db,
    partition: u16,
    lease: &str,
    ids: &[String],
    fanned: &[String],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let keys = &db.keys;
    let mut call_keys = vec![keys.stream(partition), keys.lease(partition)];
    call_keys.extend(fanned.iter().map(|entry| keys.done(partition, entry)));
    let mut call = ScriptCall::new(&ACK, &call_keys);
    call.arg(lease).arg(GROUP).arg(ids);
    let mut conn = db.conn().await?;
    let acked: i64 = call.invoke(&mut conn).await?;
    if acked < 0 {
        return Err(StoreError::LeaseLost);
    }
    Ok(())
}

/// Claims up to `count` entries pending for at least `min_idle`, walking the pending list
/// from `cursor`; returns them with the cursor to continue from (`0-0`: the walk is over).
pub async fn reclaim(
    db: &Db,
    partition: u16,
    lease: &str,
    min_idle: Duration,
    cursor: &str,
    count: usize,
) -> Result<(String, Read), StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let reply: Value = ScriptCall::new(&RECLAIM, &[keys.stream(partition), keys.lease(partition)])
        .arg(lease)
        .arg(GROUP)
        .arg(CONSUMER)
        .arg(min_idle.as_millis() as u64)
        .arg(cursor)
        .arg(count)
        .invoke(&mut conn)
        .await?;
    let Value::Array(parts) = reply else {
        return Err(StoreError::LeaseLost);
    };
    let next: String = match parts.first() {
        Some(v) => redis::from_redis_value_ref(v)?,
        None => "0-0".to_string(),
    };
    let mut read = Read {
        pending: true,
        ..Read::default()
    };
    if let Some(Value::Array(entries)) = parts.get(1) {
        for entry in entries {
            let Value::Array(pair) = entry else { continue };
            let (Some(id), fields) = (pair.first(), pair.get(1)) else {
                continue;
            };
            let id: String = redis::from_redis_value_ref(id)?;
            let task = match fields {
                Some(Value::Array(fields)) => fields
                    .chunks(2)
                    .find(|kv| matches!(&kv[0], Value::BulkString(k) if k == TASK_FIELD.as_bytes()))
                    .and_then(|kv| kv.get(1))
                    .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
                    .and_then(|text| Task::decode(&text)),
                _ => None,
            };
            match task {
                Some(task) => read.entries.push(Entry { id, task }),
                None => read.broken.push(id),
            }
        }
    }
    Ok((next, read))
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use redis::streams::{StreamId, StreamKey};
    use uuid::Uuid;

    use super::*;

    fn entry(id: &str, task: Option<&Task>) -> StreamId {
        let value = task.map_or("not a task".to_string(), Task::encode);
        StreamId {
            id: id.into(),
            map: HashMap::from([(TASK_FIELD.to_string(), Value::BulkString(value.into()))]),
            ..Default::default()
        }
    }

    #[test]
    fn a_read_of_many_streams_goes_back_to_each_stream_in_order() {
        let task = Task::fanout(Uuid::new_v4(), Uuid::new_v4(), 1);
        let reply = StreamReadReply {
            keys: vec![
                StreamKey {
                    key: "s3".into(),
                    ids: vec![entry("1-0", Some(&task)), entry("2-0", None)],
                },
                StreamKey {
                    key: "s1".into(),
                    ids: vec![entry("5-0", Some(&task))],
                },
                StreamKey {
                    key: "unknown".into(),
                    ids: vec![entry("9-0", Some(&task))],
                },
            ],
        };
        let streams = ["s1", "s2", "s3"];
        let reads = parse_reply(Some(reply), streams.len(), |key| {
            streams.iter().position(|s| *s == key)
        });
        let ids =
            |read: &Read| -> Vec<String> { read.entries.iter().map(|e| e.id.clone()).collect() };
        assert_eq!(reads.len(), 3);
        assert_eq!(ids(&reads[0]), ["5-0"]);
        assert!(reads[1].is_empty());
        assert_eq!(ids(&reads[2]), ["1-0"]);
        assert_eq!(
            reads[2].broken,
            ["2-0"],
            "an entry that does not parse is broken"
        );
        assert_eq!(reads[2].entries[0].task.message, task.message);
        assert!(parse_reply(None, 2, |_| Some(0)).iter().all(Read::is_empty));
    }
}
