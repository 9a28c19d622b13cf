//! A snapshot of the deployment as Redis sees it (`octohooks cluster status`): live worker
//! nodes, which partitions each owns, the depth of every partition's stream, retry set and
//! parked backlogs, and, on a Redis Cluster, which master holds each partition.

use std::collections::BTreeMap;
use std::time::Duration;

use redis::Value;
use serde::Serialize;

use super::lease::parse_token;
use crate::clock::now_ms;
use crate::db::{Connection, Db, StoreError};

/// One partition's owner and backlog.
#[derive(Debug, Serialize)]
pub struct PartitionStatus {
    pub partition: u16,
    /// Node holding the lease, if any.
    pub owner: Option<String>,
    /// Fencing epoch of the current lease.
    pub epoch: Option<u64>,
    /// Entries in the stream (pending or not yet read).
    pub stream: u64,
    /// Scheduled retries.
    pub retry: u64,
    /// Endpoints with deliveries parked behind an open circuit.
    pub parked_endpoints: u64,
    /// On a Redis Cluster: the master holding the partition's slot (`host:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_master: Option<String>,
}

/// The whole picture.
#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    /// Live node → ms since its last heartbeat. A node silent for longer than the lease TTL
    /// is not live (workers apply the same rule), even while no worker is left to remove it.
    pub nodes: BTreeMap<String, i64>,
    /// Node → partitions it owns.
    pub ownership: BTreeMap<String, Vec<u16>>,
    pub partitions: Vec<PartitionStatus>,
}

/// Reads the state one partition at a time (each partition's keys share one slot, so this
/// works the same on a Redis Cluster); `lease_ttl` is `worker.lease_ttl`.
pub async fn status(db: &Db, lease_ttl: Duration) -> Result<ClusterStatus, StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let nodes: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(keys.nodes())
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await?;
    let slots = if db.is_cluster() {
        Some(slot_masters(&mut conn).await?)
    } else {
        None
    };
    let now = now_ms();
    let mut ownership: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let mut partitions = Vec::new();
    for partition in 0..keys.partitions() {
        let (lease, stream, retry, parked): (Option<String>, u64, u64, u64) = redis::pipe()
            .get(keys.lease(partition))
            .xlen(keys.stream(partition))
            .zcard(keys.retry(partition))
            .zcard(keys.parked_index(partition))
            .query_async(&mut conn)
            .await?;
        let (owner, epoch) = match lease.as_deref().and_then(parse_token) {
            Some((node, epoch)) => (Some(node.to_string()), Some(epoch)),
            None => (None, None),
        };
        if let Some(owner) = &owner {
            ownership.entry(owner.clone()).or_default().push(partition);
        }
        let redis_master = match &slots {
            Some(slots) => {
                let slot: u16 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(keys.stream(partition))
                    .query_async(&mut conn)
                    .await?;
                slots
                    .iter()
                    .find(|(start, end, _)| (*start..=*end).contains(&slot))
                    .map(|(_, _, master)| master.clone())
            }
            None => None,
        };
        partitions.push(PartitionStatus {
            partition,
            owner,
            epoch,
            stream,
            retry,
            parked_endpoints: parked,
            redis_master,
        });
    }
    Ok(ClusterStatus {
        nodes: nodes
            .into_iter()
            .map(|(n, at)| (n, now - at))
            .filter(|(_, silent)| *silent < lease_ttl.as_millis() as i64)
            .collect(),
        ownership,
        partitions,
    })
}

/// Slot ranges and the `host:port` of the master serving each (`CLUSTER SLOTS`).
async fn slot_masters(conn: &mut Connection) -> Result<Vec<(u16, u16, String)>, StoreError> {
    let reply: Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let Value::Array(ranges) = reply else {
        return Ok(Vec::new());
    };
    let mut slots = Vec::new();
    for range in ranges {
        let Value::Array(parts) = range else { continue };
        let (Some(start), Some(end), Some(Value::Array(master))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            continue;
        };
        let start: u16 = redis::from_redis_value_ref(start)?;
        let end: u16 = redis::from_redis_value_ref(end)?;
        let host: String = master
            .first()
            .map(redis::from_redis_value_ref)
            .transpose()?
            .unwrap_or_default();
        let port: u16 = master
            .get(1)
            .map(redis::from_redis_value_ref)
            .transpose()?
            .unwrap_or_default();
        slots.push((start, end, format!("{host}:{port}")));
    }
    Ok(slots)
}
