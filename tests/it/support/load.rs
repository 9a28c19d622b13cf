//! Steady load through faults: a poster that sends messages at a fixed rate and, like a careful
//! client, retries each one with its own `Idempotency-Key` until it is accepted, tallying every
//! answer it got on the way (202, 503, transport errors, ...). Because retries reuse the key, a
//! message whose first answer was lost is still created once, so every accepted id is one
//! message and nothing accepted can be unknown to the ledger.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a client waits between tries of one message.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Concurrent clients: enough to keep the rate while some are retrying.
const CLIENTS: usize = 24;

/// What the poster got.
#[derive(Debug, Default, Clone)]
pub struct Posted {
    /// The ids of the accepted messages, in message-number order.
    pub accepted: Vec<String>,
    /// Answers by kind: `"202"`, `"503 unavailable"`, `"transport"`, ...
    pub answers: BTreeMap<String, usize>,
    /// When each message was first sent, by message number (for end-to-end lag).
    pub sent_at: BTreeMap<usize, Instant>,
}

impl Posted {
    /// Answers other than the `allowed` kinds.
    pub fn unexpected(&self, allowed: &[&str]) -> BTreeMap<String, usize> {
        self.answers
            .iter()
            .filter(|(kind, _)| !allowed.contains(&kind.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// How many answers of `kind`.
    pub fn count(&self, kind: &str) -> usize {
        self.answers.get(kind).copied().unwrap_or(0)
    }
}

/// A running poster; `finish` waits for every message to be accepted.
pub struct Poster {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ids: Arc<Mutex<BTreeMap<usize, String>>>,
    sent_at: Arc<Mutex<BTreeMap<usize, Instant>>>,
    answers: Arc<Mutex<BTreeMap<String, usize>>>,
    sent: Arc<AtomicUsize>,
}

impl Poster {
    /// Starts posting messages `numbers` to `apps` (round robin) at `rate` per second through
    /// the API at `base` with `token`. Message `n` has payload `{"n": n}` and idempotency key
    /// `chaos-<n>`.
    pub fn start(
        base: &str,
        token: &str,
        apps: &[String],
        numbers: std::ops::Range<usize>,
        rate: f64,
    ) -> Poster {
        let (first, count) = (numbers.start, numbers.len());
        let http = super::api::http_client();
        let next = Arc::new(AtomicUsize::new(0));
        let ids: Arc<Mutex<BTreeMap<usize, String>>> = Arc::default();
        let sent_at: Arc<Mutex<BTreeMap<usize, Instant>>> = Arc::default();
        let answers: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let sent = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tasks = (0..CLIENTS)
            .map(|_| {
                let (http, base, token) = (http.clone(), base.to_string(), token.to_string());
                let (apps, next, ids) = (apps.to_vec(), next.clone(), ids.clone());
                let sent_at = sent_at.clone();
                let (answers, sent) = (answers.clone(), sent.clone());
                tokio::spawn(async move {
                    loop {
                        let nth = next.fetch_add(1, Ordering::SeqCst);
                        if nth >= count {
                            return;
                        }
                        let n = first + nth;
                        let due = start + Duration::from_secs_f64(nth as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                        sent_at.lock().expect("sent").insert(n, Instant::now());
                        let url = format!(
                            "{base}/api/v1/applications/{}/messages",
                            apps[n % apps.len()]
                        );
                        let body = json!({"eventType": "chaos", "payload": {"n": n}});
                        let key = format!("chaos-{n}");
                        let id =
                            post_until_accepted(&http, &url, &token, &key, &body, &answers).await;
                        ids.lock().expect("ids").insert(n, id);
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Poster {
            tasks,
            ids,
            sent_at,
            answers,
            sent,
        }
    }

    /// Messages accepted so far.
    pub fn accepted(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }

    /// Waits until every message was accepted; the ids and the tally of answers.
    pub async fn finish(self) -> Posted {
        for task in self.tasks {
            task.await.expect("poster client");
        }
        let ids = self.ids.lock().expect("ids");
        Posted {
            accepted: ids.values().cloned().collect(),
            answers: self.answers.lock().expect("answers").clone(),
            sent_at: self.sent_at.lock().expect("sent").clone(),
        }
    }
}

/// Posts `body` to `url` until a 202, retrying 503s, in-progress idempotency answers and
/// transport errors with the same idempotency `key`; any other answer fails the test (nothing
/// else is acceptable from an API in trouble). Tallies the answers; returns the message id.
pub async fn post_until_accepted(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    key: &str,
    body: &Value,
    answers: &Mutex<BTreeMap<String, usize>>,
) -> String {
    loop {
        let sent = http
            .post(url)
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await;
        let (kind, accepted) = match sent {
            Err(_) => ("transport".to_string(), None),
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let code = body["code"].as_str().unwrap_or("").to_string();
                match status {
                    202 => ("202".to_string(), body["id"].as_str().map(str::to_string)),
                    503 if code == "unavailable" => (format!("{status} {code}"), None),
                    409 if code == "idempotency_key_in_progress" => {
                        (format!("{status} {code}"), None)
                    }
                    _ => panic!("message {key}: unexpected answer {status} {body}"),
                }
            }
        };
        *answers.lock().expect("answers").entry(kind).or_insert(0) += 1;
        if let Some(id) = accepted {
            return id;
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
