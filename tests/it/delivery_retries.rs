//! The retry schedule, live: failed attempts are recorded as `pending` with their
//! `nextAttempt`, retries come no earlier than the jittered schedule allows (lower bounds are
//! strict, upper bounds leave room for scheduling), and an exhausted schedule ends `failed`.

use std::sync::Arc;
use std::time::Duration;

use crate::support::api::{id_of, int as ms, statuses};
use crate::support::queue::{assert_drained, retries_of_endpoint};
use crate::support::receiver::{Receiver, Reply};
use crate::support::server::TestServer;
use crate::support::wait::{endpoint_when, eventually, wait_attempts, wait_quiet, WAIT};
/// Scheduling slack allowed on top of a delay (retry poll, stream read, CPU contention).
const SLACK_MS: i64 = 300;
/// Clock granularity allowed below a lower bound (wall clock vs monotonic clock).
const EPSILON_MS: i64 = 5;

fn schedule(c: &mut octohooks::config::Config) {
    c.retry.schedule = vec![Duration::from_millis(200), Duration::from_millis(400)];
    c.retry.jitter = 0.2;
}

/// Asserts `value` (ms) lies in `[base·(1-j) - ε, base·(1+j) + slack]`.
fn assert_within(what: &str, value: i64, base_ms: i64) {
    let low = base_ms * 8 / 10 - EPSILON_MS;
    let high = base_ms * 12 / 10 + SLACK_MS;
    assert!(
        (low..=high).contains(&value),
        "{what}: {value} ms is outside [{low}, {high}] for a {base_ms} ms delay with 20% jitter"
    );
}

