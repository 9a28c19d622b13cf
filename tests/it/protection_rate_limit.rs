//! Per-endpoint rate limits: a governor limiter with a burst of one in the endpoint's actor.
//! Waiting for it is not an attempt, and a backlog beyond the actor's bounded queue spills to
//! the retry set (not an attempt either) and still arrives, once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use octohooks::clock::now_ms;
use serde_json::json;

use crate::support::api::int;
use crate::support::measure::{epoch_ms_of, hit_offsets, max_in_window, ms_offsets, span};
use crate::support::queue::depth;
use crate::support::receiver::Receiver;
use crate::support::server::TestServer;
use crate::support::wait::{eventually, poll_until, wait_quiet, WAIT};

/// The one long test (~25 s): 500 messages to an endpoint limited to 20/s, through a queue
/// of 50, so most of the backlog spills to the retry set and comes back, repeatedly.
#[actix_rt::test]
async fn rate_limit_spreads_deliveries_and_spilled_work_arrives_once_without_attempts() {
    const MESSAGES: usize = 500;
    const RATE: usize = 20;
    let server = TestServer::start_with(|c| {
        c.endpoint.queue_capacity = 50;
    })
    .await;
    let receiver = Receiver::ok();
    let app = server.create_app("rate-limited").await;
    server
        .create_endpoint(
            &app,
            &format!("{}/hook", receiver.url),
            json!({ "rateLimit": RATE }),
        )
        .await;

    let reference = (Instant::now(), now_ms());
    let started = Instant::now();
    let ids = server.send_many(&app, MESSAGES, 50).await;
    let posted_in = started.elapsed();

    // Wait for every delivery, watching the retry set fill with spilled work meanwhile.
    let peak = std::cell::Cell::new(0);
    poll_until(
        Duration::from_secs(60),
        "every paced delivery",
        || async {
            peak.set(peak.get().max(depth(&server.store).await.retry));
            receiver.hits().len()
        },
        |delivered| *delivered >= MESSAGES,
    )
    .await;
    let spilled_peak = peak.get();
    // Anything still to come would be a duplicate: once the node is quiet and nothing is
    // queued (no spilled work, no unacknowledged entry), nothing can come.
    wait_quiet(&server).await;
    let left = depth(&server.store).await;
    assert!(left.is_empty(), "work left queued: {left:?}");
    let hits = receiver.hits_on("/hook");
    let delivered: HashSet<&str> = hits.iter().map(|h| h.webhook_id()).collect();
    let sent: HashSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        hits.len(),
        MESSAGES,
        "one request per message, no duplicates"
    );
    assert_eq!(
        delivered, sent,
        "every message arrives, under its own webhook-id"
    );

    // Neither waiting for the limiter nor spilling is an attempt: one successful attempt each.
    let mut attempt_started: Vec<i64> = Vec::new();
    for chunk in ids.chunks(50) {
        let lists = join_all(chunk.iter().map(|id| server.attempts(&app, id))).await;
        for (id, attempts) in chunk.iter().zip(lists) {
            assert_eq!(attempts.len(), 1, "message {id}: {attempts:?}");
            assert_eq!(
                attempts[0]["status"], "success",
                "message {id}: {attempts:?}"
            );
            assert_eq!(attempts[0]["attempt"], 1, "message {id}: {attempts:?}");
            attempt_started.push(int(&attempts[0]["timestamp"]));
        }
    }
    let second = Duration::from_secs(1);
    // Where the limiter acts: when attempts start (their timestamps).
    let sent_per_second = max_in_window(&ms_offsets(&attempt_started), second);
    // Where the receiver sees them: each request arrives after its own latency, so a second
    // at the receiver can hold the requests started over a second plus the spread of those
    // latencies (measured here: arrival mapped to epoch ms, minus the attempt's start).
    let started_at: HashMap<&str, i64> = ids
        .iter()
        .map(String::as_str)
        .zip(attempt_started.iter().copied())
        .collect();
    let latencies: Vec<i64> = hits
        .iter()
        .map(|h| epoch_ms_of(h.at, reference) - started_at[h.webhook_id()])
        .collect();
    let spread = latencies.iter().max().unwrap() - latencies.iter().min().unwrap();
    let per_permit = 1000 / RATE as i64;
    let jitter_allowance = (spread.max(0) + per_permit - 1) / per_permit;
    let per_second = max_in_window(&hit_offsets(&hits), second);
    let delivered_over = span(&hits);
    println!(
        "rate limit {RATE}/s: {MESSAGES} messages posted in {posted_in:?}, delivered over \
         {delivered_over:?}; max {sent_per_second} attempts started and {per_second} hits in \
         any 1 s window (latency spread {spread} ms); retry set peaked at {spilled_peak} \
         spilled jobs"
    );
    assert!(
        sent_per_second <= RATE + 1,
        "{sent_per_second} attempts started within one second (limit {RATE}/s, burst 1)"
    );
    assert!(
        per_second <= RATE + 1 + jitter_allowance as usize,
        "{per_second} hits within one second (limit {RATE}/s, burst 1, latency spread \
         {spread} ms)"
    );
    // The limiter does not only cap, it spreads: 500 at 20/s take about 25 s.
    assert!(
        delivered_over >= Duration::from_millis(((MESSAGES - 1) * 1000 / RATE) as u64 - 1000),
        "delivered too fast: {delivered_over:?}"
    );
    assert!(spilled_peak > 0, "the queue of 50 never spilled");
    server.shutdown().await;
    receiver.stop().await;
}

