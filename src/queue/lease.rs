//! Partition leases with fencing epochs, and the live-node set they are balanced over.
//!
//! A node only reads a partition while it holds its lease; a lease is taken when free
//! (`scripts/lease_acquire.lua`, which bumps the partition's epoch), renewed on every
//! heartbeat, released when the assignment moves the partition away, and left to expire when
//! its holder dies. The token `node:epoch` fences writes: scripts that move work refuse a
//! caller whose token is no longer the lease's.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::{Db, StoreError};

static ACQUIRE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/lease_acquire.lua")));
static RENEW: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/lease_renew.lua")));
static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/lease_release.lua")));

/// A held lease: its token is `node:epoch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    token: String,
}

impl Lease {
    /// A lease known by its token (tests, tools).
    pub fn from_token(token: &str) -> Self {
        Lease {
            token: token.to_string(),
        }
    }

    /// The token scripts compare with the stored lease.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The fencing epoch (bumped on every acquisition of the partition).
    pub fn epoch(&self) -> Option<u64> {
        parse_token(&self.token).map(|(_, epoch)| epoch)
    }
}

/// Splits a stored lease token into its node and epoch.
pub fn parse_token(token: &str) -> Option<(&str, u64)> {
    let (node, epoch) = token.rsplit_once(':')?;
    Some((node, epoch.parse().ok()?))
}

/// Whether a renewal found the lease still ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Renewed,
    Lost,
}

/// Announces this node and returns every live node (heartbeat newer than `ttl`).
pub async fn heartbeat(db: &Db, node: &str, ttl: Duration) -> Result<Vec<String>, StoreError> {
    let now = now_ms();
    let key = db.keys.nodes();
    let mut conn = db.conn().await?;
    let (live,): (Vec<String>,) = redis::pipe()
        .zadd(&key, node, now)
        .ignore()
        .zrembyscore(&key, "-inf", now - ttl.as_millis() as i64)
        .ignore()
        .zrange(&key, 0, -1)
        .query_async(&mut conn)
        .await?;
    Ok(live)
}

/// Removes this node from the live set (graceful leave).
pub async fn leave(db: &Db, node: &str) -> Result<(), StoreError> {
    let mut conn = db.conn().await?;
    let _: () = redis::cmd("ZREM")
        .arg(db.keys.nodes())
        .arg(node)
        .query_async(&mut conn)
        .await?;
    Ok(())
}

/// The node holding each partition's lease (`None` when free), read with one GET per
/// partition, all in flight at once (each lease lives in its partition's slot, so on a
/// Redis Cluster they cannot share one command).
pub async fn holders(db: &Db) -> Result<Vec<Option<String>>, StoreError> {
    let conn = db.conn().await?;
    let reads = (0..db.keys.partitions()).map(|p| {
        let mut conn = conn.clone();
        let key = db.keys.lease(p);
        async move {
            let token: Option<String> = redis::cmd("GET").arg(key).query_async(&mut conn).await?;
            Ok::<_, StoreError>(
                token.and_then(|t| parse_token(&t).map(|(node, _)| node.to_string())),
            )
        }
    });
    futures_util::future::try_join_all(reads).await
}

/// Takes the partition's lease when it is free.
pub async fn acquire(
    db: &Db,
    partition: u16,
    node: &str,
    ttl: Duration,
) -> Result<Option<Lease>, StoreError> {
    let mut conn = db.conn().await?;
    let token: Option<String> = ScriptCall::new(
        &ACQUIRE,
        &[db.keys.lease(partition), db.keys.lease_epoch(partition)],
    )
    .arg(node)
    .arg(ttl.as_millis() as u64)
    .invoke(&mut conn)
    .await?;
    Ok(token.map(|token| Lease { token }))
}

/// Extends a lease still held.
pub async fn renew(
    db: &Db,
    partition: u16,
    lease: &Lease,
    ttl: Duration,
) -> Result<Renewal, StoreError> {
    let mut conn = db.conn().await?;
    let renewed: i64 = ScriptCall::new(&RENEW, &[db.keys.lease(partition)])
        .arg(lease.token())
        .arg(ttl.as_millis() as u64)
        .invoke(&mut conn)
        .await?;
    Ok(if renewed == 1 {
        Renewal::Renewed
    } else {
        Renewal::Lost
    })
}

/// Gives a lease back so the next owner need not wait for it to expire.
pub async fn release(db: &Db, partition: u16, lease: &Lease) -> Result<(), StoreError> {
    let mut conn = db.conn().await?;
    let _: i64 = ScriptCall::new(&RELEASE, &[db.keys.lease(partition)])
        .arg(lease.token())
        .invoke(&mut conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_node_and_epoch() {
        assert_eq!(parse_token("a:b:7"), Some(("a:b", 7)));
        assert_eq!(parse_token("nope"), None);
        let lease = Lease {
            token: "n:12".into(),
        };
        assert_eq!(lease.epoch(), Some(12));
    }
}
