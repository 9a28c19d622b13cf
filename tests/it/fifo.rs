//! Ordered (FIFO) endpoints: the receiver checks that every lane's messages arrive in
//! creation order — under random failures, across ordering keys delivered in parallel, after
//! an exhausted head, through a pause, and across a worker killed with SIGKILL and a
//! hand-over to another worker process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octohooks::runtime::Roles;
use serde_json::{json, Value};

use crate::support::api::id_of;
use crate::support::load::post_until_accepted;
use crate::support::own_redis::OwnRedis;
use crate::support::process::NodeProcess;
use crate::support::receiver::{Gauge, Hit, Receiver, Reply};
use crate::support::server::{test_config, TestServer};
use crate::support::wait::{eventually, WAIT};

/// What an ordered receiver saw: per lane key, the sequence numbers delivered successfully,
/// and every violation of the order.
#[derive(Default)]
struct OrderLog {
    /// Lane key → sequence numbers answered 200, in arrival order.
    delivered: Mutex<HashMap<String, Vec<u64>>>,
    /// Requests for a message whose predecessor in its lane had not been delivered yet.
    overtakes: Mutex<Vec<String>>,
}

impl OrderLog {
    /// Records a request for `(key, seq)`; answers whether it may succeed per `succeed`.
    fn record(&self, hit: &Hit, succeed: bool) -> u16 {
        let payload: Value = serde_json::from_slice(&hit.body).expect("json payload");
        let key = payload["key"].as_str().unwrap_or("").to_string();
        let seq = payload["seq"].as_u64().expect("seq");
        let mut delivered = self.delivered.lock().expect("log");
        let lane = delivered.entry(key.clone()).or_default();
        // The head may be retried (or sent again after a crash); nothing may come after it
        // before it succeeded.
        let expected_next = lane.last().map_or(0, |last| last + 1);
        if seq > expected_next {
            self.overtakes
                .lock()
                .expect("log")
                .push(format!("{key}: {seq} before {expected_next}"));
        }
        if !succeed {
            return 500;
        }
        if lane.last() != Some(&seq) && seq >= expected_next {
            lane.push(seq);
        }
        200
    }

    fn delivered(&self, key: &str) -> Vec<u64> {
        self.delivered
            .lock()
            .expect("log")
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    fn overtakes(&self) -> Vec<String> {
        self.overtakes.lock().expect("log").clone()
    }
}

/// A receiver feeding `log`, failing the requests `fail` picks (by count of earlier hits).
fn ordered_receiver(
    log: Arc<OrderLog>,
    delay: Duration,
    fail: impl Fn(usize) -> bool + Send + Sync + 'static,
    gauge: Option<Arc<Gauge>>,
) -> Receiver {
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Receiver::with(Arc::new(move |_, hit| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let status = log.record(hit, !fail(n));
        let reply = Reply::status(status).delay(delay);
        match &gauge {
            Some(gauge) => reply.on_done(gauge.enter()),
            None => reply,
        }
    }))
}

async fn fifo_endpoint(server: &TestServer, app: &str, url: &str) -> String {
    id_of(
        &server
            .create_endpoint(app, url, json!({"ordering": "fifo"}))
            .await,
    )
}

fn sequence(from: u64, to: u64) -> Vec<u64> {
    (from..to).collect()
}

