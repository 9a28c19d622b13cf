//! Test harness: one real `redis-server` per test run (on a free port, stopped when the test
//! process exits), the real service in-process on port 0 with a random key prefix per test,
//! and programmable HTTP receivers on 127.0.0.1.

#![allow(dead_code)] // shared by many test modules; not every module uses each helper

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use octohooks::config::Config;
use octohooks::runtime::{Node, Roles};
use octohooks::store::Store;
use serde_json::Value;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

static REDIS: OnceLock<String> = OnceLock::new();

/// URL of the run's redis-server, started on first use. A shell watchdog stops it when this
/// test process ends, so no server outlives the run.
pub fn redis_url() -> String {
    REDIS
        .get_or_init(|| {
            let port = free_port();
            let script = format!(
                "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
                 --maxmemory-policy noeviction --loglevel warning & pid=$!; \
                 while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $pid",
                parent = std::process::id()
            );
            // The watchdog shell outlives this call on purpose: it ends with the test process.
            #[allow(clippy::zombie_processes)]
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("redis-server must be installed (the README's test command installs it)");
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            format!("redis://127.0.0.1:{port}")
        })
        .clone()
}

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
            http: reqwest::Client::new(),
            node: Some(node),
        }
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
            .post("/api/v1/applications", serde_json::json!({ "name": name }))
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

    /// Posts a message and returns its id.
    pub async fn send_message(&self, app: &str, body: Value) -> String {
        let answer = self
            .post(&format!("/api/v1/applications/{app}/messages"), body)
            .await;
        assert_eq!(answer.status, 202, "{:?}", answer.body);
        answer.body["id"].as_str().expect("id").to_string()
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

    /// Every key under this test's prefix.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = self.store.conn().await.expect("conn");
        let pattern = format!("{}:*", self.config.redis.prefix);
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut conn)
            .await
            .expect("keys");
        keys.sort();
        keys
    }

    /// Graceful shutdown.
    pub async fn shutdown(mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }
}

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

/// Runs when a request's handling ends: after its delay, or when the client hung up first.
pub type Done = Arc<dyn Fn() + Send + Sync>;

/// What a receiver answers.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    pub done: Option<Done>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            delay: Duration::ZERO,
            done: None,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// Calls `done` when the request's handling ends (see [`Done`]).
    pub fn on_done(mut self, done: Done) -> Reply {
        self.done = Some(done);
        self
    }
}

/// Calls a [`Done`] when dropped, so it runs whether the handler finishes or is cancelled.
struct DoneGuard(Option<Done>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            done();
        }
    }
}

/// Requests being handled right now, and the most seen at once: `enter` on arrival, and the
/// returned [`Done`] (via [`Reply::on_done`]) when the answer goes out.
#[derive(Default)]
pub struct Gauge {
    now: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl Gauge {
    pub fn enter(self: &Arc<Self>) -> Done {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        let gauge = self.clone();
        Arc::new(move || {
            gauge.now.fetch_sub(1, SeqCst);
        })
    }

    /// Most requests in flight at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Requests in flight now.
    pub fn now(&self) -> usize {
        self.now.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Decides the reply from the number of earlier hits on the same path and the hit itself.
pub type Behaviour = Arc<dyn Fn(usize, &Hit) -> Reply + Send + Sync>;

/// An HTTP receiver on 127.0.0.1 that records every request.
pub struct Receiver {
    /// Base URL; append any path.
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub fn ok() -> Receiver {
        Self::with(Arc::new(|_, _| Reply::status(200)))
    }

    /// A receiver with a behaviour.
    pub fn with(behaviour: Behaviour) -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = (hits.clone(), behaviour);
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (hits, behaviour) = state.clone();
                async move {
                    let hit = Hit {
                        path: req.path().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect(),
                        body: body.to_vec(),
                        at: Instant::now(),
                    };
                    let reply = {
                        let mut hits = hits.lock().expect("hits");
                        let earlier = hits.iter().filter(|h| h.path == hit.path).count();
                        hits.push(hit.clone());
                        behaviour(earlier, &hit)
                    };
                    let _done = DoneGuard(reply.done.clone());
                    if !reply.delay.is_zero() {
                        tokio::time::sleep(reply.delay).await;
                    }
                    let mut response = HttpResponse::build(
                        actix_web::http::StatusCode::from_u16(reply.status).expect("status"),
                    );
                    for (name, value) in &reply.headers {
                        response.insert_header((name.as_str(), value.as_str()));
                    }
                    response.body("receiver says hi")
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Receiver { url, hits, handle }
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    /// Requests so far on one path.
    pub fn hits_on(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
