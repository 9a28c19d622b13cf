//! `/api/v1/applications/{app}/messages` as an API: accepting (202, shape, byte-exact payload),
//! validation, uid uniqueness, lookup by id and uid, listing newest first with filters and
//! paging. Delivery itself is covered elsewhere.

use std::time::Duration;

use redis::AsyncCommands;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::support::api::{
    assert_error, authed_raw, creation_order, fields, ids, names, neighbour_apps, next_iterator,
    redis_conn, walk_pages,
};
use crate::support::server::TestServer;
use crate::support::wait::eventually;

fn msgs(app: &str) -> String {
    format!("/api/v1/applications/{app}/messages")
}

fn message_fields() -> Vec<String> {
    names(&[
        "channels",
        "eventType",
        "payload",
        "uid",
        "id",
        "created",
        "updated",
    ])
}

#[derive(Deserialize)]
struct RawMessage {
    payload: Box<RawValue>,
}

/// The payload of a message answer exactly as the server wrote it.
fn raw_payload(body: &[u8]) -> String {
    let message: RawMessage = serde_json::from_slice(body).expect("message JSON");
    message.payload.get().to_string()
}

#[actix_rt::test]
async fn create_answers_202_with_the_documented_fields() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let payload = json!({
        "created_at": "2022-11-16T10:47:47.207Z",
        "email": "john.smith@example.com",
        "email_verified": true,
        "user_id": "google-oauth2|102857191578298947818"
    });
    let before = octohooks::clock::now_ms();
    let answer = server
        .post(
            &msgs(&app),
            json!({"eventType": "user.created", "payload": payload, "uid": "my-message"}),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let message = &answer.body;
    assert_eq!(fields(message), message_fields(), "{message}");
    assert_eq!(message["channels"], json!([]));
    assert_eq!(message["eventType"], "user.created");
    assert_eq!(message["payload"], payload);
    assert_eq!(message["uid"], "my-message");
    let id = message["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    let created = message["created"].as_i64().unwrap();
    assert!(created >= before && created <= octohooks::clock::now_ms());
    assert_eq!(message["updated"], message["created"]);

    // Without uid and with channels.
    let answer = server
        .post(
            &msgs(&app),
            json!({"eventType": "e", "payload": {}, "channels": ["eu", "p-1"]}),
        )
        .await;
    assert_eq!(answer.status, 202);
    assert_eq!(fields(&answer.body), message_fields());
    assert_eq!(answer.body["uid"], Value::Null);
    assert_eq!(answer.body["channels"], json!(["eu", "p-1"]));

    // Stored with the retention as expiry.
    let app_id = uuid::Uuid::parse_str(&app).unwrap();
    let key = server
        .store
        .db
        .keys
        .message(app_id, uuid::Uuid::parse_str(id).unwrap());
    let mut conn = redis_conn(&server).await;
    let event_type: Option<String> = conn.hget(&key, "eventType").await.unwrap();
    assert_eq!(event_type.as_deref(), Some("user.created"));
    let ttl: i64 = conn.ttl(&key).await.unwrap();
    assert!(ttl > 0, "message hash must expire, ttl {ttl}");
    server.shutdown().await;
}

#[actix_rt::test]
async fn the_payload_is_kept_byte_for_byte() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let payload = "{ \"b\" : 1,\n\t\"a\":[1.0, 2e3, -0, 1.50],  \"\\u00e9\": \"\\u00e9 é \\/\",\"n\":null, \"b\": 2 ,\"big\": 123456789012345678901234567890}";
    let body = format!("{{\"eventType\":\"e\",\"payload\":  {payload}  ,\"uid\":\"exact\"}}");
    let answer = authed_raw(&server, "POST", &msgs(&app), Some(body.into_bytes())).await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(raw_payload(&answer.body), payload, "POST answer");
    let id = answer.json()["id"].as_str().unwrap().to_string();
    for reference in [id.as_str(), "exact"] {
        let got = authed_raw(&server, "GET", &format!("{}/{reference}", msgs(&app)), None).await;
        assert_eq!(got.status, 200);
        assert_eq!(raw_payload(&got.body), payload, "GET {reference}");
    }
    let list = authed_raw(&server, "GET", &msgs(&app), None).await;
    let listed: Vec<RawMessage> = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].payload.get(), payload, "list");
    server.shutdown().await;
}

