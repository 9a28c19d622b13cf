//! Idempotency-Key on POST: a successful answer is replayed (same status and body, with
//! `idempotent-replayed: true`) and the operation runs once, even for concurrent requests;
//! the same key with another request is a 422; failed answers are not kept; keys are scoped
//! to the organisation.

use std::time::Duration;

use futures_util::future::join_all;
use redis::AsyncCommands;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::api::{assert_error, assert_error_body, ids, raw, redis_conn};
use crate::support::redis_server::CommandLog;
use crate::support::server::{Answer, TestServer};
use crate::support::wait::eventually;

const APPS: &str = "/api/v1/applications";

async fn post_with_key(server: &TestServer, path: &str, body: Value, key: &str) -> Answer {
    server
        .call_as(
            &server.token,
            "POST",
            path,
            Some(body),
            &[("idempotency-key", key)],
        )
        .await
}

fn replayed(answer: &Answer) -> bool {
    answer
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

async fn app_count(server: &TestServer) -> usize {
    server.get(APPS).await.body.as_array().unwrap().len()
}

#[actix_rt::test]
async fn the_same_key_and_body_replay_the_first_answer() {
    let server = TestServer::start().await;
    let body = json!({"name": "once", "uid": "once"});
    let first = post_with_key(&server, APPS, body.clone(), "key-1").await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert!(!replayed(&first), "the original answer is not a replay");
    for _ in 0..3 {
        let again = post_with_key(&server, APPS, body.clone(), "key-1").await;
        assert_eq!(again.status, 201, "{:?}", again.body);
        assert_eq!(again.body, first.body);
        assert!(replayed(&again), "{:?}", again.headers);
        assert!(again.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        assert_eq!(again.headers["access-control-allow-origin"], "*");
    }
    // One application: without the key the same body is a uid conflict.
    assert_eq!(
        ids(&server.get(APPS).await.body),
        [first.body["id"].as_str().unwrap()]
    );
    let plain = server.post(APPS, body).await;
    assert_error(&plain, 409, "conflict");
    // A different key runs the operation again (here: a second app without uid).
    let other = post_with_key(&server, APPS, json!({"name": "once"}), "key-2").await;
    assert_eq!(other.status, 201);
    assert!(!replayed(&other));
    assert_eq!(app_count(&server).await, 2);
    server.shutdown().await;
}

#[actix_rt::test]
async fn replays_work_for_endpoints_and_messages_too() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let eps = format!("{APPS}/{app}/endpoints");
    let ep_body = json!({"name": "e", "url": "http://127.0.0.1:9/x"});
    let first = post_with_key(&server, &eps, ep_body.clone(), "ep-key").await;
    let second = post_with_key(&server, &eps, ep_body, "ep-key").await;
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(
        second.body, first.body,
        "the generated secret is replayed too"
    );
    assert!(replayed(&second));
    assert_eq!(server.get(&eps).await.body, json!([first.body]));

    let msgs = format!("{APPS}/{app}/messages");
    let msg_body = json!({"eventType": "e", "payload": {"n": 1}});
    let first = post_with_key(&server, &msgs, msg_body.clone(), "msg-key").await;
    let second = post_with_key(&server, &msgs, msg_body, "msg-key").await;
    assert_eq!(first.status, 202, "{:?}", first.body);
    assert_eq!(second.status, 202);
    assert_eq!(second.body, first.body);
    assert!(replayed(&second));
    assert_eq!(
        ids(&server.get(&msgs).await.body),
        [first.body["id"].as_str().unwrap()]
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn the_same_key_with_another_request_is_422() {
    let server = TestServer::start().await;
    let first = post_with_key(&server, APPS, json!({"name": "a"}), "k").await;
    assert_eq!(first.status, 201);
    // Another body, even one that only differs in formatting.
    let answer = post_with_key(&server, APPS, json!({"name": "b"}), "k").await;
    assert_error(&answer, 422, "idempotency_key_reused");
    let auth = format!("Bearer {}", server.token);
    let reformatted = raw(
        &server,
        "POST",
        APPS,
        &[("authorization", &auth), ("idempotency-key", "k")],
        Some(br#"{ "name": "a" }"#.to_vec()),
    )
    .await;
    assert_error_body(
        reformatted.status,
        &reformatted.json(),
        422,
        "idempotency_key_reused",
    );
    // Another path with the same key.
    let app = first.body["id"].as_str().unwrap();
    let answer = post_with_key(
        &server,
        &format!("{APPS}/{app}/endpoints"),
        json!({"name": "a"}),
        "k",
    )
    .await;
    assert_error(&answer, 422, "idempotency_key_reused");
    assert_eq!(app_count(&server).await, 1);
    assert!(server.get(&format!("{APPS}/{app}/endpoints")).await.body == json!([]));
    server.shutdown().await;
}

#[actix_rt::test]
async fn concurrent_requests_with_one_key_run_once_and_all_get_the_same_answer() {
    let server = TestServer::start().await;
    let body = json!({"name": "concurrent"});
    let answers =
        join_all((0..5).map(|_| post_with_key(&server, APPS, body.clone(), "race"))).await;
    for answer in &answers {
        assert_eq!(answer.status, 201, "{answers:?}");
        assert_eq!(answer.body, answers[0].body);
    }
    assert_eq!(
        answers.iter().filter(|a| !replayed(a)).count(),
        1,
        "exactly one request ran: {answers:?}"
    );
    assert_eq!(
        ids(&server.get(APPS).await.body),
        [answers[0].body["id"].as_str().unwrap()]
    );

    // Messages: one accepted message, whatever the concurrency.
    let app = answers[0].body["id"].as_str().unwrap();
    let msgs = format!("{APPS}/{app}/messages");
    let msg = json!({"eventType": "e", "payload": {"x": 1}});
    let answers = join_all((0..5).map(|_| post_with_key(&server, &msgs, msg.clone(), "m"))).await;
    for answer in &answers {
        assert_eq!(answer.status, 202, "{answers:?}");
        assert_eq!(answer.body, answers[0].body);
    }
    assert_eq!(server.get(&msgs).await.body.as_array().unwrap().len(), 1);
    server.shutdown().await;
}

#[actix_rt::test]
async fn failed_answers_are_not_kept() {
    let server = TestServer::start().await;
    // A validation failure is answered again (not replayed) for the same key and body.
    let bad = json!({"name": ""});
    for _ in 0..2 {
        let answer = post_with_key(&server, APPS, bad.clone(), "retry-me").await;
        assert_error(&answer, 422, "validation_error");
        assert!(!replayed(&answer));
    }
    // Nothing is left in Redis for that key, so another request may use it.
    let key_hash = hex_sha256(&[b"retry-me"]);
    let mut conn = redis_conn(&server).await;
    let exists: bool = conn
        .exists(server.store.db.keys.idempotency(&server.org, &key_hash))
        .await
        .unwrap();
    assert!(!exists, "a failed request left an idempotency record");
    let fixed = post_with_key(&server, APPS, json!({"name": "fixed"}), "retry-me").await;
    assert_eq!(fixed.status, 201, "{:?}", fixed.body);
    assert!(!replayed(&fixed));

    // A conflict (409) is not kept either: once the uid is free, the same request succeeds.
    let holder = server
        .post(APPS, json!({"name": "h", "uid": "busy"}))
        .await
        .body;
    let wanted = json!({"name": "w", "uid": "busy"});
    let answer = post_with_key(&server, APPS, wanted.clone(), "conflicted").await;
    assert_error(&answer, 409, "conflict");
    let deleted = server
        .call(
            "DELETE",
            &format!("{APPS}/{}", holder["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(deleted.status, 200);
    let answer = post_with_key(&server, APPS, wanted.clone(), "conflicted").await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert!(!replayed(&answer));
    let replay = post_with_key(&server, APPS, wanted, "conflicted").await;
    assert!(replayed(&replay));
    assert_eq!(replay.body, answer.body);

    // A 404 is not kept: a message to a missing application, then to a created one by uid.
    let msg = json!({"eventType": "e", "payload": {}});
    let path = format!("{APPS}/later/messages");
    let answer = post_with_key(&server, &path, msg.clone(), "not-yet").await;
    assert_error(&answer, 404, "not_found");
    server
        .post(APPS, json!({"name": "later", "uid": "later"}))
        .await;
    let answer = post_with_key(&server, &path, msg, "not-yet").await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    assert!(!replayed(&answer));
    server.shutdown().await;
}

#[actix_rt::test]
async fn keys_are_scoped_to_the_organisation() {
    let server = TestServer::start().await;
    let other = server.other_token().await;
    let body = json!({"name": "same", "uid": "same"});
    let mine = post_with_key(&server, APPS, body.clone(), "shared-key").await;
    assert_eq!(mine.status, 201);
    let theirs = server
        .call_as(
            &other,
            "POST",
            APPS,
            Some(body.clone()),
            &[("idempotency-key", "shared-key")],
        )
        .await;
    assert_eq!(theirs.status, 201, "{:?}", theirs.body);
    assert!(
        !replayed(&theirs),
        "another organisation must not see my answer"
    );
    assert_ne!(theirs.body["id"], mine.body["id"]);
    // A different body in the other organisation is not a mismatch with mine either.
    let theirs2 = server
        .call_as(
            &other,
            "POST",
            APPS,
            Some(json!({"name": "different"})),
            &[("idempotency-key", "mine-only")],
        )
        .await;
    assert_eq!(theirs2.status, 201);
    let mine2 = post_with_key(&server, APPS, json!({"name": "x"}), "mine-only").await;
    assert_eq!(mine2.status, 201);
    assert!(!replayed(&mine2));
    let their_list = server.call_as(&other, "GET", APPS, None, &[]).await;
    assert_eq!(their_list.body.as_array().unwrap().len(), 2);
    assert_eq!(app_count(&server).await, 2);
    server.shutdown().await;
}

#[actix_rt::test]
async fn invalid_keys_are_422() {
    let server = TestServer::start().await;
    for key in [String::new(), "k".repeat(257)] {
        let answer = post_with_key(&server, APPS, json!({"name": "a"}), &key).await;
        assert_error(&answer, 422, "validation_error");
    }
    let longest = post_with_key(&server, APPS, json!({"name": "a"}), &"k".repeat(256)).await;
    assert_eq!(longest.status, 201);
    assert_eq!(app_count(&server).await, 1);
    server.shutdown().await;
}

#[actix_rt::test]
async fn put_and_get_ignore_the_key() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let path = format!("{APPS}/{app}");
    for name in ["one", "two"] {
        let answer = server
            .call_as(
                &server.token,
                "PUT",
                &path,
                Some(json!({"name": name})),
                &[("idempotency-key", "put")],
            )
            .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["name"], name, "PUT is never replayed");
        assert!(!replayed(&answer));
    }
    server.shutdown().await;
}

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[actix_rt::test]
async fn a_request_still_running_elsewhere_is_waited_for_then_409() {
    // Long enough that the finisher below surely writes while the request still waits.
    let wait = Duration::from_secs(1);
    let server = TestServer::start_with(|c| c.idempotency.wait = wait).await;
    // Simulate another node holding the key mid-request (a pending claim).
    let body = br#"{"name":"slow"}"#;
    let fingerprint = hex_sha256(&[b"POST", APPS.as_bytes(), body]);
    let record = server
        .store
        .db
        .keys
        .idempotency(&server.org, &hex_sha256(&[b"held"]));
    let mut conn = redis_conn(&server).await;
    let _: () = conn
        .hset_multiple(
            &record,
            &[
                ("state", "pending"),
                ("fp", fingerprint.as_str()),
                ("owner", "elsewhere"),
            ],
        )
        .await
        .unwrap();
    let _: () = conn.pexpire(&record, 60_000).await.unwrap();

    let started = std::time::Instant::now();
    let answer = server
        .call_as(
            &server.token,
            "POST",
            APPS,
            Some(serde_json::from_slice(body).unwrap()),
            &[("idempotency-key", "held")],
        )
        .await;
    assert_error(&answer, 409, "idempotency_key_in_progress");
    assert!(started.elapsed() >= wait);
    // A different request with the held key is a mismatch at once.
    let answer = post_with_key(&server, APPS, json!({"name": "other"}), "held").await;
    assert_error(&answer, 422, "idempotency_key_reused");
    assert_eq!(app_count(&server).await, 0);

    // When the other request finishes, waiting requests get its answer.
    let stored = br#"{"name":"slow","uid":null,"id":"ada4692e-96a4-45c9-8a58-2d389f95454a","created":1,"updated":1}"#;
    // The other request finishes once this one has found the key pending (its claim script
    // ran on the record), so this one is surely waiting.
    let log = CommandLog::start(&record).await;
    let finisher = {
        let store = server.store.clone();
        let record = record.clone();
        let log = &log;
        async move {
            let claim = format!("\"{record}\"");
            eventually(Duration::from_secs(5), "the request's claim", || async {
                log.ran_script(&claim)
            })
            .await;
            let mut conn = store.conn().await.unwrap();
            let _: () = conn
                .hset_multiple(
                    &record,
                    &[
                        ("state", &b"done"[..]),
                        ("status", &b"201"[..]),
                        ("body", &stored[..]),
                    ],
                )
                .await
                .unwrap();
        }
    };
    let request = server.call_as(
        &server.token,
        "POST",
        APPS,
        Some(serde_json::from_slice(body).unwrap()),
        &[("idempotency-key", "held")],
    );
    let (answer, ()) = tokio::join!(request, finisher);
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert!(replayed(&answer));
    assert_eq!(
        answer.body,
        serde_json::from_slice::<Value>(stored).unwrap()
    );
    assert_eq!(app_count(&server).await, 0);
    server.shutdown().await;
}

#[actix_rt::test]
async fn concurrent_requests_whose_operation_fails_all_fail_and_keep_nothing() {
    let server = TestServer::start().await;
    server
        .post(APPS, json!({"name": "h", "uid": "taken"}))
        .await;
    let body = json!({"name": "w", "uid": "taken"});
    let answers =
        join_all((0..5).map(|_| post_with_key(&server, APPS, body.clone(), "doomed"))).await;
    for answer in &answers {
        assert_error(answer, 409, "conflict");
        assert!(!replayed(answer));
    }
    let mut conn = redis_conn(&server).await;
    let exists: bool = conn
        .exists(
            server
                .store
                .db
                .keys
                .idempotency(&server.org, &hex_sha256(&[b"doomed"])),
        )
        .await
        .unwrap();
    assert!(!exists);
    assert_eq!(app_count(&server).await, 1);
    server.shutdown().await;
}

#[actix_rt::test]
async fn a_stored_answer_expires_after_the_configured_time() {
    let server = TestServer::start_with(|c| c.idempotency.ttl = Duration::from_millis(300)).await;
    let first = post_with_key(&server, APPS, json!({"name": "a"}), "short-lived").await;
    assert_eq!(first.status, 201);
    let record = server
        .store
        .db
        .keys
        .idempotency(&server.org, &hex_sha256(&[b"short-lived"]));
    let mut conn = redis_conn(&server).await;
    let ttl: i64 = conn.pttl(&record).await.unwrap();
    assert!(ttl > 0 && ttl <= 300, "pttl {ttl}");
    eventually(Duration::from_secs(5), "record expired", || {
        let store = server.store.clone();
        let record = record.clone();
        async move {
            let mut conn = store.conn().await.unwrap();
            !conn.exists::<_, bool>(&record).await.unwrap()
        }
    })
    .await;
    let again = post_with_key(&server, APPS, json!({"name": "a"}), "short-lived").await;
    assert_eq!(again.status, 201);
    assert!(!replayed(&again));
    assert_ne!(again.body["id"], first.body["id"]);
    assert_eq!(app_count(&server).await, 2);
    server.shutdown().await;
}
