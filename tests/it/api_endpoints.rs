//! `/api/v1/applications/{app}/endpoints`: every route by id and uid (application by id and
//! uid too), response shape, secrets, ordering and paging, validation, uid uniqueness per
//! application, PUT semantics, delete, and isolation between applications.

use std::sync::Arc;

use base64::Engine;
use futures_util::future::join_all;
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::support::api::{
    assert_error, creation_order, fields, ids, keys_mentioning, names, neighbour_apps,
    next_iterator, redis_conn, walk_pages,
};
use crate::support::receiver::{Gate, Receiver};
use crate::support::server::TestServer;
use crate::support::wait::{eventually, wait_answered_and_quiet, wait_clock_past, WAIT};
use crate::support::webhooks::{secret_key, secret_with_key};

const URL: &str = "https://example.com/webhook";

fn endpoint_fields() -> Vec<String> {
    names(&[
        "channels",
        "enabled",
        "eventTypes",
        "name",
        "secrets",
        "uid",
        "url",
        "rateLimit",
        "id",
        "created",
        "updated",
        "headers",
        "filter",
        "ordering",
        "paused",
        "health",
    ])
}

fn eps(app: &str) -> String {
    format!("/api/v1/applications/{app}/endpoints")
}

/// A secret of `bytes` key bytes, each `fill`.
fn secret(bytes: usize, fill: u8) -> String {
    secret_with_key(&vec![fill; bytes])
}

async fn create(server: &TestServer, app: &str, body: Value) -> Value {
    let answer = server.post(&eps(app), body).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body
}

#[actix_rt::test]
async fn create_answers_201_with_the_documented_fields_and_a_generated_secret() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let before = octohooks::clock::now_ms();
    let answer = server
        .post(
            &eps(&app),
            json!({
                "eventTypes": ["user.created"],
                "name": "My Endpoint",
                "uid": "my-endpoint",
                "url": "https://webhook.site/130cbb57-09c5-492f-bbc3-2d532bddca9d"
            }),
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let endpoint = &answer.body;
    assert_eq!(fields(endpoint), endpoint_fields(), "{endpoint}");
    assert_eq!(endpoint["channels"], json!([]));
    assert_eq!(endpoint["enabled"], true);
    assert_eq!(endpoint["eventTypes"], json!(["user.created"]));
    assert_eq!(endpoint["name"], "My Endpoint");
    assert_eq!(endpoint["uid"], "my-endpoint");
    assert_eq!(
        endpoint["url"],
        "https://webhook.site/130cbb57-09c5-492f-bbc3-2d532bddca9d"
    );
    assert_eq!(endpoint["rateLimit"], Value::Null);
    assert!(uuid::Uuid::parse_str(endpoint["id"].as_str().unwrap()).is_ok());
    let created = endpoint["created"].as_i64().unwrap();
    assert!(created >= before && created <= octohooks::clock::now_ms());
    assert_eq!(endpoint["updated"], endpoint["created"]);

    let secrets = endpoint["secrets"].as_array().expect("secrets array");
    assert_eq!(secrets.len(), 1, "{endpoint}");
    let generated = secrets[0].as_str().unwrap();
    assert_eq!(secret_key(generated).len(), 24, "{generated}");

    // Stored in the application's partition, with the uid index.
    let app_id = uuid::Uuid::parse_str(&app).unwrap();
    let id = uuid::Uuid::parse_str(endpoint["id"].as_str().unwrap()).unwrap();
    let mut conn = redis_conn(&server).await;
    let url: Option<String> = conn
        .hget(server.store.db.keys.endpoint(app_id, id), "url")
        .await
        .unwrap();
    assert_eq!(url.as_deref(), endpoint["url"].as_str());
    let indexed: Option<String> = conn
        .hget(server.store.db.keys.endpoint_uids(app_id), "my-endpoint")
        .await
        .unwrap();
    assert_eq!(indexed, Some(id.to_string()));
    server.shutdown().await;
}

