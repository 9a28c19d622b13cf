//! Concurrency caps: `endpoint.max_in_flight` requests to one endpoint at once, and
//! `worker.max_in_flight` on the node across endpoints. Receivers count the requests they are
//! handling at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::measure::span;
use crate::support::receiver::{Gauge, Receiver, Reply};
use crate::support::server::TestServer;
use crate::support::wait::eventually;

/// A receiver that takes `delay` to answer 200 and counts its concurrent requests in `gauges`.
fn slow_receiver(delay: Duration, gauges: Vec<Arc<Gauge>>) -> Receiver {
    Receiver::with(Arc::new(move |_, _| {
        let dones: Vec<_> = gauges.iter().map(|g| g.enter()).collect();
        Reply::status(200)
            .delay(delay)
            .on_done(Arc::new(move || dones.iter().for_each(|d| d())))
    }))
}

#[actix_rt::test]
async fn an_endpoint_never_gets_more_than_max_in_flight_requests_at_once() {
    const MESSAGES: usize = 30;
    let server = TestServer::start_with(|c| {
        c.endpoint.max_in_flight = 3;
    })
    .await;
    let gauge = Arc::new(Gauge::default());
    let receiver = slow_receiver(Duration::from_millis(300), vec![gauge.clone()]);
    let (app, _) = server
        .app_with_endpoint("capped", &format!("{}/hook", receiver.url))
        .await;
    server.send_many(&app, MESSAGES, MESSAGES).await;
    eventually(
        Duration::from_secs(15),
        "all deliveries answered",
        || async { receiver.hits().len() == MESSAGES && gauge.now() == 0 },
    )
    .await;
    assert_eq!(gauge.peak(), 3, "at most 3 in flight, and the cap is used");
    // 30 requests of 300 ms, 3 at a time: ten rounds.
    let took = span(&receiver.hits());
    assert!(took >= Duration::from_millis(2400), "{took:?}");
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_node_never_has_more_than_worker_max_in_flight_requests_at_once() {
    const MESSAGES: usize = 10;
    let server = TestServer::start_with(|c| {
        c.worker.max_in_flight = 2;
    })
    .await;
    let node = Arc::new(Gauge::default());
    let (gauge_a, gauge_b) = (Arc::new(Gauge::default()), Arc::new(Gauge::default()));
    let delay = Duration::from_millis(300);
    let receiver_a = slow_receiver(delay, vec![node.clone(), gauge_a.clone()]);
    let receiver_b = slow_receiver(delay, vec![node.clone(), gauge_b.clone()]);
    // Two applications, so two endpoint actors (and possibly two partitions) share the node.
    let app_a = server.create_app("a").await;
    let app_b = server.create_app("b").await;
    server
        .create_endpoint(&app_a, &format!("{}/a", receiver_a.url), json!({}))
        .await;
    server
        .create_endpoint(&app_b, &format!("{}/b", receiver_b.url), json!({}))
        .await;
    let (_, _) = tokio::join!(
        server.send_many(&app_a, MESSAGES, MESSAGES),
        server.send_many(&app_b, MESSAGES, MESSAGES)
    );
    eventually(
        Duration::from_secs(15),
        "all deliveries answered",
        || async {
            receiver_a.hits().len() + receiver_b.hits().len() == 2 * MESSAGES && node.now() == 0
        },
    )
    .await;
    assert_eq!(
        node.peak(),
        2,
        "at most 2 in flight on the node, and the cap is used"
    );
    // Each endpoint alone may have 16 in flight; the node's cap is what held them.
    assert!(gauge_a.peak() <= 2 && gauge_b.peak() <= 2);
    server.shutdown().await;
    receiver_a.stop().await;
    receiver_b.stop().await;
}
