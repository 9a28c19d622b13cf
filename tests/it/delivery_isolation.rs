//! Isolation and bounded memory: a rate-limited or slow endpoint is paced on its own without
//! delaying other endpoints (of the same application or of another one in the same
//! partition), an endpoint whose queue is full spills work to the retry set without losing
//! it or counting it as an attempt, a fan-out backlog stays in the stream instead, and idle
//! endpoint actors really stop.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::api::{attempts_of, id_of, int, neighbour_apps};
use crate::support::measure::span;
use crate::support::queue::depth;
use crate::support::receiver::{sorted_ids, Gate, Receiver, Reply};
use crate::support::server::TestServer;
use crate::support::wait::{eventually, poll_until, wait_attempts, wait_quiet, WAIT};

#[actix_rt::test]
async fn a_rate_limited_endpoint_is_paced_and_delays_no_one_else() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("paced").await;
    let limited = server
        .create_endpoint(
            &app,
            &format!("{}/limited", receiver.url),
            json!({"rateLimit": 10}),
        )
        .await;
    server
        .create_endpoint(&app, &format!("{}/free", receiver.url), json!({}))
        .await;
    // All at once, so the pace of sending does not shape the deliveries.
    let messages = server.send_many(&app, 10, 10).await;
    eventually(WAIT, "all paced deliveries", || async {
        receiver.hits_on("/limited").len() == 10
    })
    .await;
    let limited_hits = receiver.hits_on("/limited");
    let free_hits = receiver.hits_on("/free");
    assert_eq!(free_hits.len(), 10);
    let mut want = messages.clone();
    want.sort();
    assert_eq!(sorted_ids(&limited_hits), want);
    assert_eq!(sorted_ids(&free_hits), want);
    // 10 per second with a burst of one: permits exactly 100 ms apart, so the ten attempts
    // start over at least 900 ms. Measured where they start (attempt timestamps), free of
    // the receiver's latency; an attempt may start later than its permit on a loaded
    // machine, which only shortens the span if the first one is late: 100 ms of slack.
    let mut starts = Vec::new();
    for message in &messages {
        let attempts = wait_attempts(&server, &app, message, 2).await;
        let mine = attempts_of(&attempts, &id_of(&limited));
        assert_eq!(mine.len(), 1, "{attempts:#?}");
        starts.push(int(&mine[0]["timestamp"]));
    }
    let paced_over = starts.iter().max().unwrap() - starts.iter().min().unwrap();
    assert!(
        paced_over >= 800,
        "10 paced attempts started within {paced_over} ms"
    );
    // The free endpoint was not held to that pace: had it waited behind the limited one, its
    // deliveries would be spread like the limited ones.
    let (free_span, limited_span) = (span(&free_hits), span(&limited_hits));
    assert!(
        free_span < limited_span / 2,
        "the unlimited endpoint's deliveries took {free_span:?}, the limited ones' {limited_span:?}"
    );
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_slow_endpoint_delays_neither_its_siblings_nor_its_partition() {
    // The slow endpoint answers nothing until the others are served: if its requests held up
    // anything else, the wait below would time out.
    let gate = Arc::new(Gate::default());
    let held = gate.clone();
    let receiver = Receiver::with(Arc::new(move |_, hit| {
        let reply = Reply::status(200);
        if hit.path == "/slow" {
            reply.hold(&held)
        } else {
            reply
        }
    }));
    let server = TestServer::start().await;
    let app = server.create_app("slow").await;
    let neighbour = neighbour_apps(&server, &app).await.remove(0);
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
    let cap = server.config.endpoint.max_in_flight;
    server.send_numbered(&app, 0..24).await;
    server.send_numbered(&neighbour, 0..10).await;
    eventually(
        WAIT,
        "sibling and neighbour served while the slow endpoint holds its requests",
        || async {
            receiver.hits_on("/sibling").len() == 24 && receiver.hits_on("/neighbour").len() == 10
        },
    )
    .await;
    // The slow endpoint has all its 24 jobs, and exactly its cap of them in flight.
    let activity = poll_until(
        WAIT,
        "the slow endpoint's jobs handed out",
        || async { server.activity().expect("worker") },
        |a| a.jobs == 24 && a.requests == cap as i64,
    )
    .await;
    let slow_so_far = receiver.hits_on("/slow").len();
    assert_eq!(
        slow_so_far, cap,
        "{slow_so_far} requests in flight to one endpoint ({activity:?}); the cap is {cap}"
    );
    gate.open();
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
    let (app, _) = server
        .app_with_endpoint("spill", &format!("{}/hook", receiver.url))
        .await;
    let messages = server.send_numbered(&app, 0..10).await;
    // One in flight, two queued: the rest waits in the retry set, not in memory.
    eventually(WAIT, "work spilled to the retry set", || async {
        depth(&server.store).await.retry > 0
    })
    .await;
    eventually(WAIT, "all delivered", || async {
        receiver.hits_on("/hook").len() >= 10
    })
    .await;
    // Spilled work comes back through the retry set: handled once the node is quiet.
    wait_quiet(&server).await;
    let mut want = messages.clone();
    want.sort();
    assert_eq!(sorted_ids(&receiver.hits_on("/hook")), want, "each once");
    for message in &messages {
        let attempts = wait_attempts(&server, &app, message, 1).await;
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

/// Stream entries ever added over the deployment's partitions (XINFO STREAM entries-added):
/// a job spilled to the retry set comes back as an entry of its own.
async fn entries_added(server: &TestServer) -> usize {
    let keys = &server.store.db.keys;
    let mut conn = server.store.conn().await.expect("conn");
    let mut added = 0;
    for p in 0..keys.partitions() {
        let info: redis::RedisResult<std::collections::HashMap<String, redis::Value>> =
            redis::cmd("XINFO")
                .arg("STREAM")
                .arg(keys.stream(p))
                .query_async(&mut conn)
                .await;
        // No stream yet: nothing was ever added to it.
        if let Ok(info) = info {
            added += redis::from_redis_value_ref::<usize>(&info["entries-added"]).expect("count");
        }
    }
    added
}

#[actix_rt::test]
async fn a_fan_out_backlog_waits_in_the_stream_not_in_the_retry_set() {
    // A window of 32 jobs (batch 8), 16 queue slots, 4 requests in flight per endpoint: 8
    // endpoints have the whole window in flight. Had the window counted entries, 32 entries
    // would put 256 jobs into the queues at once, and with no throughput measured yet every
    // job beyond the 16 slots would spill through the retry set.
    let server = TestServer::start_with(|c| {
        c.queue.batch_size = 8;
        c.endpoint.max_in_flight = 4;
    })
    .await;
    let receiver = Receiver::with(Arc::new(|_, _| {
        Reply::status(200).delay(Duration::from_millis(20))
    }));
    let app = server.create_app("fan-out backlog").await;
    let paths: Vec<String> = (0..8).map(|i| format!("/hook/{i}")).collect();
    for path in &paths {
        server
            .create_endpoint(&app, &format!("{}{path}", receiver.url), json!({}))
            .await;
    }
    let before = entries_added(&server).await;
    let messages = server.send_many(&app, 40, 40).await;
    eventually(
        WAIT,
        "every message delivered to every endpoint",
        || async { receiver.hits().len() >= 40 * paths.len() },
    )
    .await;
    wait_quiet(&server).await;
    let mut want = messages.clone();
    want.sort();
    for path in &paths {
        assert_eq!(
            sorted_ids(&receiver.hits_on(path)),
            want,
            "{path}: each once"
        );
    }
    assert_eq!(
        entries_added(&server).await - before,
        messages.len(),
        "one stream entry per message: no job went through the retry set and back"
    );
    assert_eq!(depth(&server.store).await.retry, 0);
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn idle_endpoint_actors_stop_and_come_back_for_new_work() {
    let server = TestServer::start_with(|c| {
        c.endpoint.idle_timeout = Duration::from_millis(100);
    })
    .await;
    let app = server.create_app("idle").await;
    let gates: Vec<Arc<Gate>> = (0..3).map(|_| Arc::new(Gate::default())).collect();
    let held = gates.clone();
    // Delivery n is held until gate n opens, so the actor is seen alive while it works.
    let receiver = Receiver::with(Arc::new(move |nth, _| Reply::status(200).hold(&held[nth])));
    server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    let actors = || server.activity().expect("worker").actors;
    assert_eq!(actors(), 0, "no actor before any work");
    for (n, gate) in gates.iter().enumerate() {
        server
            .send_message(&app, json!({"eventType": "x", "payload": {"n": n}}))
            .await;
        eventually(WAIT, "delivery in flight", || async {
            receiver.hits_on("/hook").len() == n + 1
        })
        .await;
        assert_eq!(actors(), 1, "delivery {n} runs in a live actor");
        gate.open();
        // Idle for 100 ms once its delivery is done, the actor stops (the idle check runs
        // every 200 ms at the earliest); the next message starts a new one.
        poll_until(
            WAIT,
            &format!("the endpoint actor stopped after delivery {n}"),
            || async { server.activity().expect("worker") },
            |a| a.actors == 0 && a.is_quiet(),
        )
        .await;
    }
    assert_eq!(receiver.hits_on("/hook").len(), 3);
    for message in server
        .get(&format!("/api/v1/applications/{app}/messages"))
        .await
        .body
        .as_array()
        .expect("messages")
    {
        let attempts = server
            .attempts(&app, message["id"].as_str().expect("id"))
            .await;
        assert_eq!(attempts.len(), 1, "{attempts:#?}");
        assert_eq!(attempts[0]["status"], "success");
    }
    server.shutdown().await;
    receiver.stop().await;
}
