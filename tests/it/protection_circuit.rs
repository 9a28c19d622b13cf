//! The circuit breaker and auto-disable, as an operator sees them through the API: the
//! endpoint's read-only `health`, the receiver's hits, and the attempts of each message.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use octohooks::clock::now_ms;
use octohooks::config::Config;
use serde_json::{json, Value};

use crate::support::api::{int, statuses};
use crate::support::measure::epoch_ms_of;
use crate::support::queue::{depth, stream_tasks};
use crate::support::receiver::{Gate, Receiver, Reply};
use crate::support::server::TestServer;
use crate::support::wait::{endpoint_when, eventually, wait_answered_and_quiet, wait_quiet, WAIT};

/// One endpoint at a receiver that answers 500 until told it is healthy, then 200.
struct Flaky {
    server: TestServer,
    receiver: Receiver,
    healthy: Arc<AtomicBool>,
    app: String,
    endpoint: String,
    url: String,
}

impl Flaky {
    async fn start(name: &str, adjust: impl FnOnce(&mut Config)) -> Flaky {
        let server = TestServer::start_with(adjust).await;
        let healthy = Arc::new(AtomicBool::new(false));
        let state = healthy.clone();
        let receiver = Receiver::with(Arc::new(move |_, _| {
            Reply::status(if state.load(SeqCst) { 200 } else { 500 })
        }));
        let app = server.create_app(name).await;
        let url = format!("{}/hook", receiver.url);
        let endpoint = server
            .create_endpoint(&app, &url, json!({"name": "e"}))
            .await["id"]
            .as_str()
            .expect("id")
            .to_string();
        Flaky {
            server,
            receiver,
            healthy,
            app,
            endpoint,
            url,
        }
    }

    async fn send(&self) -> String {
        self.server.send_event(&self.app, "e").await
    }

    fn heal(&self) {
        self.healthy.store(true, SeqCst);
    }

    /// The endpoint once `check` holds on it.
    async fn when(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        endpoint_when(&self.server, &self.app, &self.endpoint, WAIT, what, check).await
    }

    async fn get(&self) -> Value {
        self.server.endpoint(&self.app, &self.endpoint).await
    }

    /// PUT with `enabled` (the documented body); returns the answer's body.
    async fn put_enabled(&self, enabled: bool) -> Value {
        let body = json!({"name": "e", "url": self.url, "enabled": enabled});
        self.server
            .put_endpoint(&self.app, &self.endpoint, body)
            .await
    }

    /// Waits for the delivery of `message`; returns when (epoch ms) the receiver got it.
    async fn delivered_at(&self, message: &str, reference: (Instant, i64)) -> i64 {
        eventually(WAIT, &format!("delivery of {message}"), || async {
            self.receiver.got("/hook", message)
        })
        .await;
        let hits = self.receiver.hits_on("/hook");
        let hit = hits
            .iter()
            .find(|h| h.webhook_id() == message)
            .expect("hit");
        epoch_ms_of(hit.at, reference)
    }

    async fn stop(self) {
        self.server.shutdown().await;
        self.receiver.stop().await;
    }
}

/// Asserts a health hash after a reset (PUT with `enabled: true`).
fn assert_reset(body: &Value) {
    assert_eq!(body["enabled"], true);
    let health = &body["health"];
    assert_eq!(health["consecutiveFailures"], 0, "{health}");
    assert_eq!(health["failingSince"], Value::Null, "{health}");
    assert_eq!(health["lastFailure"], Value::Null, "{health}");
    assert_eq!(health["circuit"], "closed", "{health}");
}

