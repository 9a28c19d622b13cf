//! The service running in-process: the real node (API and/or worker) on port 0 against the
//! run's Redis, under a random key prefix per test, with a token for a fresh organisation
//! and small helpers for the API calls every test makes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use octohooks::config::Config;
use octohooks::dispatch::activity::ActivitySnapshot;
use octohooks::runtime::{Node, Roles};
use octohooks::store::Store;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::redis_server::{redis_url, scan_keys};

/// A configuration for tests: the run's Redis, a random key prefix, port 0, loopback
/// deliveries allowed, few partitions and fast timers.
pub fn test_config() -> Config {
    let mut config = Config::defaults();
    config.redis.url = redis_url();
    config.redis.prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    config.redis.pool_size = 1;
    config.server.bind = "127.0.0.1:0".parse().expect("addr");
    config.server.workers = 1;
    config.delivery.allow_private_ips = true;
    config.delivery.timeout = Duration::from_secs(5);
    config.queue.partitions = 4;
    config.queue.block = Duration::from_millis(200);
    config.queue.retry_poll = Duration::from_millis(50);
    config.worker.threads = 1;
    config.worker.heartbeat = Duration::from_millis(200);
    config.worker.lease_ttl = Duration::from_secs(2);
    config.retry.schedule = vec![Duration::from_millis(200), Duration::from_millis(400)];
    config.shutdown.timeout = Duration::from_secs(5);
    config
}

/// The service running in-process, with a token for a fresh organisation.
pub struct TestServer {
    pub base: String,
    pub token: String,
    pub org: String,
    pub store: Store,
    pub config: Arc<Config>,
    pub http: reqwest::Client,
    node: Option<Node>,
}

/// A response as tests look at it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    /// The error code of a `{code, detail}` body.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