#[actix_rt::test]
async fn the_payload_must_be_a_json_object() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    for payload in [
        json!([1, 2]),
        json!("text"),
        json!(5),
        json!(null),
        json!(true),
    ] {
        let answer = server
            .post(&msgs(&app), json!({"eventType": "e", "payload": payload}))
            .await;
        assert_error(&answer, 422, "validation_error");
    }
    for body in [
        json!({"eventType": "e"}),
        json!({"payload": {}}),
        json!({"eventType": 5, "payload": {}}),
        json!({"eventType": "e", "payload": {}, "channels": "eu"}),
        json!({"eventType": "e", "payload": {}, "uid": 1}),
        json!([]),
    ] {
        let answer = server.post(&msgs(&app), body).await;
        assert_error(&answer, 422, "validation_error");
    }
    for body in [
        &b"{\"eventType\":\"e\",\"payload\":{"[..],
        b"{\"eventType\":\"e\",\"payload\":{}",
        b"",
    ] {
        let answer = server.call_raw("POST", &msgs(&app), body.to_vec()).await;
        assert_error(&answer, 400, "invalid_json");
    }
    // Whitespace before the object is fine.
    let answer = server
        .call_raw(
            "POST",
            &msgs(&app),
            b"{\"eventType\":\"e\",\"payload\":\n \t{}}".to_vec(),
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    assert_eq!(
        server.get(&msgs(&app)).await.body.as_array().unwrap().len(),
        1
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn event_type_channels_and_uid_rules_are_enforced() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let channels: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
    for body in [
        json!({"eventType": ""}),
        json!({"eventType": "user created"}),
        json!({"eventType": "user/created"}),
        json!({"eventType": "ünicode"}),
        json!({"eventType": "e".repeat(257)}),
        json!({"eventType": "e", "channels": channels}),
        json!({"eventType": "e", "channels": ["a", "a"]}),
        json!({"eventType": "e", "channels": ["a b"]}),
        json!({"eventType": "e", "channels": [""]}),
        json!({"eventType": "e", "uid": ""}),
        json!({"eventType": "e", "uid": "no spaces"}),
        json!({"eventType": "e", "uid": "u".repeat(257)}),
        json!({"eventType": "e", "uid": uuid::Uuid::new_v4().to_string()}),
    ] {
        let mut body = body;
        body["payload"] = json!({});
        let answer = server.post(&msgs(&app), body.clone()).await;
        assert_error(&answer, 422, "validation_error");
    }
    for event_type in ["a", "user.created", "A-b_c.9", &"e".repeat(256)] {
        let answer = server
            .post(
                &msgs(&app),
                json!({"eventType": event_type, "payload": {}, "channels": channels[..10]}),
            )
            .await;
        assert_eq!(answer.status, 202, "{event_type}: {:?}", answer.body);
        assert_eq!(answer.body["eventType"], event_type);
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn duplicate_message_uid_is_409_per_application() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let other = server.create_app("b").await;
    let first = server
        .post(
            &msgs(&app),
            json!({"eventType": "e", "payload": {"n": 1}, "uid": "once"}),
        )
        .await;
    assert_eq!(first.status, 202);
    let again = server
        .post(
            &msgs(&app),
            json!({"eventType": "e", "payload": {"n": 2}, "uid": "once"}),
        )
        .await;
    assert_error(&again, 409, "conflict");
    let list = server.get(&msgs(&app)).await;
    assert_eq!(ids(&list.body), [first.body["id"].as_str().unwrap()]);
    assert_eq!(
        server.get(&format!("{}/once", msgs(&app))).await.body["payload"],
        json!({"n": 1})
    );
    let elsewhere = server
        .post(
            &msgs(&other),
            json!({"eventType": "e", "payload": {}, "uid": "once"}),
        )
        .await;
    assert_eq!(elsewhere.status, 202, "{:?}", elsewhere.body);
    server.shutdown().await;
}

#[actix_rt::test]
async fn get_by_id_and_uid_and_404s() {
    let server = TestServer::start().await;
    let app = server
        .post(
            "/api/v1/applications",
            json!({"name": "a", "uid": "app-uid"}),
        )
        .await
        .body;
    let app_id = app["id"].as_str().unwrap();
    let posted = server
        .post(
            &msgs(app_id),
            json!({"eventType": "e", "payload": {"k": "v"}, "uid": "m-1"}),
        )
        .await
        .body;
    let id = posted["id"].as_str().unwrap();
    for app_ref in [app_id, "app-uid"] {
        for msg_ref in [id, "m-1"] {
            let answer = server.get(&format!("{}/{msg_ref}", msgs(app_ref))).await;
            assert_eq!(answer.status, 200, "{app_ref}/{msg_ref}");
            assert_eq!(answer.body, posted);
        }
    }
    for missing in [uuid::Uuid::new_v4().to_string(), "m-2".to_string()] {
        assert_error(
            &server.get(&format!("{}/{missing}", msgs(app_id))).await,
            404,
            "not_found",
        );
    }
    // Unknown application: every message route is a 404.
    for unknown in [uuid::Uuid::new_v4().to_string(), "ghost".to_string()] {
        assert_error(&server.get(&msgs(&unknown)).await, 404, "not_found");
        assert_error(
            &server
                .post(&msgs(&unknown), json!({"eventType": "e", "payload": {}}))
                .await,
            404,
            "not_found",
        );
        assert_error(
            &server.get(&format!("{}/{id}", msgs(&unknown))).await,
            404,
            "not_found",
        );
    }
    // A message id of another application does not resolve, even in the same partition.
    for other in neighbour_apps(&server, app_id).await {
        assert_error(
            &server.get(&format!("{}/{id}", msgs(&other))).await,
            404,
            "not_found",
        );
        assert_error(
            &server.get(&format!("{}/m-1", msgs(&other))).await,
            404,
            "not_found",
        );
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn list_is_newest_first_and_pages() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let empty = server.get(&msgs(&app)).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!([]));
    assert!(next_iterator(&empty).is_none());
    let mut posted = Vec::new();
    for i in 0..7 {
        let answer = server
            .post(&msgs(&app), json!({"eventType": "e", "payload": {"i": i}}))
            .await;
        assert_eq!(answer.status, 202);
        posted.push(answer.body);
    }
    // Newest first: the reverse of creation order (same-millisecond ties by id).
    let mut sent = creation_order(&posted);
    sent.reverse();
    let all = server.get(&msgs(&app)).await;
    assert_eq!(ids(&all.body), sent);
    for record in all.body.as_array().unwrap() {
        assert!(posted.contains(record), "{record}");
    }
    let pages = walk_pages(&server, &msgs(&app), 3).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages.concat(), sent);
    assert_eq!(walk_pages(&server, &msgs(&app), 7).await, [sent.clone()]);
    for query in ["limit=0", "limit=251", "limit=ten", "iterator=bad"] {
        let answer = server.get(&format!("{}?{query}", msgs(&app))).await;
        assert_error(&answer, 422, "validation_error");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn list_filters_by_event_type_and_channel() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let send = |event_type: &'static str, channels: Value| {
        let server = &server;
        let app = app.clone();
        async move {
            server
                .send_message(
                    &app,
                    json!({"eventType": event_type, "channels": channels, "payload": {}}),
                )
                .await
        }
    };
    let m1 = send("user.created", json!(["eu"])).await;
    let m2 = send("user.deleted", json!(["eu", "us"])).await;
    let m3 = send("user.created", json!([])).await;
    let m4 = send("invoice.paid", json!(["us"])).await;
    let m5 = send("user.created", json!(["us"])).await;

    // Expected answers: the unfiltered list (newest first), filtered here.
    let everything = server.get(&msgs(&app)).await.body;
    let expect = |event_type: Option<&str>, channel: Option<&str>| -> Vec<String> {
        everything
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| event_type.is_none_or(|t| m["eventType"] == t))
            .filter(|m| {
                channel.is_none_or(|c| m["channels"].as_array().unwrap().iter().any(|x| x == c))
            })
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |query: String| {
        let server = &server;
        let path = format!("{}?{query}", msgs(&app));
        async move {
            let answer = server.get(&path).await;
            assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
            ids(&answer.body)
        }
    };
    let user_created = expect(Some("user.created"), None);
    let us = expect(None, Some("us"));
    assert_eq!(sorted(&user_created), sorted(&[&m1, &m3, &m5]));
    assert_eq!(sorted(&expect(None, Some("eu"))), sorted(&[&m1, &m2]));
    assert_eq!(sorted(&us), sorted(&[&m2, &m4, &m5]));
    assert_eq!(list("eventType=user.created".into()).await, user_created);
    assert_eq!(list("eventType=invoice.paid".into()).await, [m4.as_str()]);
    assert!(list("eventType=nothing".into()).await.is_empty());
    assert!(list("channel=nothing".into()).await.is_empty());
    assert_eq!(list("channel=eu".into()).await, expect(None, Some("eu")));
    assert_eq!(list("channel=us".into()).await, us);
    assert_eq!(
        list("eventType=user.created&channel=us".into()).await,
        [m5.as_str()]
    );
    assert_eq!(list(String::new()).await, expect(None, None));
    // Filtered paging walks the matches only, each once.
    let pages = walk_pages(
        &server,
        &format!("{}?eventType=user.created", msgs(&app)),
        2,
    )
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(pages.concat(), user_created);
    let pages = walk_pages(&server, &format!("{}?channel=us", msgs(&app)), 1).await;
    assert_eq!(pages.concat(), us);
    server.shutdown().await;
}

fn sorted(ids: &[impl AsRef<str>]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|s| s.as_ref().to_string()).collect();
    ids.sort();
    ids
}

