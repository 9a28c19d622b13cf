//! Fan-out end to end: which endpoints get which messages, through real receivers.
//!
//! "None it should not" is checked the same way throughout: wait until a message that must
//! arrive was delivered after the ones that must not, then until the node is quiet (every
//! fan-out and delivery handled), then compare exact sets of `webhook-id`s per receiver path.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::api::id_of;
use crate::support::queue::assert_drained;
use crate::support::receiver::{sorted_ids, Receiver};
use crate::support::server::TestServer;
use crate::support::wait::{eventually, wait_quiet, WAIT};

/// Posts a message whose payload names it, so bodies can be matched to their messages.
async fn send(server: &TestServer, app: &str, label: &str, event: &str, channels: Value) -> String {
    let mut body = json!({"eventType": event, "payload": {"label": label}});
    if !channels.is_null() {
        body["channels"] = channels;
    }
    server.send_message(app, body).await
}

#[actix_rt::test]
async fn each_endpoint_gets_exactly_the_messages_its_filters_match() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("routing").await;
    let other_app = server.create_app("routing-other").await;
    let endpoints = [
        ("/all", json!({})),
        ("/created", json!({"eventTypes": ["user.created"]})),
        (
            "/two-types",
            json!({"eventTypes": ["user.created", "user.deleted"]}),
        ),
        ("/eu", json!({"channels": ["eu"]})),
        ("/eu-us", json!({"channels": ["eu", "us"]})),
        (
            "/created-eu",
            json!({"eventTypes": ["user.created"], "channels": ["eu"]}),
        ),
        ("/disabled", json!({"enabled": false})),
        (
            "/disabled-created",
            json!({"enabled": false, "eventTypes": ["user.created"]}),
        ),
    ];
    for (path, body) in &endpoints {
        let created = server
            .create_endpoint(&app, &format!("{}{path}", receiver.url), body.clone())
            .await;
        assert_eq!(
            created["enabled"],
            body.get("enabled").cloned().unwrap_or(json!(true))
        );
    }
    server
        .create_endpoint(&other_app, &format!("{}/other", receiver.url), json!({}))
        .await;

    let messages = [
        ("created", "user.created", Value::Null),
        ("deleted", "user.deleted", Value::Null),
        ("updated", "user.updated", Value::Null),
        ("created-eu", "user.created", json!(["eu"])),
        ("deleted-us", "user.deleted", json!(["us"])),
        ("updated-eu-us", "user.updated", json!(["eu", "us"])),
        ("created-asia", "user.created", json!(["asia"])),
        ("created-empty", "user.created", json!([])),
    ];
    let mut ids = BTreeMap::new();
    for (label, event, channels) in &messages {
        ids.insert(
            *label,
            send(&server, &app, label, event, channels.clone()).await,
        );
    }
    let other_id = send(&server, &other_app, "other", "user.created", Value::Null).await;
    // The marker matches every enabled endpoint and is sent last.
    let marker = send(&server, &app, "marker", "user.created", json!(["eu", "us"])).await;
    ids.insert("marker", marker.clone());

    // The oracle, written out by hand rather than computed with the rule under test.
    let expected: Vec<(&str, Vec<&str>)> = vec![
        (
            "/all",
            vec![
                "created",
                "deleted",
                "updated",
                "created-eu",
                "deleted-us",
                "updated-eu-us",
                "created-asia",
                "created-empty",
                "marker",
            ],
        ),
        (
            "/created",
            vec![
                "created",
                "created-eu",
                "created-asia",
                "created-empty",
                "marker",
            ],
        ),
        (
            "/two-types",
            vec![
                "created",
                "deleted",
                "created-eu",
                "deleted-us",
                "created-asia",
                "created-empty",
                "marker",
            ],
        ),
        ("/eu", vec!["created-eu", "updated-eu-us", "marker"]),
        (
            "/eu-us",
            vec!["created-eu", "deleted-us", "updated-eu-us", "marker"],
        ),
        ("/created-eu", vec!["created-eu", "marker"]),
        ("/disabled", vec![]),
        ("/disabled-created", vec![]),
    ];
    for (path, labels) in &expected {
        if labels.is_empty() {
            continue;
        }
        eventually(WAIT, &format!("marker on {path}"), || async {
            receiver
                .hits_on(path)
                .iter()
                .any(|h| h.headers["webhook-id"] == marker)
        })
        .await;
    }
    eventually(WAIT, "the other application's message", || async {
        receiver.hits_on("/other").len() == 1
    })
    .await;
    // Earlier messages are dispatched before the marker but may still be in flight.
    wait_quiet(&server).await;

    for (path, labels) in &expected {
        let hits = receiver.hits_on(path);
        let mut want: Vec<String> = labels.iter().map(|l| ids[l].clone()).collect();
        want.sort();
        assert_eq!(sorted_ids(&hits), want, "messages delivered to {path}");
        for hit in &hits {
            let label = ids
                .iter()
                .find(|(_, id)| **id == hit.headers["webhook-id"])
                .map(|(label, _)| *label)
                .expect("known message");
            assert_eq!(
                hit.body,
                format!(r#"{{"label":"{label}"}}"#).into_bytes(),
                "body on {path}"
            );
        }
    }
    assert_eq!(sorted_ids(&receiver.hits_on("/other")), vec![other_id]);
    let paths: Vec<&str> = expected.iter().map(|(p, _)| *p).chain(["/other"]).collect();
    assert!(
        receiver
            .hits()
            .iter()
            .all(|h| paths.contains(&h.path.as_str())),
        "no request on an unknown path"
    );
    // Messages that matched nothing were acknowledged too: nothing is left queued.
    assert_drained(&server.store).await;
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn endpoint_changes_apply_to_messages_created_after_them() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let (app, _) = server
        .app_with_endpoint("changes", &format!("{}/sentinel", receiver.url))
        .await;
    let target = server
        .create_endpoint(
            &app,
            &format!("{}/target", receiver.url),
            json!({"name": "target", "eventTypes": ["a"]}),
        )
        .await;
    let target_id = id_of(&target);
    let target_path = format!("/api/v1/applications/{app}/endpoints/{target_id}");
    let secrets = target["secrets"].clone();

    // Sends a message and returns once the sentinel (which gets everything) has it and the
    // node is quiet, so any delivery to the target would have shown by then.
    let step = |event: &'static str, channels: Value| {
        let server = &server;
        let receiver = &receiver;
        let app = app.clone();
        async move {
            let id = send(server, &app, event, event, channels).await;
            eventually(WAIT, "sentinel delivery", || async {
                receiver
                    .hits_on("/sentinel")
                    .iter()
                    .any(|h| h.headers["webhook-id"] == id)
            })
            .await;
            wait_quiet(server).await;
            id
        }
    };
    let put = |body: Value| {
        let server = &server;
        let target_path = target_path.clone();
        async move {
            let answer = server.call("PUT", &target_path, Some(body)).await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            answer.body
        }
    };
    let target_url = format!("{}/target", receiver.url);
    let mut want_target = Vec::new();

    let a1 = step("a", Value::Null).await;
    want_target.push(a1);
    step("b", Value::Null).await;
    assert_eq!(sorted_ids(&receiver.hits_on("/target")), want_target);

    // eventTypes replaced: a no longer, b now.
    let updated = put(json!({"name": "target", "url": target_url, "eventTypes": ["b"]})).await;
    assert_eq!(
        updated["secrets"], secrets,
        "PUT without secrets keeps them"
    );
    step("a", Value::Null).await;
    want_target.push(step("b", Value::Null).await);
    want_target.sort();
    assert_eq!(sorted_ids(&receiver.hits_on("/target")), want_target);

    // Channels added (eventTypes dropped): only messages on channel x.
    put(json!({"name": "target", "url": target_url, "channels": ["x"]})).await;
    step("b", Value::Null).await;
    step("c", json!(["y"])).await;
    want_target.push(step("c", json!(["y", "x"])).await);
    want_target.sort();
    assert_eq!(sorted_ids(&receiver.hits_on("/target")), want_target);

    // Disabled: nothing, even matching messages.
    let disabled =
        put(json!({"name": "target", "url": target_url, "channels": ["x"], "enabled": false}))
            .await;
    assert_eq!(disabled["enabled"], false);
    step("c", json!(["x"])).await;
    assert_eq!(sorted_ids(&receiver.hits_on("/target")), want_target);

    // Enabled again.
    put(json!({"name": "target", "url": target_url, "channels": ["x"], "enabled": true})).await;
    want_target.push(step("c", json!(["x"])).await);
    want_target.sort();
    assert_eq!(sorted_ids(&receiver.hits_on("/target")), want_target);

    // URL moved: deliveries follow it.
    let moved_url = format!("{}/moved", receiver.url);
    put(json!({"name": "target", "url": moved_url})).await;
    let moved = step("d", Value::Null).await;
    assert_eq!(sorted_ids(&receiver.hits_on("/target")), want_target);
    assert_eq!(sorted_ids(&receiver.hits_on("/moved")), vec![moved.clone()]);

    // Deleted: nothing more anywhere but the sentinel.
    let deleted = server.call("DELETE", &target_path, None).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    step("d", Value::Null).await;
    assert_eq!(sorted_ids(&receiver.hits_on("/target")), want_target);
    assert_eq!(sorted_ids(&receiver.hits_on("/moved")), vec![moved]);
    assert_eq!(receiver.hits_on("/sentinel").len(), 11);
    server.shutdown().await;
    receiver.stop().await;
}
