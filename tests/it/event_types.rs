//! The event-type catalogue through the API: entries with a JSON Schema (checked when stored)
//! and an example (checked against it), messages asking for validation accepted or refused
//! by a table of payloads, warnings for endpoints subscribing to unknown or archived types
//! (422 when strict), and send-example delivering the example to one endpoint only.

use serde_json::{json, Value};

use crate::support::api::{assert_error, next_iterator};
use crate::support::receiver::Receiver;
use crate::support::server::TestServer;
use crate::support::wait::{eventually, wait_quiet, WAIT};

const TYPES: &str = "/api/v1/event-types";

fn user_schema() -> Value {
    json!({
        "type": "object",
        "required": ["id", "email"],
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
            "roles": {"type": "array", "items": {"enum": ["admin", "member"]}, "uniqueItems": true},
            "profile": {"$ref": "#/$defs/profile"}
        },
        "$defs": {"profile": {"type": "object", "properties": {"age": {"type": "integer"}}}},
        "additionalProperties": false
    })
}

async fn create_type(server: &TestServer, body: Value) -> Value {
    let answer = server.post(TYPES, body).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body
}

#[actix_rt::test]
async fn the_catalogue_keeps_checked_schemas_and_examples() {
    let server = TestServer::start().await;
    let created = create_type(
        &server,
        json!({
            "name": "user.created",
            "description": "A user signed up.",
            "schema": user_schema(),
            "example": {"id": 1, "email": "jo@example.com"},
        }),
    )
    .await;
    assert_eq!(created["schema"], user_schema());
    assert_eq!(created["archived"], false);
    assert_eq!(
        server.get(&format!("{TYPES}/user.created")).await.body,
        created
    );
    let duplicate = server.post(TYPES, json!({"name": "user.created"})).await;
    assert_error(&duplicate, 409, "conflict");
    for bad in [
        json!({"name": "x.bad", "schema": {"type": "nope"}}),
        json!({"name": "x.bad", "schema": {"minimum": "zero"}}),
        json!({"name": "x.bad", "schema": {"$ref": "https://example.com/s.json"}}),
        json!({"name": "x.bad", "schema": {"$ref": "#/$defs/missing"}}),
        json!({"name": "x.bad", "schema": user_schema(), "example": {"id": 0}}),
        json!({"name": "x.bad", "example": [1]}),
        json!({"name": "has space"}),
        json!({"name": "x.bad", "unknown": 1}),
        json!(["x.bad"]),
    ] {
        let answer = server.post(TYPES, bad.clone()).await;
        assert_error(&answer, 422, "validation_error");
    }
    // PUT replaces; archiving keeps it listed.
    let path = format!("{TYPES}/user.created");
    let updated = server
        .call(
            "PUT",
            &path,
            Some(json!({"description": "old", "archived": true})),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["schema"], Value::Null);
    assert_eq!(updated.body["archived"], true);
    let missing = server
        .call("PUT", &format!("{TYPES}/nope"), Some(json!({})))
        .await;
    assert_error(&missing, 404, "not_found");
    // Listed in name order, a page at a time.
    for name in ["a.first", "z.last"] {
        create_type(&server, json!({"name": name})).await;
    }
    let mut names = Vec::new();
    let mut query = format!("{TYPES}?limit=2");
    loop {
        let page = server.get(&query).await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        names.extend(
            page.body
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].clone()),
        );
        match next_iterator(&page) {
            Some(next) => query = format!("{TYPES}?limit=2&iterator={next}"),
            None => break,
        }
    }
    assert_eq!(
        names,
        json!(["a.first", "user.created", "z.last"])
            .as_array()
            .unwrap()
            .clone()
    );
    let deleted = server.call("DELETE", &path, None).await;
    assert_eq!(deleted.status, 200);
    assert_error(&server.get(&path).await, 404, "not_found");
    // Another organisation has a catalogue of its own.
    let other = server.other_token().await;
    let theirs = server.call_as(&other, "GET", TYPES, None, &[]).await;
    assert_eq!(theirs.body, json!([]));
    server.shutdown().await;
}