#[actix_rt::test]
async fn a_fifo_endpoint_gets_its_messages_in_creation_order_despite_random_failures() {
    let server = TestServer::start_with(|c| {
        c.retry.schedule = vec![Duration::from_millis(30); 20];
        c.retry.jitter = 0.0;
        c.circuit.failure_threshold = 1000;
    })
    .await;
    let log = Arc::new(OrderLog::default());
    // Roughly one request in three fails (a fixed pseudo-random pattern).
    let receiver = ordered_receiver(log.clone(), Duration::ZERO, |n| (n * 7919) % 3 == 0, None);
    let app = server.create_app("fifo").await;
    let endpoint = fifo_endpoint(&server, &app, &format!("{}/hook", receiver.url)).await;
    assert_eq!(server.endpoint(&app, &endpoint).await["ordering"], "fifo");
    for seq in 0..40 {
        server
            .send_message(&app, json!({"eventType": "e", "payload": {"seq": seq}}))
            .await;
    }
    eventually(WAIT, "forty messages delivered in order", || async {
        log.delivered("").len() == 40
    })
    .await;
    assert_eq!(log.delivered(""), sequence(0, 40));
    assert_eq!(log.overtakes(), Vec::<String>::new());
    assert!(
        receiver.hits().len() > 40,
        "some attempts failed and were retried in place"
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn ordering_keys_are_ordered_within_a_key_and_parallel_across_keys() {
    let server = TestServer::start().await;
    let log = Arc::new(OrderLog::default());
    let gauge = Arc::new(Gauge::default());
    let receiver = ordered_receiver(
        log.clone(),
        Duration::from_millis(20),
        |_| false,
        Some(gauge.clone()),
    );
    let app = server.create_app("keys").await;
    fifo_endpoint(&server, &app, &format!("{}/hook", receiver.url)).await;
    let keys = ["alice", "bob", "carol"];
    for seq in 0..10 {
        for key in keys {
            server
                .send_message(
                    &app,
                    json!({"eventType": "e", "orderingKey": key,
                           "payload": {"key": key, "seq": seq}}),
                )
                .await;
        }
    }
    eventually(WAIT, "every key's messages delivered", || async {
        keys.iter().all(|k| log.delivered(k).len() == 10)
    })
    .await;
    for key in keys {
        assert_eq!(log.delivered(key), sequence(0, 10), "{key}");
    }
    assert_eq!(log.overtakes(), Vec::<String>::new());
    // One request in flight per lane, several lanes at once (unless two keys share a lane,
    // which the hashing of these three keys over 64 lanes does not make them do).
    assert!(
        gauge.peak() >= 2,
        "lanes in parallel: peak {}",
        gauge.peak()
    );
    assert!(
        gauge.peak() <= keys.len(),
        "one per lane: peak {}",
        gauge.peak()
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn an_exhausted_head_is_recorded_failed_and_the_lane_moves_on() {
    let server = TestServer::start_with(|c| {
        c.retry.schedule = vec![Duration::from_millis(20), Duration::from_millis(20)];
        c.retry.jitter = 0.0;
        c.circuit.failure_threshold = 1000;
    })
    .await;
    // Message 3 always fails.
    let receiver = Receiver::with(Arc::new(|_, hit| {
        let payload: Value = serde_json::from_slice(&hit.body).expect("json");
        Reply::status(if payload["seq"] == 3 { 500 } else { 200 })
    }));
    let app = server.create_app("exhausted").await;
    fifo_endpoint(&server, &app, &format!("{}/hook", receiver.url)).await;
    let mut ids = Vec::new();
    for seq in 0..6 {
        ids.push(
            server
                .send_message(&app, json!({"eventType": "e", "payload": {"seq": seq}}))
                .await,
        );
    }
    eventually(
        WAIT,
        "the messages after the failed one delivered",
        || async {
            receiver
                .hits()
                .iter()
                .any(|h| serde_json::from_slice::<Value>(&h.body).expect("json")["seq"] == 5)
        },
    )
    .await;
    let order: Vec<u64> = receiver
        .hits()
        .iter()
        .map(|h| {
            serde_json::from_slice::<Value>(&h.body).expect("json")["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        order,
        vec![0, 1, 2, 3, 3, 3, 4, 5],
        "three tries of 3, then on"
    );
    let attempts = server.attempts(&app, &ids[3]).await;
    assert_eq!(attempts.last().expect("attempts")["status"], "failed");
    server.shutdown().await;
}

#[actix_rt::test]
async fn a_paused_fifo_endpoint_delivers_everything_in_order_once_resumed() {
    let server = TestServer::start().await;
    let log = Arc::new(OrderLog::default());
    let receiver = ordered_receiver(log.clone(), Duration::ZERO, |_| false, None);
    let app = server.create_app("fifo-pause").await;
    let endpoint = fifo_endpoint(&server, &app, &format!("{}/hook", receiver.url)).await;
    let path = format!("/api/v1/applications/{app}/endpoints/{endpoint}");
    // Ten delivered, then a pause.
    for seq in 0..10 {
        server
            .send_message(&app, json!({"eventType": "e", "payload": {"seq": seq}}))
            .await;
    }
    eventually(WAIT, "the first ten", || async {
        log.delivered("").len() == 10
    })
    .await;
    assert_eq!(
        server
            .call("POST", &format!("{path}/pause"), None)
            .await
            .status,
        200
    );
    for seq in 10..30 {
        server
            .send_message(&app, json!({"eventType": "e", "payload": {"seq": seq}}))
            .await;
    }
    // Every message is in the lane before anything is resumed: the lane holds them.
    let keys = &server.store.db.keys;
    let (app_id, endpoint_id) = (app.parse().expect("uuid"), endpoint.parse().expect("uuid"));
    let lane = keys.lane(app_id, endpoint_id, octohooks::queue::lane::DEFAULT_LANE);
    eventually(WAIT, "twenty held in the lane", || async {
        let mut conn = server.store.conn().await.expect("conn");
        let held: usize = redis::cmd("LLEN")
            .arg(&lane)
            .query_async(&mut conn)
            .await
            .expect("llen");
        held == 20
    })
    .await;
    assert_eq!(log.delivered("").len(), 10, "nothing sent while paused");
    assert_eq!(
        server
            .call("POST", &format!("{path}/resume"), None)
            .await
            .status,
        200
    );
    eventually(WAIT, "everything delivered", || async {
        log.delivered("").len() == 30
    })
    .await;
    assert_eq!(log.delivered(""), sequence(0, 30));
    assert_eq!(log.overtakes(), Vec::<String>::new());
    server.shutdown().await;
}

/// The throughput of one lane against a receiver answering in 2 ms (printed; the load test
/// scenario `fifo` measures it in release mode).
#[actix_rt::test]
async fn one_lane_against_a_2_ms_receiver() {
    let server = TestServer::start().await;
    let log = Arc::new(OrderLog::default());
    let receiver = ordered_receiver(log.clone(), Duration::from_millis(2), |_| false, None);
    let app = server.create_app("fifo-speed").await;
    fifo_endpoint(&server, &app, &format!("{}/hook", receiver.url)).await;
    let count = 200;
    for seq in 0..count {
        server
            .send_message(&app, json!({"eventType": "e", "payload": {"seq": seq}}))
            .await;
    }
    let start = Instant::now();
    eventually(Duration::from_secs(60), "the lane drained", || async {
        log.delivered("").len() == count as usize
    })
    .await;
    let elapsed = start.elapsed();
    assert_eq!(log.delivered(""), sequence(0, count));
    println!(
        "one FIFO lane, 2 ms receiver, debug build: {count} messages in {elapsed:?} = {:.0}/s",
        count as f64 / elapsed.as_secs_f64()
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn order_survives_a_killed_worker_and_a_hand_over() {
    let config = test_config();
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let log = Arc::new(OrderLog::default());
    let receiver = ordered_receiver(log.clone(), Duration::from_millis(3), |_| false, None);
    let app = api.create_app("fifo-crash").await;
    fifo_endpoint(&api, &app, &format!("{}/hook", receiver.url)).await;
    let total = 300;
    for seq in 0..total {
        api.send_message(
            &app,
            json!({"eventType": "e", "orderingKey": format!("k{}", seq % 3),
                   "payload": {"key": format!("k{}", seq % 3), "seq": seq / 3}}),
        )
        .await;
    }
    let mut first = NodeProcess::worker(&config, "fifo-first");
    eventually(Duration::from_secs(30), "some delivered", || async {
        receiver.hits().len() >= 60
    })
    .await;
    first.kill();
    let mut second = NodeProcess::worker(&config, "fifo-second");
    eventually(
        Duration::from_secs(60),
        "everything delivered after the hand-over",
        || async { (0..3).all(|k| log.delivered(&format!("k{k}")).len() == (total / 3) as usize) },
    )
    .await;
    for k in 0..3 {
        assert_eq!(
            log.delivered(&format!("k{k}")),
            sequence(0, total / 3),
            "k{k}"
        );
    }
    assert_eq!(log.overtakes(), Vec::<String>::new());
    // Only a lane's head in flight at the kill can arrive twice: at most one per lane.
    let duplicates = receiver.hits().len() - total as usize;
    println!("fifo kill -9: {total} messages, {duplicates} delivered twice");
    assert!(duplicates <= 3, "{duplicates} duplicates");
    second.kill();
    api.shutdown().await;
}

#[actix_rt::test]
async fn order_survives_a_redis_restart() {
    // Redis with AOF, stopped for 2 s and restarted while a FIFO endpoint drains its lanes;
    // a careful client keeps posting in order (retrying each message with its idempotency
    // key until accepted).
    let mut redis = OwnRedis::start().await;
    let mut config = test_config();
    config.redis.url = redis.url();
    // A lane's head whose outcome could not be recorded is sent again once its hold
    // (`queue.reclaim_idle`) has passed: short here, so the test is.
    config.delivery.timeout = Duration::from_secs(2);
    config.queue.reclaim_idle = Duration::from_secs(3);
    let server = TestServer::start_config(config, Roles::BOTH).await;
    let log = Arc::new(OrderLog::default());
    let receiver = ordered_receiver(log.clone(), Duration::from_millis(2), |_| false, None);
    let app = server.create_app("fifo-redis").await;
    fifo_endpoint(&server, &app, &format!("{}/hook", receiver.url)).await;
    let url = format!("{}/api/v1/applications/{app}/messages", server.base);
    let answers = Mutex::new(std::collections::BTreeMap::new());
    let total: u64 = 300;
    for seq in 0..total {
        if seq == 100 {
            redis.stop();
            // The outage's length (the fault itself, not a wait for an event).
            tokio::time::sleep(Duration::from_secs(2)).await;
            redis.restart().await;
        }
        let key = ["", "a", "b"][(seq % 3) as usize];
        let body = json!({"eventType": "e", "orderingKey": if key.is_empty() { Value::Null } else { json!(key) },
                          "payload": {"key": key, "seq": seq / 3}});
        post_until_accepted(
            &server.http,
            &url,
            &server.token,
            &format!("fifo-{seq}"),
            &body,
            &answers,
        )
        .await;
    }
    eventually(Duration::from_secs(60), "every lane delivered", || async {
        ["", "a", "b"]
            .iter()
            .all(|k| log.delivered(k).len() == (total / 3) as usize)
    })
    .await;
    for key in ["", "a", "b"] {
        assert_eq!(log.delivered(key), sequence(0, total / 3), "lane {key:?}");
    }
    assert_eq!(log.overtakes(), Vec::<String>::new());
    let duplicates = receiver.hits().len() - total as usize;
    println!(
        "fifo redis restart: {total} messages, {duplicates} delivered twice, answers {answers:?}"
    );
    server.shutdown().await;
}
