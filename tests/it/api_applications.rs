//! `/api/v1/applications`: every route by id and by uid, response shape, ordering and paging,
//! validation, uid uniqueness (also under concurrency), PUT semantics and cascading delete.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::support::api::{
    assert_error, creation_order, fields, ids, keys_mentioning, names, next_iterator, redis_conn,
    walk_pages, without_health,
};
use crate::support::queue::retry_tasks;
use crate::support::receiver::{Gate, Receiver};
use crate::support::server::TestServer;
use crate::support::wait::{
    eventually, poll_until, wait_answered_and_quiet, wait_clock_past, wait_quiet, WAIT,
};

const APPS: &str = "/api/v1/applications";

fn app_fields() -> Vec<String> {
    names(&["name", "uid", "id", "created", "updated"])
}

async fn create(server: &TestServer, body: Value) -> Value {
    let answer = server.post(APPS, body).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body
}

#[actix_rt::test]
async fn create_answers_201_with_exactly_the_documented_fields() {
    let server = TestServer::start().await;
    let before = octohooks::clock::now_ms();
    let answer = server
        .post(APPS, json!({"name": "My App", "uid": "my-app"}))
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let app = &answer.body;
    assert_eq!(fields(app), app_fields(), "{app}");
    assert_eq!(app["name"], "My App");
    assert_eq!(app["uid"], "my-app");
    let id = app["id"].as_str().expect("id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "id is a UUID: {id}");
    let created = app["created"].as_i64().expect("created is a number");
    assert!(created >= before && created <= octohooks::clock::now_ms());
    assert_eq!(app["updated"], app["created"]);
    let content_type = answer.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("application/json"));

    // Stored: the hash in the organisation scope and the uid index.
    let mut conn = redis_conn(&server).await;
    let key = server
        .store
        .db
        .keys
        .app(&server.org, uuid::Uuid::parse_str(id).unwrap());
    let name: Option<String> = conn.hget(&key, "name").await.unwrap();
    assert_eq!(name.as_deref(), Some("My App"));
    let indexed: Option<String> = conn
        .hget(server.store.db.keys.app_uids(&server.org), "my-app")
        .await
        .unwrap();
    assert_eq!(indexed.as_deref(), Some(id));
    server.shutdown().await;
}

#[actix_rt::test]
async fn create_without_uid_has_a_null_uid() {
    let server = TestServer::start().await;
    let app = create(&server, json!({"name": "no uid"})).await;
    assert_eq!(fields(&app), app_fields());
    assert_eq!(app["uid"], Value::Null);
    let got = server
        .get(&format!("{APPS}/{}", app["id"].as_str().unwrap()))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, app);
    server.shutdown().await;
}

#[actix_rt::test]
async fn get_by_id_and_by_uid_answer_the_same_application() {
    let server = TestServer::start().await;
    let app = create(&server, json!({"name": "a", "uid": "app-a"})).await;
    let id = app["id"].as_str().unwrap();
    let by_id = server.get(&format!("{APPS}/{id}")).await;
    assert_eq!(by_id.status, 200, "{:?}", by_id.body);
    assert_eq!(by_id.body, app);
    let by_uid = server.get(&format!("{APPS}/app-a")).await;
    assert_eq!(by_uid.status, 200, "{:?}", by_uid.body);
    assert_eq!(by_uid.body, app);
    server.shutdown().await;
}

