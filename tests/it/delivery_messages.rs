//! Message-level delivery rules: a uid accepts one message only, and a resend is one more
//! delivery of the same message (same `webhook-id`) to one endpoint.

use std::sync::Arc;

use serde_json::json;

use crate::support::api::{id_of, ids};
use crate::support::receiver::{sorted_ids, Receiver, Reply};
use crate::support::server::TestServer;
use crate::support::wait::{eventually, wait_attempts, wait_quiet, WAIT};
use crate::support::webhooks::{assert_signed, secrets_of};

#[actix_rt::test]
async fn a_duplicate_uid_is_refused_and_delivered_once() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("uids").await;
    let other_app = server.create_app("uids-other").await;
    server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    server
        .create_endpoint(&other_app, &format!("{}/other", receiver.url), json!({}))
        .await;
    let path = format!("/api/v1/applications/{app}/messages");
    let first = server
        .post(
            &path,
            json!({"eventType": "order.paid", "uid": "order-42", "payload": {"n": 1}}),
        )
        .await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    let first_id = first.body["id"].as_str().expect("id").to_string();
    for payload in [json!({"n": 1}), json!({"n": 2})] {
        let again = server
            .post(
                &path,
                json!({"eventType": "order.paid", "uid": "order-42", "payload": payload}),
            )
            .await;
        assert_eq!(again.status, 409, "{:?}", again.body);
        assert_eq!(again.code(), "conflict");
    }
    // The same uid in another application is another message.
    let elsewhere = server
        .send_message(
            &other_app,
            json!({"eventType": "order.paid", "uid": "order-42", "payload": {"n": 3}}),
        )
        .await;
    let marker = server.send_event(&app, "marker").await;
    eventually(WAIT, "marker and the other app's message", || async {
        receiver.hits_on("/hook").len() >= 2 && receiver.hits_on("/other").len() == 1
    })
    .await;
    // Everything sent before the marker is handled once the node is quiet.
    wait_quiet(&server).await;
    let mut want = vec![first_id.clone(), marker];
    want.sort();
    assert_eq!(sorted_ids(&receiver.hits_on("/hook")), want);
    assert_eq!(sorted_ids(&receiver.hits_on("/other")), vec![elsewhere]);
    let by_uid = server.get(&format!("{path}/order-42")).await;
    assert_eq!(by_uid.body["id"], first_id.as_str());
    assert_eq!(by_uid.body["payload"], json!({"n": 1}));
    let hit = receiver
        .hits_on("/hook")
        .into_iter()
        .find(|h| h.headers["webhook-id"] == first_id)
        .expect("first message delivered");
    assert_eq!(hit.body, br#"{"n":1}"#);
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn resend_delivers_the_same_message_once_more() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let (app, endpoint) = server
        .app_with_endpoint("resend", &format!("{}/hook", receiver.url))
        .await;
    server
        .create_endpoint(&app, &format!("{}/bystander", receiver.url), json!({}))
        .await;
    let secrets = secrets_of(&endpoint);
    let message = server
        .send_message(&app, json!({"eventType": "x", "payload": {"k": "v"}}))
        .await;
    eventually(WAIT, "first delivery", || async {
        receiver.hits_on("/hook").len() == 1 && receiver.hits_on("/bystander").len() == 1
    })
    .await;

    let resend_path = format!(
        "/api/v1/applications/{app}/messages/{message}/endpoints/{}/resend",
        id_of(&endpoint)
    );
    let answer = server.post(&resend_path, json!({})).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    assert_eq!(answer.body["messageId"], message.as_str());
    assert_eq!(answer.body["endpointId"], endpoint["id"]);
    eventually(WAIT, "resent delivery", || async {
        receiver.hits_on("/hook").len() == 2
    })
    .await;
    wait_quiet(&server).await;
    let hits = receiver.hits_on("/hook");
    assert_eq!(hits.len(), 2, "one more delivery, not more");
    assert_eq!(
        receiver.hits_on("/bystander").len(),
        1,
        "only to that endpoint"
    );
    for hit in &hits {
        assert_eq!(hit.headers["webhook-id"], message);
        assert_eq!(hit.body, br#"{"k":"v"}"#);
        assert_signed(hit, &secrets);
    }
    let attempts = wait_attempts(&server, &app, &message, 3).await;
    let to_endpoint: Vec<_> = attempts
        .iter()
        .filter(|a| a["endpointId"] == endpoint["id"])
        .collect();
    assert_eq!(to_endpoint.len(), 2, "{attempts:?}");
    assert!(to_endpoint.iter().all(|a| a["status"] == "success"));

    // Resending to an endpoint that failed for good delivers once it is healthy again.
    let flaky = Receiver::with(Arc::new(|nth, _| {
        Reply::status(if nth < 3 { 500 } else { 200 })
    }));
    let failing = server
        .create_endpoint(
            &app,
            &format!("{}/flaky", flaky.url),
            json!({"eventTypes": ["y"]}),
        )
        .await;
    let second = server.send_event(&app, "y").await;
    eventually(WAIT, "retry schedule exhausted", || async {
        server
            .attempts(&app, &second)
            .await
            .iter()
            .any(|a| a["endpointId"] == failing["id"] && a["status"] == "failed")
    })
    .await;
    assert_eq!(flaky.hits_on("/flaky").len(), 3);
    let answer = server
        .post(
            &format!(
                "/api/v1/applications/{app}/messages/{second}/endpoints/{}/resend",
                id_of(&failing)
            ),
            json!({}),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    eventually(WAIT, "resent after failure", || async {
        flaky.hits_on("/flaky").len() == 4
    })
    .await;
    let last = flaky.hits_on("/flaky").pop().expect("hit");
    assert_eq!(last.headers["webhook-id"], second);
    eventually(WAIT, "resend recorded as a success", || async {
        server
            .attempts(&app, &second)
            .await
            .iter()
            .any(|a| a["endpointId"] == failing["id"] && a["status"] == "success")
    })
    .await;

    // Unknown message or endpoint: 404, nothing queued.
    let unknown = server
        .post(
            &format!(
                "/api/v1/applications/{app}/messages/{}/endpoints/{}/resend",
                uuid::Uuid::new_v4(),
                id_of(&endpoint)
            ),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
    let unknown = server
        .post(
            &format!(
                "/api/v1/applications/{app}/messages/{message}/endpoints/{}/resend",
                uuid::Uuid::new_v4()
            ),
            json!({}),
        )
        .await;
    assert_eq!(unknown.status, 404, "{:?}", unknown.body);
    wait_quiet(&server).await;
    let of_first = |path: &str| {
        receiver
            .hits_on(path)
            .iter()
            .filter(|h| h.headers["webhook-id"] == message)
            .count()
    };
    assert_eq!(of_first("/hook"), 2);
    assert_eq!(of_first("/bystander"), 1);
    server.shutdown().await;
    receiver.stop().await;
    flaky.stop().await;
}

/// A message accepted while its application had no endpoint goes to nobody (it is not queued);
/// an endpoint created afterwards receives the messages after it, and that one when resent.
#[actix_rt::test]
async fn a_message_from_before_any_endpoint_reaches_a_later_one_only_when_resent() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("no-endpoint-yet").await;
    let early = server.send_event(&app, "x").await;
    let endpoint = server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    let later = server.send_event(&app, "x").await;
    eventually(WAIT, "the later message", || async {
        !receiver.hits_on("/hook").is_empty()
    })
    .await;
    wait_quiet(&server).await;
    assert_eq!(sorted_ids(&receiver.hits_on("/hook")), vec![later.clone()]);
    let listed = server
        .get(&format!("/api/v1/applications/{app}/messages"))
        .await;
    let mut listed = ids(&listed.body);
    listed.sort();
    let mut want = vec![early.clone(), later.clone()];
    want.sort();
    assert_eq!(listed, want, "both stored and listed");

    let resend = format!(
        "/api/v1/applications/{app}/messages/{early}/endpoints/{}/resend",
        id_of(&endpoint)
    );
    assert_eq!(server.post(&resend, json!({})).await.status, 202);
    eventually(WAIT, "the resent message", || async {
        receiver.hits_on("/hook").len() == 2
    })
    .await;
    wait_quiet(&server).await;
    assert_eq!(sorted_ids(&receiver.hits_on("/hook")), want);
    let attempts = wait_attempts(&server, &app, &early, 1).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status"], "success");
    server.shutdown().await;
    receiver.stop().await;
}
