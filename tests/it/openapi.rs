//! The OpenAPI document at `GET /api/v1/openapi.json`: it lists exactly the routes the router
//! serves (each probed on the live server), declares the bearer scheme, the idempotency and
//! paging headers and the error answers, and live answers match its schemas.
//!
//! Adding a route (one line in `src/api/routes.rs`): give it a request in
//! `support::routes::Fixture::probe`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use octohooks::api::session::SESSION_PATH;

use crate::support::api::raw;
use crate::support::receiver::{Receiver, Reply};
use crate::support::routes::{served as routes, Fixture, PUBLIC};
use crate::support::server::TestServer;
use crate::support::wait::eventually;

const DOCUMENT: &str = "/api/v1/openapi.json";

/// The lists (each answers a JSON array, pages with `limit`/`iterator`).
const LISTS: &[&str] = &[
    "/api/v1/applications",
    "/api/v1/applications/{application_id}/endpoints",
    "/api/v1/applications/{application_id}/messages",
    "/api/v1/tokens",
];

async fn document(server: &TestServer) -> Value {
    let answer = raw(server, "GET", DOCUMENT, &[], None).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(answer
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    let doc = answer.json();
    assert_eq!(doc["openapi"], "3.1.0");
    doc
}

/// The documented operations: (METHOD, path) → operation object.
fn operations(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut operations = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&method.as_str())
            {
                operations.insert(
                    (method.to_ascii_uppercase(), path.clone()),
                    operation.clone(),
                );
            }
        }
    }
    operations
}

fn parameter<'a>(operation: &'a Value, name: &str, location: &str) -> Option<&'a Value> {
    operation["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name && p["in"] == location)
}

