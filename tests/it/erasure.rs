//! Erasing message payloads through the API: one message at once, or many by a background job
//! (filtered by uid prefix, channel and creation time, resumed when its node died); afterwards
//! a scan of every key of the test finds none of the payloads' bytes in Redis.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::support::api::{assert_error, redis_conn};
use crate::support::receiver::Receiver;
use crate::support::server::TestServer;
use crate::support::wait::{eventually, poll_until, wait_attempt_status, WAIT};

/// The keys (of this test's prefix) any of whose values holds `needle`, read by type.
async fn keys_holding(server: &TestServer, needle: &str) -> Vec<String> {
    let mut conn = redis_conn(server).await;
    let mut found = Vec::new();
    for key in server.keys().await {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("type");
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => conn
                .get::<_, Option<Vec<u8>>>(&key)
                .await
                .expect("get")
                .into_iter()
                .collect(),
            "hash" => conn
                .hgetall::<_, Vec<Vec<u8>>>(&key)
                .await
                .expect("hgetall"),
            "list" => conn.lrange(&key, 0, -1).await.expect("lrange"),
            "set" => conn.smembers(&key).await.expect("smembers"),
            "zset" => conn.zrange(&key, 0, -1).await.expect("zrange"),
            "stream" => {
                let entries: redis::Value = redis::cmd("XRANGE")
                    .arg(&key)
                    .arg("-")
                    .arg("+")
                    .query_async(&mut conn)
                    .await
                    .expect("xrange");
                vec![format!("{entries:?}").into_bytes()]
            }
            _ => Vec::new(), // deleted between the scan and the read
        };
        let needle = needle.as_bytes();
        if values
            .iter()
            .any(|v| v.windows(needle.len()).any(|w| w == needle))
        {
            found.push(key);
        }
    }
    found
}

fn marker(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::new_v4().simple())
}

#[actix_rt::test]
async fn an_erased_message_keeps_its_record_and_leaves_no_payload_bytes() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let (app, endpoint) = server
        .app_with_endpoint("gdpr", &format!("{}/hook", receiver.url))
        .await;
    let secret = marker("ssn");
    let kept = marker("kept");
    let messages = format!("/api/v1/applications/{app}/messages");
    let body = json!({"eventType": "user.updated", "uid": "m-1", "payload": {"ssn": secret}});
    let key = [("idempotency-key", "create-m-1")];
    let created = server
        .call_as(&server.token, "POST", &messages, Some(body.clone()), &key)
        .await;
    assert_eq!(created.status, 202, "{:?}", created.body);
    let other = server
        .send_message(
            &app,
            json!({"eventType": "user.updated", "payload": {"note": kept}}),
        )
        .await;
    wait_attempt_status(&server, &app, "m-1", Some(&endpoint), "success").await;
    assert!(
        !keys_holding(&server, &secret).await.is_empty(),
        "the payload was not stored"
    );

    let erased = server
        .call("DELETE", &format!("{messages}/m-1/content"), None)
        .await;
    assert_eq!(erased.status, 200, "{:?}", erased.body);
    assert_eq!(erased.body["payload"], Value::Null);
    assert_eq!(erased.body["uid"], "m-1");
    let read = server.get(&format!("{messages}/m-1")).await.body;
    assert_eq!(read["payload"], Value::Null);
    assert_eq!(server.attempts(&app, "m-1").await.len(), 1, "attempts stay");
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let resend = server
        .post(
            &format!("{messages}/m-1/endpoints/{endpoint_id}/resend"),
            json!({}),
        )
        .await;
    assert_error(&resend, 422, "validation_error");
    // A retry of the creating request finds the message, without its payload.
    let again = server
        .call_as(&server.token, "POST", &messages, Some(body), &key)
        .await;
    assert_eq!(again.status, 202, "{:?}", again.body);
    assert_eq!(again.body["id"], created.body["id"]);
    assert_eq!(again.body["payload"], Value::Null);
    // Nothing of the payload is left anywhere; the other message is untouched.
    assert_eq!(keys_holding(&server, &secret).await, Vec::<String>::new());
    assert!(!keys_holding(&server, &kept).await.is_empty());
    // Both messages may share their creation millisecond, and the list orders those by id:
    // each is found by its id, not by its place.
    let listed = server.get(&messages).await.body;
    let payload_of = |id: &Value| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|m| &m["id"] == id)
            .map(|m| m["payload"].clone())
    };
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(payload_of(&json!(other)), Some(json!({"note": kept})));
    assert_eq!(payload_of(&created.body["id"]), Some(Value::Null));
    assert_error(
        &server
            .call("DELETE", &format!("{messages}/nope/content"), None)
            .await,
        404,
        "not_found",
    );
    server.shutdown().await;
    receiver.stop().await;
}

/// Starts an erasure job; returns its status path.
async fn start_job(server: &TestServer, app: &str, filter: Value) -> String {
    let answer = server
        .post(
            &format!("/api/v1/applications/{app}/messages/erase"),
            filter,
        )
        .await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    assert_eq!(answer.body["status"], "running");
    let id = answer.body["id"].as_str().expect("job id");
    format!("/api/v1/applications/{app}/messages/erase/{id}")
}

