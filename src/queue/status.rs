//! A snapshot of the cluster as Redis sees it: live worker nodes, which partitions each owns,
//! and the depth of every partition's stream and retry set (`octohooks cluster status`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::lease::parse_token;
use crate::clock::now_ms;
use crate::db::{Db, StoreError};

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

/// Reads the cluster state in two round trips; `lease_ttl` is `worker.lease_ttl`.
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
    let now = now_ms();
    let mut pipe = redis::pipe();
    for p in 0..keys.partitions() {
        pipe.get(keys.lease(p))
            .xlen(keys.stream(p))
            .zcard(keys.retry(p));
    }
    let rows: Vec<(Option<String>, u64, u64)> = {
        let flat: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
        flat.chunks(3)
            .map(|c| {
                let lease = redis::from_redis_value_ref::<Option<String>>(&c[0])
                    .ok()
                    .flatten();
                let depth = |v: &redis::Value| redis::from_redis_value_ref::<u64>(v).unwrap_or(0);
                (lease, depth(&c[1]), depth(&c[2]))
            })
            .collect()
    };
    let mut ownership: BTreeMap<String, Vec<u16>> = BTreeMap::new();
    let mut partitions = Vec::new();
    for (p, (lease, stream, retry)) in rows.into_iter().enumerate() {
        let partition = p as u16;
        let (owner, epoch) = match lease.as_deref().and_then(parse_token) {
            Some((node, epoch)) => (Some(node.to_string()), Some(epoch)),
            None => (None, None),
        };
        if let Some(owner) = &owner {
            ownership.entry(owner.clone()).or_default().push(partition);
        }
        partitions.push(PartitionStatus {
            partition,
            owner,
            epoch,
            stream,
            retry,
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
