//! What receivers ask for, through the HTTP API with real receivers: strict input, custom
//! headers, secret rotation with a grace period, payload filters, pause and resume.

use std::time::Duration;

use serde_json::{json, Value};

use crate::delivery_signing::python_verifies;
use crate::support::api::id_of;
use crate::support::queue::depth;
use crate::support::receiver::{Receiver, Reply};
use crate::support::server::TestServer;
use crate::support::wait::{eventually, WAIT};
use crate::support::webhooks::{assert_signed, random_secret, secrets_of};

fn endpoint_path(app: &str, endpoint: &str) -> String {
    format!("/api/v1/applications/{app}/endpoints/{endpoint}")
}

#[actix_rt::test]
async fn unknown_fields_are_refused_with_a_422_naming_the_field() {
    let server = TestServer::start().await;
    let app = server.create_app("strict").await;
    let endpoint = id_of(
        &server
            .create_endpoint(&app, "http://127.0.0.1:9/never", json!({}))
            .await,
    );
    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "POST",
            "/api/v1/applications".into(),
            json!({"name": "a", "nmae": "typo"}),
            "nmae",
        ),
        (
            "PUT",
            format!("/api/v1/applications/{app}"),
            json!({"name": "a", "metadata": {}}),
            "metadata",
        ),
        (
            "POST",
            format!("/api/v1/applications/{app}/endpoints"),
            // Another service's field name must not silently mean "all event types".
            json!({"name": "e", "url": "http://127.0.0.1:9", "filterTypes": ["a"]}),
            "filterTypes",
        ),
        (
            "PUT",
            endpoint_path(&app, &endpoint),
            json!({"name": "e", "url": "http://127.0.0.1:9", "version": 1}),
            "version",
        ),
        (
            "POST",
            format!("/api/v1/applications/{app}/messages"),
            json!({"eventType": "e", "payload": {}, "tags": ["x"]}),
            "tags",
        ),
        (
            "POST",
            format!("{}/recover", endpoint_path(&app, &endpoint)),
            json!({"since": 0, "until_ms": 5}),
            "until_ms",
        ),
        (
            "POST",
            format!("{}/secret/rotate", endpoint_path(&app, &endpoint)),
            json!({"grace": 5}),
            "grace",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = server.call(method, &path, Some(body)).await;
        assert_eq!(answer.status, 422, "{method} {path}: {:?}", answer.body);
        assert_eq!(answer.code(), "validation_error");
        let detail = answer.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(field), "{method} {path}: {detail}");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn custom_headers_are_sent_and_the_deliverys_own_are_refused() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("headers").await;
    let endpoint = server
        .create_endpoint(
            &app,
            &format!("{}/hook", receiver.url),
            json!({"headers": {"X-Api-Key": "k-123", "X-Tenant": "acme eu"}}),
        )
        .await;
    assert_eq!(
        endpoint["headers"],
        json!({"X-Api-Key": "k-123", "X-Tenant": "acme eu"})
    );
    server
        .send_message(&app, json!({"eventType": "e", "payload": {"n": 1}}))
        .await;
    eventually(WAIT, "a delivery", || async { !receiver.hits().is_empty() }).await;
    let hit = &receiver.hits()[0];
    assert_eq!(hit.headers["x-api-key"], "k-123");
    assert_eq!(hit.headers["x-tenant"], "acme eu");
    assert_eq!(hit.headers["content-type"], "application/json");
    assert_signed(hit, &secrets_of(&endpoint));

    let too_many: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("X-H{i}"), json!("v"))).collect();
    for headers in [
        json!({"webhook-signature": "v1,forged"}),
        json!({"Content-Type": "text/plain"}),
        json!({"Host": "elsewhere.example"}),
        json!({"Transfer-Encoding": "chunked"}),
        json!({"X-Split": "a\r\nInjected: 1"}),
        json!({"Bad Name": "v"}),
        json!({"X-Big": "v".repeat(4097)}),
        json!({"X-Number": 5}),
        Value::Object(too_many),
    ] {
        let answer = server
            .post(
                &format!("/api/v1/applications/{app}/endpoints"),
                json!({"name": "h", "url": "http://127.0.0.1:9", "headers": headers}),
            )
            .await;
        assert_eq!(answer.status, 422, "{headers}: {:?}", answer.body);
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn a_rotated_secret_keeps_signing_through_its_grace_period_then_only_the_new_one_signs() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("rotation").await;
    let old = random_secret(32);
    let endpoint = server
        .create_endpoint(
            &app,
            &format!("{}/hook", receiver.url),
            json!({"secrets": [old]}),
        )
        .await;
    let path = endpoint_path(&app, &id_of(&endpoint));
    let new = random_secret(24);
    let rotated = server
        .post(
            &format!("{path}/secret/rotate"),
            json!({"key": new, "gracePeriodSeconds": 3}),
        )
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_eq!(secrets_of(&rotated.body), vec![new.clone(), old.clone()]);
    let current = server.get(&format!("{path}/secret")).await;
    assert_eq!(current.body["key"], new.as_str());

    // During the grace period: one signature per secret, newest first; receivers holding
    // either secret accept the delivery (checked by the official library too).
    server
        .send_message(&app, json!({"eventType": "e", "payload": {"during": true}}))
        .await;
    eventually(WAIT, "a delivery during the grace period", || async {
        receiver.hits().len() == 1
    })
    .await;
    let hit = &receiver.hits()[0];
    assert_signed(hit, &[new.clone(), old.clone()]);
    for secret in [&new, &old] {
        assert!(
            python_verifies(secret, hit, &hit.body),
            "standardwebhooks (Python) rejects the delivery"
        );
    }

    // The old secret goes by itself once its grace period has ended.
    eventually(WAIT, "the old secret removed", || async {
        secrets_of(&server.get(&path).await.body) == vec![new.clone()]
    })
    .await;
    server
        .send_message(&app, json!({"eventType": "e", "payload": {"after": true}}))
        .await;
    eventually(WAIT, "a delivery after the grace period", || async {
        receiver.hits().len() == 2
    })
    .await;
    let hit = &receiver.hits()[1];
    assert_signed(hit, std::slice::from_ref(&new));
    assert!(python_verifies(&new, hit, &hit.body));
    assert!(!python_verifies(&old, hit, &hit.body));

    // A rotation without a body generates the secret; a grace of 0 drops the others at once.
    let generated = server
        .call("POST", &format!("{path}/secret/rotate"), None)
        .await;
    assert_eq!(generated.status, 200, "{:?}", generated.body);
    assert_eq!(secrets_of(&generated.body).len(), 2);
    let immediate = server
        .post(
            &format!("{path}/secret/rotate"),
            json!({"gracePeriodSeconds": 0}),
        )
        .await;
    assert_eq!(secrets_of(&immediate.body).len(), 1);
    for bad in [
        json!({"key": "nope"}),
        json!({"gracePeriodSeconds": 604801}),
        json!({"gracePeriodSeconds": -1}),
    ] {
        let answer = server
            .post(&format!("{path}/secret/rotate"), bad.clone())
            .await;
        assert_eq!(answer.status, 422, "{bad}: {:?}", answer.body);
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn filters_deliver_only_matching_payloads_and_can_be_tried() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("filters").await;
    let filter = json!({"amount": {"$gte": 100}, "currency": {"$in": ["EUR", "USD"]}});
    let endpoint = server
        .create_endpoint(
            &app,
            &format!("{}/big", receiver.url),
            json!({"filter": filter}),
        )
        .await;
    assert_eq!(endpoint["filter"], filter);
    let everything = Receiver::ok();
    server
        .create_endpoint(&app, &format!("{}/all", everything.url), json!({}))
        .await;
    let payloads = [
        (json!({"amount": 150, "currency": "EUR"}), true),
        (json!({"amount": 50, "currency": "EUR"}), false),
        (json!({"amount": 500, "currency": "GBP"}), false),
        (json!({"amount": 100, "currency": "USD"}), true),
        (json!({"currency": "USD"}), false),
    ];
    for (payload, _) in &payloads {
        server
            .send_message(&app, json!({"eventType": "pay", "payload": payload}))
            .await;
    }
    // Every message reached the unfiltered endpoint: the fan-out is done.
    eventually(WAIT, "every message fanned out", || async {
        everything.hits().len() == payloads.len()
    })
    .await;
    eventually(WAIT, "the matching deliveries", || async {
        receiver.hits().len() == 2
    })
    .await;
    let delivered: Vec<Value> = receiver
        .hits()
        .iter()
        .map(|h| serde_json::from_slice(&h.body).expect("json"))
        .collect();
    let wanted: Vec<Value> = payloads
        .iter()
        .filter(|(_, matches)| *matches)
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(delivered.len(), wanted.len());
    for payload in wanted {
        assert!(delivered.contains(&payload), "{payload} missing");
    }

    let test = format!("{}/filter/test", endpoint_path(&app, &id_of(&endpoint)));
    for (payload, matches) in &payloads {
        let answer = server
            .post(&test, json!({"filter": filter, "payload": payload}))
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body["matches"], *matches, "{payload}");
    }
    let bad = server
        .post(
            &test,
            json!({"filter": {"a": {"$regex": "x"}}, "payload": {}}),
        )
        .await;
    assert_eq!(bad.status, 422);
    let bad_endpoint = server
        .post(
            &format!("/api/v1/applications/{app}/endpoints"),
            json!({"name": "f", "url": "http://127.0.0.1:9", "filter": {"$where": "1"}}),
        )
        .await;
    assert_eq!(bad_endpoint.status, 422);
    server.shutdown().await;
}

