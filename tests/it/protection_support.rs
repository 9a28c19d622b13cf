//! Helpers shared by the `protection_*` modules: sending many messages at once, reading an
//! endpoint's health, counting hits in sliding windows and latency percentiles.

#![allow(dead_code)] // each protection module uses a subset

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::harness::{Hit, TestServer};

/// Posts `count` messages with up to `concurrency` requests at once; returns their ids in
/// sending order.
pub async fn send_many(
    server: &TestServer,
    app: &str,
    count: usize,
    concurrency: usize,
) -> Vec<String> {
    let gate = Arc::new(Semaphore::new(concurrency));
    let sends = (0..count).map(|i| {
        let gate = gate.clone();
        async move {
            let _permit = gate.acquire().await.expect("gate");
            server
                .send_message(app, json!({"eventType": "load.test", "payload": {"n": i}}))
                .await
        }
    });
    join_all(sends).await
}

/// GET of one endpoint (asserting 200).
pub async fn endpoint(server: &TestServer, app: &str, endpoint: &str) -> Value {
    let answer = server
        .get(&format!("/api/v1/applications/{app}/endpoints/{endpoint}"))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body
}

/// Polls the endpoint until `check` holds on it and returns it; panics after `timeout`.
pub async fn endpoint_when(
    server: &TestServer,
    app: &str,
    id: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let body = endpoint(server, app, id).await;
        if check(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}; last: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `webhook-id` of a hit.
pub fn webhook_id(hit: &Hit) -> &str {
    hit.headers
        .get("webhook-id")
        .map(String::as_str)
        .unwrap_or("")
}

/// Most hits within any `window` (hits less than `window` apart from the first one counted).
pub fn max_in_window(hits: &[Hit], window: Duration) -> usize {
    let mut times: Vec<Instant> = hits.iter().map(|h| h.at).collect();
    times.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end].duration_since(times[start]) >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Most of the epoch-ms `times` within any `window_ms` (same rule as [`max_in_window`]).
pub fn max_in_window_ms(times: &[i64], window_ms: i64) -> usize {
    let mut times = times.to_vec();
    times.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= window_ms {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// The `p`-th percentile (0–100) of a sample, nearest-rank.
pub fn percentile(sample: &[Duration], p: f64) -> Duration {
    let mut sorted = sample.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Sum of the sizes of every partition's retry set (work waiting there).
pub async fn retry_backlog(server: &TestServer) -> usize {
    let keys = &server.store.db.keys;
    let mut pipe = redis::pipe();
    for p in 0..keys.partitions() {
        pipe.zcard(keys.retry(p));
    }
    let mut conn = server.store.conn().await.expect("conn");
    let sizes: Vec<usize> = pipe.query_async(&mut conn).await.expect("zcard");
    sizes.into_iter().sum()
}

/// Deliveries parked behind open circuits, over every partition.
pub async fn parked_backlog(server: &TestServer) -> usize {
    let keys = &server.store.db.keys;
    let mut conn = server.store.conn().await.expect("conn");
    let mut total = 0;
    for p in 0..keys.partitions() {
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(keys.parked_index(p))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await
            .expect("parked index");
        for member in members {
            let (app, endpoint) = member.split_once('|').expect("app|endpoint");
            let key = keys.parked(
                app.parse().expect("app id"),
                endpoint.parse().expect("endpoint id"),
            );
            let size: usize = redis::cmd("ZCARD")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("zcard");
            total += size;
        }
    }
    total
}

/// Sum of the lengths of every partition's stream (entries not yet acknowledged).
pub async fn stream_backlog(server: &TestServer) -> usize {
    let keys = &server.store.db.keys;
    let mut pipe = redis::pipe();
    for p in 0..keys.partitions() {
        pipe.xlen(keys.stream(p));
    }
    let mut conn = server.store.conn().await.expect("conn");
    let sizes: Vec<usize> = pipe.query_async(&mut conn).await.expect("xlen");
    sizes.into_iter().sum()
}

/// Epoch milliseconds of an `Instant` of this process, from a reference pair taken together.
pub fn epoch_ms_of(at: Instant, reference: (Instant, i64)) -> i64 {
    let (ref_instant, ref_ms) = reference;
    if at >= ref_instant {
        ref_ms + at.duration_since(ref_instant).as_millis() as i64
    } else {
        ref_ms - ref_instant.duration_since(at).as_millis() as i64
    }
}
