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
    // One job per endpoint at a time: the next waits for this one to finish.
    let empty_status = format!("{path}/{}", empty.body["id"].as_str().expect("job id"));
    eventually(Duration::from_secs(10), "the empty job done", || async {
        server.get(&empty_status).await.body["status"] == "done"
    })
    .await;

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

#[actix_rt::test]
async fn a_second_recovery_of_a_busy_endpoint_answers_409_naming_the_running_job() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("recovery-busy").await;
    let endpoint = server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (app_id, endpoint_id) = (app.parse().expect("uuid"), endpoint.parse().expect("uuid"));
    // A job that is running (created, not yet run: as if its node were still working on it).
    let running = match server
        .store
        .create_recovery(app_id, endpoint_id, 0, None, 0)
        .await
        .expect("create")
    {
        octohooks::store::recovery::Started::New(job) => job.id,
        other => panic!("no job was running: {other:?}"),
    };
    let path = format!("/api/v1/applications/{app}/endpoints/{endpoint}/recover");
    let second = server.post(&path, json!({"since": 0})).await;
    assert_eq!(second.status, 409, "{:?}", second.body);
    assert_eq!(second.body["code"], "recovery_in_progress");
    assert_eq!(second.body["jobId"], running.to_string());
    // Once it has finished, the endpoint can be recovered again.
    server
        .store
        .run_recovery(app_id, running)
        .await
        .expect("run the job");
    let third = server.post(&path, json!({"since": 0})).await;
    assert_eq!(third.status, 202, "{:?}", third.body);
    server.shutdown().await;
}