#[actix_rt::test]
async fn failures_are_retried_on_the_jittered_schedule_until_success() {
    let server = TestServer::start_with(schedule).await;
    let receiver = Receiver::with(Arc::new(|nth, _| {
        Reply::status(if nth < 2 { 500 } else { 200 })
    }));
    let (app, endpoint) = server
        .app_with_endpoint("retries", &format!("{}/hook", receiver.url))
        .await;
    let message = server.send_event(&app, "x").await;
    let attempts = wait_attempts(&server, &app, &message, 3).await;
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    for (i, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt["endpointId"], endpoint["id"]);
        assert_eq!(attempt["attempt"], i + 1);
    }
    for (attempt, base) in attempts[..2].iter().zip([200, 400]) {
        assert_eq!(attempt["status"], "pending", "{attempt}");
        assert_eq!(attempt["responseStatusCode"], 500);
        assert_eq!(attempt["error"], "http_status");
        assert_eq!(attempt["responseBody"], "receiver says hi");
        let wait = ms(&attempt["nextAttempt"]) - ms(&attempt["timestamp"]);
        // nextAttempt is computed once the response is in: the request's duration comes first.
        let wait = wait - ms(&attempt["durationMs"]);
        assert_within("nextAttempt - timestamp - duration", wait, base);
    }
    let last = &attempts[2];
    assert_eq!(last["status"], "success", "{last}");
    assert_eq!(last["responseStatusCode"], 200);
    assert!(last["error"].is_null(), "{last}");
    assert!(last["nextAttempt"].is_null(), "{last}");
    // Each retry starts no earlier than announced.
    for pair in attempts.windows(2) {
        assert!(
            ms(&pair[1]["timestamp"]) >= ms(&pair[0]["nextAttempt"]) - EPSILON_MS,
            "attempt started before its nextAttempt: {pair:#?}"
        );
    }
    // The receiver's view of the same gaps.
    let hits = receiver.hits_on("/hook");
    assert_eq!(hits.len(), 3);
    for (pair, base) in hits.windows(2).zip([200, 400]) {
        let gap = pair[1].at.duration_since(pair[0].at).as_millis() as i64;
        assert_within("gap between hits", gap, base);
        assert_eq!(pair[0].headers["webhook-id"], pair[1].headers["webhook-id"]);
    }
    // Success ends the chain: once it is handled, no retry of the endpoint is left.
    wait_quiet(&server).await;
    let retries = retries_of_endpoint(&server.store, &id_of(&endpoint)).await;
    assert!(retries.is_empty(), "a retry after success: {retries:?}");
    assert_eq!(receiver.hits_on("/hook").len(), 3);
    assert_eq!(server.attempts(&app, &message).await.len(), 3);
    assert_drained(&server.store).await;
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn an_exhausted_schedule_ends_failed_and_stops() {
    let server = TestServer::start_with(schedule).await;
    let receiver = Receiver::with(Arc::new(|_, _| Reply::status(500)));
    let (app, endpoint) = server
        .app_with_endpoint("exhausted", &format!("{}/hook", receiver.url))
        .await;
    let message = server.send_event(&app, "x").await;
    let attempts = wait_attempts(&server, &app, &message, 3).await;
    assert_eq!(
        statuses(&attempts),
        ["pending", "pending", "failed"],
        "{attempts:#?}"
    );
    assert!(attempts[0]["nextAttempt"].is_i64());
    assert!(attempts[1]["nextAttempt"].is_i64());
    assert!(attempts[2]["nextAttempt"].is_null());
    assert!(attempts.iter().all(|a| a["responseStatusCode"] == 500));
    // The final failure is handled and no retry of the endpoint is left: nothing more can
    // happen.
    wait_quiet(&server).await;
    let retries = retries_of_endpoint(&server.store, &id_of(&endpoint)).await;
    assert!(
        retries.is_empty(),
        "a retry after the last one: {retries:?}"
    );
    assert_eq!(receiver.hits_on("/hook").len(), 3);
    assert_eq!(server.attempts(&app, &message).await.len(), 3);
    assert_drained(&server.store).await;
    // The endpoint is failing, not gone: it stays enabled.
    let listed = server
        .get(&format!("/api/v1/applications/{app}/endpoints"))
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body[0]["enabled"], true, "{:?}", listed.body);
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn jitter_spreads_the_retries_of_many_messages() {
    let server = TestServer::start_with(|c| {
        schedule(c);
        // Ten failures in a row would open the circuit; this test is about the schedule.
        c.circuit.failure_threshold = 1000;
    })
    .await;
    // Every message fails once, then succeeds.
    let failing_once = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen = failing_once.clone();
    let receiver = Receiver::with(Arc::new(move |_, hit| {
        let id = hit.headers["webhook-id"].clone();
        let first = seen.lock().expect("seen").insert(id);
        // 500, not 503: a 503 without Retry-After would also lower the endpoint's rate.
        Reply::status(if first { 500 } else { 200 })
    }));
    let (app, _) = server
        .app_with_endpoint("jitter", &format!("{}/hook", receiver.url))
        .await;
    let messages = server.send_numbered(&app, 0..10).await;
    eventually(WAIT, "20 deliveries", || async {
        receiver.hits_on("/hook").len() == 20
    })
    .await;
    let mut waits = Vec::new();
    for message in &messages {
        let attempts = wait_attempts(&server, &app, message, 2).await;
        assert_eq!(attempts[0]["status"], "pending");
        assert_eq!(attempts[1]["status"], "success");
        let wait = ms(&attempts[0]["nextAttempt"])
            - ms(&attempts[0]["timestamp"])
            - ms(&attempts[0]["durationMs"]);
        assert_within("first retry delay", wait, 200);
        waits.push(wait);
    }
    let spread = waits.iter().max().unwrap() - waits.iter().min().unwrap();
    assert!(
        spread >= 10,
        "retry delays should be jittered, got {waits:?}"
    );
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn an_open_circuit_holds_deliveries_back_without_dropping_them() {
    let server = TestServer::start_with(|c| {
        schedule(c);
        c.circuit.failure_threshold = 3;
        c.circuit.cooldown = Duration::from_secs(1);
        c.circuit.max_cooldown = Duration::from_secs(1);
    })
    .await;
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let state = down.clone();
    let receiver = Receiver::with(Arc::new(move |_, _| {
        if state.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::status(500)
        } else {
            Reply::status(200)
        }
    }));
    let (app, endpoint) = server
        .app_with_endpoint("circuit", &format!("{}/hook", receiver.url))
        .await;
    let failing = server.send_numbered(&app, 0..3).await;
    eventually(WAIT, "three failed attempts", || async {
        receiver.hits_on("/hook").len() == 3
    })
    .await;
    endpoint_when(
        &server,
        &app,
        &id_of(&endpoint),
        WAIT,
        "circuit open",
        |e| e["health"]["circuit"] == "open",
    )
    .await;
    // The circuit is open: the due retries and new messages wait for the probe, which will
    // succeed (the receiver is fine again).
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    let held = server.send_numbered(&app, 3..8).await;
    // After the cooldown one probe succeeds, the circuit closes, everything is delivered.
    for message in failing.iter().chain(&held) {
        eventually(WAIT, "delivery after the circuit closed", || async {
            server
                .attempts(&app, message)
                .await
                .iter()
                .any(|a| a["status"] == "success")
        })
        .await;
    }
    // Nothing went out while the circuit was open: the first request after the third
    // failure (the probe) came a whole cooldown later, and every other one after it.
    let hits = receiver.hits_on("/hook");
    let first_after = hits[3].at.duration_since(hits[2].at);
    assert!(
        first_after >= Duration::from_millis(995),
        "probe sent {first_after:?} after the circuit opened (cooldown 1 s)"
    );
    for message in &failing {
        let attempts = server.attempts(&app, message).await;
        assert_eq!(
            statuses(&attempts),
            ["pending", "success"],
            "postponing is not an attempt"
        );
    }
    for message in &held {
        let attempts = server.attempts(&app, message).await;
        assert_eq!(attempts.len(), 1, "{attempts:#?}");
        assert_eq!(attempts[0]["attempt"], 1);
    }
    wait_quiet(&server).await;
    assert_eq!(
        receiver.hits_on("/hook").len(),
        11,
        "each message once more, no extra"
    );
    assert_drained(&server.store).await;
    server.shutdown().await;
    receiver.stop().await;
}