#[actix_rt::test]
async fn a_paused_endpoint_holds_everything_and_delivers_it_once_resumed() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("pause").await;
    let endpoint = server
        .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
        .await;
    let endpoint_id = id_of(&endpoint);
    let path = endpoint_path(&app, &endpoint_id);
    let paused = server.call("POST", &format!("{path}/pause"), None).await;
    assert_eq!(paused.status, 200, "{:?}", paused.body);
    assert_eq!(paused.body["paused"], true);
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(
            server
                .send_message(&app, json!({"eventType": "e", "payload": {"n": n}}))
                .await,
        );
    }
    // Every message is held in the endpoint's parked backlog, none sent, none attempted.
    eventually(WAIT, "twenty deliveries held", || async {
        depth(&server.store).await.parked == 20
    })
    .await;
    assert!(receiver.hits().is_empty());
    for id in &ids {
        assert!(server.attempts(&app, id).await.is_empty());
    }
    assert_eq!(server.get(&path).await.body["paused"], true);

    let resumed = server.call("POST", &format!("{path}/resume"), None).await;
    assert_eq!(resumed.status, 200, "{:?}", resumed.body);
    assert_eq!(resumed.body["paused"], false);
    eventually(WAIT, "everything delivered", || async {
        receiver.hits().len() >= ids.len()
    })
    .await;
    let mut seen: Vec<String> = receiver
        .hits()
        .iter()
        .map(|h| h.headers["webhook-id"].clone())
        .collect();
    seen.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(seen, expected, "each held message once");
    server.shutdown().await;
}

