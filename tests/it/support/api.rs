//! Talking to the API beyond [`TestServer`]'s calls: raw requests (any headers, raw body
//! bytes), error-shape assertions, JSON field and id helpers, paging, and the Redis keys an
//! entity left behind.

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::server::{Answer, TestServer};

/// A response with its body kept as bytes.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a request with exactly the given headers (no Authorization unless given).
pub async fn raw(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Raw {
    let mut request = server.http.request(
        method.parse().expect("method"),
        format!("{}{path}", server.base),
    );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

/// A request with this server's token, answered as raw bytes.
pub async fn authed_raw(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> Raw {
    let auth = format!("Bearer {}", server.token);
    raw(
        server,
        method,
        path,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await
}

/// Asserts a `{"code", "detail"}` error body (exactly those two fields) with this status.
pub fn assert_error_body(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "unexpected status, body {body}");
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not a JSON object: {body}"));
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["code", "detail"], "error body {body}");
    assert_eq!(body["code"], code, "error body {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail must be a non-empty string: {body}"
    );
}

/// `assert_error_body` for a harness answer, plus the JSON content type.
pub fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_error_body(answer.status, &answer.body, status, code);
    let content_type = answer
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "content-type {content_type:?}"
    );
}

/// The sorted field names of a JSON object.
pub fn fields(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// Sorted list of names, for comparing with `fields`.
pub fn names(list: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    names.sort();
    names
}

/// The `id`s of a JSON array of entities, in order.
pub fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

/// The Redis keys (of this test's prefix) whose name mentions any of `needles`.
pub async fn keys_mentioning(server: &TestServer, needles: &[&str]) -> Vec<String> {
    server
        .keys()
        .await
        .into_iter()
        .filter(|k| needles.iter().any(|n| k.contains(n)))
        .collect()
}

/// A redis connection to the test's Redis.
pub async fn redis_conn(server: &TestServer) -> octohooks::store::Connection {
    server.store.conn().await.expect("redis connection")
}

/// The `x-next-iterator` header of an answer.
pub fn next_iterator(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get("x-next-iterator")
        .map(|v| v.to_str().expect("ascii header").to_string())
}

/// Walks a list with `?limit=` from the first page to the last, returning every page's ids and
/// asserting the header is present exactly on pages that are followed by another.
pub async fn walk_pages(server: &TestServer, path: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut iterator: Option<String> = None;
    let separator = if path.contains('?') { '&' } else { '?' };
    loop {
        let url = match &iterator {
            Some(it) => format!("{path}{separator}limit={limit}&iterator={it}"),
            None => format!("{path}{separator}limit={limit}"),
        };
        let answer = server.get(&url).await;
        assert_eq!(answer.status, 200, "{url}: {:?}", answer.body);
        let page = ids(&answer.body);
        assert!(page.len() <= limit, "page larger than limit: {page:?}");
        iterator = next_iterator(&answer);
        let last = iterator.is_none();
        pages.push(page);
        if last {
            return pages;
        }
        assert!(pages.len() < 100, "paging does not end");
    }
}

/// Entities in the order lists promise: by `created`, ties (same millisecond) by `id`. Also
/// asserts that `created` never decreases along `records` (given in the order they were made),
/// so this order is the creation order wherever timestamps differ.
pub fn creation_order(records: &[Value]) -> Vec<String> {
    let created = |r: &Value| r["created"].as_i64().expect("created");
    for pair in records.windows(2) {
        assert!(
            created(&pair[0]) <= created(&pair[1]),
            "created went backwards: {} then {}",
            pair[0],
            pair[1]
        );
    }
    let mut sorted: Vec<&Value> = records.iter().collect();
    sorted.sort_by_key(|r| (created(r), r["id"].as_str().expect("id").to_string()));
    sorted
        .into_iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Creates applications until it has one in the same partition as `owner` and one in another
/// partition, and returns both (same first). Same-partition applications matter: their
/// entity keys live next to each other, so a lookup through the wrong application would find
/// the hash if the store did not check ownership.
pub async fn neighbour_apps(server: &TestServer, owner: &str) -> Vec<String> {
    let keys = &server.store.db.keys;
    let partition = keys.partition_of(uuid::Uuid::parse_str(owner).expect("uuid"));
    let (mut same, mut other) = (None, None);
    for i in 0..200 {
        let app = server.create_app(&format!("neighbour {i}")).await;
        let p = keys.partition_of(uuid::Uuid::parse_str(&app).expect("uuid"));
        if p == partition && same.is_none() {
            same = Some(app);
        } else if p != partition && other.is_none() {
            other = Some(app);
        }
        if let (Some(same), Some(other)) = (&same, &other) {
            return vec![same.clone(), other.clone()];
        }
    }
    panic!("no application landed in partition {partition}");
}

/// Endpoints with their `health` removed: health legitimately moves with deliveries, so
/// comparisons of "unchanged" endpoints leave it out.
pub fn without_health(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(without_health).collect()),
        Value::Object(map) => {
            let mut map = map.clone();
            map.remove("health");
            Value::Object(map)
        }
        other => other.clone(),
    }
}

/// An entity's `id`.
pub fn id_of(entity: &Value) -> String {
    entity["id"].as_str().expect("id").to_string()
}

/// A JSON integer (epoch ms, a duration in ms, a count).
pub fn int(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("not an integer: {value}"))
}

/// The `status` of each attempt, in order.
pub fn statuses(attempts: &[Value]) -> Vec<&str> {
    attempts
        .iter()
        .map(|a| a["status"].as_str().unwrap_or(""))
        .collect()
}

/// Attempts of one endpoint among a message's attempts.
pub fn attempts_of(attempts: &[Value], endpoint: &str) -> Vec<Value> {
    attempts
        .iter()
        .filter(|a| a["endpointId"] == endpoint)
        .cloned()
        .collect()
}

/// The HTTP client of the tests. Idle pooled connections are dropped after 1 s, well before
/// the server closes them (actix's keep-alive, 5 s): reusing a connection the server is
/// closing at that very moment fails the request with a transport error on a busy machine.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("http client")
}
