//! FIFO lanes: an ordered endpoint's deliveries wait in Redis lists, one per lane, in the
//! partition's hash tag, so order survives crashes, hand-overs and Redis restarts. A lane has
//! one delivery in flight at a time: its head, taken when due (`scripts/lane_take.lua`),
//! retried in place, and popped once delivered or exhausted by `record_attempt.lua`, which
//! makes the next head due at once. Messages with an ordering key go to the lane of their key
//! (keys are hashed into a bounded number of lanes per endpoint); the others share the
//! endpoint's default lane. A partition-wide index scores lanes by when their head is due.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use uuid::Uuid;

use super::task::Task;
use crate::db::script::ScriptCall;
use crate::db::{Db, StoreError};

static PUSH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/lane_push.lua")));
static TAKE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/lane_take.lua")));
static DEFER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/lane_defer.lua")));
static SKIP: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/lane_skip.lua")));

/// The name of the lane of messages without an ordering key.
pub const DEFAULT_LANE: &str = "d";

/// A lane of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lane {
    pub app: Uuid,
    pub endpoint: Uuid,
    /// [`DEFAULT_LANE`], or `k<bucket>` for ordering keys.
    pub name: String,
}

impl Lane {
    /// The lane a message with `ordering_key` goes to, out of `max_lanes` key lanes.
    pub fn of(app: Uuid, endpoint: Uuid, ordering_key: Option<&str>, max_lanes: u32) -> Lane {
        let name = match ordering_key {
            None => DEFAULT_LANE.to_string(),
            Some(key) => format!("k{}", bucket(key, max_lanes.max(1))),
        };
        Lane {
            app,
            endpoint,
            name,
        }
    }

    /// Its member of the partition's lane index: `<app>|<endpoint>|<name>`.
    pub fn member(&self) -> String {
        format!("{}|{}|{}", self.app, self.endpoint, self.name)
    }

    /// Reads an index member back.
    pub fn parse(member: &str) -> Option<Lane> {
        let mut parts = member.splitn(3, '|');
        let app = Uuid::parse_str(parts.next()?).ok()?;
        let endpoint = Uuid::parse_str(parts.next()?).ok()?;
        let name = parts.next()?.to_string();
        (!name.is_empty()).then_some(Lane {
            app,
            endpoint,
            name,
        })
    }
}

/// A stable bucket of an ordering key (FNV-1a): the same key always lands in the same lane.
fn bucket(key: &str, buckets: u32) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in key.as_bytes() {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % buckets
}

/// The stream entry a push consumes: its endpoint is marked done on it (for `done_ttl_secs`)
/// in the same script, so a redelivered entry never pushes twice.
pub struct FromEntry<'a> {
    /// The stream entry id.
    pub entry: &'a str,
    /// How long the done mark outlives the push.
    pub done_ttl_secs: u64,
}

/// Appends `task` to `lane`, marking its endpoint done on the stream entry it came from.
pub async fn push(
    db: &Db,
    partition: u16,
    lease: &str,
    lane: &Lane,
    task: &Task,
    from: FromEntry<'_>,
    now_ms: i64,
) -> Result<(), StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let length: i64 = ScriptCall::new(
        &PUSH,
        &[
            keys.lane(lane.app, lane.endpoint, &lane.name),
            keys.lane_index(partition),
            keys.endpoint_lanes(lane.app, lane.endpoint),
            keys.done(partition, from.entry),
            keys.lease(partition),
        ],
    )
    .arg(lease)
    .arg(task.encode())
    .arg(lane.member())
    .arg(now_ms)
    .arg(&lane.name)
    .arg(lane.endpoint.to_string())
    .arg(from.done_ttl_secs)
    .invoke(&mut conn)
    .await?;
    if length < 0 {
        return Err(StoreError::LeaseLost);
    }
    Ok(())
}

/// Lanes of `partition` whose head is due at `now_ms` (at most `max`).
pub async fn due(
    db: &Db,
    partition: u16,
    now_ms: i64,
    max: usize,
) -> Result<Vec<Lane>, StoreError> {
    let mut conn = db.conn().await?;
    let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(db.keys.lane_index(partition))
        .arg("-inf")
        .arg(now_ms)
        .arg("LIMIT")
        .arg(0)
        .arg(max)
        .query_async(&mut conn)
        .await?;
    Ok(members.iter().filter_map(|m| Lane::parse(m)).collect())
}