impl TestServer {
    /// API and worker with the test configuration.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// API and worker with the test configuration adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config();
        adjust(&mut config);
        Self::start_config(config, Roles::BOTH).await
    }

    /// The given roles with exactly this configuration.
    pub async fn start_config(config: Config, roles: Roles) -> TestServer {
        let config = Arc::new(config);
        let node = Node::start(config.clone(), roles)
            .await
            .expect("node starts");
        let base = node
            .api_addr
            .map(|a| format!("http://{a}"))
            .unwrap_or_default();
        let org = format!("org-{}", uuid::Uuid::new_v4().simple());
        let token = node.store.create_token(&org).await.expect("token");
        TestServer {
            base,
            token,
            org,
            store: node.store.clone(),
            config,
            http: crate::support::api::http_client(),
            node: Some(node),
        }
    }

    /// What the in-process worker is doing now; `None` when this node runs no worker.
    pub fn activity(&self) -> Option<ActivitySnapshot> {
        self.node.as_ref().and_then(Node::activity)
    }

    /// A token for another organisation.
    pub async fn other_token(&self) -> String {
        let org = format!("org-{}", uuid::Uuid::new_v4().simple());
        self.store.create_token(&org).await.expect("token")
    }

    /// Sends a request with this server's token.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_as(&self.token, method, path, body, &[]).await
    }

    /// Sends a request with any token and extra headers.
    pub async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.base),
            )
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        Self::answer(response).await
    }

    /// Sends raw bytes (for malformed bodies).
    pub async fn call_raw(&self, method: &str, path: &str, body: Vec<u8>) -> Answer {
        let response = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.base),
            )
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        Self::answer(response).await
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(body)).await
    }

    /// Creates an application and returns its id.
    pub async fn create_app(&self, name: &str) -> String {
        let answer = self
            .post("/api/v1/applications", json!({ "name": name }))
            .await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        answer.body["id"].as_str().expect("id").to_string()
    }

    /// Creates an endpoint from `body` (name and url are filled in when absent).
    pub async fn create_endpoint(&self, app: &str, url: &str, mut body: Value) -> Value {
        if body.get("name").is_none() {
            body["name"] = "endpoint".into();
        }
        body["url"] = url.into();
        let answer = self
            .post(&format!("/api/v1/applications/{app}/endpoints"), body)
            .await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        answer.body
    }

    /// An application named `name` with one endpoint at `url` (default attributes); returns
    /// the application's id and the endpoint.
    pub async fn app_with_endpoint(&self, name: &str, url: &str) -> (String, Value) {
        let app = self.create_app(name).await;
        let endpoint = self.create_endpoint(&app, url, json!({})).await;
        (app, endpoint)
    }

    /// GET of one endpoint (asserting 200).
    pub async fn endpoint(&self, app: &str, endpoint: &str) -> Value {
        let answer = self
            .get(&format!("/api/v1/applications/{app}/endpoints/{endpoint}"))
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body
    }

    /// PUT of one endpoint (asserting 200); returns the answer's body.
    pub async fn put_endpoint(&self, app: &str, endpoint: &str, body: Value) -> Value {
        let answer = self
            .call(
                "PUT",
                &format!("/api/v1/applications/{app}/endpoints/{endpoint}"),
                Some(body),
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body
    }

    /// Posts a message and returns its id.
    pub async fn send_message(&self, app: &str, body: Value) -> String {
        let answer = self
            .post(&format!("/api/v1/applications/{app}/messages"), body)
            .await;
        assert_eq!(answer.status, 202, "{:?}", answer.body);
        answer.body["id"].as_str().expect("id").to_string()
    }

    /// Posts a message of event type `event` with an empty payload; returns its id.
    pub async fn send_event(&self, app: &str, event: &str) -> String {
        self.send_message(app, json!({"eventType": event, "payload": {}}))
            .await
    }

    /// Posts a message whose payload is `payload` exactly as written (spacing, escapes, key
    /// order), so its delivery can be compared byte for byte; returns its id.
    pub async fn send_raw_payload(&self, app: &str, event: &str, payload: &str) -> String {
        let body = format!(r#"{{"eventType":"{event}","payload":{payload}}}"#);
        let answer = self
            .call_raw(
                "POST",
                &format!("/api/v1/applications/{app}/messages"),
                body.into_bytes(),
            )
            .await;
        assert_eq!(answer.status, 202, "{:?}", answer.body);
        answer.body["id"].as_str().expect("id").to_string()
    }

    /// Posts one message per `n` in `numbers` (event type `x`, payload `{"n": n}`), one
    /// after the other; returns their ids in order.
    pub async fn send_numbered(&self, app: &str, numbers: std::ops::Range<usize>) -> Vec<String> {
        let mut ids = Vec::new();
        for n in numbers {
            ids.push(
                self.send_message(app, json!({"eventType": "x", "payload": {"n": n}}))
                    .await,
            );
        }
        ids
    }

    /// Posts `count` messages (payload `{"n": i}`) with up to `concurrency` requests at once;
    /// returns their ids in sending order.
    pub async fn send_many(&self, app: &str, count: usize, concurrency: usize) -> Vec<String> {
        let gate = Arc::new(Semaphore::new(concurrency));
        let sends = (0..count).map(|i| {
            let gate = gate.clone();
            async move {
                let _permit = gate.acquire().await.expect("gate");
                self.send_message(app, json!({"eventType": "load.test", "payload": {"n": i}}))
                    .await
            }
        });
        join_all(sends).await
    }

    /// The attempts of a message.
    pub async fn attempts(&self, app: &str, message: &str) -> Vec<Value> {
        let answer = self
            .get(&format!(
                "/api/v1/applications/{app}/messages/{message}/attempts"
            ))
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body.as_array().cloned().unwrap_or_default()
    }

    /// Every key under this test's prefix (listed with SCAN).
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.store.conn().await.expect("conn");
        scan_keys(&mut conn, &format!("{}:*", self.config.redis.prefix)).await
    }

    /// Graceful shutdown.
    pub async fn shutdown(mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }
}
