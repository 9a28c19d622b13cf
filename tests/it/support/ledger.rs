//! The delivery ledger of the at-least-once tests: what a receiver saw per `webhook-id`
//! ([`Seen`]), a backlog poster spreading messages over API nodes and applications, and the
//! reconciliation of accepted messages with deliveries (lost, duplicated).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use octohooks::config::Config;
use octohooks::store::Store;
use serde_json::json;

use super::queue::{assert_drained, explain_lost};
use super::receiver::{Hit, Receiver, Reply};
use super::wait::eventually;

/// What a receiver saw: deliveries per `webhook-id`.
#[derive(Default)]
pub struct Seen {
    pub counts: Mutex<HashMap<String, usize>>,
    pub total: AtomicUsize,
}

impl Seen {
    /// Counts one delivery (call it from a receiver's behaviour).
    pub fn record(&self, hit: &Hit) {
        let id = hit.webhook_id().to_string();
        *self.counts.lock().expect("seen").entry(id).or_insert(0) += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
    }

    /// Distinct `webhook-id`s delivered.
    pub fn distinct(&self) -> usize {
        self.counts.lock().expect("seen").len()
    }

    /// Deliveries, duplicates included.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

/// A receiver that records every delivery in `seen` and answers 200 after 1–5 ms, so there
/// is always work in flight.
pub fn recording_receiver(seen: &Arc<Seen>) -> Receiver {
    let record = seen.clone();
    Receiver::with(Arc::new(move |nth, hit| {
        record.record(hit);
        Reply::status(200).delay(Duration::from_millis(1 + (nth % 5) as u64))
    }))
}

/// Waits until `count` distinct messages were delivered.
pub async fn wait_delivered(seen: &Seen, count: usize, timeout: Duration, what: &str) {
    eventually(timeout, what, || async { seen.distinct() >= count }).await;
}

/// The accepted ids the receiver has not seen.
fn lost_ids(accepted: &[String], seen: &Seen) -> Vec<String> {
    let counts = seen.counts.lock().expect("seen");
    accepted
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .cloned()
        .collect()
}

/// Compares the accepted ids with what the receiver saw; returns (lost, duplicates).
pub fn reconcile(accepted: &[String], seen: &Seen) -> (usize, usize) {
    let lost = lost_ids(accepted, seen).len();
    let counts = seen.counts.lock().expect("seen");
    let accepted_set: HashSet<&String> = accepted.iter().collect();
    let unknown: Vec<&String> = counts
        .keys()
        .filter(|id| !accepted_set.contains(id))
        .collect();
    assert!(
        unknown.is_empty(),
        "deliveries of unknown messages: {unknown:?}"
    );
    let duplicates = counts.values().map(|c| c - 1).sum();
    (lost, duplicates)
}

/// Waits until every accepted message was delivered at least once and the deployment's
/// queues are drained (so no redelivery can still come), then returns (lost, duplicates).
/// `logs` explains a timeout (the workers' log tails).
pub async fn settle(
    accepted: &[String],
    seen: &Seen,
    store: &Store,
    timeout: Duration,
    logs: impl Fn() -> String,
) -> (usize, usize) {
    let deadline = Instant::now() + timeout;
    while reconcile(accepted, seen).0 > 0 {
        if Instant::now() >= deadline {
            let lost = lost_ids(accepted, seen);
            panic!(
                "{} of {} accepted messages not delivered after {timeout:?}; where they are:\n{}\nlogs:\n{}",
                lost.len(),
                accepted.len(),
                explain_lost(store, &lost).await,
                logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Every entry is acknowledged only after its delivery was recorded: once the queues are
    // empty, no delivery is in flight and none can come again.
    assert_drained(store).await;
    reconcile(accepted, seen)
}

/// Waits until `lost()` (of `accepted` messages) is zero; fails after `timeout` with the count
/// and `logs` (the workers' log tails).
pub async fn wait_none_lost(
    accepted: usize,
    timeout: Duration,
    lost: impl Fn() -> usize,
    logs: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let lost = lost();
        if lost == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{lost} of {accepted} accepted messages not delivered after {timeout:?}; logs:\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Most requests that can be in flight at once on one worker (and so be redelivered after
/// it is killed): every delivered entry is acknowledged in the same script that records its
/// attempt, so only requests under way when the process died can be sent again. Their number
/// is capped by the worker's `max_in_flight`, by `endpoint.max_in_flight` for each of the
/// `endpoints` it serves, and by the read window (4 × `queue.batch_size`) of each of its
/// `partitions`.
pub fn in_flight_bound(config: &Config, endpoints: usize, partitions: usize) -> usize {
    config
        .worker
        .max_in_flight
        .min(endpoints * config.endpoint.max_in_flight)
        .min(partitions * 4 * config.queue.batch_size)
}

/// Posts `count` messages with `posters` concurrent clients. Message `n` goes to API node
/// `n mod bases` and to application `(n / bases) mod apps`, so consecutive messages alternate
/// between the nodes and every application is posted to through each of them. Resolves to
/// the ids of the accepted messages; every message must be answered 202 at once.
pub fn post_messages(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    apps: &[String],
    count: usize,
    posters: usize,
) -> tokio::task::JoinHandle<Vec<String>> {
    let posted = post_backlog(http, bases, token, apps, count, posters, None);
    actix_rt::spawn(async move {
        let posted = posted.await.expect("posters");
        assert_eq!(posted.retried, 0, "messages refused: {posted:?}");
        posted.ids()
    })
}

/// A message answered 202.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: String,
    pub app: String,
    /// When the 202 arrived.
    pub at: Instant,
}

/// What a backlog poster got.
#[derive(Debug, Default)]
pub struct Posted {
    /// The messages answered 202, in no particular order.
    pub accepted: Vec<Accepted>,
    /// Requests answered otherwise (503 while Redis fails over, a dropped connection) and
    /// sent again.
    pub retried: usize,
    /// Messages still not accepted when their patience ran out (never acknowledged, so not
    /// lost).
    pub refused: usize,
}

impl Posted {
    /// Ids of the accepted messages.
    pub fn ids(&self) -> Vec<String> {
        self.accepted.iter().map(|a| a.id.clone()).collect()
    }
}

/// Like [`post_messages`], but riding out faults as a careful client does: each message
/// carries an `Idempotency-Key`, and an answer other than 202 or a failed request is sent
/// again with the same key (to the other API node) until it is accepted or `patience` has
/// passed since its first attempt.
pub fn post_messages_through_faults(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    apps: &[String],
    count: usize,
    posters: usize,
    patience: Duration,
) -> tokio::task::JoinHandle<Posted> {
    post_backlog(http, bases, token, apps, count, posters, Some(patience))
}

/// Pause before a refused message is sent again.
const RESEND_AFTER: Duration = Duration::from_millis(100);

/// The posters of [`post_messages`] and [`post_messages_through_faults`]: without
/// `patience`, the first refusal of a message ends its attempts.
fn post_backlog(
    http: &reqwest::Client,
    bases: &[String],
    token: &str,
    apps: &[String],
    count: usize,
    posters: usize,
    patience: Option<Duration>,
) -> tokio::task::JoinHandle<Posted> {
    let next = Arc::new(AtomicUsize::new(0));
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut tasks = Vec::new();
    for _ in 0..posters {
        let (http, bases, token) = (http.clone(), bases.to_vec(), token.to_string());
        let (apps, next, run) = (apps.to_vec(), next.clone(), run.clone());
        tasks.push(actix_rt::spawn(async move {
            let mut posted = Posted::default();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= count {
                    return posted;
                }
                let app = &apps[(n / bases.len()) % apps.len()];
                let first = Instant::now();
                for attempt in 0.. {
                    let base = &bases[(n + attempt) % bases.len()];
                    let mut request = http
                        .post(format!("{base}/api/v1/applications/{app}/messages"))
                        .bearer_auth(&token)
                        .json(&json!({"eventType": "load.test", "payload": {"n": n}}));
                    if patience.is_some() {
                        request = request.header("idempotency-key", format!("{run}-{n}"));
                    }
                    let answer = match request.send().await {
                        Ok(response) if response.status().as_u16() == 202 => {
                            let body: serde_json::Value = response.json().await.expect("json");
                            Ok(body["id"].as_str().expect("id").to_string())
                        }
                        Ok(response) => Err(response.status().to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match answer {
                        Ok(id) => {
                            posted.accepted.push(Accepted {
                                id,
                                app: app.clone(),
                                at: Instant::now(),
                            });
                            break;
                        }
                        Err(why) => {
                            assert!(
                                !why.starts_with('4'),
                                "message {n} answered {why}: a client error is a bug"
                            );
                            posted.retried += 1;
                            if first.elapsed() >= patience.unwrap_or_default() {
                                posted.refused += 1;
                                break;
                            }
                            tokio::time::sleep(RESEND_AFTER).await;
                        }
                    }
                }
            }
        }));
    }
    actix_rt::spawn(async move {
        let mut all = Posted::default();
        for task in tasks {
            let posted = task.await.expect("poster");
            all.accepted.extend(posted.accepted);
            all.retried += posted.retried;
            all.refused += posted.refused;
        }
        all
    })
}
