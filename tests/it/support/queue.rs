//! Probes of what a deployment still has queued, read with the production formats: stream
//! entries and retry-set members are decoded with `octohooks::queue::task::Task`, pending
//! entries counted in the production consumer group.

use octohooks::clock::now_ms;
use octohooks::queue::stream::{GROUP, TASK_FIELD};
use octohooks::queue::task::{Target, Task};
use octohooks::store::Store;

use super::wait::{poll_until, WAIT};

/// What is still queued under a deployment's prefix, summed over its partitions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    /// Entries in the partition streams (acknowledged entries are deleted).
    pub stream: usize,
    /// Entries read but not acknowledged.
    pub pending: usize,
    /// Scheduled retries and postponed deliveries.
    pub retry: usize,
    /// Those of `retry` due now (the mover should take them at once).
    pub retry_due: usize,
    /// Deliveries parked behind open circuits or paused endpoints.
    pub parked: usize,
}

impl Depth {
    /// Nothing queued at all.
    pub fn is_empty(&self) -> bool {
        *self == Depth::default()
    }

    /// Nothing to do now: no stream entry, nothing pending, no retry due (retries scheduled
    /// for later may wait in the retry set).
    pub fn is_settled(&self) -> bool {
        self.stream == 0 && self.pending == 0 && self.retry_due == 0
    }
}

/// XLEN, XPENDING, ZCARD and the due part of the retry set, over every partition.
pub async fn depth(store: &Store) -> Depth {
    let keys = &store.db.keys;
    let mut conn = store.conn().await.expect("conn");
    let now = now_ms();
    let mut total = Depth::default();
    for p in 0..keys.partitions() {
        let stream = keys.stream(p);
        let (len, retry, due): (usize, usize, usize) = redis::pipe()
            .xlen(&stream)
            .zcard(keys.retry(p))
            .zcount(keys.retry(p), "-inf", now)
            .query_async(&mut conn)
            .await
            .expect("xlen/zcard/zcount");
        // XPENDING fails with NOGROUP when no worker ever read the partition: nothing pending.
        let pending: redis::RedisResult<(usize, redis::Value, redis::Value, redis::Value)> =
            redis::cmd("XPENDING")
                .arg(&stream)
                .arg(GROUP)
                .query_async(&mut conn)
                .await;
        total.stream += len;
        total.retry += retry;
        total.retry_due += due;
        total.pending += pending.map(|p| p.0).unwrap_or(0);
        total.parked += parked_in(store, &mut conn, p).await;
    }
    total
}

/// Deliveries parked in one partition, through its index of parked endpoints.
async fn parked_in(store: &Store, conn: &mut octohooks::db::Connection, partition: u16) -> usize {
    let keys = &store.db.keys;
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(keys.parked_index(partition))
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .expect("parked index");
    let mut parked = 0;
    for member in members {
        let (app, endpoint) = member.split_once('|').expect("app|endpoint");
        let size: usize = redis::cmd("ZCARD")
            .arg(keys.parked(
                app.parse().expect("app id"),
                endpoint.parse().expect("endpoint id"),
            ))
            .query_async(conn)
            .await
            .expect("zcard");
        parked += size;
    }
    parked
}

/// Every retry-set member of the deployment, decoded, with its due time (epoch ms).
pub async fn retry_tasks(store: &Store) -> Vec<(Task, i64)> {
    let keys = &store.db.keys;
    let mut conn = store.conn().await.expect("conn");
    let mut tasks = Vec::new();
    for p in 0..keys.partitions() {
        let members: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(keys.retry(p))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut conn)
            .await
            .expect("zrange");
        for (member, due) in members {
            let task = Task::decode(&member)
                .unwrap_or_else(|| panic!("retry member {member:?} does not decode"));
            tasks.push((task, due));
        }
    }
    tasks
}

/// Every entry still in the deployment's partition streams, decoded.
pub async fn stream_tasks(store: &Store) -> Vec<Task> {
    let keys = &store.db.keys;
    let mut conn = store.conn().await.expect("conn");
    let mut tasks = Vec::new();
    for p in 0..keys.partitions() {
        let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(keys.stream(p))
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .expect("xrange");
        for entry in reply.ids {
            let text: String = entry
                .get(TASK_FIELD)
                .unwrap_or_else(|| panic!("stream entry {} has no task field", entry.id));
            let task = Task::decode(&text)
                .unwrap_or_else(|| panic!("stream entry {text:?} does not decode"));
            tasks.push(task);
        }
    }
    tasks
}

/// Waits until every stream, pending list and retry set of the deployment is empty.
pub async fn assert_drained(store: &Store) {
    poll_until(
        WAIT,
        "every stream, pending list and retry set empty",
        || depth(store),
        Depth::is_empty,
    )
    .await;
}

/// The retry-set members aimed at one endpoint (by its id), with their due times.
pub async fn retries_of_endpoint(store: &Store, endpoint: &str) -> Vec<(Task, i64)> {
    let endpoint = uuid::Uuid::parse_str(endpoint).expect("endpoint id");
    retry_tasks(store)
        .await
        .into_iter()
        .filter(|(task, _)| matches!(task.target, Target::Endpoint { id, .. } if id == endpoint))
        .collect()
}

/// Where each of the first `lost` messages (by id) is left, to explain a loss: its stream
/// entries and retry-set members, its depth summary, and the attempts stored for it.
pub async fn explain_lost(store: &Store, lost: &[String]) -> String {
    let (stream, retry) = (stream_tasks(store).await, retry_tasks(store).await);
    let mut conn = store.conn().await.expect("conn");
    let mut text = format!("{:?}\n", depth(store).await);
    for id in lost.iter().take(5) {
        let Ok(message) = uuid::Uuid::parse_str(id) else {
            text += &format!("{id}: not a message id\n");
            continue;
        };
        let in_stream = stream.iter().filter(|t| t.message == message).count();
        let in_retry: Vec<i64> = retry
            .iter()
            .filter(|(t, _)| t.message == message)
            .map(|(_, due)| due - now_ms())
            .collect();
        let pattern = format!("{}*:msg:{id}:attempts", store.db.keys.prefix());
        let mut attempts = Vec::new();
        for key in super::redis_server::scan_keys(&mut conn, &pattern).await {
            let list: Vec<String> = redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .expect("lrange");
            attempts.extend(list);
        }
        text += &format!(
            "{id}: stream entries {in_stream}, retries due in (ms) {in_retry:?}, attempts {attempts:?}\n"
        );
    }
    text
}
