//! Operational webhooks through the API with real receivers: operational endpoints managed
//! like endpoints; every event type arriving signed, once per change (410, auto-disable with
//! its warning, manual disable, circuit opened and closed, attempts failing and exhausted,
//! recovery finished); an event surviving a kill -9 of the worker between the change and its
//! delivery; an outbox entry relayed twice making one message.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use octohooks::queue::outbox::{OpsEvent, OutboxEvent, EVENT_FIELD};
use octohooks::runtime::Roles;
use octohooks::store::messages::MessageFilter;
use octohooks::store::ops::ops_app;
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::delivery_signing::python_verifies;
use crate::support::api::{assert_error, redis_conn};
use crate::support::process::NodeProcess;
use crate::support::receiver::{Gate, Hit, Receiver, Reply};
use crate::support::server::{test_config, TestServer};
use crate::support::wait::{eventually, poll_until, WAIT};
use crate::support::webhooks::{assert_signed, secrets_of};

const OPS: &str = "/api/v1/operational-webhooks/endpoints";

async fn ops_endpoint(server: &TestServer, url: &str, event_types: Value) -> Value {
    let body = json!({"name": "ops", "url": url, "eventTypes": event_types});
    let answer = server.post(OPS, body).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body
}

/// The events a receiver got, one per `webhook-id` (retries of an event share it).
fn events(hits: &[Hit]) -> Vec<Value> {
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for hit in hits {
        let body: Value = serde_json::from_slice(&hit.body).expect("an event is JSON");
        by_id.insert(hit.webhook_id().to_string(), body);
    }
    by_id.into_values().collect()
}

fn of_type<'a>(events: &'a [Value], kind: &str, endpoint: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == kind && e["data"]["endpointId"] == endpoint)
        .collect()
}

/// Waits until `receiver` got an event of `kind` about `endpoint`; returns it.
async fn wait_event(receiver: &Receiver, kind: &str, endpoint: &str) -> Value {
    poll_until(
        Duration::from_secs(20),
        &format!("{kind} of {endpoint}"),
        || async { events(&receiver.hits()) },
        |events| !of_type(events, kind, endpoint).is_empty(),
    )
    .await
    .into_iter()
    .find(|e| e["type"] == kind && e["data"]["endpointId"] == endpoint)
    .expect("the event")
}

