//! The circuit breaker and auto-disable, as an operator sees them through the API: the
//! endpoint's read-only `health`, the receiver's hits, and the attempts of each message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use octohooks::clock::now_ms;
use serde_json::{json, Value};

use crate::harness::{eventually, Receiver, Reply, TestServer};
use crate::protection_support::{
    endpoint, endpoint_when, epoch_ms_of, parked_backlog, retry_backlog, webhook_id,
};

/// A receiver that answers 500 until `healthy` is set, then 200.
fn switchable_receiver(healthy: Arc<AtomicBool>) -> Receiver {
    Receiver::with(Arc::new(move |_, _| {
        Reply::status(if healthy.load(SeqCst) { 200 } else { 500 })
    }))
}

fn int(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

/// closed → open after 3 failures → (1 s, nothing sent) → one probe, which fails → open for
/// 2 s → the receiver recovers → the next probe closes the circuit → everything sent during
/// the cycle arrives once; the only attempts are the requests the receiver really got.
#[actix_rt::test]
async fn circuit_opens_probes_reopens_longer_and_closes_without_losing_messages() {
    let server = TestServer::start_with(|c| {
        c.circuit.failure_threshold = 3;
        c.circuit.cooldown = Duration::from_secs(1);
        c.circuit.max_cooldown = Duration::from_secs(10);
        c.retry.schedule = vec![Duration::from_millis(100); 40];
        c.retry.jitter = 0.0;
    })
    .await;
    let reference = (Instant::now(), now_ms());
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = switchable_receiver(healthy.clone());
    let app = server.create_app("breaker").await;
    let ep = server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    let ep = ep["id"].as_str().expect("id").to_string();
    assert_eq!(
        endpoint(&server, &app, &ep).await["health"]["circuit"],
        "closed"
    );

    // Three consecutive failures (the first attempt and two retries) open the circuit.
    let mut ids = vec![
        server
            .send_message(&app, json!({"eventType": "e", "payload": {}}))
            .await,
    ];
    let opened = endpoint_when(
        &server,
        &app,
        &ep,
        Duration::from_secs(5),
        "circuit open",
        |e| e["health"]["circuit"] == "open",
    )
    .await;
    let health = &opened["health"];
    assert_eq!(receiver.hits().len(), 3, "{health}");
    assert_eq!(health["consecutiveFailures"], 3);
    assert!(health["failingSince"].is_i64() && health["lastFailure"].is_i64());
    let cooldown = int(&health["nextProbe"]) - int(&health["lastFailure"]);
    assert!(
        (900..=1100).contains(&cooldown),
        "first open period {cooldown} ms"
    );

    // Messages sent while open are parked, with the first message's retries.
    for _ in 0..4 {
        ids.push(
            server
                .send_message(&app, json!({"eventType": "e", "payload": {}}))
                .await,
        );
    }
    eventually(
        Duration::from_secs(2),
        "open circuit parks work",
        || async { retry_backlog(&server).await + parked_backlog(&server).await == ids.len() },
    )
    .await;

    // Half-open: one probe about 1 s after the third failure; it fails and reopens the
    // circuit for twice as long.
    let reopened = endpoint_when(
        &server,
        &app,
        &ep,
        Duration::from_secs(5),
        "probe failed",
        |e| e["health"]["consecutiveFailures"] == 4 && e["health"]["circuit"] == "open",
    )
    .await;
    let health = &reopened["health"];
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4, "exactly one probe");
    let first_open = hits[3].at - hits[2].at;
    assert!(
        first_open >= Duration::from_millis(950) && first_open < Duration::from_millis(1600),
        "nothing sent while open, probe after the cooldown: {first_open:?}"
    );
    let cooldown = int(&health["nextProbe"]) - int(&health["lastFailure"]);
    assert!(
        (1900..=2100).contains(&cooldown),
        "doubled open period {cooldown} ms"
    );
    assert!(int(&health["nextProbe"]) > int(&opened["health"]["nextProbe"]));

    // The receiver recovers; the next probe succeeds and closes the circuit.
    healthy.store(true, SeqCst);
    let closed = endpoint_when(
        &server,
        &app,
        &ep,
        Duration::from_secs(5),
        "circuit closed",
        |e| e["health"]["circuit"] == "closed",
    )
    .await;
    let health = &closed["health"];
    assert_eq!(health["consecutiveFailures"], 0, "{health}");
    assert_eq!(health["nextProbe"], Value::Null, "{health}");
    assert_eq!(health["failingSince"], Value::Null, "{health}");
    assert!(health["lastSuccess"].is_i64(), "{health}");
    let hits = receiver.hits();
    let second_open = hits[4].at - hits[3].at;
    assert!(
        second_open >= Duration::from_millis(1950) && second_open < Duration::from_millis(2600),
        "nothing sent during the second open period: {second_open:?}"
    );

    // Everything sent during the cycle arrives, once each, after the probe.
    eventually(
        Duration::from_secs(5),
        "every message delivered",
        || async { receiver.hits().len() == 4 + ids.len() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = receiver.hits();
    assert_eq!(hits.len(), 4 + ids.len(), "no duplicates");
    let mut hits_per_message: HashMap<&str, Vec<i64>> = HashMap::new();
    for hit in &hits {
        hits_per_message
            .entry(webhook_id(hit))
            .or_default()
            .push(epoch_ms_of(hit.at, reference));
    }
    // The open periods, as epoch ms, with a margin for clock reading differences.
    let at = |i: usize| epoch_ms_of(hits[i].at, reference);
    let open_windows = [(at(2) + 50, at(3) - 50), (at(3) + 50, at(4) - 50)];
    let mut failed_attempts = 0;
    for id in &ids {
        let attempts = server.attempts(&app, id).await;
        // Attempts are exactly the requests the receiver got: waiting in the retry set while
        // the circuit was open left no trace.
        assert_eq!(
            attempts.len(),
            hits_per_message.get(id.as_str()).map_or(0, Vec::len),
            "message {id}: {attempts:?}"
        );
        let statuses: Vec<&str> = attempts
            .iter()
            .map(|a| a["status"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            statuses.last(),
            Some(&"success"),
            "message {id}: {attempts:?}"
        );
        assert_eq!(statuses.iter().filter(|s| **s == "success").count(), 1);
        for attempt in &attempts {
            let t = int(&attempt["timestamp"]);
            assert!(
                open_windows.iter().all(|(from, to)| t < *from || t > *to),
                "attempt while the circuit was open: {attempt}"
            );
            if attempt["status"] != "success" {
                failed_attempts += 1;
            }
        }
    }
    assert_eq!(failed_attempts, 4, "three failures and one failed probe");
    assert_eq!(retry_backlog(&server).await, 0);
    server.shutdown().await;
    receiver.stop().await;
}

/// An endpoint failing with no success for `endpoint.disable_after` is disabled; re-enabling
/// it with PUT resets its health, and deliveries resume.
#[actix_rt::test]
async fn an_endpoint_failing_for_disable_after_is_disabled_and_put_re_enables_it() {
    let server = TestServer::start_with(|c| {
        c.endpoint.disable_after = Duration::from_secs(1);
        // Keep the breaker out of the way: only the failure streak's age matters here.
        c.circuit.failure_threshold = 1000;
        c.retry.schedule = vec![Duration::from_millis(100); 100];
    })
    .await;
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = switchable_receiver(healthy.clone());
    let app = server.create_app("auto-disable").await;
    let url = format!("{}/hook", receiver.url);
    let ep = server
        .create_endpoint(&app, &url, json!({"name": "flaky"}))
        .await;
    let ep = ep["id"].as_str().expect("id").to_string();
    let first = server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;

    let disabled = endpoint_when(
        &server,
        &app,
        &ep,
        Duration::from_secs(5),
        "auto-disable",
        |e| e["enabled"] == false,
    )
    .await;
    let health = &disabled["health"];
    assert!(int(&health["consecutiveFailures"]) >= 5, "{health}");
    assert!(
        int(&health["lastFailure"]) - int(&health["failingSince"]) >= 1000,
        "{health}"
    );
    assert_eq!(health["lastSuccess"], Value::Null, "{health}");

    // Disabled: no more requests, and new messages are not routed to it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = receiver.hits().len();
    server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        receiver.hits().len(),
        settled,
        "a disabled endpoint got requests"
    );
    let attempts = server.attempts(&app, &first).await;
    assert_eq!(attempts.len(), settled, "{attempts:?}");

    // PUT with enabled: true resets health.
    let answer = server
        .call(
            "PUT",
            &format!("/api/v1/applications/{app}/endpoints/{ep}"),
            Some(json!({"name": "flaky", "url": url, "enabled": true})),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    for body in [answer.body.clone(), endpoint(&server, &app, &ep).await] {
        assert_eq!(body["enabled"], true);
        let health = &body["health"];
        assert_eq!(health["consecutiveFailures"], 0, "{health}");
        assert_eq!(health["failingSince"], Value::Null, "{health}");
        assert_eq!(health["lastFailure"], Value::Null, "{health}");
        assert_eq!(health["circuit"], "closed", "{health}");
    }

    // Deliveries resume.
    healthy.store(true, SeqCst);
    let id = server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    eventually(
        Duration::from_secs(5),
        "delivery after re-enabling",
        || async { receiver.hits().iter().any(|h| webhook_id(h) == id) },
    )
    .await;
    let health = &endpoint(&server, &app, &ep).await["health"];
    assert_eq!(health["consecutiveFailures"], 0, "{health}");
    assert!(health["lastSuccess"].is_i64(), "{health}");
    server.shutdown().await;
    receiver.stop().await;
}

/// An endpoint auto-disabled while its circuit was open, then re-enabled (health reset)
/// towards a receiver that works again, gets new messages at once, not after the remainder
/// of the old open period.
#[actix_rt::test]
async fn re_enabling_an_endpoint_also_resets_its_circuit() {
    let server = TestServer::start_with(|c| {
        c.endpoint.disable_after = Duration::from_millis(500);
        c.circuit.failure_threshold = 1;
        c.circuit.cooldown = Duration::from_secs(1);
        c.circuit.max_cooldown = Duration::from_secs(30);
        c.retry.schedule = vec![Duration::from_millis(100); 40];
    })
    .await;
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = switchable_receiver(healthy.clone());
    let app = server.create_app("re-enable").await;
    let url = format!("{}/hook", receiver.url);
    let ep = server
        .create_endpoint(&app, &url, json!({"name": "e"}))
        .await;
    let ep = ep["id"].as_str().expect("id").to_string();
    server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    // First failure opens the circuit for 1 s; the probe fails after the 500 ms of
    // disable_after: disabled, with the circuit reopened for 2 s.
    endpoint_when(
        &server,
        &app,
        &ep,
        Duration::from_secs(5),
        "auto-disable",
        |e| e["enabled"] == false,
    )
    .await;
    assert_eq!(receiver.hits().len(), 2);

    healthy.store(true, SeqCst);
    let answer = server
        .call(
            "PUT",
            &format!("/api/v1/applications/{app}/endpoints/{ep}"),
            Some(json!({"name": "e", "url": url, "enabled": true})),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["health"]["circuit"], "closed");
    let sent = Instant::now();
    let id = server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    eventually(
        Duration::from_secs(5),
        "delivery after re-enabling",
        || async { receiver.hits().iter().any(|h| webhook_id(h) == id) },
    )
    .await;
    let waited = sent.elapsed();
    assert!(
        waited < Duration::from_millis(700),
        "the re-enabled endpoint's first delivery waited {waited:?} (old open period)"
    );
    server.shutdown().await;
    receiver.stop().await;
}

/// A delivery that fails (and trips the circuit) after its endpoint was deleted leaves no
/// key of that endpoint behind: neither the attempt record nor the circuit state recreate
/// its health hash.
#[actix_rt::test]
async fn a_circuit_tripping_after_its_endpoint_was_deleted_leaves_no_health_behind() {
    let server = TestServer::start_with(|c| {
        c.circuit.failure_threshold = 1;
    })
    .await;
    let receiver = Receiver::with(Arc::new(|_, _| {
        Reply::status(500).delay(Duration::from_millis(800))
    }));
    let app = server.create_app("deleted-mid-flight").await;
    let ep = server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    let ep = ep["id"].as_str().expect("id").to_string();
    server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    eventually(Duration::from_secs(5), "request in flight", || async {
        !receiver.hits().is_empty()
    })
    .await;
    let answer = server
        .call(
            "DELETE",
            &format!("/api/v1/applications/{app}/endpoints/{ep}"),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    // The 500 arrives after the delete; the circuit opens; give its write time to land.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let left: Vec<String> = server
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(&ep))
        .collect();
    assert!(left.is_empty(), "keys of the deleted endpoint: {left:?}");
    server.shutdown().await;
    receiver.stop().await;
}

/// The same when the operator disables the endpoint by hand while its circuit is open and
/// re-enables it (health reset) once the receiver is fixed.
#[actix_rt::test]
async fn re_enabling_a_manually_disabled_endpoint_also_resets_its_circuit() {
    let server = TestServer::start_with(|c| {
        c.circuit.failure_threshold = 1;
        c.circuit.cooldown = Duration::from_secs(3);
        c.retry.schedule = vec![Duration::from_millis(100); 40];
    })
    .await;
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = switchable_receiver(healthy.clone());
    let app = server.create_app("manual").await;
    let url = format!("{}/hook", receiver.url);
    let ep = server
        .create_endpoint(&app, &url, json!({"name": "e"}))
        .await;
    let ep = ep["id"].as_str().expect("id").to_string();
    server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    endpoint_when(
        &server,
        &app,
        &ep,
        Duration::from_secs(5),
        "circuit open",
        |e| e["health"]["circuit"] == "open",
    )
    .await;
    let path = format!("/api/v1/applications/{app}/endpoints/{ep}");
    for enabled in [false, true] {
        let body = json!({"name": "e", "url": url, "enabled": enabled});
        let answer = server.call("PUT", &path, Some(body)).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    assert_eq!(
        endpoint(&server, &app, &ep).await["health"]["circuit"],
        "closed"
    );
    healthy.store(true, SeqCst);
    let sent = Instant::now();
    let id = server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    eventually(
        Duration::from_secs(5),
        "delivery after re-enabling",
        || async { receiver.hits().iter().any(|h| webhook_id(h) == id) },
    )
    .await;
    let waited = sent.elapsed();
    assert!(
        waited < Duration::from_millis(700),
        "the re-enabled endpoint's first delivery waited {waited:?} (old open period)"
    );
    server.shutdown().await;
    receiver.stop().await;
}

/// A half-open probe whose outcome cannot be recorded (the attempt stays pending in the
/// stream for redelivery) must not leave the breaker waiting for it forever: later
/// deliveries go on once a new probe can be made.
#[actix_rt::test]
async fn a_probe_whose_outcome_could_not_be_recorded_does_not_block_the_endpoint() {
    let server = TestServer::start_with(|c| {
        c.circuit.failure_threshold = 1;
        c.circuit.cooldown = Duration::from_secs(1);
        c.retry.schedule = vec![Duration::from_millis(100); 40];
        c.retry.jitter = 0.0;
    })
    .await;
    let healthy = Arc::new(AtomicBool::new(false));
    let receiver = switchable_receiver(healthy.clone());
    let app = server.create_app("lost-probe").await;
    let ep = server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    let ep = ep["id"].as_str().expect("id").to_string();
    let first = server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    endpoint_when(
        &server,
        &app,
        &ep,
        Duration::from_secs(5),
        "circuit open",
        |e| e["health"]["circuit"] == "open",
    )
    .await;
    // The first message's retry will be the probe; make its attempt record fail (a key of
    // the wrong type makes the record script error on every try).
    let attempts_key = server
        .store
        .db
        .keys
        .attempts(app.parse().expect("uuid"), first.parse().expect("uuid"));
    let mut conn = server.store.conn().await.expect("conn");
    let _: () = redis::pipe()
        .del(&attempts_key)
        .set(&attempts_key, "not a list")
        .query_async(&mut conn)
        .await
        .expect("corrupt");
    healthy.store(true, SeqCst);
    eventually(Duration::from_secs(3), "the probe", || async {
        receiver.hits().len() == 2
    })
    .await;
    // Let the record's tries run out (about 0.75 s of back-off).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let id = server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    eventually(
        Duration::from_secs(5),
        "delivery after the lost probe",
        || async { receiver.hits().iter().any(|h| webhook_id(h) == id) },
    )
    .await;
    endpoint_when(
        &server,
        &app,
        &ep,
        Duration::from_secs(2),
        "circuit closed",
        |e| e["health"]["circuit"] == "closed",
    )
    .await;
    server.shutdown().await;
    receiver.stop().await;
}
