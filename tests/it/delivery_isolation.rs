//! Isolation and bounded memory: a rate-limited or slow endpoint is paced on its own without
//! delaying other endpoints (of the same application or of another one in the same
//! partition), and an endpoint whose queue is full spills work to the retry set without
//! losing it or counting it as an attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use crate::delivery_support::{depth, sorted_ids, wait_attempts, QUIET};
use crate::harness::{eventually, Receiver, Reply, TestServer};

const WAIT: Duration = Duration::from_secs(10);

/// Creates applications until one lands in the same partition as `app`.
async fn app_in_same_partition(server: &TestServer, app: &str) -> String {
    let keys = &server.store.db.keys;
    let partition = keys.partition_of(Uuid::parse_str(app).expect("uuid"));
    for i in 0..100 {
        let other = server.create_app(&format!("neighbour-{i}")).await;
        if keys.partition_of(Uuid::parse_str(&other).expect("uuid")) == partition {
            return other;
        }
    }
    panic!("no application landed in partition {partition}");
}

#[actix_rt::test]
async fn a_rate_limited_endpoint_is_paced_and_delays_no_one_else() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("paced").await;
    server
        .create_endpoint(
            &app,
            &format!("{}/limited", receiver.url),
            json!({"rateLimit": 10}),
        )
        .await;
    server
        .create_endpoint(&app, &format!("{}/free", receiver.url), json!({}))
        .await;
    let mut messages = Vec::new();
    for n in 0..10 {
        messages.push(
            server
                .send_message(&app, json!({"eventType": "x", "payload": {"n": n}}))
                .await,
        );
    }
    eventually(WAIT, "all paced deliveries", || async {
        receiver.hits_on("/limited").len() == 10
    })
    .await;
    let limited = receiver.hits_on("/limited");
    let free = receiver.hits_on("/free");
    assert_eq!(free.len(), 10);
    // 10 per second with a burst of one: one request every 100 ms. The limiter spaces its
    // permits exactly; what the receiver sees adds the request's own latency, which varies
    // with the load on a shared machine, hence the margins.
    let gaps: Vec<Duration> = limited
        .windows(2)
        .map(|pair| pair[1].at.duration_since(pair[0].at))
        .collect();
    assert!(
        gaps.iter().all(|gap| *gap >= Duration::from_millis(60)),
        "paced gaps {gaps:?}"
    );
    let span = limited[9].at.duration_since(limited[0].at);
    assert!(
        span >= Duration::from_millis(880),
        "10 requests in {span:?}"
    );
    // The free endpoint was done before the limited one was half-way.
    assert!(
        free[9].at < limited[4].at,
        "the unlimited endpoint waited for the limited one"
    );
    let mut want = messages.clone();
    want.sort();
    assert_eq!(sorted_ids(&limited), want);
    assert_eq!(sorted_ids(&free), want);
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_slow_endpoint_delays_neither_its_siblings_nor_its_partition() {
    let server = TestServer::start().await;
    let receiver = Receiver::with(Arc::new(|_, hit| {
        let reply = Reply::status(200);
        if hit.path == "/slow" {
            reply.delay(Duration::from_secs(1))
        } else {
            reply
        }
    }));
    let app = server.create_app("slow").await;
    let neighbour = app_in_same_partition(&server, &app).await;
    server
        .create_endpoint(&app, &format!("{}/slow", receiver.url), json!({}))
        .await;
    server
        .create_endpoint(&app, &format!("{}/sibling", receiver.url), json!({}))
        .await;
    server
        .create_endpoint(
            &neighbour,
            &format!("{}/neighbour", receiver.url),
            json!({}),
        )
        .await;
    // More messages than the slow endpoint may have in flight (16 by default).
    let sent = Instant::now();
    for n in 0..24 {
        server
            .send_message(&app, json!({"eventType": "x", "payload": {"n": n}}))
            .await;
    }
    for n in 0..10 {
        server
            .send_message(&neighbour, json!({"eventType": "x", "payload": {"n": n}}))
            .await;
    }
    eventually(
        Duration::from_millis(900),
        "sibling and neighbour served while the slow endpoint is busy",
        || async {
            receiver.hits_on("/sibling").len() == 24 && receiver.hits_on("/neighbour").len() == 10
        },
    )
    .await;
    let slow_so_far = receiver.hits_on("/slow").len();
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "others finished only after {:?}",
        sent.elapsed()
    );
    assert!(
        slow_so_far <= 16,
        "{slow_so_far} requests in flight to one endpoint; the cap is 16"
    );
    eventually(WAIT, "the slow endpoint catches up", || async {
        receiver.hits_on("/slow").len() == 24
    })
    .await;
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_full_endpoint_queue_spills_to_the_retry_set_without_loss() {
    let server = TestServer::start_with(|c| {
        c.endpoint.queue_capacity = 2;
        c.endpoint.max_in_flight = 1;
    })
    .await;
    let receiver = Receiver::with(Arc::new(|_, _| {
        Reply::status(200).delay(Duration::from_millis(50))
    }));
    let app = server.create_app("spill").await;
    server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    let mut messages = Vec::new();
    for n in 0..10 {
        messages.push(
            server
                .send_message(&app, json!({"eventType": "x", "payload": {"n": n}}))
                .await,
        );
    }
    // One in flight, two queued: the rest waits in the retry set, not in memory.
    eventually(WAIT, "work spilled to the retry set", || async {
        depth(&server.store).await.retry > 0
    })
    .await;
    eventually(WAIT, "all delivered", || async {
        receiver.hits_on("/hook").len() >= 10
    })
    .await;
    tokio::time::sleep(QUIET).await;
    let mut want = messages.clone();
    want.sort();
    assert_eq!(sorted_ids(&receiver.hits_on("/hook")), want, "each once");
    for message in &messages {
        let attempts = wait_attempts(&server, &app, message, 1, WAIT).await;
        assert_eq!(
            attempts.len(),
            1,
            "spilling is not an attempt: {attempts:#?}"
        );
        assert_eq!(attempts[0]["attempt"], 1);
        assert_eq!(attempts[0]["status"], "success");
    }
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn idle_endpoint_actors_stop_and_come_back_for_new_work() {
    let server = TestServer::start_with(|c| {
        c.endpoint.idle_timeout = Duration::from_millis(100);
    })
    .await;
    let receiver = Receiver::ok();
    let app = server.create_app("idle").await;
    server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    // Each message arrives after the previous actor had time to stop for idleness (the idle
    // check runs every 200 ms at the earliest).
    for n in 1..=3 {
        server
            .send_message(&app, json!({"eventType": "x", "payload": {"n": n}}))
            .await;
        eventually(WAIT, "delivery", || async {
            receiver.hits_on("/hook").len() == n
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(receiver.hits_on("/hook").len(), 3);
    server.shutdown().await;
    receiver.stop().await;
}