/// `rateLimit: null` takes `endpoint.default_rate_limit`; an endpoint's own value overrides
/// it; and a limited endpoint does not hold up its neighbour in the same application.
#[actix_rt::test]
async fn null_rate_limit_takes_the_configured_default_and_own_values_override_it() {
    const MESSAGES: usize = 20;
    let server = TestServer::start_with(|c| {
        c.endpoint.default_rate_limit = 10;
    })
    .await;
    let receiver = Receiver::ok();
    let (app, defaulted) = server
        .app_with_endpoint("defaults", &format!("{}/default", receiver.url))
        .await;
    assert_eq!(defaulted["rateLimit"], serde_json::Value::Null);
    server
        .create_endpoint(
            &app,
            &format!("{}/fast", receiver.url),
            json!({ "rateLimit": 200 }),
        )
        .await;
    server.send_many(&app, MESSAGES, 20).await;
    eventually(WAIT, "all deliveries", || async {
        receiver.hits().len() == 2 * MESSAGES
    })
    .await;
    let span = |path: &str| {
        let hits = receiver.hits_on(path);
        assert_eq!(hits.len(), MESSAGES, "{path}");
        (
            span(&hits),
            max_in_window(&hit_offsets(&hits), Duration::from_secs(1)),
        )
    };
    let (slow_span, slow_peak) = span("/default");
    let (fast_span, _) = span("/fast");
    // 10/s with a burst of one: 20 deliveries take 1.9 s.
    assert!(
        slow_peak <= 11,
        "{slow_peak} in one second at the default 10/s"
    );
    assert!(slow_span >= Duration::from_millis(1700), "{slow_span:?}");
    // 200/s: 20 deliveries take about 0.1 s (the default does not apply).
    assert!(fast_span < Duration::from_millis(900), "{fast_span:?}");
    server.shutdown().await;
    receiver.stop().await;
}

/// `endpoint.default_rate_limit = 0` means unlimited.
#[actix_rt::test]
async fn a_zero_default_rate_limit_means_unlimited() {
    const MESSAGES: usize = 60;
    let server = TestServer::start_with(|c| {
        c.endpoint.default_rate_limit = 0;
    })
    .await;
    let receiver = Receiver::ok();
    let (app, _) = server
        .app_with_endpoint("unlimited", &format!("{}/hook", receiver.url))
        .await;
    server.send_many(&app, MESSAGES, 60).await;
    eventually(WAIT, "all deliveries", || async {
        receiver.hits().len() == MESSAGES
    })
    .await;
    // Far more than a limiter with a burst of one would let through in one second.
    let peak = max_in_window(&hit_offsets(&receiver.hits()), Duration::from_secs(1));
    assert!(peak >= 30, "only {peak} in the busiest second");
    server.shutdown().await;
    receiver.stop().await;
}
