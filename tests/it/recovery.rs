//! Endpoint recovery: messages whose last attempt failed for good inside the window are
//! re-sent once the endpoint is back; others (delivered, or failed before the window) are
//! left alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::api::int;
use crate::support::receiver::{sorted_ids, Receiver, Reply};
use crate::support::server::TestServer;
use crate::support::wait::{eventually, wait_attempt_status, wait_clock_past, wait_quiet, WAIT};

#[actix_rt::test]
async fn recover_resends_exactly_the_messages_that_failed_in_the_window() {
    let server = TestServer::start_with(|c| {
        c.retry.schedule = vec![Duration::from_millis(100)];
        c.circuit.failure_threshold = 1000;
    })
    .await;
    let down = Arc::new(AtomicBool::new(true));
    let flag = down.clone();
    let receiver = Receiver::with(Arc::new(move |_, _| {
        Reply::status(if flag.load(Ordering::SeqCst) {
            500
        } else {
            200
        })
    }));
    let (app, endpoint) = server
        .app_with_endpoint("recovery", &format!("{}/hook", receiver.url))
        .await;
    let endpoint = endpoint["id"].as_str().expect("id").to_string();
    // Failed for good before the window: must not be re-sent.
    let old = server.send_event(&app, "e").await;
    let attempts = wait_attempt_status(&server, &app, &old, None, "failed").await;
    wait_clock_past(int(&attempts.last().expect("attempt")["timestamp"])).await;
    let before = octohooks::clock::now_ms();
    let mut failed = Vec::new();
    for i in 0..3 {
        failed.push(
            server
                .send_message(&app, json!({"eventType": "e", "payload": {"n": i}}))
                .await,
        );
    }
    for id in &failed {
        wait_attempt_status(&server, &app, id, None, "failed").await;
    }
    down.store(false, Ordering::SeqCst);
    // Delivered normally once the endpoint is back: nothing to recover for it.
    let fine = server
        .send_message(&app, json!({"eventType": "e", "payload": {"n": 9}}))
        .await;
    wait_attempt_status(&server, &app, &fine, None, "success").await;
    wait_quiet(&server).await;
    let hits_before = receiver.hits_on("/hook").len();

    let path = format!("/api/v1/applications/{app}/endpoints/{endpoint}/recover");
    let bad = server.post(&path, json!({"since": "yesterday"})).await;
    assert_eq!(bad.status, 422, "{:?}", bad.body);
    let negative = server.post(&path, json!({"since": -1})).await;
    assert_eq!(negative.status, 422, "{:?}", negative.body);
    let empty = server
        .post(&path, json!({"since": before, "until": before - 1}))
        .await;
    assert_eq!(empty.status, 202, "{:?}", empty.body);

    let started = server.post(&path, json!({"since": before})).await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let job = started.body["id"].as_str().expect("job id").to_string();
    let status_path = format!("{path}/{job}");
    eventually(WAIT, "job done", || async {
        server.get(&status_path).await.body["status"] == "done"
    })
    .await;
    let done = server.get(&status_path).await.body;
    assert_eq!(done["resent"], 3, "{done}");
    assert_eq!(done["scanned"], 5, "{done}");
    eventually(WAIT, "re-sent deliveries", || async {
        receiver.hits_on("/hook").len() >= hits_before + 3
    })
    .await;
    // Every re-send is handled once the node is quiet: only the three came.
    wait_quiet(&server).await;
    let resent = sorted_ids(&receiver.hits_on("/hook")[hits_before..]);
    let mut want = failed.clone();
    want.sort();
    assert_eq!(resent, want, "re-sent, with {old} failed before the window");
    assert_eq!(
        server
            .get(&format!("{path}/{}", uuid::Uuid::new_v4()))
            .await
            .status,
        404
    );
    server.shutdown().await;
    receiver.stop().await;
}