#[actix_rt::test]
async fn every_endpoint_gets_its_own_secret_and_empty_secrets_means_generate() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let a = create(&server, &app, json!({"name": "a", "url": URL})).await;
    let b = create(
        &server,
        &app,
        json!({"name": "b", "url": URL, "secrets": []}),
    )
    .await;
    let c = create(
        &server,
        &app,
        json!({"name": "c", "url": URL, "secrets": null}),
    )
    .await;
    for endpoint in [&a, &b, &c] {
        let secrets = endpoint["secrets"].as_array().unwrap();
        assert_eq!(secrets.len(), 1, "{endpoint}");
        assert_eq!(secret_key(secrets[0].as_str().unwrap()).len(), 24);
    }
    assert_ne!(a["secrets"], b["secrets"]);
    assert_ne!(b["secrets"], c["secrets"]);
    server.shutdown().await;
}

#[actix_rt::test]
async fn given_attributes_are_kept_as_sent() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let secrets = [secret(24, 1), secret(64, 2)];
    let endpoint = create(
        &server,
        &app,
        json!({
            "name": "full",
            "url": "http://127.0.0.1:9/x?y=1",
            "uid": "full.ep_1",
            "channels": ["eu", "project-1"],
            "eventTypes": ["a.b", "c_d"],
            "enabled": false,
            "secrets": secrets,
            "rateLimit": 7
        }),
    )
    .await;
    assert_eq!(endpoint["url"], "http://127.0.0.1:9/x?y=1");
    assert_eq!(endpoint["uid"], "full.ep_1");
    assert_eq!(endpoint["channels"], json!(["eu", "project-1"]));
    assert_eq!(endpoint["eventTypes"], json!(["a.b", "c_d"]));
    assert_eq!(endpoint["enabled"], false);
    assert_eq!(endpoint["secrets"], json!(secrets));
    assert_eq!(endpoint["rateLimit"], 7);
    let got = server
        .get(&format!(
            "{}/{}",
            eps(&app),
            endpoint["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.body, endpoint);
    server.shutdown().await;
}

#[actix_rt::test]
async fn get_by_id_and_uid_through_application_id_and_uid() {
    let server = TestServer::start().await;
    let app = server
        .post(
            "/api/v1/applications",
            json!({"name": "a", "uid": "the-app"}),
        )
        .await
        .body;
    let app_id = app["id"].as_str().unwrap();
    let endpoint = create(
        &server,
        app_id,
        json!({"name": "e", "url": URL, "uid": "the-ep"}),
    )
    .await;
    let ep_id = endpoint["id"].as_str().unwrap();
    for app_ref in [app_id, "the-app"] {
        for ep_ref in [ep_id, "the-ep"] {
            let answer = server.get(&format!("{}/{ep_ref}", eps(app_ref))).await;
            assert_eq!(answer.status, 200, "{app_ref}/{ep_ref}: {:?}", answer.body);
            assert_eq!(answer.body, endpoint);
        }
        let list = server.get(&eps(app_ref)).await;
        assert_eq!(list.body, json!([endpoint]));
    }
    for missing in [uuid::Uuid::new_v4().to_string(), "no-such-ep".to_string()] {
        let path = format!("{}/{missing}", eps(app_id));
        assert_error(&server.get(&path).await, 404, "not_found");
        let put = server
            .call("PUT", &path, Some(json!({"name": "e", "url": URL})))
            .await;
        assert_error(&put, 404, "not_found");
        assert_error(&server.call("DELETE", &path, None).await, 404, "not_found");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn unknown_application_is_404_on_every_endpoint_route() {
    let server = TestServer::start().await;
    let body = json!({"name": "e", "url": URL});
    for app in [uuid::Uuid::new_v4().to_string(), "nope".to_string()] {
        assert_error(&server.get(&eps(&app)).await, 404, "not_found");
        assert_error(
            &server.post(&eps(&app), body.clone()).await,
            404,
            "not_found",
        );
        let one = format!("{}/x", eps(&app));
        assert_error(&server.get(&one).await, 404, "not_found");
        assert_error(
            &server.call("PUT", &one, Some(body.clone())).await,
            404,
            "not_found",
        );
        assert_error(&server.call("DELETE", &one, None).await, 404, "not_found");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn list_is_in_creation_order_and_pages() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let empty = server.get(&eps(&app)).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.body, json!([]));
    assert!(next_iterator(&empty).is_none());
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(create(&server, &app, json!({"name": format!("e{i}"), "url": URL})).await);
    }
    let all = server.get(&eps(&app)).await;
    let expected = creation_order(&created);
    assert_eq!(ids(&all.body), expected);
    for record in all.body.as_array().unwrap() {
        assert!(created.contains(record), "{record}");
    }
    assert!(next_iterator(&all).is_none());
    let pages = walk_pages(&server, &eps(&app), 3).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages.concat(), expected);
    let pages = walk_pages(&server, &eps(&app), 7).await;
    assert_eq!(pages, [expected]);
    for query in ["limit=0", "limit=251", "limit=x", "iterator=nope"] {
        let answer = server.get(&format!("{}?{query}", eps(&app))).await;
        assert_error(&answer, 422, "validation_error");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn malformed_json_and_wrong_shapes_are_rejected() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let answer = server
        .call_raw("POST", &eps(&app), b"{\"name\":".to_vec())
        .await;
    assert_error(&answer, 400, "invalid_json");
    for body in [
        json!({"url": URL}),
        json!({"name": "e"}),
        json!({"name": "e", "url": 5}),
        json!({"name": "e", "url": URL, "enabled": "yes"}),
        json!({"name": "e", "url": URL, "channels": "eu"}),
        json!({"name": "e", "url": URL, "eventTypes": [1]}),
        json!({"name": "e", "url": URL, "secrets": "whsec_x"}),
        json!({"name": "e", "url": URL, "rateLimit": "5"}),
        json!({"name": "e", "url": URL, "rateLimit": -1}),
        json!({"name": "e", "url": URL, "rateLimit": 1.5}),
        json!({"name": "e", "url": URL, "rateLimit": 0}),
        json!({"name": "e", "url": URL, "rateLimit": 4_294_967_296u64}),
    ] {
        let answer = server.post(&eps(&app), body.clone()).await;
        assert_error(&answer, 422, "validation_error");
    }
    assert_eq!(server.get(&eps(&app)).await.body, json!([]));
    server.shutdown().await;
}

#[actix_rt::test]
async fn url_must_be_an_absolute_http_url() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    for url in [
        "".to_string(),
        "example.com/hook".into(),
        "/relative/path".into(),
        "ftp://example.com/hook".into(),
        "file:///etc/passwd".into(),
        "javascript:alert(1)".into(),
        "mailto:a@example.com".into(),
        "http://".into(),
        "https://user:pw@example.com/hook".into(),
        "not a url".into(),
        format!("https://example.com/{}", "a".repeat(2048)),
        // Accepted by lenient URL parsers, but not sendable as stored.
        " https://example.com/leading-space".into(),
        "https://example.com/trailing-space ".into(),
        "https://example.com/a b".into(),
        "https://example.com/tab\there".into(),
        "https://example.com/new\nline".into(),
        "https://example.com/caf\u{e9}".into(),
        "https://b\u{fc}cher.example/".into(),
        "https://example.com/a<b>".into(),
        "https://example.com/?q=\"quoted\"".into(),
        // Hosts lenient parsers take but the documented pattern does not.
        "http://BtlLHRx3oHpzX.Z.8o.xeITTsQDK.DglpXQevks*".into(),
        "http://example._a/".into(),
        "http://example.1/".into(),
        "http://[1::2::3]/".into(),
    ] {
        let answer = server
            .post(&eps(&app), json!({"name": "e", "url": url}))
            .await;
        assert_error(&answer, 422, "validation_error");
    }
    for url in [
        "http://example.com",
        "https://example.com:8443/a/b?c=d#e",
        "http://127.0.0.1:9000/x",
        "HTTPS://EXAMPLE.COM/UPPER",
        "https://example.com/a%20b?q=caf%C3%A9",
        "https://xn--bcher-kva.example/",
        "http://[::1]:9000/v6",
        "http://hook_receiver:8000/in",
    ] {
        let answer = server
            .post(&eps(&app), json!({"name": "e", "url": url}))
            .await;
        assert_eq!(answer.status, 201, "{url}: {:?}", answer.body);
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn uid_and_name_rules_are_enforced() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    for uid in [
        String::new(),
        "white space".into(),
        "emoji-✓".into(),
        "a".repeat(257),
        uuid::Uuid::new_v4().to_string(),
    ] {
        let answer = server
            .post(&eps(&app), json!({"name": "e", "url": URL, "uid": uid}))
            .await;
        assert_error(&answer, 422, "validation_error");
    }
    for name in [String::new(), "  ".into(), "x".repeat(257)] {
        let answer = server
            .post(&eps(&app), json!({"name": name, "url": URL}))
            .await;
        assert_error(&answer, 422, "validation_error");
    }
    let ok = create(
        &server,
        &app,
        json!({"name": "x".repeat(256), "url": URL, "uid": "u".repeat(256)}),
    )
    .await;
    assert_eq!(ok["uid"], "u".repeat(256));
    server.shutdown().await;
}

#[actix_rt::test]
async fn event_types_and_channels_are_bounded_and_unique() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let types = |n: usize| -> Vec<String> { (0..n).map(|i| format!("type.{i}")).collect() };
    let channels = |n: usize| -> Vec<String> { (0..n).map(|i| format!("ch-{i}")).collect() };
    for body in [
        json!({"eventTypes": types(51)}),
        json!({"eventTypes": ["a", "b", "a"]}),
        json!({"eventTypes": [""]}),
        json!({"eventTypes": ["has space"]}),
        json!({"eventTypes": ["x".repeat(257)]}),
        json!({"channels": channels(11)}),
        json!({"channels": ["eu", "eu"]}),
        json!({"channels": ["a/b"]}),
        json!({"channels": [""]}),
    ] {
        let mut body = body;
        body["name"] = "e".into();
        body["url"] = URL.into();
        let answer = server.post(&eps(&app), body.clone()).await;
        assert_error(&answer, 422, "validation_error");
    }
    let max = create(
        &server,
        &app,
        json!({"name": "max", "url": URL, "eventTypes": types(50), "channels": channels(10)}),
    )
    .await;
    assert_eq!(max["eventTypes"], json!(types(50)));
    assert_eq!(max["channels"], json!(channels(10)));
    // The same bounds apply on update.
    let path = format!("{}/{}", eps(&app), max["id"].as_str().unwrap());
    let answer = server
        .call(
            "PUT",
            &path,
            Some(json!({"name": "max", "url": URL, "eventTypes": types(51)})),
        )
        .await;
    assert_error(&answer, 422, "validation_error");
    server.shutdown().await;
}

#[actix_rt::test]
async fn bad_secrets_are_rejected() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let six: Vec<String> = (0..6).map(|i| secret(32, i)).collect();
    for secrets in [
        json!(["no-prefix"]),
        json!([base64::engine::general_purpose::STANDARD.encode([1u8; 24])]),
        json!(["whsec_"]),
        json!(["whsec_!!!not base64!!!"]),
        json!([secret(23, 1)]),
        json!([secret(65, 1)]),
        json!([format!(
            "whsec_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; 24])
        )]),
        json!(six),
        json!([5]),
    ] {
        let answer = server
            .post(
                &eps(&app),
                json!({"name": "e", "url": URL, "secrets": secrets}),
            )
            .await;
        assert_error(&answer, 422, "validation_error");
    }
    let five: Vec<String> = (0..5).map(|i| secret(32, i)).collect();
    let ok = create(
        &server,
        &app,
        json!({"name": "e", "url": URL, "secrets": five}),
    )
    .await;
    assert_eq!(ok["secrets"], json!(five));
    server.shutdown().await;
}

#[actix_rt::test]
async fn duplicate_uid_is_409_within_an_application_only() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let other = server.create_app("b").await;
    let first = create(
        &server,
        &app,
        json!({"name": "e", "url": URL, "uid": "dup"}),
    )
    .await;
    let answer = server
        .post(&eps(&app), json!({"name": "e2", "url": URL, "uid": "dup"}))
        .await;
    assert_error(&answer, 409, "conflict");
    assert_eq!(server.get(&eps(&app)).await.body, json!([first]));
    // Another application (even of the same organisation) may use it.
    let elsewhere = create(
        &server,
        &other,
        json!({"name": "e", "url": URL, "uid": "dup"}),
    )
    .await;
    assert_ne!(elsewhere["id"], first["id"]);
    assert_eq!(
        server.get(&format!("{}/dup", eps(&other))).await.body,
        elsewhere
    );
    assert_eq!(server.get(&format!("{}/dup", eps(&app))).await.body, first);
    server.shutdown().await;
}

