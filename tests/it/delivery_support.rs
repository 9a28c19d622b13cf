//! Helpers of the delivery tests: a Standard Webhooks verifier written from the spec (so it
//! checks `src/delivery/signature.rs` instead of sharing its code), queue-depth probes, and
//! small conveniences around hits and attempts.

#![allow(dead_code)] // shared by several delivery modules; not every module uses each helper

use std::collections::HashMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use octohooks::store::Store;
use serde_json::Value;
use sha2::Sha256;

use crate::harness::{eventually, Hit, TestServer};

/// Time a receiver is given to show a delivery that should not happen, after the work that
/// would have caused it was demonstrably processed.
pub const QUIET: Duration = Duration::from_millis(300);

/// The key bytes of a `whsec_` secret, decoded per the spec.
pub fn secret_key(secret: &str) -> Vec<u8> {
    let encoded = secret
        .strip_prefix("whsec_")
        .unwrap_or_else(|| panic!("secret {secret:?} lacks the whsec_ prefix"));
    STANDARD.decode(encoded).expect("secret is standard base64")
}

/// A fresh random `whsec_` secret of `bytes` key bytes.
pub fn random_secret(bytes: usize) -> String {
    let key: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    format!("whsec_{}", STANDARD.encode(key))
}

fn mac(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret_key(secret)).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// The `v1,<base64>` signature a receiver expects for one secret.
pub fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(digest))
}

/// Whether one `v1,<base64>` entry of a `webhook-signature` header is valid for `secret`
/// (constant-time comparison, as a receiver library does).
pub fn signature_valid(secret: &str, id: &str, timestamp: &str, body: &[u8], entry: &str) -> bool {
    let Some(("v1", encoded)) = entry.split_once(',') else {
        return false;
    };
    let Ok(bytes) = STANDARD.decode(encoded) else {
        return false;
    };
    mac(secret, id, timestamp, body)
        .verify_slice(&bytes)
        .is_ok()
}

/// Checks a delivery the way a receiver would: the header has exactly one signature per
/// secret, in order, and each verifies with its secret.
pub fn assert_signed(hit: &Hit, secrets: &[String]) {
    let id = &hit.headers["webhook-id"];
    let timestamp = &hit.headers["webhook-timestamp"];
    let header = &hit.headers["webhook-signature"];
    let entries: Vec<&str> = header.split(' ').collect();
    assert_eq!(
        entries.len(),
        secrets.len(),
        "one signature per secret expected in {header:?}"
    );
    for (secret, entry) in secrets.iter().zip(&entries) {
        assert!(
            signature_valid(secret, id, timestamp, &hit.body, entry),
            "signature {entry:?} does not verify with {secret:?} (id {id}, timestamp {timestamp})"
        );
        assert_eq!(*entry, expected_signature(secret, id, timestamp, &hit.body));
    }
}

/// The secrets of an endpoint as the API returned it.
pub fn secrets_of(endpoint: &Value) -> Vec<String> {
    endpoint["secrets"]
        .as_array()
        .expect("secrets array")
        .iter()
        .map(|s| s.as_str().expect("secret string").to_string())
        .collect()
}

/// The `webhook-id` of every hit, in arrival order.
pub fn webhook_ids(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| h.headers.get("webhook-id").cloned().unwrap_or_default())
        .collect()
}

/// Sorted `webhook-id`s of the hits on a path.
pub fn sorted_ids(hits: &[Hit]) -> Vec<String> {
    let mut ids = webhook_ids(hits);
    ids.sort();
    ids
}

/// An endpoint's id.
pub fn id_of(endpoint: &Value) -> String {
    endpoint["id"].as_str().expect("endpoint id").to_string()
}

/// Waits until a message has `count` attempts and returns them.
pub async fn wait_attempts(
    server: &TestServer,
    app: &str,
    message: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Value> {
    eventually(
        timeout,
        &format!("{count} attempts of {message}"),
        || async { server.attempts(app, message).await.len() >= count },
    )
    .await;
    server.attempts(app, message).await
}

/// Attempts of one endpoint among a message's attempts.
pub fn attempts_of(attempts: &[Value], endpoint: &str) -> Vec<Value> {
    attempts
        .iter()
        .filter(|a| a["endpointId"] == endpoint)
        .cloned()
        .collect()
}

/// What is still queued under a deployment's prefix, summed over its partitions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    /// Entries in the partition streams (acknowledged entries are deleted).
    pub stream: i64,
    /// Entries read but not acknowledged.
    pub pending: i64,
    /// Scheduled retries.
    pub retry: i64,
}

impl Depth {
    pub fn is_empty(&self) -> bool {
        *self == Depth::default()
    }
}

/// XLEN, XPENDING and ZCARD of every partition.
pub async fn depth(store: &Store) -> Depth {
    let mut conn = store.conn().await.expect("conn");
    let mut total = Depth::default();
    for p in 0..store.db.keys.partitions() {
        let stream = store.db.keys.stream(p);
        let (len, retry): (i64, i64) = redis::pipe()
            .cmd("XLEN")
            .arg(&stream)
            .cmd("ZCARD")
            .arg(store.db.keys.retry(p))
            .query_async(&mut conn)
            .await
            .expect("xlen/zcard");
        // XPENDING fails with NOGROUP when no worker ever read the partition: nothing pending.
        let pending: redis::RedisResult<(i64, redis::Value, redis::Value, redis::Value)> =
            redis::cmd("XPENDING")
                .arg(&stream)
                .arg("workers")
                .query_async(&mut conn)
                .await;
        total.stream += len;
        total.retry += retry;
        total.pending += pending.map(|p| p.0).unwrap_or(0);
    }
    total
}

/// Waits until every stream, pending list and retry set of the deployment is empty.
pub async fn assert_drained(store: &Store, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let last = depth(store).await;
        if last.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queues not drained after {timeout:?}: {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Counts of each `webhook-id` in a list.
pub fn tally(ids: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id.clone()).or_insert(0) += 1;
    }
    counts
}

/// Milliseconds since the Unix epoch (the unit of attempt timestamps).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}