#[actix_rt::test]
async fn get_unknown_id_or_uid_is_404() {
    let server = TestServer::start().await;
    for path in [
        format!("{APPS}/{}", uuid::Uuid::new_v4()),
        format!("{APPS}/no-such-app"),
    ] {
        assert_error(&server.get(&path).await, 404, "not_found");
        assert_error(
            &server.call("PUT", &path, Some(json!({"name": "x"}))).await,
            404,
            "not_found",
        );
        assert_error(&server.call("DELETE", &path, None).await, 404, "not_found");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn list_of_a_new_organisation_is_an_empty_array() {
    let server = TestServer::start().await;
    let answer = server.get(APPS).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body, json!([]));
    assert!(next_iterator(&answer).is_none());
    server.shutdown().await;
}

#[actix_rt::test]
async fn list_is_in_creation_order_with_full_records() {
    let server = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..12 {
        created.push(
            create(
                &server,
                json!({"name": format!("app {i}"), "uid": format!("app-{i}")}),
            )
            .await,
        );
    }
    let answer = server.get(APPS).await;
    assert_eq!(answer.status, 200);
    // Full records, in creation order (same-millisecond ties by id, as documented).
    assert_eq!(ids(&answer.body), creation_order(&created));
    for record in answer.body.as_array().unwrap() {
        let original = created.iter().find(|c| c["id"] == record["id"]).unwrap();
        assert_eq!(record, original);
    }
    assert!(next_iterator(&answer).is_none(), "one page only");
    server.shutdown().await;
}

#[actix_rt::test]
async fn paging_with_limit_and_iterator_walks_every_application_once() {
    let server = TestServer::start().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(create(&server, json!({"name": format!("app {i}")})).await);
    }
    let expected = creation_order(&created);
    let pages = walk_pages(&server, APPS, 2).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 2, 1],
        "{pages:?}"
    );
    assert_eq!(pages.concat(), expected);

    // An exact multiple: the last full page carries no iterator.
    let pages = walk_pages(&server, APPS, 5).await;
    assert_eq!(pages, std::slice::from_ref(&expected));
    let answer = server.get(&format!("{APPS}?limit=4")).await;
    let next = next_iterator(&answer).expect("more follow");
    let rest = server.get(&format!("{APPS}?limit=4&iterator={next}")).await;
    assert_eq!(ids(&rest.body), expected[4..]);
    assert!(next_iterator(&rest).is_none());

    // A cursor at the very end (the last member) gives an empty last page.
    let last = created
        .iter()
        .find(|a| a["id"] == expected[4].as_str())
        .unwrap();
    let cursor = format!("{:013}:{}", last["created"].as_i64().unwrap(), expected[4]);
    let end = server.get(&format!("{APPS}?iterator={cursor}")).await;
    assert_eq!(end.status, 200, "{:?}", end.body);
    assert_eq!(end.body, json!([]));
    assert!(next_iterator(&end).is_none());
    // limit=1 pages one by one; the default page holds everything.
    let pages = walk_pages(&server, APPS, 1).await;
    assert_eq!(pages.len(), 5);
    assert_eq!(pages.concat(), expected);
    assert_eq!(ids(&server.get(APPS).await.body), expected);
    server.shutdown().await;
}

