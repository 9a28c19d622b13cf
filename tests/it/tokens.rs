//! API tokens through the API: made, listed (never shown again), revoked on every API node
//! within a second, expiring; and application-scoped tokens, which reach their own
//! application only (every route of the route table probed) and only read when read-only.

use std::time::{Duration, Instant};

use octohooks::runtime::Roles;
use serde_json::{json, Value};

use crate::support::api::{assert_error, without_health};
use crate::support::routes::{served, Fixture, PUBLIC};
use crate::support::server::{test_config, Answer, TestServer};
use crate::support::wait::{eventually, WAIT};

const TOKENS: &str = "/api/v1/tokens";
const APP: &str = "/api/v1/applications/{application_id}";

/// Makes a token through the API; returns its answer's body (with the token).
async fn make_token(server: &TestServer, body: Value) -> Value {
    let answer = server.post(TOKENS, body).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body
}

fn token_of(created: &Value) -> String {
    created["token"].as_str().expect("token").to_string()
}

/// What the organisation token sees of a fixture's application, once its message was
/// delivered.
async fn snapshot(server: &TestServer, fixture: &Fixture) -> Vec<Value> {
    let app = format!("/api/v1/applications/{}", fixture.app);
    eventually(WAIT, "the fixture's message delivered", || async {
        !server
            .attempts(&fixture.app, &fixture.message)
            .await
            .is_empty()
    })
    .await;
    let mut seen = Vec::new();
    for path in [
        app.clone(),
        format!("{app}/endpoints"),
        format!("{app}/messages"),
        format!("{app}/messages/{}/attempts", fixture.message),
    ] {
        let answer = server.get(&path).await;
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
        seen.push(without_health(&answer.body));
    }
    seen
}

/// Routes in an order that keeps the fixture usable: deletes last, longest paths first.
fn probe_order() -> Vec<(String, String)> {
    let mut routes: Vec<(String, String)> = served()
        .into_iter()
        .filter(|(_, path)| !PUBLIC.contains(&path.as_str()))
        .collect();
    routes.sort_by_key(|(method, path)| (method == "DELETE", std::cmp::Reverse(path.len())));
    routes
}