#[actix_rt::test]
async fn an_endpoints_log_and_stats_add_up_to_the_attempts_made() {
    let server = TestServer::start().await;
    // The first attempt of each message fails, its retry succeeds.
    let receiver = Receiver::with(std::sync::Arc::new(|earlier_on_path, _| {
        Reply::status(if earlier_on_path % 2 == 0 { 500 } else { 200 })
    }));
    let app = server.create_app("log").await;
    let endpoint = id_of(
        &server
            .create_endpoint(&app, &format!("{}/hook", receiver.url), json!({}))
            .await,
    );
    let path = endpoint_path(&app, &endpoint);
    let before = octohooks::clock::now_ms();
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = server
            .send_message(&app, json!({"eventType": "e", "payload": {"n": n}}))
            .await;
        // One message at a time, so the receiver's 500-then-200 pairs stay per message.
        eventually(WAIT, "the message delivered", || async {
            server
                .attempts(&app, &id)
                .await
                .iter()
                .any(|a| a["status"] == "success")
        })
        .await;
        ids.push(id);
    }
    let log = server.get(&format!("{path}/attempts?limit=250")).await;
    assert_eq!(log.status, 200, "{:?}", log.body);
    let all = log.body.as_array().expect("array").clone();
    assert_eq!(all.len(), 10, "{all:?}");
    let times: Vec<i64> = all
        .iter()
        .map(|a| a["timestamp"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    for id in &ids {
        let of_message: Vec<&Value> = all
            .iter()
            .filter(|a| a["messageId"] == id.as_str())
            .collect();
        assert_eq!(of_message.len(), 2, "{id}");
    }
    // Pages of 3 walk the same log, once each.
    let mut walked = Vec::new();
    let mut next = String::new();
    loop {
        let page = server
            .get(&format!("{path}/attempts?limit=3&iterator={next}"))
            .await;
        walked.extend(page.body.as_array().expect("page").clone());
        match page.headers.get("x-next-iterator") {
            Some(it) => next = it.to_str().expect("ascii").replace('|', "%7C"),
            None => break,
        }
    }
    assert_eq!(walked, all);
    for (status, count) in [("success", 5), ("pending", 5), ("failed", 0)] {
        let page = server
            .get(&format!("{path}/attempts?status={status}"))
            .await;
        assert_eq!(page.body.as_array().map(Vec::len), Some(count), "{status}");
    }
    let window = server
        .get(&format!(
            "{path}/attempts?since={}&until={}",
            times[3], times[0]
        ))
        .await;
    assert_eq!(window.body.as_array().map(Vec::len), Some(4));
    let future = server
        .get(&format!(
            "{path}/attempts?since={}",
            octohooks::clock::now_ms() + 60_000
        ))
        .await;
    assert_eq!(future.body, json!([]));
    for bad in ["status=done", "iterator=nope", "since=yesterday", "limit=0"] {
        let answer = server.get(&format!("{path}/attempts?{bad}")).await;
        assert_eq!(answer.status, 422, "{bad}: {:?}", answer.body);
    }

    let stats = server.get(&format!("{path}/stats")).await;
    assert_eq!(stats.status, 200, "{:?}", stats.body);
    let sum = |series: &str, field: &str| -> u64 {
        stats.body[series]
            .as_array()
            .expect("series")
            .iter()
            .map(|b| b[field].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(stats.body["hourly"].as_array().map(Vec::len), Some(24));
    assert_eq!(stats.body["daily"].as_array().map(Vec::len), Some(30));
    assert_eq!((sum("hourly", "success"), sum("hourly", "failure")), (5, 5));
    assert_eq!((sum("daily", "success"), sum("daily", "failure")), (5, 5));
    // The last hourly bucket is the current hour.
    let last_hour = stats.body["hourly"][23]["start"].as_i64().unwrap();
    let now = octohooks::clock::now_ms();
    assert!(
        last_hour <= now && now < last_hour + 3_600_000,
        "{last_hour} vs {now}"
    );
    assert!(last_hour <= before + 3_600_000);
    server.shutdown().await;
}

#[actix_rt::test]
async fn a_throttling_receiver_lowers_the_endpoints_rate() {
    let server = TestServer::start_with(|c| {
        c.retry.schedule = vec![Duration::from_millis(50); 10];
        c.circuit.failure_threshold = 1000;
    })
    .await;
    // 429 without Retry-After to the first two requests, then 200.
    let receiver = Receiver::with(std::sync::Arc::new(|earlier, _| {
        Reply::status(if earlier < 2 { 429 } else { 200 })
    }));
    let app = server.create_app("throttled").await;
    let endpoint = id_of(
        &server
            .create_endpoint(
                &app,
                &format!("{}/hook", receiver.url),
                json!({"rateLimit": 8}),
            )
            .await,
    );
    let path = endpoint_path(&app, &endpoint);
    for n in 0..6 {
        server
            .send_message(&app, json!({"eventType": "e", "payload": {"n": n}}))
            .await;
    }
    // Halved twice: 8/s, 4/s, then 2/s.
    eventually(WAIT, "the lowered rate published", || async {
        server.get(&path).await.body["health"]["effectiveRateLimit"] == 2
    })
    .await;
    eventually(WAIT, "every message delivered", || async {
        receiver.hits().iter().filter(|h| h.path == "/hook").count() >= 8
    })
    .await;
    // After the throttling, starts stand about half a second apart (2/s), not an eighth.
    let hits = receiver.hits();
    let gaps: Vec<Duration> = hits[2..].windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(400)),
        "gaps after throttling: {gaps:?}"
    );
    server.shutdown().await;
}