#[actix_rt::test]
async fn invalid_limit_or_iterator_is_422() {
    let server = TestServer::start().await;
    server.create_app("a").await;
    for query in [
        "limit=0",
        "limit=251",
        "limit=100000",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "iterator=garbage",
        "iterator=123:not-a-uuid",
    ] {
        let answer = server.get(&format!("{APPS}?{query}")).await;
        assert_error(&answer, 422, "validation_error");
    }
    // The bounds themselves are fine.
    for query in ["limit=1", "limit=250"] {
        let answer = server.get(&format!("{APPS}?{query}")).await;
        assert_eq!(answer.status, 200, "{query}: {:?}", answer.body);
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn malformed_json_is_400_invalid_json() {
    let server = TestServer::start().await;
    for body in [
        &b"{"[..],
        b"{\"name\": }",
        b"not json",
        b"",
        b"{\"name\": \"a\"} trailing",
    ] {
        let answer = server.call_raw("POST", APPS, body.to_vec()).await;
        assert_error(&answer, 400, "invalid_json");
    }
    let app = server.create_app("x").await;
    let answer = server
        .call_raw("PUT", &format!("{APPS}/{app}"), b"{\"name\"".to_vec())
        .await;
    assert_error(&answer, 400, "invalid_json");
    assert_eq!(server.get(APPS).await.body.as_array().unwrap().len(), 1);
    server.shutdown().await;
}

#[actix_rt::test]
async fn wrong_shapes_are_422_validation_error() {
    let server = TestServer::start().await;
    for body in [
        json!({}),
        json!({"uid": "only-uid"}),
        json!({"name": 5}),
        json!({"name": null}),
        json!({"name": ["a"]}),
        json!({"name": "a", "uid": 7}),
        json!([]),
        json!("name"),
        json!(null),
    ] {
        let answer = server.post(APPS, body.clone()).await;
        assert_error(&answer, 422, "validation_error");
    }
    assert_eq!(server.get(APPS).await.body, json!([]));
    server.shutdown().await;
}

#[actix_rt::test]
async fn uid_rules_are_enforced() {
    let server = TestServer::start().await;
    let bad = [
        String::new(),
        "has space".into(),
        "slash/y".into(),
        "qu?ery".into(),
        "ünïcode".into(),
        "a".repeat(257),
        "ada4692e-96a4-45c9-8a58-2d389f95454a".into(),
        "ADA4692E-96A4-45C9-8A58-2D389F95454A".into(),
        "ada4692e96a445c98a582d389f95454a".into(),
    ];
    for uid in &bad {
        let answer = server.post(APPS, json!({"name": "x", "uid": uid})).await;
        assert_error(&answer, 422, "validation_error");
    }
    for uid in ["a", "A.b_c-9", &"z".repeat(256)] {
        let app = create(&server, json!({"name": "x", "uid": uid})).await;
        assert_eq!(app["uid"], uid);
        let got = server.get(&format!("{APPS}/{uid}")).await;
        assert_eq!(got.status, 200, "{uid}");
        assert_eq!(got.body["id"], app["id"]);
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn name_rules_are_enforced() {
    let server = TestServer::start().await;
    for name in [
        String::new(),
        "   ".into(),
        "n".repeat(257),
        "é".repeat(257),
    ] {
        let answer = server.post(APPS, json!({"name": name})).await;
        assert_error(&answer, 422, "validation_error");
    }
    // 256 characters is the limit, counted in characters (not bytes).
    for name in ["n".repeat(256), "é".repeat(256), "Ünïcødé app ✓".into()] {
        let app = create(&server, json!({"name": name})).await;
        assert_eq!(app["name"], name.as_str());
    }
    let app = server.create_app("ok").await;
    let answer = server
        .call("PUT", &format!("{APPS}/{app}"), Some(json!({"name": ""})))
        .await;
    assert_error(&answer, 422, "validation_error");
    server.shutdown().await;
}

#[actix_rt::test]
async fn duplicate_uid_is_409_within_an_organisation_only() {
    let server = TestServer::start().await;
    let first = create(&server, json!({"name": "a", "uid": "shared"})).await;
    let answer = server
        .post(APPS, json!({"name": "b", "uid": "shared"}))
        .await;
    assert_error(&answer, 409, "conflict");
    // Still exactly one application, and the uid still points at the first.
    assert_eq!(
        ids(&server.get(APPS).await.body),
        [first["id"].as_str().unwrap()]
    );
    assert_eq!(server.get(&format!("{APPS}/shared")).await.body, first);

    // Another organisation has its own uid namespace.
    let other = server.other_token().await;
    let answer = server
        .call_as(
            &other,
            "POST",
            APPS,
            Some(json!({"name": "c", "uid": "shared"})),
            &[],
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_ne!(answer.body["id"], first["id"]);
    let theirs = server
        .call_as(&other, "GET", &format!("{APPS}/shared"), None, &[])
        .await;
    assert_eq!(theirs.body["id"], answer.body["id"]);
    assert_eq!(server.get(&format!("{APPS}/shared")).await.body, first);
    server.shutdown().await;
}

#[actix_rt::test]
async fn concurrent_creates_with_one_uid_have_exactly_one_winner() {
    let server = TestServer::start().await;
    let answers = join_all((0..10).map(|i| {
        server.post(
            APPS,
            json!({"name": format!("racer {i}"), "uid": "contested"}),
        )
    }))
    .await;
    let won: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != 201) {
        assert_error(answer, 409, "conflict");
    }
    let winner = won[0].body["id"].as_str().unwrap().to_string();
    assert_eq!(ids(&server.get(APPS).await.body), [winner.as_str()]);
    assert_eq!(
        server.get(&format!("{APPS}/contested")).await.body["id"],
        winner.as_str()
    );
    // The losers left nothing behind: one application hash and one partition marker.
    let app_keys: Vec<String> = server
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":app:") && !k.ends_with(":eps") && !k.contains("uids"))
        .collect();
    assert_eq!(app_keys.len(), 2, "{app_keys:?}");
    assert!(
        app_keys.iter().all(|k| k.ends_with(&winner)),
        "{app_keys:?}"
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn put_without_uid_keeps_the_uid_and_replaces_the_name() {
    let server = TestServer::start().await;
    let app = create(&server, json!({"name": "before", "uid": "keep-me"})).await;
    let id = app["id"].as_str().unwrap();
    wait_clock_past(app["updated"].as_i64().unwrap()).await;
    let answer = server
        .call(
            "PUT",
            &format!("{APPS}/{id}"),
            Some(json!({"name": "after"})),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let updated = &answer.body;
    assert_eq!(fields(updated), app_fields());
    assert_eq!(updated["name"], "after");
    assert_eq!(updated["uid"], "keep-me");
    assert_eq!(updated["id"], app["id"]);
    assert_eq!(updated["created"], app["created"]);
    assert!(
        updated["updated"].as_i64().unwrap() > app["updated"].as_i64().unwrap(),
        "updated must move: {app} -> {updated}"
    );
    // GET agrees, by id and uid, and the list shows the new record in place.
    assert_eq!(server.get(&format!("{APPS}/{id}")).await.body, *updated);
    assert_eq!(server.get(&format!("{APPS}/keep-me")).await.body, *updated);
    assert_eq!(server.get(APPS).await.body, json!([updated]));
    server.shutdown().await;
}

#[actix_rt::test]
async fn put_by_uid_can_change_the_uid_and_frees_the_old_one() {
    let server = TestServer::start().await;
    let app = create(&server, json!({"name": "a", "uid": "old-uid"})).await;
    let answer = server
        .call(
            "PUT",
            &format!("{APPS}/old-uid"),
            Some(json!({"name": "a", "uid": "new-uid"})),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["uid"], "new-uid");
    assert_eq!(answer.body["id"], app["id"]);
    assert_error(
        &server.get(&format!("{APPS}/old-uid")).await,
        404,
        "not_found",
    );
    assert_eq!(
        server.get(&format!("{APPS}/new-uid")).await.body["id"],
        app["id"]
    );

    let mut conn = redis_conn(&server).await;
    let index: std::collections::HashMap<String, String> = conn
        .hgetall(server.store.db.keys.app_uids(&server.org))
        .await
        .unwrap();
    assert_eq!(index.len(), 1, "{index:?}");
    assert_eq!(index["new-uid"], app["id"].as_str().unwrap());

    // The old uid is free for a new application.
    let second = create(&server, json!({"name": "b", "uid": "old-uid"})).await;
    assert_ne!(second["id"], app["id"]);
    // PUT with its own current uid is not a conflict.
    let same = server
        .call(
            "PUT",
            &format!("{APPS}/new-uid"),
            Some(json!({"name": "a2", "uid": "new-uid"})),
        )
        .await;
    assert_eq!(same.status, 200, "{:?}", same.body);
    assert_eq!(same.body["uid"], "new-uid");
    server.shutdown().await;
}

#[actix_rt::test]
async fn put_to_a_uid_taken_by_another_application_is_409() {
    let server = TestServer::start().await;
    let a = create(&server, json!({"name": "a", "uid": "uid-a"})).await;
    let b = create(&server, json!({"name": "b", "uid": "uid-b"})).await;
    let answer = server
        .call(
            "PUT",
            &format!("{APPS}/uid-b"),
            Some(json!({"name": "renamed", "uid": "uid-a"})),
        )
        .await;
    assert_error(&answer, 409, "conflict");
    // Nothing changed on either side.
    assert_eq!(server.get(&format!("{APPS}/uid-a")).await.body, a);
    assert_eq!(server.get(&format!("{APPS}/uid-b")).await.body, b);
    // Validation of the new uid happens before anything else.
    let answer = server
        .call(
            "PUT",
            &format!("{APPS}/uid-b"),
            Some(json!({"name": "b", "uid": uuid::Uuid::new_v4().to_string()})),
        )
        .await;
    assert_error(&answer, 422, "validation_error");
    server.shutdown().await;
}

#[actix_rt::test]
async fn delete_answers_the_application_and_frees_its_uid() {
    let server = TestServer::start().await;
    let app = create(&server, json!({"name": "doomed", "uid": "doomed"})).await;
    let keep = create(&server, json!({"name": "kept"})).await;
    let answer = server.call("DELETE", &format!("{APPS}/doomed"), None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body, app);
    for path in [
        format!("{APPS}/doomed"),
        format!("{APPS}/{}", app["id"].as_str().unwrap()),
    ] {
        assert_error(&server.get(&path).await, 404, "not_found");
        assert_error(&server.call("DELETE", &path, None).await, 404, "not_found");
    }
    assert_eq!(server.get(APPS).await.body, json!([keep]));
    let again = create(&server, json!({"name": "reborn", "uid": "doomed"})).await;
    assert_ne!(again["id"], app["id"]);
    server.shutdown().await;
}

#[actix_rt::test]
async fn delete_removes_endpoints_messages_and_every_key_of_the_application() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("cascade").await;
    let other = server.create_app("bystander").await;
    let mut endpoint_ids = Vec::new();
    for i in 0..3 {
        let endpoint = server
            .create_endpoint(
                &app,
                &format!("{}/hook{i}", receiver.url),
                json!({"uid": format!("ep-{i}")}),
            )
            .await;
        endpoint_ids.push(endpoint["id"].as_str().unwrap().to_string());
    }
    let kept_endpoint = server
        .create_endpoint(&other, &format!("{}/other", receiver.url), json!({}))
        .await;
    let mut message_ids = Vec::new();
    for i in 0..3 {
        message_ids.push(
            server
                .send_message(
                    &app,
                    json!({"eventType": "e", "uid": format!("msg-{i}"), "payload": {"i": i}}),
                )
                .await,
        );
    }
    let kept_message = server.send_event(&other, "e").await;
    // Let the deliveries finish, so attempts and endpoint health exist too.
    eventually(Duration::from_secs(10), "deliveries", || async {
        receiver.hits().len() == 10
    })
    .await;
    eventually(Duration::from_secs(10), "attempts recorded", || async {
        for message in &message_ids {
            if server.attempts(&app, message).await.len() < 3 {
                return false;
            }
        }
        true
    })
    .await;
    let mut needles: Vec<&str> = vec![app.as_str()];
    needles.extend(endpoint_ids.iter().map(String::as_str));
    needles.extend(message_ids.iter().map(String::as_str));
    assert!(!keys_mentioning(&server, &needles).await.is_empty());

    let answer = server.call("DELETE", &format!("{APPS}/{app}"), None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    // Gone at once for the API; its data is purged in the background.
    let gone = server.get(&format!("{APPS}/{app}")).await;
    assert_eq!(gone.status, 404, "{:?}", gone.body);
    eventually(
        Duration::from_secs(10),
        "the purge of the application",
        || async { keys_mentioning(&server, &needles).await.is_empty() },
    )
    .await;
    // Message uids are stored per key: none may survive.
    let uid_keys: Vec<String> = server
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains("msg_uid"))
        .collect();
    assert!(uid_keys.is_empty(), "{uid_keys:?}");

    for path in [
        format!("{APPS}/{app}/endpoints"),
        format!("{APPS}/{app}/endpoints/{}", endpoint_ids[0]),
        format!("{APPS}/{app}/messages"),
        format!("{APPS}/{app}/messages/{}", message_ids[0]),
    ] {
        assert_error(&server.get(&path).await, 404, "not_found");
    }
    // The other application is untouched.
    let endpoints = server.get(&format!("{APPS}/{other}/endpoints")).await;
    assert_eq!(
        without_health(&endpoints.body),
        without_health(&json!([kept_endpoint]))
    );
    let message = server
        .get(&format!("{APPS}/{other}/messages/{kept_message}"))
        .await;
    assert_eq!(message.status, 200);
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn delete_during_an_in_flight_delivery_leaves_no_key_behind() {
    let server = TestServer::start().await;
    let gate = Arc::new(Gate::default());
    let receiver = Receiver::held(200, &gate);
    let (app, endpoint) = server
        .app_with_endpoint("in flight", &format!("{}/slow", receiver.url))
        .await;
    let endpoint = endpoint["id"].as_str().unwrap().to_string();
    let message = server.send_event(&app, "e").await;
    eventually(WAIT, "delivery started", || async {
        receiver.hits().len() == 1
    })
    .await;
    let answer = server.call("DELETE", &format!("{APPS}/{app}"), None).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    // The receiver answers after the delete; the worker has recorded what it does with the
    // late answer once it is quiet.
    gate.open();
    wait_answered_and_quiet(&server, &receiver, 1).await;
    let left = keys_mentioning(&server, &[&app, &endpoint, &message]).await;
    assert!(
        left.is_empty(),
        "keys of the deleted application remain: {left:?}"
    );
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn concurrent_puts_to_one_uid_have_exactly_one_winner() {
    let server = TestServer::start().await;
    let mut apps = Vec::new();
    for i in 0..8 {
        apps.push(server.create_app(&format!("app {i}")).await);
    }
    let paths: Vec<String> = apps.iter().map(|app| format!("{APPS}/{app}")).collect();
    let answers = join_all(paths.iter().map(|path| {
        server.call(
            "PUT",
            path,
            Some(json!({"name": "renamed", "uid": "prize"})),
        )
    }))
    .await;
    let won: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != 200) {
        assert_error(answer, 409, "conflict");
    }
    let holder = server.get(&format!("{APPS}/prize")).await;
    assert_eq!(holder.body, won[0].body);
    let list = server.get(APPS).await.body;
    let with_uid: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| !a["uid"].is_null())
        .collect();
    assert_eq!(with_uid.len(), 1, "{list}");
    server.shutdown().await;
}

#[actix_rt::test]
async fn delete_stops_the_retries_of_its_messages() {
    let server = TestServer::start().await;
    let receiver = Receiver::answering(500, Duration::from_millis(100));
    let (app, _) = server
        .app_with_endpoint("failing", &format!("{}/fail", receiver.url))
        .await;
    for i in 0..3 {
        server
            .send_message(&app, json!({"eventType": "e", "payload": {"i": i}}))
            .await;
    }
    eventually(WAIT, "first attempts", || async {
        receiver.hits().len() == 3
    })
    .await;
    // The failures are recorded (and their retries scheduled) after the delete.
    let answer = server.call("DELETE", &format!("{APPS}/{app}"), None).await;
    assert_eq!(answer.status, 200);
    wait_answered_and_quiet(&server, &receiver, 3).await;
    // Those retries come due, go back to the stream and are dropped: once none is left in
    // the retry set and the node is quiet again, every one of them was handled.
    let app_id = uuid::Uuid::parse_str(&app).unwrap();
    poll_until(
        WAIT,
        "no retry of the deleted application left",
        || async {
            retry_tasks(&server.store)
                .await
                .into_iter()
                .filter(|(task, _)| task.app == app_id)
                .collect::<Vec<_>>()
        },
        Vec::is_empty,
    )
    .await;
    wait_quiet(&server).await;
    assert_eq!(
        receiver.hits().len(),
        3,
        "a deleted application's message was retried"
    );
    assert!(keys_mentioning(&server, &[&app]).await.is_empty());
    server.shutdown().await;
    receiver.stop().await;
}