/// closed → open after 3 failures → (1 s, nothing sent) → one probe, which fails → open for
/// 2 s → the receiver recovers → the next probe closes the circuit → everything sent during
/// the cycle arrives once; the only attempts are the requests the receiver really got.
#[actix_rt::test]
async fn circuit_opens_probes_reopens_longer_and_closes_without_losing_messages() {
    let flaky = Flaky::start("breaker", |c| {
        c.circuit.failure_threshold = 3;
        c.circuit.cooldown = Duration::from_secs(1);
        c.circuit.max_cooldown = Duration::from_secs(10);
        c.retry.schedule = vec![Duration::from_millis(100); 40];
        c.retry.jitter = 0.0;
    })
    .await;
    let reference = (Instant::now(), now_ms());
    assert_eq!(flaky.get().await["health"]["circuit"], "closed");

    // Three consecutive failures (the first attempt and two retries) open the circuit.
    let mut ids = vec![flaky.send().await];
    let opened = flaky
        .when("circuit open", |e| e["health"]["circuit"] == "open")
        .await;
    let health = &opened["health"];
    assert_eq!(flaky.receiver.hits().len(), 3, "{health}");
    assert_eq!(health["consecutiveFailures"], 3);
    assert!(health["failingSince"].is_i64() && health["lastFailure"].is_i64());
    let cooldown = int(&health["nextProbe"]) - int(&health["lastFailure"]);
    assert!(
        (900..=1100).contains(&cooldown),
        "first open period {cooldown} ms"
    );

    // Messages sent while open are parked, with the first message's retries.
    for _ in 0..4 {
        ids.push(flaky.send().await);
    }
    let server = &flaky.server;
    eventually(
        Duration::from_secs(2),
        "open circuit parks work (behind the circuit, and in the retry set)",
        || async {
            let depth = depth(&server.store).await;
            depth.retry + depth.parked == ids.len()
        },
    )
    .await;

    // Half-open: one probe about 1 s after the third failure; it fails and reopens the
    // circuit for twice as long.
    let reopened = flaky
        .when("probe failed", |e| {
            // The failure is recorded first, the reopened circuit published right after.
            let health = &e["health"];
            health["consecutiveFailures"] == 4
                && health["circuit"] == "open"
                && health["nextProbe"].as_i64() > health["lastFailure"].as_i64()
        })
        .await;
    let health = &reopened["health"];
    let hits = flaky.receiver.hits();
    assert_eq!(hits.len(), 4, "exactly one probe");
    // Nothing is sent before the open period ends; the probe follows it within a second
    // (the retry poll is 50 ms; the rest is slack for a loaded machine).
    let first_open = hits[3].at - hits[2].at;
    assert!(
        first_open >= Duration::from_millis(950) && first_open < Duration::from_millis(2000),
        "nothing sent while open, probe after the cooldown: {first_open:?}"
    );
    let cooldown = int(&health["nextProbe"]) - int(&health["lastFailure"]);
    assert!(
        (1900..=2100).contains(&cooldown),
        "doubled open period {cooldown} ms"
    );
    assert!(int(&health["nextProbe"]) > int(&opened["health"]["nextProbe"]));

    // The receiver recovers; the next probe succeeds and closes the circuit.
    flaky.heal();
    let closed = flaky
        .when("circuit closed", |e| e["health"]["circuit"] == "closed")
        .await;
    let health = &closed["health"];
    assert_eq!(health["consecutiveFailures"], 0, "{health}");
    assert_eq!(health["nextProbe"], Value::Null, "{health}");
    assert_eq!(health["failingSince"], Value::Null, "{health}");
    assert!(health["lastSuccess"].is_i64(), "{health}");
    let hits = flaky.receiver.hits();
    // As above: nothing during the 2 s, then the probe within a second.
    let second_open = hits[4].at - hits[3].at;
    assert!(
        second_open >= Duration::from_millis(1950) && second_open < Duration::from_millis(3000),
        "nothing sent during the second open period: {second_open:?}"
    );

    // Everything sent during the cycle arrives, once each, after the probe.
    eventually(WAIT, "every message delivered", || async {
        flaky.receiver.hits().len() == 4 + ids.len()
    })
    .await;
    wait_quiet(server).await;
    let hits = flaky.receiver.hits();
    assert_eq!(hits.len(), 4 + ids.len(), "no duplicates");
    let mut hits_per_message: HashMap<&str, usize> = HashMap::new();
    for hit in &hits {
        *hits_per_message.entry(hit.webhook_id()).or_default() += 1;
    }
    // The open periods, as epoch ms, with a margin for clock reading differences.
    let at = |i: usize| epoch_ms_of(hits[i].at, reference);
    let open_windows = [(at(2) + 50, at(3) - 50), (at(3) + 50, at(4) - 50)];
    let mut failed_attempts = 0;
    for id in &ids {
        let attempts = server.attempts(&flaky.app, id).await;
        // Attempts are exactly the requests the receiver got: waiting in the retry set while
        // the circuit was open left no trace.
        assert_eq!(
            attempts.len(),
            hits_per_message.get(id.as_str()).copied().unwrap_or(0),
            "message {id}: {attempts:?}"
        );
        let statuses = statuses(&attempts);
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
    assert_eq!(depth(&server.store).await.retry, 0);
    flaky.stop().await;
}

/// An endpoint failing with no success for `endpoint.disable_after` is disabled; re-enabling
/// it with PUT resets its health, and deliveries resume.
#[actix_rt::test]
async fn an_endpoint_failing_for_disable_after_is_disabled_and_put_re_enables_it() {
    let flaky = Flaky::start("auto-disable", |c| {
        c.endpoint.disable_after = Duration::from_secs(1);
        // Keep the breaker out of the way: only the failure streak's age matters here.
        c.circuit.failure_threshold = 1000;
        c.retry.schedule = vec![Duration::from_millis(100); 100];
    })
    .await;
    let first = flaky.send().await;
    let disabled = flaky.when("auto-disable", |e| e["enabled"] == false).await;
    let health = &disabled["health"];
    assert!(int(&health["consecutiveFailures"]) >= 5, "{health}");
    assert!(
        int(&health["lastFailure"]) - int(&health["failingSince"]) >= 1000,
        "{health}"
    );
    assert_eq!(health["lastSuccess"], Value::Null, "{health}");

    // Disabled: the disabling attempt was final (no retry left once it is handled), and a new
    // message is not routed to it (handled, with nothing to do, once the node is quiet).
    let server = &flaky.server;
    wait_quiet(server).await;
    let settled = flaky.receiver.hits().len();
    flaky.send().await;
    wait_quiet(server).await;
    assert_eq!(depth(&server.store).await.retry, 0, "a retry is left");
    assert_eq!(
        flaky.receiver.hits().len(),
        settled,
        "a disabled endpoint got requests"
    );
    let attempts = server.attempts(&flaky.app, &first).await;
    assert_eq!(attempts.len(), settled, "{attempts:?}");

    // PUT with enabled: true resets health.
    assert_reset(&flaky.put_enabled(true).await);
    assert_reset(&flaky.get().await);

    // Deliveries resume.
    flaky.heal();
    let id = flaky.send().await;
    flaky.delivered_at(&id, (Instant::now(), now_ms())).await;
    let health = &flaky.get().await["health"];
    assert_eq!(health["consecutiveFailures"], 0, "{health}");
    assert!(health["lastSuccess"].is_i64(), "{health}");
    flaky.stop().await;
}

/// Re-enables the endpoint of `flaky` (its receiver healed) while its circuit is still open
/// for `open_for` after its last failure, and asserts the next message is delivered before
/// that old open period would have ended: the reset also reset the breaker.
async fn assert_re_enabled_delivers_at_once(flaky: &Flaky, health: &Value, open_for: i64) {
    let old_period_ends = int(&health["lastFailure"]) + open_for;
    flaky.heal();
    assert_reset(&flaky.put_enabled(true).await);
    assert_reset(&flaky.get().await);
    let reference = (Instant::now(), now_ms());
    assert!(
        reference.1 < old_period_ends - 500,
        "the test reached the re-enable too late to tell ({} ms before the old period ended)",
        old_period_ends - reference.1
    );
    let id = flaky.send().await;
    let delivered = flaky.delivered_at(&id, reference).await;
    assert!(
        delivered < old_period_ends,
        "the re-enabled endpoint's first delivery waited for the old open period \
         (delivered {} ms after it ended)",
        delivered - old_period_ends
    );
}

/// An endpoint auto-disabled while its circuit was open, then re-enabled (health reset)
/// towards a receiver that works again, gets new messages at once, not after the remainder
/// of the old open period.
#[actix_rt::test]
async fn re_enabling_an_endpoint_also_resets_its_circuit() {
    let flaky = Flaky::start("re-enable", |c| {
        c.endpoint.disable_after = Duration::from_millis(500);
        c.circuit.failure_threshold = 1;
        c.circuit.cooldown = Duration::from_secs(1);
        c.circuit.max_cooldown = Duration::from_secs(30);
        c.retry.schedule = vec![Duration::from_millis(100); 40];
    })
    .await;
    flaky.send().await;
    // First failure opens the circuit for 1 s; the probe fails after the 500 ms of
    // disable_after: disabled, with the circuit reopened for 2 s after that failure.
    let disabled = flaky.when("auto-disable", |e| e["enabled"] == false).await;
    assert_eq!(flaky.receiver.hits().len(), 2);
    assert_re_enabled_delivers_at_once(&flaky, &disabled["health"], 2000).await;
    flaky.stop().await;
}

/// The same when the operator disables the endpoint by hand while its circuit is open and
/// re-enables it (health reset) once the receiver is fixed.
#[actix_rt::test]
async fn re_enabling_a_manually_disabled_endpoint_also_resets_its_circuit() {
    let flaky = Flaky::start("manual", |c| {
        c.circuit.failure_threshold = 1;
        c.circuit.cooldown = Duration::from_secs(3);
        c.retry.schedule = vec![Duration::from_millis(100); 40];
    })
    .await;
    flaky.send().await;
    let open = flaky
        .when("circuit open", |e| e["health"]["circuit"] == "open")
        .await;
    flaky.put_enabled(false).await;
    assert_re_enabled_delivers_at_once(&flaky, &open["health"], 3000).await;
    flaky.stop().await;
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
    let gate = Arc::new(Gate::default());
    let receiver = Receiver::held(500, &gate);
    let (app, ep) = server
        .app_with_endpoint("deleted-mid-flight", &format!("{}/hook", receiver.url))
        .await;
    let ep = ep["id"].as_str().expect("id").to_string();
    server.send_event(&app, "e").await;
    eventually(WAIT, "request in flight", || async {
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
    // The 500 arrives after the delete and opens the circuit; the node is quiet once the
    // attempt and the circuit's publication are handled.
    gate.open();
    wait_answered_and_quiet(&server, &receiver, 1).await;
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

/// A half-open probe whose outcome cannot be recorded (the attempt stays pending in the
/// stream for redelivery) must not leave the breaker waiting for it forever: later
/// deliveries go on once a new probe can be made.
#[actix_rt::test]
async fn a_probe_whose_outcome_could_not_be_recorded_does_not_block_the_endpoint() {
    let flaky = Flaky::start("lost-probe", |c| {
        c.circuit.failure_threshold = 1;
        c.circuit.cooldown = Duration::from_secs(1);
        c.retry.schedule = vec![Duration::from_millis(100); 40];
        c.retry.jitter = 0.0;
    })
    .await;
    let first = flaky.send().await;
    flaky
        .when("circuit open", |e| e["health"]["circuit"] == "open")
        .await;
    // The first message's retry will be the probe; make its attempt record fail (a key of
    // the wrong type makes the record script error on every try).
    let server = &flaky.server;
    let attempts_key = server.store.db.keys.attempts(
        flaky.app.parse().expect("uuid"),
        first.parse().expect("uuid"),
    );
    let mut conn = server.store.conn().await.expect("conn");
    let _: () = redis::pipe()
        .del(&attempts_key)
        .set(&attempts_key, "not a list")
        .query_async(&mut conn)
        .await
        .expect("corrupt");
    flaky.heal();
    eventually(WAIT, "the probe", || async {
        flaky.receiver.hits().len() == 2
    })
    .await;
    // The probe's record tries run out (about 0.75 s of back-off); its job then ends
    // unrecorded and the node is quiet again (the entry stays pending, reclaimed later).
    eventually(WAIT, "the probe's job ended", || async {
        server.activity().expect("worker").is_quiet()
    })
    .await;
    let first_id: uuid::Uuid = first.parse().expect("uuid");
    let pending = stream_tasks(&server.store).await;
    assert!(
        pending.iter().any(|task| task.message == first_id),
        "the unrecorded probe's entry is not left in the stream: {pending:?}"
    );
    let id = flaky.send().await;
    flaky.delivered_at(&id, (Instant::now(), now_ms())).await;
    flaky
        .when("circuit closed", |e| e["health"]["circuit"] == "closed")
        .await;
    flaky.stop().await;
}
