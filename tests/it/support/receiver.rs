//! Programmable HTTP receivers on 127.0.0.1: each records every request it gets ([`Hit`]),
//! answers what its [`Behaviour`] decides ([`Reply`]), and counts the requests whose handling
//! has ended, so a test can wait for "the receiver answered" as an event.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    /// The client's address: a new port is a new connection (a restarted worker cannot reuse
    /// a dead one's connections).
    pub peer: Option<std::net::SocketAddr>,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Hit {
    /// The delivery's `webhook-id` (empty when absent).
    pub fn webhook_id(&self) -> &str {
        self.headers
            .get("webhook-id")
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// The `webhook-id` of every hit, in arrival order.
pub fn webhook_ids(hits: &[Hit]) -> Vec<String> {
    hits.iter().map(|h| h.webhook_id().to_string()).collect()
}

/// Sorted `webhook-id`s of some hits.
pub fn sorted_ids(hits: &[Hit]) -> Vec<String> {
    let mut ids = webhook_ids(hits);
    ids.sort();
    ids
}

/// Runs when a request's handling ends: after its delay, or when the client hung up first.
pub type Done = Arc<dyn Fn() + Send + Sync>;

/// Holds a receiver's answers back until the test opens it: the way to have a response
/// arrive after something else happened, without guessing a delay.
#[derive(Default)]
pub struct Gate {
    open: AtomicBool,
    opened: tokio::sync::Notify,
}

impl Gate {
    /// Lets every held answer (and every later one) go.
    pub fn open(&self) {
        self.open.store(true, SeqCst);
        self.opened.notify_waiters();
    }

    async fn passed(&self) {
        loop {
            let opened = self.opened.notified();
            if self.open.load(SeqCst) {
                return;
            }
            opened.await;
        }
    }
}

/// What a receiver answers.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
    pub gate: Option<Arc<Gate>>,
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
            gate: None,
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

    /// Answers only once `gate` is open (then after the delay, if any).
    pub fn hold(mut self, gate: &Arc<Gate>) -> Reply {
        self.gate = Some(gate.clone());
        self
    }

    /// Calls `done` when the request's handling ends (see [`Done`]).
    pub fn on_done(mut self, done: Done) -> Reply {
        self.done = Some(done);
        self
    }
}

/// Ends a request's handling when dropped, so it runs whether the handler finishes or is
/// cancelled: calls the reply's [`Done`], then counts the request as ended.
struct DoneGuard {
    done: Option<Done>,
    ended: Arc<AtomicUsize>,
}

impl Drop for DoneGuard {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done();
        }
        self.ended.fetch_add(1, SeqCst);
    }
}

/// Requests being handled right now, and the most seen at once: `enter` on arrival, and the
/// returned [`Done`] (via [`Reply::on_done`]) when the answer goes out.
#[derive(Default)]
pub struct Gauge {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Gauge {
    pub fn enter(self: &Arc<Self>) -> Done {
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        let gauge = self.clone();
        Arc::new(move || {
            gauge.now.fetch_sub(1, SeqCst);
        })
    }

    /// Most requests in flight at once so far.
    pub fn peak(&self) -> usize {
        self.peak.load(SeqCst)
    }

    /// Requests in flight now.
    pub fn now(&self) -> usize {
        self.now.load(SeqCst)
    }
}

/// Decides the reply from the number of earlier hits on the same path and the hit itself.
pub type Behaviour = Arc<dyn Fn(usize, &Hit) -> Reply + Send + Sync>;

/// An HTTP receiver on 127.0.0.1 that records every request.
pub struct Receiver {
    /// Base URL; append any path.
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Requests whose handling has ended (answered, or abandoned by the client).
    ended: Arc<AtomicUsize>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub fn ok() -> Receiver {
        Self::with(Arc::new(|_, _| Reply::status(200)))
    }

    /// A receiver answering `status` to everything, after `delay`.
    pub fn answering(status: u16, delay: Duration) -> Receiver {
        Self::with(Arc::new(move |_, _| Reply::status(status).delay(delay)))
    }

    /// A receiver answering `status` to everything once `gate` is open.
    pub fn held(status: u16, gate: &Arc<Gate>) -> Receiver {
        let gate = gate.clone();
        Self::with(Arc::new(move |_, _| Reply::status(status).hold(&gate)))
    }

    /// A receiver with a behaviour.
    pub fn with(behaviour: Behaviour) -> Receiver {
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let ended: Arc<AtomicUsize> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let state = (hits.clone(), ended.clone(), behaviour);
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (hits, ended, behaviour) = state.clone();
                async move {
                    let hit = Hit {
                        path: req.path().to_string(),
                        peer: req.peer_addr(),
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
                    let _done = DoneGuard {
                        done: reply.done.clone(),
                        ended,
                    };
                    if let Some(gate) = &reply.gate {
                        gate.passed().await;
                    }
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
        Receiver {
            url,
            hits,
            ended,
            handle,
        }
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    /// Requests so far on one path.
    pub fn hits_on(&self, path: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.path == path).collect()
    }

    /// Whether some request on `path` carried this `webhook-id`.
    pub fn got(&self, path: &str, webhook_id: &str) -> bool {
        self.hits_on(path)
            .iter()
            .any(|h| h.webhook_id() == webhook_id)
    }

    /// Requests whose handling has ended: answered (the response is on its way), or
    /// abandoned by the client.
    pub fn ended(&self) -> usize {
        self.ended.load(SeqCst)
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}