async fn call(
    server: &TestServer,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Answer {
    server.call_as(token, method, path, body, &[]).await
}

#[actix_rt::test]
async fn a_scoped_token_reaches_its_own_application_only() {
    let server = TestServer::start().await;
    let own = Fixture::new(&server).await;
    let other = Fixture::new(&server).await;
    let created = make_token(
        &server,
        json!({"name": "portal", "scope": {"application": own.app_uid}}),
    )
    .await;
    assert_eq!(
        created["scope"],
        json!({"application": own.app, "readOnly": false})
    );
    let token = token_of(&created);
    let before = snapshot(&server, &other).await;
    for (method, template) in probe_order() {
        let (body, success) = own.probe(&method, &template);
        if !template.contains("{application_id}") {
            // Organisation routes: refused, but for reading the event-type catalogue.
            let answer = call(&server, &token, &method, &own.path(&template), body).await;
            if method == "GET" && template.starts_with("/api/v1/event-types") {
                assert_eq!(answer.status, 200, "{method} {template}: {:?}", answer.body);
            } else {
                assert_error(&answer, 403, "forbidden");
            }
            continue;
        }
        // Another application, named by id and by uid (its endpoint and message too).
        for app in [&other.app, &other.app_uid] {
            for path in other.paths_naming_app(&template, app) {
                let answer = call(&server, &token, &method, &path, body.clone()).await;
                if template == APP && method != "GET" {
                    assert_error(&answer, 403, "forbidden");
                } else {
                    assert_error(&answer, 404, "not_found");
                }
            }
        }
        // Its own application: the same request as the organisation token would make (but
        // changing the application, or minting portal links that would outlive the token).
        let answer = call(&server, &token, &method, &own.path(&template), body).await;
        if (template == APP && method != "GET") || template.ends_with("/portal-link") {
            assert_error(&answer, 403, "forbidden");
        } else {
            assert_eq!(
                answer.status, success,
                "{method} {template}: {:?}",
                answer.body
            );
        }
    }
    assert_eq!(
        snapshot(&server, &other).await,
        before,
        "the other application changed"
    );
    server.shutdown().await;
    own.receiver.stop().await;
    other.receiver.stop().await;
}

#[actix_rt::test]
async fn a_read_only_token_only_reads() {
    let server = TestServer::start().await;
    let own = Fixture::new(&server).await;
    let created = make_token(
        &server,
        json!({"name": "viewer", "scope": {"application": own.app, "readOnly": true}}),
    )
    .await;
    let token = token_of(&created);
    let before = snapshot(&server, &own).await;
    for (method, template) in probe_order() {
        if !template.contains("{application_id}") {
            continue;
        }
        let (body, success) = own.probe(&method, &template);
        for path in own.paths_naming_app(&template, &own.app_uid) {
            let answer = call(&server, &token, &method, &path, body.clone()).await;
            if method == "GET" {
                assert_eq!(answer.status, success, "{method} {path}: {:?}", answer.body);
            } else {
                assert_error(&answer, 403, "forbidden");
            }
        }
    }
    assert_eq!(
        snapshot(&server, &own).await,
        before,
        "a read-only token changed something"
    );
    server.shutdown().await;
    own.receiver.stop().await;
}

#[actix_rt::test]
async fn a_revoked_token_is_refused_on_every_api_node_within_a_second() {
    let config = test_config();
    let first = TestServer::start_config(config.clone(), Roles::API).await;
    let second = TestServer::start_config(config, Roles::API).await;
    let created = make_token(&first, json!({"name": "short-lived"})).await;
    let token = token_of(&created);
    let id = created["id"].as_str().expect("id");
    // Both nodes know the token (and hold it in their caches).
    for node in [&first, &second] {
        let answer = call(node, &token, "GET", "/api/v1/applications", None).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
    let revoked = first.call("DELETE", &format!("{TOKENS}/{id}"), None).await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    let at = Instant::now();
    assert!(revoked.body.get("token").is_none());
    for node in [&first, &second] {
        loop {
            let answer = call(node, &token, "GET", "/api/v1/applications", None).await;
            if answer.status == 401 {
                break;
            }
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            assert!(
                at.elapsed() < Duration::from_secs(1),
                "a node still accepts the revoked token after {:?}",
                at.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!("revocation seen by both nodes after {:?}", at.elapsed());
    // Revoked once: a second revocation finds nothing, and the list no longer shows it.
    let again = first.call("DELETE", &format!("{TOKENS}/{id}"), None).await;
    assert_error(&again, 404, "not_found");
    let listed = first.get(TOKENS).await.body;
    assert!(listed
        .as_array()
        .expect("list")
        .iter()
        .all(|t| t["id"] != id));
    first.shutdown().await;
    second.shutdown().await;
}

#[actix_rt::test]
async fn tokens_are_listed_never_shown_again_and_expire() {
    let server = TestServer::start().await;
    let app = server.create_app("scoped").await;
    let expires = octohooks::clock::now_ms() + 1_500;
    let created = make_token(
        &server,
        json!({"name": "expiring", "expiresAt": expires, "scope": {"application": app}}),
    )
    .await;
    let token = token_of(&created);
    assert!(token.starts_with("oh_"));
    let id = created["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/applications/{app}/endpoints");
    assert_eq!(call(&server, &token, "GET", &path, None).await.status, 200);
    // Listed with its use, never with the token.
    eventually(WAIT, "lastUsed recorded", || async {
        let list = server.get(TOKENS).await.body;
        list.as_array()
            .into_iter()
            .flatten()
            .any(|t| t["id"] == id.as_str() && t["lastUsed"].is_i64())
    })
    .await;
    let list = server.get(TOKENS).await.body;
    let listed = list
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["id"] == id.as_str())
        .expect("listed");
    let mut fields: Vec<&str> = listed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["created", "expiresAt", "id", "lastUsed", "name", "scope"]
    );
    assert_eq!(listed["expiresAt"], expires);
    assert!(!list.to_string().contains(&token), "a list shows a token");
    // Expired: refused, still listed (for a week) and revocable.
    eventually(WAIT, "the token expires", || async {
        call(&server, &token, "GET", &path, None).await.status == 401
    })
    .await;
    assert!(
        octohooks::clock::now_ms() >= expires,
        "refused before it expired"
    );
    let listed = |list: Value| {
        list.as_array()
            .expect("list")
            .iter()
            .any(|t| t["id"] == id.as_str())
    };
    assert!(listed(server.get(TOKENS).await.body));
    let revoked = server.call("DELETE", &format!("{TOKENS}/{id}"), None).await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    assert!(!listed(server.get(TOKENS).await.body));
    server.shutdown().await;
}

#[actix_rt::test]
async fn token_requests_are_checked() {
    let server = TestServer::start_with(|c| c.auth.bootstrap_token = "boot-token".into()).await;
    // The bootstrap organisation has no token records.
    let none = call(&server, "boot-token", "GET", TOKENS, None).await;
    assert_eq!((none.status, none.body), (200, json!([])));
    let app = server.create_app("a").await;
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "t", "expiresAt": -1}),
        json!({"name": "t", "expiresAt": "soon"}),
        json!({"name": "t", "scope": {"readOnly": true}}),
        json!({"name": "t", "scope": {"application": app, "extra": 1}}),
        json!({"name": "t", "token": "oh_mine"}),
    ] {
        let answer = server.post(TOKENS, body.clone()).await;
        assert_error(&answer, 422, "validation_error");
    }
    let missing = json!({"name": "t", "scope": {"application": "no-such-app"}});
    assert_error(&server.post(TOKENS, missing).await, 404, "not_found");
    // A time already past makes a token that never works, listed and revocable like any.
    let past = make_token(&server, json!({"name": "past", "expiresAt": 0})).await;
    let refused = call(&server, &token_of(&past), "GET", TOKENS, None).await;
    assert_error(&refused, 401, "unauthorized");
    let past_id = past["id"].as_str().unwrap();
    let listed = server.get(TOKENS).await.body;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["id"] == past_id));
    let revoked = server
        .call("DELETE", &format!("{TOKENS}/{past_id}"), None)
        .await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    // Another organisation's application cannot be a scope, nor its tokens revoked.
    let intruder = server.other_token().await;
    let scoped = call(
        &server,
        &intruder,
        "POST",
        TOKENS,
        Some(json!({"name": "t", "scope": {"application": app}})),
    )
    .await;
    assert_error(&scoped, 404, "not_found");
    let mine = make_token(&server, json!({"name": "mine"})).await;
    let theirs = call(
        &server,
        &intruder,
        "DELETE",
        &format!("{TOKENS}/{}", mine["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_error(&theirs, 404, "not_found");
    // A replay for an Idempotency-Key answers the record, never the token again.
    let key = [("idempotency-key", "token-1")];
    let mut answers = Vec::new();
    for _ in 0..2 {
        let body = Some(json!({"name": "k"}));
        answers.push(
            server
                .call_as(&server.token, "POST", TOKENS, body, &key)
                .await,
        );
    }
    let (first, replay) = (&answers[0], &answers[1]);
    assert!(first.body["token"].is_string());
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body["id"], first.body["id"]);
    assert_eq!(replay.body["token"], Value::Null);
    // Only organisation tokens manage tokens.
    let scoped =
        token_of(&make_token(&server, json!({"name": "p", "scope": {"application": app}})).await);
    for (method, body) in [("GET", None), ("POST", Some(json!({"name": "x"})))] {
        let answer = call(&server, &scoped, method, TOKENS, body).await;
        assert_error(&answer, 403, "forbidden");
    }
    server.shutdown().await;
}