#[actix_rt::test]
async fn concurrent_creates_with_one_uid_have_exactly_one_winner() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let path = eps(&app);
    let answers = join_all((0..10).map(|i| {
        server.post(
            &path,
            json!({"name": format!("e{i}"), "url": URL, "uid": "contested"}),
        )
    }))
    .await;
    let won: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != 201) {
        assert_error(answer, 409, "conflict");
    }
    let list = server.get(&path).await;
    assert_eq!(list.body, json!([won[0].body]));
    let endpoint_keys: Vec<String> = server
        .keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":ep:"))
        .collect();
    assert_eq!(endpoint_keys.len(), 1, "{endpoint_keys:?}");
    server.shutdown().await;
}

#[actix_rt::test]
async fn put_replaces_attributes_and_keeps_uid_and_secrets_when_omitted() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let original = create(
        &server,
        &app,
        json!({"name": "e", "url": URL, "uid": "stay", "channels": ["c"], "eventTypes": ["t"], "rateLimit": 3}),
    )
    .await;
    wait_clock_past(original["updated"].as_i64().unwrap()).await;
    let path = format!("{}/stay", eps(&app));
    // The documented PUT body: no uid.
    let answer = server
        .call(
            "PUT",
            &path,
            Some(json!({
                "channels": [],
                "enabled": false,
                "eventTypes": ["user.created"],
                "name": "My Endpoint",
                "url": "https://example.org/new"
            })),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let updated = &answer.body;
    assert_eq!(fields(updated), endpoint_fields());
    assert_eq!(updated["uid"], "stay");
    assert_eq!(updated["id"], original["id"]);
    assert_eq!(
        updated["secrets"], original["secrets"],
        "omitted secrets are kept"
    );
    assert_eq!(updated["name"], "My Endpoint");
    assert_eq!(updated["url"], "https://example.org/new");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["channels"], json!([]));
    assert_eq!(updated["eventTypes"], json!(["user.created"]));
    assert_eq!(
        updated["rateLimit"],
        Value::Null,
        "PUT replaces: rateLimit omitted"
    );
    assert_eq!(updated["created"], original["created"]);
    assert!(updated["updated"].as_i64().unwrap() > original["updated"].as_i64().unwrap());
    assert_eq!(server.get(&path).await.body, *updated);

    // Empty secrets also keep them; given secrets replace them.
    let answer = server
        .call(
            "PUT",
            &path,
            Some(json!({"name": "n", "url": URL, "secrets": []})),
        )
        .await;
    assert_eq!(answer.body["secrets"], original["secrets"]);
    let rotated = [
        secret(32, 9),
        original["secrets"][0].as_str().unwrap().to_string(),
    ];
    let answer = server
        .call(
            "PUT",
            &path,
            Some(json!({"name": "n", "url": URL, "secrets": rotated, "rateLimit": 10})),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["secrets"], json!(rotated));
    assert_eq!(answer.body["rateLimit"], 10);
    assert_eq!(answer.body["enabled"], true, "enabled defaults to true");
    // Validation applies to PUT bodies too.
    let answer = server
        .call("PUT", &path, Some(json!({"name": "n", "url": "ftp://x"})))
        .await;
    assert_error(&answer, 422, "validation_error");
    let answer = server.call_raw("PUT", &path, b"[".to_vec()).await;
    assert_error(&answer, 400, "invalid_json");
    let answer = server
        .call(
            "PUT",
            &path,
            Some(json!({"name": "n", "url": URL, "rateLimit": 0})),
        )
        .await;
    assert_error(&answer, 422, "validation_error");
    server.shutdown().await;
}

