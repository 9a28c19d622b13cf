//! Partition ownership: node heartbeats, the even assignment of partitions over live nodes,
//! and leases with fencing epochs.
//!
//! Every node computes the same assignment from the same sorted list of live nodes
//! (partition `p` belongs to node `p mod N`), so shares differ by at most one and no
//! coordinator is needed. A node only reads a partition while it holds its lease; a lease is
//! taken when free, renewed on every heartbeat, released when the assignment moves the
//! partition away, and left to expire when its holder dies.

use std::time::Duration;

use super::QueueScripts;
use crate::error::StoreError;
use crate::model::now_ms;
use crate::store::Keys;

/// Partitions node `me` should own, given every live node (any order).
pub fn assigned(partitions: u16, live: &[String], me: &str) -> Vec<u16> {
    let mut nodes: Vec<&str> = live.iter().map(String::as_str).collect();
    if !nodes.contains(&me) {
        nodes.push(me);
    }
    nodes.sort_unstable();
    nodes.dedup();
    let Some(index) = nodes.iter().position(|n| *n == me) else {
        return Vec::new();
    };
    (0..partitions)
        .filter(|p| usize::from(*p) % nodes.len() == index)
        .collect()
}

/// Announces this node and returns every live node (heartbeat newer than `ttl`).
pub async fn heartbeat<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
    node: &str,
    ttl: Duration,
) -> Result<Vec<String>, StoreError> {
    let now = now_ms();
    let (live,): (Vec<String>,) = redis::pipe()
        .zadd(keys.nodes(), node, now)
        .ignore()
        .zrembyscore(keys.nodes(), "-inf", now - ttl.as_millis() as i64)
        .ignore()
        .zrange(keys.nodes(), 0, -1)
        .query_async(conn)
        .await?;
    Ok(live)
}

/// Removes this node from the live set (graceful leave).
pub async fn leave<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    keys: &Keys,
    node: &str,
) -> Result<(), StoreError> {
    let _: () = redis::cmd("ZREM")
        .arg(keys.nodes())
        .arg(node)
        .query_async(conn)
        .await?;
    Ok(())
}

/// Takes a free lease; returns its token ("node:epoch").
pub async fn acquire<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    scripts: &QueueScripts,
    keys: &Keys,
    partition: u16,
    node: &str,
    ttl: Duration,
) -> Result<Option<String>, StoreError> {
    Ok(scripts
        .lease_acquire
        .key(keys.lease(partition))
        .key(keys.lease_epoch(partition))
        .arg(node)
        .arg(ttl.as_millis() as u64)
        .invoke_async(conn)
        .await?)
}

/// Extends a lease still held with `token`; false when it was lost.
pub async fn renew<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    scripts: &QueueScripts,
    keys: &Keys,
    partition: u16,
    token: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let renewed: i64 = scripts
        .lease_renew
        .key(keys.lease(partition))
        .arg(token)
        .arg(ttl.as_millis() as u64)
        .invoke_async(conn)
        .await?;
    Ok(renewed == 1)
}

/// Gives a lease back so the next owner need not wait for it to expire.
pub async fn release<C: redis::aio::ConnectionLike + Send>(
    conn: &mut C,
    scripts: &QueueScripts,
    keys: &Keys,
    partition: u16,
    token: &str,
) -> Result<(), StoreError> {
    let _: i64 = scripts
        .lease_release
        .key(keys.lease(partition))
        .arg(token)
        .invoke_async(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_even_and_disjoint() {
        let live: Vec<String> = ["c", "a", "b"].iter().map(|s| s.to_string()).collect();
        let shares: Vec<Vec<u16>> = live.iter().map(|n| assigned(64, &live, n)).collect();
        let mut all: Vec<u16> = shares.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..64).collect::<Vec<_>>());
        for share in &shares {
            assert!(share.len() == 21 || share.len() == 22, "{}", share.len());
        }
    }

    #[test]
    fn a_lone_node_owns_everything() {
        assert_eq!(assigned(8, &[], "me").len(), 8);
    }
}