#[actix_rt::test]
async fn resend_and_attempts_resolve_ids_and_uids_within_the_application() {
    let server = TestServer::start().await;
    let receiver = crate::support::receiver::Receiver::ok();
    let app = server.create_app("a").await;
    let other = server.create_app("b").await;
    let endpoint = server
        .create_endpoint(
            &app,
            &format!("{}/hook", receiver.url),
            json!({"uid": "ep"}),
        )
        .await;
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let foreign_endpoint = server
        .create_endpoint(&other, &format!("{}/other", receiver.url), json!({}))
        .await;
    let message = server
        .send_message(&app, json!({"eventType": "e", "uid": "msg", "payload": {}}))
        .await;
    let foreign_message = server.send_event(&other, "e").await;
    let first =
        || async { receiver.hits_on("/hook").len() == 1 && receiver.hits_on("/other").len() == 1 };
    eventually(Duration::from_secs(10), "deliveries", first).await;

    let resend = |message: &str, endpoint: &str| {
        format!("{}/{message}/endpoints/{endpoint}/resend", msgs(&app))
    };
    for path in [
        resend(&uuid::Uuid::new_v4().to_string(), endpoint_id),
        resend("no-such-msg", endpoint_id),
        resend(&message, &uuid::Uuid::new_v4().to_string()),
        resend(&message, "no-such-ep"),
        resend(&message, foreign_endpoint["id"].as_str().unwrap()),
        resend(&foreign_message, endpoint_id),
    ] {
        let answer = server.call("POST", &path, None).await;
        assert_error(&answer, 404, "not_found");
    }
    for path in [
        format!("{}/{}/attempts", msgs(&app), uuid::Uuid::new_v4()),
        format!("{}/no-such-msg/attempts", msgs(&app)),
        format!("{}/{foreign_message}/attempts", msgs(&app)),
    ] {
        assert_error(&server.get(&path).await, 404, "not_found");
    }
    let attempts = server.get(&format!("{}/msg/attempts", msgs(&app))).await;
    assert_eq!(attempts.status, 200);

    let answer = server.call("POST", &resend("msg", "ep"), None).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    assert_eq!(
        answer.body,
        json!({"messageId": message, "endpointId": endpoint_id})
    );
    eventually(Duration::from_secs(10), "resent", || async {
        receiver.hits_on("/hook").len() == 2
    })
    .await;
    assert!(
        receiver.hits_on("/other").len() == 1,
        "only the chosen endpoint"
    );
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn messages_and_their_uids_expire_with_the_retention() {
    let server = TestServer::start_with(|c| c.retention.messages = Duration::from_secs(1)).await;
    let app = server.create_app("a").await;
    let first = server
        .send_message(
            &app,
            json!({"eventType": "e", "uid": "daily", "payload": {"n": 1}}),
        )
        .await;
    let again = server
        .post(
            &msgs(&app),
            json!({"eventType": "e", "uid": "daily", "payload": {}}),
        )
        .await;
    assert_error(&again, 409, "conflict");
    eventually(Duration::from_secs(5), "message expired", || async {
        server.get(&format!("{}/daily", msgs(&app))).await.status == 404
    })
    .await;
    assert_error(
        &server.get(&format!("{}/{first}", msgs(&app))).await,
        404,
        "not_found",
    );
    assert_eq!(server.get(&msgs(&app)).await.body, json!([]));
    // The uid is free again once its message is gone.
    let second = server
        .send_message(
            &app,
            json!({"eventType": "e", "uid": "daily", "payload": {"n": 2}}),
        )
        .await;
    assert_ne!(second, first);
    assert_eq!(ids(&server.get(&msgs(&app)).await.body), [second.as_str()]);
    server.shutdown().await;
}

/// A message of an application without endpoints is stored and listed but not queued (no
/// stream entry, nothing for a worker to read); one of an application with an endpoint is.
/// The API runs alone here, so every queued entry stays in its stream to be counted.
#[actix_rt::test]
async fn a_message_is_queued_only_when_its_application_has_an_endpoint() {
    let config = crate::support::server::test_config();
    let server = TestServer::start_config(config, octohooks::runtime::Roles::API).await;
    let lonely = server.create_app("no-endpoints").await;
    let served = server.create_app("one-endpoint").await;
    server
        .create_endpoint(&served, "http://127.0.0.1:9/hook", json!({}))
        .await;
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(
            server
                .send_message(&lonely, json!({"eventType": "e", "payload": {"n": n}}))
                .await,
        );
    }
    for n in 0..2 {
        server
            .send_message(&served, json!({"eventType": "e", "payload": {"n": n}}))
            .await;
    }
    let depth = crate::support::queue::depth(&server.store).await;
    assert_eq!(
        depth.stream, 2,
        "one entry per message of the served application: {depth:?}"
    );
    let mut listed = ids(&server.get(&msgs(&lonely)).await.body);
    listed.sort();
    sent.sort();
    assert_eq!(listed, sent, "stored and listed all the same");
    server.shutdown().await;
}