#[actix_rt::test]
async fn put_changing_the_uid_frees_the_old_one_and_a_taken_uid_is_409() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let a = create(
        &server,
        &app,
        json!({"name": "a", "url": URL, "uid": "ep-a"}),
    )
    .await;
    let b = create(
        &server,
        &app,
        json!({"name": "b", "url": URL, "uid": "ep-b"}),
    )
    .await;
    let answer = server
        .call(
            "PUT",
            &format!("{}/ep-a", eps(&app)),
            Some(json!({"name": "a", "url": URL, "uid": "ep-b"})),
        )
        .await;
    assert_error(&answer, 409, "conflict");
    assert_eq!(server.get(&format!("{}/ep-a", eps(&app))).await.body, a);
    assert_eq!(server.get(&format!("{}/ep-b", eps(&app))).await.body, b);

    let answer = server
        .call(
            "PUT",
            &format!("{}/ep-a", eps(&app)),
            Some(json!({"name": "a", "url": URL, "uid": "ep-c"})),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["uid"], "ep-c");
    assert_error(
        &server.get(&format!("{}/ep-a", eps(&app))).await,
        404,
        "not_found",
    );
    assert_eq!(
        server.get(&format!("{}/ep-c", eps(&app))).await.body["id"],
        a["id"]
    );
    let app_id = uuid::Uuid::parse_str(&app).unwrap();
    let mut conn = redis_conn(&server).await;
    let index: std::collections::HashMap<String, String> = conn
        .hgetall(server.store.db.keys.endpoint_uids(app_id))
        .await
        .unwrap();
    assert_eq!(index.len(), 2, "{index:?}");
    assert!(!index.contains_key("ep-a"));
    let reused = create(
        &server,
        &app,
        json!({"name": "new", "url": URL, "uid": "ep-a"}),
    )
    .await;
    assert_ne!(reused["id"], a["id"]);
    server.shutdown().await;
}