#[actix_rt::test]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let operations = operations(&doc);
    let documented: BTreeSet<(String, String)> = operations.keys().cloned().collect();
    assert_eq!(
        documented,
        routes(),
        "documented but not listed: {:?}; listed but not documented: {:?}",
        documented.difference(&routes()).collect::<Vec<_>>(),
        routes().difference(&documented).collect::<Vec<_>>(),
    );

    // Every documented operation is served: a valid request gets its documented success.
    let fixture = Fixture::new(&server).await;
    let mut probes: Vec<&(String, String)> = documented.iter().collect();
    // Deletes last, the endpoint before its application.
    probes.sort_by_key(|(method, path)| (method == "DELETE", std::cmp::Reverse(path.len())));
    for (method, template) in probes {
        let path = fixture.path(template);
        let (body, expected) = fixture.probe(method, template);
        let answer = server.call(method, &path, body).await;
        assert_eq!(
            answer.status, expected,
            "{method} {path} is documented but answers {} {}",
            answer.status, answer.body
        );
        let responses = &operations[&(method.clone(), template.clone())]["responses"];
        assert!(
            responses.get(expected.to_string()).is_some(),
            "{method} {template}: {expected} is not documented"
        );
    }

    // On every documented path, the other methods answer the JSON 405 with an Allow header
    // listing exactly the documented ones (an unknown path would be a 404).
    let fixture = Fixture::new(&server).await;
    let paths: BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
    for template in paths {
        let allowed: BTreeSet<&str> = documented
            .iter()
            .filter(|(_, path)| path == template)
            .map(|(method, _)| method.as_str())
            .collect();
        let path = fixture.path(template);
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if allowed.contains(method) {
                continue;
            }
            let answer = server.call(method, &path, None).await;
            assert_eq!(answer.status, 405, "{method} {path}: {}", answer.body);
            assert_eq!(answer.body["code"], "method_not_allowed");
            let allow: BTreeSet<&str> = answer
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .collect();
            assert_eq!(allow, allowed, "{method} {path}: Allow");
        }
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn the_document_declares_auth_idempotency_paging_and_errors() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    let session = &doc["components"]["securitySchemes"]["session"];
    assert_eq!(
        (&session["type"], &session["in"], &session["name"]),
        (
            &json!("apiKey"),
            &json!("cookie"),
            &json!("octohooks_session")
        ),
        "{session}"
    );
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(error["required"], json!(["code", "detail"]), "{error}");
    let error_ref = json!({"$ref": "#/components/schemas/ErrorBody"});

    for ((method, path), operation) in operations(&doc) {
        let what = format!("{method} {path}");
        let responses = operation["responses"].as_object().expect("responses");
        let error_statuses: Vec<&String> = responses
            .iter()
            .filter(|(_, r)| r["content"]["application/json"]["schema"] == error_ref)
            .map(|(status, _)| status)
            .collect();
        let documents = |status: &str| error_statuses.iter().any(|s| *s == status);
        assert!(operation["operationId"].is_string(), "{what}: operationId");

        if path == SESSION_PATH {
            // Signing in takes a token in its body; the session itself takes the cookie.
            let expected = if method == "POST" {
                json!([{}])
            } else {
                json!([{"session": []}])
            };
            assert_eq!(operation["security"], expected, "{what}");
        } else if PUBLIC.contains(&path.as_str()) {
            let security = operation.get("security");
            assert!(
                security.is_none() || security == Some(&json!([{}])),
                "{what} needs no token: {security:?}"
            );
        } else {
            assert_eq!(
                operation["security"],
                json!([{"bearer": []}, {"session": []}]),
                "{what}"
            );
            for status in ["401", "503"] {
                assert!(documents(status), "{what}: no {status} ErrorBody");
            }
        }
        if path.contains('{') {
            assert!(documents("404"), "{what}: no 404 ErrorBody");
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "413", "422"] {
                assert!(documents(status), "{what}: no {status} ErrorBody");
            }
        }

        let key = parameter(&operation, "Idempotency-Key", "header");
        // Signing in opens a new session each time: no replay.
        if method == "POST" && path != SESSION_PATH {
            let key = key.unwrap_or_else(|| panic!("{what}: no Idempotency-Key header"));
            assert_eq!(key["required"], false, "{what}");
            for status in ["409", "422"] {
                assert!(documents(status), "{what}: no {status} ErrorBody");
            }
            let successes: Vec<&Value> = responses
                .iter()
                .filter(|(status, _)| status.starts_with('2'))
                .map(|(_, r)| r)
                .collect();
            assert!(!successes.is_empty(), "{what}");
            for response in successes {
                assert!(
                    response["headers"].get("Idempotent-Replayed").is_some(),
                    "{what}: no Idempotent-Replayed header"
                );
            }
        } else {
            assert!(key.is_none(), "{what}: Idempotency-Key is for POST only");
        }

        if method == "GET" && LISTS.contains(&path.as_str()) {
            for name in ["limit", "iterator"] {
                assert!(
                    parameter(&operation, name, "query").is_some(),
                    "{what}: ?{name}"
                );
            }
            let ok = &operation["responses"]["200"];
            assert_eq!(ok["content"]["application/json"]["schema"]["type"], "array");
            assert!(
                ok["headers"].get("x-next-iterator").is_some(),
                "{what}: no x-next-iterator header"
            );
            let limit = &parameter(&operation, "limit", "query").unwrap()["schema"];
            assert_eq!(limit["minimum"], 1, "{what}");
            assert_eq!(limit["maximum"], server.config.api.max_page_size, "{what}");
        }
        if method == "GET" && path.ends_with("/messages") {
            for name in ["eventType", "channel"] {
                assert!(
                    parameter(&operation, name, "query").is_some(),
                    "{what}: ?{name}"
                );
            }
        }
    }

    // The shapes clients rely on.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["ApplicationOut"]["properties"]["uid"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(
        schemas["EndpointOut"]["properties"]["health"]["readOnly"],
        true
    );
    assert!(schemas["EndpointIn"]["properties"].get("health").is_none());
    assert_eq!(
        schemas["MessageIn"]["properties"]["payload"]["type"],
        "object"
    );
    assert_eq!(
        schemas["MessageOut"]["properties"]["eventType"]["type"],
        "string"
    );
    server.shutdown().await;
}