#[actix_rt::test]
async fn operational_endpoints_are_managed_like_endpoints() {
    let server = TestServer::start().await;
    let created = ops_endpoint(
        &server,
        "http://127.0.0.1:9/ops",
        json!(["endpoint.disabled", "recovery.finished"]),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("{OPS}/{id}");
    assert!(created["secrets"][0]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    assert_eq!(server.get(&path).await.body["url"], created["url"]);
    assert_eq!(server.get(OPS).await.body.as_array().unwrap().len(), 1);
    let bad = json!({"name": "o", "url": "http://127.0.0.1:9/ops", "eventTypes": ["user.created"]});
    assert_error(&server.post(OPS, bad).await, 422, "validation_error");
    // The same URL rules as an application's endpoints (a host the OpenAPI pattern forbids).
    let starred = json!({"name": "o", "url": "http://hooks.example*"});
    assert_error(
        &server.post(OPS, starred.clone()).await,
        422,
        "validation_error",
    );
    assert_error(
        &server.call("PUT", &path, Some(starred)).await,
        422,
        "validation_error",
    );
    let put = json!({"name": "renamed", "url": "http://127.0.0.1:9/ops2", "uid": "ops-main"});
    let updated = server.call("PUT", &path, Some(put)).await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(
        server.get(&format!("{OPS}/ops-main")).await.body["name"],
        "renamed"
    );
    // Its application is nobody's to see, and another organisation cannot reach it.
    assert_eq!(server.get("/api/v1/applications").await.body, json!([]));
    let intruder = server.other_token().await;
    let theirs = server.call_as(&intruder, "GET", &path, None, &[]).await;
    assert_error(&theirs, 404, "not_found");
    assert_eq!(
        server.call_as(&intruder, "GET", OPS, None, &[]).await.body,
        json!([])
    );
    let deleted = server.call("DELETE", &path, None).await;
    assert_eq!(deleted.status, 200);
    assert_error(&server.get(&path).await, 404, "not_found");
    server.shutdown().await;
}

/// A receiver failing its first `failures` requests (500), then answering 200.
fn failing_first(failures: usize) -> Receiver {
    Receiver::with(Arc::new(move |n, _| {
        Reply::status(if n < failures { 500 } else { 200 })
    }))
}

#[actix_rt::test]
async fn every_operational_event_arrives_signed_once_per_change() {
    let server = TestServer::start_with(|c| {
        c.retry.schedule = vec![Duration::from_millis(100); 2];
        c.circuit.failure_threshold = 3;
        c.circuit.cooldown = Duration::from_millis(300);
        c.circuit.max_cooldown = Duration::from_millis(600);
        c.endpoint.disable_after = Duration::from_secs(2);
        c.ops.failing_warning_before = Duration::from_secs(1);
        c.ops.failing_after = 2;
    })
    .await;
    let ops = Receiver::ok();
    let all = ops_endpoint(&server, &format!("{}/all", ops.url), json!([])).await;
    let disabled_only = ops_endpoint(
        &server,
        &format!("{}/disabled", ops.url),
        json!(["endpoint.disabled"]),
    )
    .await;
    let (gone, down, flaky) = (
        Receiver::answering(410, Duration::ZERO),
        failing_first(usize::MAX),
        failing_first(3),
    );
    let shop = server
        .post(
            "/api/v1/applications",
            json!({"name": "shop", "uid": "shop"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let gone_ep = server
        .create_endpoint(&shop, &format!("{}/h", gone.url), json!({"uid": "gone"}))
        .await;
    let flaky_ep = server
        .create_endpoint(&shop, &format!("{}/h", flaky.url), json!({"uid": "flaky"}))
        .await;
    let backend = server.create_app("backend").await;
    let down_ep = server
        .create_endpoint(&backend, &format!("{}/h", down.url), json!({"uid": "down"}))
        .await;
    let id = |e: &Value| e["id"].as_str().unwrap().to_string();
    let (gone_id, flaky_id, down_id) = (id(&gone_ep), id(&flaky_ep), id(&down_ep));
    let first = server.send_event(&shop, "order.created").await;
    server.send_event(&backend, "order.created").await;

    // 410: disabled at once.
    let event = wait_event(&ops, "endpoint.disabled", &gone_id).await;
    assert_eq!(event["data"]["reason"], "gone");
    assert_eq!(event["data"]["appUid"], "shop");
    assert_eq!(event["data"]["endpointUid"], "gone");
    assert_eq!(event["data"]["appId"], shop.as_str());
    // Three failures in a row: failing at the second, exhausted and circuit opened at the third.
    let failing = wait_event(&ops, "message.attempt.failing", &flaky_id).await;
    assert_eq!(failing["data"]["messageId"], first.as_str());
    assert_eq!(failing["data"]["lastStatusCode"], 500);
    let exhausted = wait_event(&ops, "message.attempt.exhausted", &flaky_id).await;
    assert_eq!(exhausted["data"]["messageId"], first.as_str());
    assert_eq!(exhausted["data"]["attempts"], 3);
    wait_event(&ops, "endpoint.circuit_opened", &flaky_id).await;
    // The next message waits for the probe, which succeeds: the circuit closes.
    server.send_event(&shop, "order.created").await;
    wait_event(&ops, "endpoint.circuit_closed", &flaky_id).await;
    // A recovery re-sends the exhausted message and reports its end.
    let recover = server
        .post(
            &format!("/api/v1/applications/{shop}/endpoints/{flaky_id}/recover"),
            json!({"since": 0}),
        )
        .await;
    assert_eq!(recover.status, 202, "{:?}", recover.body);
    let finished = wait_event(&ops, "recovery.finished", &flaky_id).await;
    assert_eq!(finished["data"]["jobId"], recover.body["id"]);
    assert_eq!(finished["data"]["resent"], 1);
    // Disabled by hand.
    let mut off = flaky_ep.clone();
    for field in ["id", "created", "updated", "health", "paused"] {
        off.as_object_mut().unwrap().remove(field);
    }
    off["enabled"] = json!(false);
    server.put_endpoint(&shop, &flaky_id, off.clone()).await;
    let manual = wait_event(&ops, "endpoint.disabled", &flaky_id).await;
    assert_eq!(manual["data"]["reason"], "manual");
    // Still disabled: no new event.
    server.put_endpoint(&shop, &flaky_id, off).await;
    // Failing for a second: the warning; for two: disabled. Messages keep the probes going.
    wait_event(&ops, "message.attempt.exhausted", &down_id).await;
    let keep_failing = async {
        for _ in 0..100 {
            server.send_event(&backend, "order.created").await;
            let seen = events(&ops.hits());
            if !of_type(&seen, "endpoint.disabled", &down_id).is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the failing endpoint was never disabled");
    };
    keep_failing.await;
    let warning = wait_event(&ops, "endpoint.disabling", &down_id).await;
    let disabled = wait_event(&ops, "endpoint.disabled", &down_id).await;
    assert_eq!(disabled["data"]["reason"], "failing");
    let disable_at = warning["data"]["disableAt"].as_i64().expect("disableAt");
    assert!(disable_at > warning["timestamp"].as_i64().unwrap());
    assert!(disabled["timestamp"].as_i64().unwrap() >= disable_at);
    eventually(
        WAIT,
        "the filtered endpoint got the three disablings",
        || async { events(&ops.hits_on("/disabled")).len() >= 3 },
    )
    .await;

    // Every event signed with its endpoint's secrets (one of each type checked by the
    // reference library too), each change reported once.
    for (path, endpoint) in [("/all", &all), ("/disabled", &disabled_only)] {
        for hit in ops.hits_on(path) {
            assert_signed(&hit, &secrets_of(endpoint));
        }
    }
    let all_hits = ops.hits_on("/all");
    let mut checked = BTreeSet::new();
    for hit in &all_hits {
        let body: Value = serde_json::from_slice(&hit.body).expect("JSON");
        if checked.insert(body["type"].to_string()) {
            assert!(
                python_verifies(&secrets_of(&all)[0], hit, &hit.body),
                "standardwebhooks refused {body}"
            );
        }
    }
    let seen = events(&all_hits);
    let kinds: BTreeSet<&str> = seen.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let every: BTreeSet<&str> = OpsEvent::ALL.iter().map(|e| e.as_str()).collect();
    assert_eq!(kinds, every);
    let mut changes = BTreeMap::new();
    for event in &seen {
        let data = &event["data"];
        let change = (
            event["type"].as_str().unwrap().to_string(),
            data["endpointId"].to_string(),
            data["messageId"].to_string(),
            data["reason"].to_string(),
        );
        *changes.entry(change).or_insert(0) += 1;
        let top: BTreeSet<&str> = event
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            top,
            BTreeSet::from(["type", "timestamp", "data"]),
            "{event}"
        );
        for field in ["appId", "appUid", "endpointId", "endpointUid"] {
            assert!(data.get(field).is_some(), "{event}: no {field}");
        }
        let app_of = if data["endpointId"] == down_id.as_str() {
            &backend
        } else {
            &shop
        };
        assert_eq!(data["appId"], app_of.as_str(), "{event}");
        assert!(data["endpointUid"].is_string(), "{event}");
        assert!(event["timestamp"].is_i64(), "{event}");
    }
    // One of each (each reason too), as delivered: the README's examples (`--nocapture`).
    let mut shown = BTreeSet::new();
    for hit in &all_hits {
        let body: Value = serde_json::from_slice(&hit.body).expect("JSON");
        if shown.insert((body["type"].to_string(), body["data"]["reason"].to_string())) {
            println!("{}", String::from_utf8_lossy(&hit.body));
        }
    }
    let twice: Vec<_> = changes.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "changes reported more than once: {twice:?}"
    );
    let filtered = events(&ops.hits_on("/disabled"));
    assert!(
        filtered.iter().all(|e| e["type"] == "endpoint.disabled"),
        "{filtered:?}"
    );
    assert_eq!(filtered.len(), 3, "{filtered:?}");
    server.shutdown().await;
    for receiver in [ops, gone, down, flaky] {
        receiver.stop().await;
    }
}

/// The messages of an organisation's operational application.
async fn ops_messages(server: &TestServer) -> usize {
    server
        .store
        .list_messages(ops_app(&server.org), None, 100, &MessageFilter::default())
        .await
        .expect("list")
        .items
        .len()
}

/// Entries waiting in the outbox of `app`'s partition.
async fn outbox_len(server: &TestServer, app: &str) -> usize {
    let keys = &server.store.db.keys;
    let app = uuid::Uuid::parse_str(app).expect("app id");
    let mut conn = redis_conn(server).await;
    conn.xlen(keys.outbox(keys.partition_of(app)))
        .await
        .expect("xlen")
}

/// Two crashes: the worker that disabled the endpoint dies before relaying the event (its
/// relay tick is 30 s away), and the worker that relayed it dies while delivering it.
#[actix_rt::test]
async fn an_event_is_delivered_once_across_kill_9s_of_the_worker() {
    let config = test_config();
    let api = TestServer::start_config(config.clone(), Roles::API).await;
    let gate = Arc::new(Gate::default());
    let held = gate.clone();
    // The first delivery of the event is held until its worker is dead.
    let ops = Receiver::with(Arc::new(move |n, _| {
        if n == 0 {
            Reply::status(200).hold(&held)
        } else {
            Reply::status(200)
        }
    }));
    let gone = Receiver::answering(410, Duration::ZERO);
    ops_endpoint(&api, &format!("{}/ops", ops.url), json!([])).await;
    let (app, endpoint) = api
        .app_with_endpoint("crashy", &format!("{}/h", gone.url))
        .await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_string();
    let mut disabler = NodeProcess::worker_with(
        &config,
        "ops-disabler",
        &[("OCTOHOOKS__QUEUE__RETRY_POLL", "30s")],
    );
    api.send_event(&app, "order.created").await;
    // The change is made and its event written, not relayed yet.
    poll_until(
        WAIT,
        "the endpoint disabled",
        || async { api.endpoint(&app, &endpoint_id).await },
        |endpoint| endpoint["enabled"] == false,
    )
    .await;
    assert_eq!(outbox_len(&api, &app).await, 1);
    assert!(ops.hits().is_empty());
    disabler.kill();
    let mut relayer = NodeProcess::worker(&config, "ops-relayer");
    eventually(
        Duration::from_secs(30),
        "the event's first delivery",
        || async { !ops.hits().is_empty() },
    )
    .await;
    relayer.kill();
    gate.open();
    let mut last = NodeProcess::worker(&config, "ops-last");
    eventually(
        Duration::from_secs(30),
        "the event delivered again",
        || async { ops.hits().len() >= 2 },
    )
    .await;
    // One change, one event: every delivery carries the same webhook-id, one message holds it,
    // and nothing is left to relay.
    let delivered = events(&ops.hits());
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["type"], "endpoint.disabled");
    assert_eq!(delivered[0]["data"]["reason"], "gone");
    assert_eq!(delivered[0]["data"]["endpointId"], endpoint_id.as_str());
    assert_eq!(ops_messages(&api).await, 1);
    assert_eq!(outbox_len(&api, &app).await, 0);
    last.kill();
    api.shutdown().await;
    ops.stop().await;
    gone.stop().await;
}

#[actix_rt::test]
async fn an_outbox_entry_relayed_again_makes_no_second_message() {
    let server = TestServer::start_config(test_config(), Roles::API).await;
    let ops = Receiver::ok();
    ops_endpoint(&server, &format!("{}/ops", ops.url), json!([])).await;
    let (app, endpoint) = server
        .app_with_endpoint("relayed", "http://127.0.0.1:9/h")
        .await;
    let app = uuid::Uuid::parse_str(&app).unwrap();
    let endpoint = uuid::Uuid::parse_str(endpoint["id"].as_str().unwrap()).unwrap();
    let keys = &server.store.db.keys;
    let outbox = keys.outbox(keys.partition_of(app));
    let event =
        OutboxEvent::new(OpsEvent::EndpointDisabled, app, endpoint, 1).with("reason", "gone");
    let mut conn = redis_conn(&server).await;
    // The same entry twice: as after a node that created the message and died before
    // deleting the entry.
    for _ in 0..2 {
        let _: String = conn
            .xadd(&outbox, "*", &[(EVENT_FIELD, event.encode())])
            .await
            .expect("xadd");
        let relayed = server
            .store
            .relay_outbox(keys.partition_of(app), 10)
            .await
            .expect("relay");
        assert_eq!(relayed.delivered, 1);
    }
    assert_eq!(ops_messages(&server).await, 1);
    // An event about an operational endpoint itself is dropped (it would report on itself).
    let own = OutboxEvent::new(OpsEvent::CircuitOpened, ops_app(&server.org), endpoint, 1);
    let ops_partition = keys.partition_of(ops_app(&server.org));
    let _: String = conn
        .xadd(
            keys.outbox(ops_partition),
            "*",
            &[(EVENT_FIELD, own.encode())],
        )
        .await
        .expect("xadd");
    let relayed = server
        .store
        .relay_outbox(ops_partition, 10)
        .await
        .expect("relay");
    assert_eq!((relayed.delivered, relayed.dropped), (0, 1));
    assert_eq!(ops_messages(&server).await, 1);
    server.shutdown().await;
    ops.stop().await;
}