#[actix_rt::test]
async fn delete_answers_the_endpoint_and_removes_it() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let doomed = create(
        &server,
        &app,
        json!({"name": "d", "url": URL, "uid": "doomed"}),
    )
    .await;
    let kept = create(&server, &app, json!({"name": "k", "url": URL})).await;
    let id = doomed["id"].as_str().unwrap();
    let answer = server
        .call("DELETE", &format!("{}/doomed", eps(&app)), None)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body, doomed);
    for reference in [id, "doomed"] {
        let path = format!("{}/{reference}", eps(&app));
        assert_error(&server.get(&path).await, 404, "not_found");
        assert_error(&server.call("DELETE", &path, None).await, 404, "not_found");
    }
    assert_eq!(server.get(&eps(&app)).await.body, json!([kept]));
    assert!(keys_mentioning(&server, &[id]).await.is_empty());
    let again = create(
        &server,
        &app,
        json!({"name": "d", "url": URL, "uid": "doomed"}),
    )
    .await;
    assert_ne!(again["id"], doomed["id"]);
    server.shutdown().await;
}

#[actix_rt::test]
async fn an_endpoint_of_another_application_is_not_found() {
    let server = TestServer::start().await;
    // Also through an application of the same partition, where the endpoint hash key itself
    // would exist under the wrong application.
    let owner = server.create_app("owner").await;
    let endpoint = create(
        &server,
        &owner,
        json!({"name": "e", "url": URL, "uid": "mine"}),
    )
    .await;
    let id = endpoint["id"].as_str().unwrap();
    for intruder in neighbour_apps(&server, &owner).await {
        let path = format!("{}/{id}", eps(&intruder));
        assert_error(&server.get(&path).await, 404, "not_found");
        assert_error(
            &server
                .call("PUT", &path, Some(json!({"name": "hijack", "url": URL})))
                .await,
            404,
            "not_found",
        );
        assert_error(&server.call("DELETE", &path, None).await, 404, "not_found");
        assert_error(
            &server.get(&format!("{}/mine", eps(&intruder))).await,
            404,
            "not_found",
        );
        assert_eq!(server.get(&eps(&intruder)).await.body, json!([]));
    }
    let still = server.get(&format!("{}/{id}", eps(&owner))).await;
    assert_eq!(still.body, endpoint);
    server.shutdown().await;
}