/// Checks `value` against the subset of JSON Schema the document uses; properties a schema
/// does not list are errors too (the document must list every field).
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .expect("a local schema");
        let target = &doc["components"]["schemas"][name];
        assert!(target.is_object(), "{at}: unknown schema {reference}");
        return check(doc, target, value, at, errors);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let matches = |t: &str| match t {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => false,
        };
        if !types.iter().any(|t| matches(t)) {
            errors.push(format!("{at}: {value} is not {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    let number = |key: &str| schema.get(key).and_then(Value::as_f64);
    let count = |key: &str| schema.get(key).and_then(Value::as_u64).map(|n| n as usize);
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().expect("name");
                if !fields.contains_key(name) {
                    errors.push(format!("{at}: required {name} is missing"));
                }
            }
            if let Some(properties) = properties {
                for (name, field) in fields {
                    match properties.get(name) {
                        Some(property) => {
                            check(doc, property, field, &format!("{at}.{name}"), errors)
                        }
                        None => errors.push(format!("{at}: {name} is not documented")),
                    }
                }
            }
        }
        Value::Array(items) => {
            if count("maxItems").is_some_and(|max| items.len() > max)
                || count("minItems").is_some_and(|min| items.len() < min)
            {
                errors.push(format!("{at}: {} items", items.len()));
            }
            if let Some(item) = schema.get("items") {
                for (i, element) in items.iter().enumerate() {
                    check(doc, item, element, &format!("{at}[{i}]"), errors);
                }
            }
        }
        Value::String(text) => {
            let chars = text.chars().count();
            if count("maxLength").is_some_and(|max| chars > max)
                || count("minLength").is_some_and(|min| chars < min)
            {
                errors.push(format!("{at}: length {chars}"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                let re = regex::Regex::new(pattern).expect("pattern");
                if !re.is_match(text) {
                    errors.push(format!("{at}: {text:?} does not match {pattern}"));
                }
            }
            if schema.get("format") == Some(&json!("uuid")) && uuid::Uuid::parse_str(text).is_err()
            {
                errors.push(format!("{at}: {text:?} is not a uuid"));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if number("minimum").is_some_and(|min| n < min)
                || number("maximum").is_some_and(|max| n > max)
            {
                errors.push(format!("{at}: {n} is out of bounds"));
            }
        }
        _ => {}
    }
}

/// Sends a request and checks its status, content type, documented headers and body against
/// the document; returns the answer's body.
async fn conforming(
    server: &TestServer,
    doc: &Value,
    (method, template): (&str, &str),
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let answer = server
        .call_as(&server.token, method, path, body, headers)
        .await;
    let what = format!("{method} {path} -> {}", answer.status);
    let operation = &doc["paths"][template][method.to_ascii_lowercase()];
    let response = &operation["responses"][answer.status.to_string()];
    assert!(response.is_object(), "{what}: status not documented");
    if let Some(content) = response["content"].as_object() {
        let content_type = answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (media, entry) = content
            .iter()
            .find(|(media, _)| content_type.starts_with(media.as_str()))
            .unwrap_or_else(|| panic!("{what}: content-type {content_type} not documented"));
        if media == "application/json" {
            let mut errors = Vec::new();
            check(doc, &entry["schema"], &answer.body, "body", &mut errors);
            assert!(errors.is_empty(), "{what}: {errors:#?}\n{}", answer.body);
        }
    }
    let documented: Vec<String> = response["headers"]
        .as_object()
        .map(|h| h.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    for name in ["x-next-iterator", "idempotent-replayed"] {
        if answer.headers.contains_key(name) {
            assert!(
                documented.iter().any(|d| d == name),
                "{what}: {name} not documented"
            );
        }
    }
    (answer.status, answer.body, answer.headers)
}

#[actix_rt::test]
async fn live_answers_match_the_documented_schemas() {
    let server = TestServer::start().await;
    let doc = document(&server).await;
    let ok = Receiver::ok();
    let failing = Receiver::with(Arc::new(|_, _| {
        Reply::status(500).header("content-type", "text/plain")
    }));
    const APPS: &str = "/api/v1/applications";
    const APP: &str = "/api/v1/applications/{application_id}";
    const ENDPOINTS: &str = "/api/v1/applications/{application_id}/endpoints";
    const ENDPOINT: &str = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}";
    const MESSAGES: &str = "/api/v1/applications/{application_id}/messages";
    const MESSAGE: &str = "/api/v1/applications/{application_id}/messages/{message_id}";
    const ATTEMPTS: &str = "/api/v1/applications/{application_id}/messages/{message_id}/attempts";

    for route in [("GET", "/health"), ("GET", "/metrics"), ("GET", DOCUMENT)] {
        conforming(&server, &doc, route, route.1, None, &[]).await;
    }
    // The same creation twice: the replay carries the documented header.
    let mut app = Value::Null;
    for replay in [false, true] {
        let (status, created, headers) = conforming(
            &server,
            &doc,
            ("POST", APPS),
            APPS,
            Some(json!({"name": "a", "uid": "app-a"})),
            &[("idempotency-key", "create-a")],
        )
        .await;
        assert_eq!(status, 201);
        let replayed = headers
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap());
        assert_eq!(replayed, replay.then_some("true"));
        app = created;
    }
    conforming(
        &server,
        &doc,
        ("POST", APPS),
        APPS,
        Some(json!({"name": "b"})),
        &[],
    )
    .await;
    let app = app["id"].as_str().unwrap().to_string();
    let path = |template: &str| template.replace("{application_id}", &app);

    let mut endpoints = Vec::new();
    for (url, extra) in [
        (
            format!("{}/ok", ok.url),
            json!({"uid": "ok", "rateLimit": 50, "channels": ["c"]}),
        ),
        (
            format!("{}/failing", failing.url),
            json!({"eventTypes": ["t"]}),
        ),
    ] {
        let mut body = json!({"name": "e", "url": url});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, endpoint, _) = conforming(
            &server,
            &doc,
            ("POST", ENDPOINTS),
            &path(ENDPOINTS),
            Some(body),
            &[],
        )
        .await;
        assert_eq!(status, 201, "{endpoint}");
        endpoints.push(endpoint["id"].as_str().unwrap().to_string());
    }
    let mut messages = Vec::new();
    for body in [
        json!({"eventType": "t", "payload": {"n": 1}, "channels": ["c"], "uid": "m1"}),
        json!({"eventType": "t", "payload": {"n": [2, null, "x"]}}),
    ] {
        let (status, message, _) = conforming(
            &server,
            &doc,
            ("POST", MESSAGES),
            &path(MESSAGES),
            Some(body),
            &[],
        )
        .await;
        assert_eq!(status, 202, "{message}");
        messages.push(message["id"].as_str().unwrap().to_string());
    }

    // Deliveries happen: one endpoint succeeds, the other fails and is retried.
    let attempts_path = path(ATTEMPTS).replace("{message_id}", &messages[0]);
    eventually(
        Duration::from_secs(20),
        "attempts on both endpoints",
        || {
            let server = &server;
            let attempts_path = &attempts_path;
            async move {
                let attempts = server.get(attempts_path).await.body;
                let statuses: BTreeSet<String> = attempts
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| a["status"].as_str().unwrap_or_default().to_string())
                    .collect();
                statuses.contains("success") && statuses.len() > 1
            }
        },
    )
    .await;
    for message in &messages {
        for template in [MESSAGE, ATTEMPTS] {
            let concrete = path(template).replace("{message_id}", message);
            let (status, _, _) =
                conforming(&server, &doc, ("GET", template), &concrete, None, &[]).await;
            assert_eq!(status, 200);
        }
    }

    // Lists, one item per page so that the cursor header shows.
    for template in [APPS, ENDPOINTS, MESSAGES] {
        let (status, page, headers) = conforming(
            &server,
            &doc,
            ("GET", template),
            &format!("{}?limit=1", path(template)),
            None,
            &[],
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(page.as_array().map(Vec::len), Some(1));
        let next = headers.get("x-next-iterator").expect("x-next-iterator");
        let next = next.to_str().unwrap();
        let (status, _, _) = conforming(
            &server,
            &doc,
            ("GET", template),
            &format!("{}?limit=1&iterator={next}", path(template)),
            None,
            &[],
        )
        .await;
        assert_eq!(status, 200);
    }
    let endpoint = path(ENDPOINT).replace("{endpoint_id}", &endpoints[1]);
    eventually(
        Duration::from_secs(20),
        "a failure in the endpoint's health",
        || {
            let server = &server;
            let endpoint = &endpoint;
            async move { server.get(endpoint).await.body["health"]["lastFailure"].is_i64() }
        },
    )
    .await;
    conforming(&server, &doc, ("GET", ENDPOINT), &endpoint, None, &[]).await;
    conforming(
        &server,
        &doc,
        ("PUT", ENDPOINT),
        &endpoint,
        Some(json!({"name": "e2", "url": format!("{}/ok", ok.url), "rateLimit": null})),
        &[],
    )
    .await;
    let resend = format!(
        "{}/messages/{}/endpoints/{}/resend",
        path(APP),
        messages[1],
        endpoints[0]
    );
    let (status, _, _) = conforming(
        &server,
        &doc,
        (
            "POST",
            "/api/v1/applications/{application_id}/messages/{message_id}/endpoints/{endpoint_id}/resend",
        ),
        &resend,
        None,
        &[],
    )
    .await;
    assert_eq!(status, 202);

    // Errors are documented ErrorBody answers too.
    for (route, concrete, body) in [
        (("GET", APP), path(APP).replace(&app, "nope"), None),
        (("POST", APPS), APPS.to_string(), Some(json!({"name": ""}))),
        (("GET", APPS), format!("{APPS}?limit=0"), None),
        (
            ("GET", MESSAGES),
            format!("{}?iterator=x", path(MESSAGES)),
            None,
        ),
        (
            ("POST", MESSAGES),
            path(MESSAGES),
            Some(json!({"eventType": "t", "payload": {}, "uid": "m1"})),
        ),
    ] {
        let (status, body, _) = conforming(&server, &doc, route, &concrete, body, &[]).await;
        assert!(status >= 400, "{concrete}: {body}");
    }
    let (status, _, _) = conforming(
        &server,
        &doc,
        ("PUT", APP),
        &path(APP),
        Some(json!({"name": "c"})),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) =
        conforming(&server, &doc, ("DELETE", ENDPOINT), &endpoint, None, &[]).await;
    assert_eq!(status, 200);
    let (status, _, _) = conforming(&server, &doc, ("DELETE", APP), &path(APP), None, &[]).await;
    assert_eq!(status, 200);
    ok.stop().await;
    failing.stop().await;
    server.shutdown().await;
}