/// Takes the head of a due lane (held for `hold`, until its outcome is recorded); `None` when
/// the lane is not due or is empty.
pub async fn take(
    db: &Db,
    partition: u16,
    lease: &str,
    lane: &Lane,
    now_ms: i64,
    hold: Duration,
) -> Result<Option<(String, Task)>, StoreError> {
    let mut conn = db.conn().await?;
    let answer: redis::Value = ScriptCall::new(&TAKE, &head_keys(db, partition, lane))
        .arg(lease)
        .arg(lane.member())
        .arg(now_ms)
        .arg(hold.as_millis() as u64)
        .arg(&lane.name)
        .invoke(&mut conn)
        .await?;
    match answer {
        redis::Value::Int(-1) => Err(StoreError::LeaseLost),
        redis::Value::Nil | redis::Value::Int(_) => Ok(None),
        head => {
            let head: String = redis::from_redis_value(head)?;
            Ok(Task::decode(&head).map(|task| (head, task)))
        }
    }
}

/// The keys of the scripts that take or drop a lane's head: the lane, the partition's lane
/// index, the endpoint's lane names and the partition's lease.
fn head_keys(db: &Db, partition: u16, lane: &Lane) -> [String; 4] {
    let keys = &db.keys;
    [
        keys.lane(lane.app, lane.endpoint, &lane.name),
        keys.lane_index(partition),
        keys.endpoint_lanes(lane.app, lane.endpoint),
        keys.lease(partition),
    ]
}

/// Makes a lane due again at `due_ms`, its head unchanged.
pub async fn defer(
    db: &Db,
    partition: u16,
    lease: &str,
    lane: &Lane,
    due_ms: i64,
) -> Result<(), StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let code: i64 = ScriptCall::new(&DEFER, &[keys.lane_index(partition), keys.lease(partition)])
        .arg(lease)
        .arg(lane.member())
        .arg(due_ms)
        .invoke(&mut conn)
        .await?;
    if code < 0 {
        return Err(StoreError::LeaseLost);
    }
    Ok(())
}

/// Drops a head with nothing left to deliver (its message is gone); true when the lane has a
/// next head, due now.
pub async fn skip(
    db: &Db,
    partition: u16,
    lease: &str,
    lane: &Lane,
    head: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let mut conn = db.conn().await?;
    let code: i64 = ScriptCall::new(&SKIP, &head_keys(db, partition, lane))
        .arg(lease)
        .arg(lane.member())
        .arg(head)
        .arg(now_ms)
        .arg(&lane.name)
        .invoke(&mut conn)
        .await?;
    if code < 0 {
        return Err(StoreError::LeaseLost);
    }
    Ok(code == 1)
}

/// Deletes every lane of an endpoint (it was deleted).
pub async fn delete_endpoint_lanes(
    db: &Db,
    partition: u16,
    app: Uuid,
    endpoint: Uuid,
) -> Result<(), StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let names: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.endpoint_lanes(app, endpoint))
        .query_async(&mut conn)
        .await?;
    let mut pipe = redis::pipe();
    for name in names {
        let lane = Lane {
            app,
            endpoint,
            name,
        };
        pipe.del(keys.lane(app, endpoint, &lane.name))
            .ignore()
            .zrem(keys.lane_index(partition), lane.member())
            .ignore();
    }
    pipe.del(keys.endpoint_lanes(app, endpoint)).ignore();
    let _: () = pipe.query_async(&mut conn).await?;
    Ok(())
}

/// Makes every lane of an endpoint due at `now_ms` (it was resumed or re-enabled).
pub async fn wake_endpoint(
    db: &Db,
    partition: u16,
    app: Uuid,
    endpoint: Uuid,
    now_ms: i64,
) -> Result<(), StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let names: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.endpoint_lanes(app, endpoint))
        .query_async(&mut conn)
        .await?;
    if names.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for name in names {
        let lane = Lane {
            app,
            endpoint,
            name,
        };
        pipe.cmd("ZADD")
            .arg(keys.lane_index(partition))
            .arg("XX")
            .arg(now_ms)
            .arg(lane.member())
            .ignore();
    }
    let _: () = pipe.query_async(&mut conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_lane_and_members_round_trip() {
        let (app, endpoint) = (Uuid::new_v4(), Uuid::new_v4());
        let a = Lane::of(app, endpoint, Some("customer-42"), 64);
        assert_eq!(a, Lane::of(app, endpoint, Some("customer-42"), 64));
        assert_eq!(Lane::of(app, endpoint, None, 64).name, DEFAULT_LANE);
        assert_eq!(Lane::parse(&a.member()), Some(a));
        let names: std::collections::HashSet<String> = (0..1000)
            .map(|i| Lane::of(app, endpoint, Some(&format!("key-{i}")), 8).name)
            .collect();
        assert_eq!(names.len(), 8, "keys spread over every lane, no more");
        assert_eq!(Lane::parse("x|y"), None);
    }
}