#[actix_rt::test]
async fn the_endpoint_limit_per_application_is_a_422() {
    let server = TestServer::start_with(|c| c.api.max_endpoints_per_app = 2).await;
    let app = server.create_app("a").await;
    create(&server, &app, json!({"name": "1", "url": URL})).await;
    let second = create(&server, &app, json!({"name": "2", "url": URL})).await;
    let answer = server
        .post(&eps(&app), json!({"name": "3", "url": URL}))
        .await;
    assert_error(&answer, 422, "validation_error");
    // Deleting one makes room again.
    let path = format!("{}/{}", eps(&app), second["id"].as_str().unwrap());
    assert_eq!(server.call("DELETE", &path, None).await.status, 200);
    create(&server, &app, json!({"name": "3", "url": URL})).await;
    server.shutdown().await;
}

#[actix_rt::test]
async fn deleting_an_endpoint_during_an_in_flight_delivery_leaves_no_key_behind() {
    let server = TestServer::start().await;
    let gate = Arc::new(Gate::default());
    let receiver = Receiver::held(200, &gate);
    let app = server.create_app("a").await;
    let endpoint = create(
        &server,
        &app,
        json!({"name": "slow", "url": format!("{}/slow", receiver.url)}),
    )
    .await;
    let id = endpoint["id"].as_str().unwrap().to_string();
    server.send_event(&app, "e").await;
    eventually(WAIT, "delivery started", || async {
        receiver.hits().len() == 1
    })
    .await;
    let answer = server
        .call("DELETE", &format!("{}/{id}", eps(&app)), None)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    // The receiver answers after the delete; the worker has recorded what it does with the
    // late answer once it is quiet.
    gate.open();
    wait_answered_and_quiet(&server, &receiver, 1).await;
    let left = keys_mentioning(&server, &[&id]).await;
    assert!(
        left.is_empty(),
        "keys of the deleted endpoint remain: {left:?}"
    );
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn concurrent_puts_to_one_uid_have_exactly_one_winner() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let mut endpoints = Vec::new();
    for i in 0..8 {
        let endpoint = create(&server, &app, json!({"name": format!("e{i}"), "url": URL})).await;
        endpoints.push(endpoint["id"].as_str().unwrap().to_string());
    }
    let paths: Vec<String> = endpoints
        .iter()
        .map(|id| format!("{}/{id}", eps(&app)))
        .collect();
    let answers = join_all(paths.iter().map(|path| {
        server.call(
            "PUT",
            path,
            Some(json!({"name": "renamed", "url": URL, "uid": "prize"})),
        )
    }))
    .await;
    let won: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != 200) {
        assert_error(answer, 409, "conflict");
    }
    assert_eq!(
        server.get(&format!("{}/prize", eps(&app))).await.body,
        won[0].body
    );
    server.shutdown().await;
}