async fn job_done(server: &TestServer, status: &str) -> Value {
    poll_until(
        WAIT,
        "the erasure job done",
        || async { server.get(status).await.body },
        |job| job["status"] == "done",
    )
    .await
}

#[actix_rt::test]
async fn an_erasure_job_erases_what_its_filter_selects_in_bulk() {
    let server = TestServer::start().await;
    let app = server.create_app("bulk").await;
    let (user, eu, kept) = (marker("user"), marker("eu"), marker("kept"));
    // More than one chunk (200) of messages, three kinds.
    let mut sends = Vec::new();
    for i in 0..250 {
        sends.push(json!({"eventType": "t", "uid": format!("user-7-{i}"), "payload": {"m": user}}));
    }
    for i in 0..60 {
        sends.push(json!({"eventType": "t", "uid": format!("other-{i}"), "channels": ["eu"], "payload": {"m": eu}}));
    }
    for i in 0..40 {
        sends
            .push(json!({"eventType": "t", "uid": format!("user-70-{i}"), "payload": {"m": kept}}));
    }
    let total = sends.len() as u64;
    let messages = format!("/api/v1/applications/{app}/messages");
    let (server_ref, messages_ref) = (&server, &messages);
    futures_util::future::join_all(sends.chunks(25).map(|chunk| async move {
        for body in chunk {
            let answer = server_ref.post(messages_ref, body.clone()).await;
            assert_eq!(answer.status, 202);
        }
    }))
    .await;
    let by_uid = job_done(
        &server,
        &start_job(&server, &app, json!({"uidPrefix": "user-7-"})).await,
    )
    .await;
    assert_eq!(
        (by_uid["scanned"].as_u64(), by_uid["erased"].as_u64()),
        (Some(total), Some(250))
    );
    assert_eq!(by_uid["uidPrefix"], "user-7-");
    let by_channel = job_done(
        &server,
        &start_job(&server, &app, json!({"channel": "eu"})).await,
    )
    .await;
    assert_eq!(by_channel["erased"], 60);
    // Nothing created after `before` is touched.
    let early = job_done(
        &server,
        &start_job(&server, &app, json!({"before": 1})).await,
    )
    .await;
    assert_eq!(
        (early["scanned"].as_u64(), early["erased"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(keys_holding(&server, &user).await, Vec::<String>::new());
    assert_eq!(keys_holding(&server, &eu).await, Vec::<String>::new());
    assert_eq!(keys_holding(&server, &kept).await.len(), 40);
    for bad in [
        json!({"uidPrefix": ""}),
        json!({"channel": "has space"}),
        json!({"before": -5}),
        json!({"since": 1}),
    ] {
        let answer = server.post(&format!("{messages}/erase"), bad).await;
        assert_error(&answer, 422, "validation_error");
    }
    server.shutdown().await;
}

/// A job created as a node would, whose node then died before running it: no progress for
/// longer than the stale period. Returns its status path.
async fn dead_job(server: &TestServer, app: &str, uid_prefix: &str) -> String {
    let app_id = uuid::Uuid::parse_str(app).unwrap();
    let filter = octohooks::store::erasure::EraseFilter {
        uid_prefix: Some(uid_prefix.to_string()),
        ..Default::default()
    };
    let job = server
        .store
        .create_erasure(app_id, &filter)
        .await
        .expect("job");
    let key = server.store.db.keys.erasure(app_id, job.id);
    let old = octohooks::clock::now_ms() - 60_000;
    let mut conn = redis_conn(server).await;
    let _: () = conn.hset(&key, "updated", old).await.expect("stall");
    format!("/api/v1/applications/{app}/messages/erase/{}", job.id)
}

async fn send_marked(server: &TestServer, app: &str, prefix: &str, secret: &str) {
    for i in 0..3 {
        let body =
            json!({"eventType": "t", "uid": format!("{prefix}{i}"), "payload": {"m": secret}});
        server.send_message(app, body).await;
    }
}

#[actix_rt::test]
async fn an_erasure_job_whose_node_died_is_resumed() {
    let server = TestServer::start().await;
    let app = server.create_app("resumed").await;
    // A status request resumes it.
    let secret = marker("asked");
    send_marked(&server, &app, "asked-", &secret).await;
    let status = dead_job(&server, &app, "asked-").await;
    let resumed = job_done(&server, &status).await;
    assert_eq!(resumed["erased"], 3);
    assert_eq!(keys_holding(&server, &secret).await, Vec::<String>::new());
    // Nobody asks for this one's status: the partition's owner resumes it.
    let secret = marker("owner");
    send_marked(&server, &app, "owner-", &secret).await;
    dead_job(&server, &app, "owner-").await;
    eventually(Duration::from_secs(20), "the owner erased them", || async {
        keys_holding(&server, &secret).await.is_empty()
    })
    .await;
    server.shutdown().await;
}