#[actix_rt::test]
async fn messages_asking_for_validation_are_checked_against_the_schema() {
    let server = TestServer::start().await;
    let app = server.create_app("validated").await;
    create_type(
        &server,
        json!({"name": "user.created", "schema": user_schema()}),
    )
    .await;
    create_type(&server, json!({"name": "free.form"})).await;
    let messages = format!("/api/v1/applications/{app}/messages");
    let accepted = [
        json!({"id": 1, "email": "a@b"}),
        json!({"id": 2, "email": "a@b", "roles": ["admin", "member"]}),
        json!({"id": 3, "email": "a@b", "profile": {"age": 40}}),
    ];
    let refused = [
        (json!({"email": "a@b"}), "id"),
        (json!({"id": "1", "email": "a@b"}), "/id"),
        (json!({"id": 0, "email": "a@b"}), "/id"),
        (json!({"id": 1, "email": "ab"}), "/email"),
        (
            json!({"id": 1, "email": "a@b", "roles": ["root"]}),
            "/roles/0",
        ),
        (
            json!({"id": 1, "email": "a@b", "roles": ["admin", "admin"]}),
            "/roles",
        ),
        (
            json!({"id": 1, "email": "a@b", "profile": {"age": "old"}}),
            "/profile/age",
        ),
        (json!({"id": 1, "email": "a@b", "extra": 1}), "extra"),
    ];
    for payload in &accepted {
        let body = json!({"eventType": "user.created", "payload": payload, "validate": true});
        let answer = server.post(&messages, body).await;
        assert_eq!(answer.status, 202, "{payload}: {:?}", answer.body);
    }
    for (payload, mentions) in &refused {
        let body = json!({"eventType": "user.created", "payload": payload, "validate": true});
        let answer = server.post(&messages, body).await;
        assert_error(&answer, 422, "validation_error");
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains(mentions), "{payload}: {detail}");
        // Without asking, the same payload is accepted.
        let body = json!({"eventType": "user.created", "payload": payload});
        assert_eq!(server.post(&messages, body).await.status, 202);
    }
    // A type without a schema, or missing from the catalogue, has nothing to check.
    let free = json!({"eventType": "free.form", "payload": {"x": [1]}, "validate": true});
    assert_eq!(server.post(&messages, free).await.status, 202);
    let unknown = json!({"eventType": "not.there", "payload": {"y": 1}, "validate": true});
    assert_eq!(server.post(&messages, unknown).await.status, 202);
    let listed = server.get(&format!("{messages}?limit=250")).await.body;
    assert_eq!(
        listed.as_array().unwrap().len(),
        accepted.len() + refused.len() + 2,
        "a refused message was stored"
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn endpoints_subscribing_to_unknown_or_archived_types_are_warned_or_refused() {
    let server = TestServer::start().await;
    let app = server.create_app("warned").await;
    create_type(&server, json!({"name": "known"})).await;
    create_type(&server, json!({"name": "old", "archived": true})).await;
    let endpoints = format!("/api/v1/applications/{app}/endpoints");
    let url = "http://127.0.0.1:9/hook";
    let fine = server
        .post(
            &endpoints,
            json!({"name": "e", "url": url, "eventTypes": ["known"]}),
        )
        .await;
    assert_eq!(fine.status, 201);
    assert!(fine.headers.get("warning").is_none());
    let body = json!({"name": "e", "url": url, "eventTypes": ["known", "typo", "old"]});
    let warned = server.post(&endpoints, body.clone()).await;
    assert_eq!(warned.status, 201, "{:?}", warned.body);
    let warning = warned.headers["warning"].to_str().unwrap();
    assert!(warning.starts_with("299 - \""), "{warning}");
    assert!(
        warning.contains("typo") && warning.contains("old"),
        "{warning}"
    );
    assert!(!warning.contains("known"), "{warning}");
    let id = warned.body["id"].as_str().unwrap();
    let put = server
        .call("PUT", &format!("{endpoints}/{id}"), Some(body.clone()))
        .await;
    assert_eq!(put.status, 200);
    assert!(put.headers["warning"].to_str().unwrap().contains("typo"));
    server.shutdown().await;

    let strict = TestServer::start_with(|c| c.api.strict_event_types = true).await;
    let app = strict.create_app("strict").await;
    create_type(&strict, json!({"name": "known"})).await;
    let endpoints = format!("/api/v1/applications/{app}/endpoints");
    let refused = strict.post(&endpoints, body).await;
    assert_error(&refused, 422, "validation_error");
    assert!(refused.body["detail"].as_str().unwrap().contains("typo"));
    let fine = json!({"name": "e", "url": url, "eventTypes": ["known"]});
    assert_eq!(strict.post(&endpoints, fine).await.status, 201);
    strict.shutdown().await;
}

#[actix_rt::test]
async fn send_example_delivers_the_catalogue_example_to_that_endpoint_only() {
    let server = TestServer::start().await;
    let target = Receiver::ok();
    let bystander = Receiver::ok();
    let app = server.create_app("examples").await;
    let chosen = server
        .create_endpoint(
            &app,
            &format!("{}/hook", target.url),
            json!({"eventTypes": ["other"]}),
        )
        .await;
    server
        .create_endpoint(&app, &format!("{}/hook", bystander.url), json!({}))
        .await;
    let example = json!({"id": 7, "email": "ex@example.com"});
    create_type(
        &server,
        json!({"name": "user.created", "schema": user_schema(), "example": example}),
    )
    .await;
    let id = chosen["id"].as_str().unwrap();
    let send = format!("/api/v1/applications/{app}/endpoints/{id}/send-example");
    let sent = server
        .post(&send, json!({"eventType": "user.created"}))
        .await;
    assert_eq!(sent.status, 202, "{:?}", sent.body);
    assert_eq!(sent.body["payload"], example);
    let unknown = server.post(&send, json!({"eventType": "no.such"})).await;
    assert_eq!(unknown.status, 202, "{:?}", unknown.body);
    assert_eq!(unknown.body["payload"], json!({}));
    eventually(WAIT, "both examples delivered", || async {
        target.hits().len() >= 2
    })
    .await;
    wait_quiet(&server).await;
    let bodies: Vec<Value> = target
        .hits()
        .iter()
        .map(|h| serde_json::from_slice(&h.body).unwrap())
        .collect();
    assert!(
        bodies.contains(&example) && bodies.contains(&json!({})),
        "{bodies:?}"
    );
    assert!(
        bystander.hits().is_empty(),
        "an example reached another endpoint"
    );
    // A normal message: listed, with its attempts.
    let message = sent.body["id"].as_str().unwrap();
    let attempts = server.attempts(&app, message).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["endpointId"], id);
    // A disabled endpoint gets no examples.
    let mut disabled = chosen.clone();
    disabled["enabled"] = json!(false);
    for field in ["id", "created", "updated", "health", "paused"] {
        disabled.as_object_mut().unwrap().remove(field);
    }
    server.put_endpoint(&app, id, disabled).await;
    let refused = server
        .post(&send, json!({"eventType": "user.created"}))
        .await;
    assert_error(&refused, 409, "conflict");
    server.shutdown().await;
    target.stop().await;
    bystander.stop().await;
}
