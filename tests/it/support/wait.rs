//! Waiting for events instead of sleeping: poll a condition until it holds (or fail with what
//! was last seen), and [`wait_quiet`], which tells when a node has fully handled everything
//! it was given (a delivery, a late response, a retry that fell due).

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::queue::depth;
use super::receiver::Receiver;
use super::server::TestServer;

/// How long the waits of most tests give an event that should come within a second or two.
pub const WAIT: Duration = Duration::from_secs(10);

/// Between two looks at a polled condition.
const POLL: Duration = Duration::from_millis(25);

/// Waits until `check` holds, polling; panics with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `probe` until `done` accepts what it returns, and returns that; panics with `what`
/// and the last value seen after `timeout`.
pub async fn poll_until<T, F, Fut>(
    timeout: Duration,
    what: &str,
    mut probe: F,
    done: impl Fn(&T) -> bool,
) -> T
where
    T: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let value = probe().await;
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}; last seen: {value:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the node has nothing left to do now: its worker has no job open and no
/// request in flight ([`TestServer::activity`]), no partition stream holds an entry (read or
/// not: entries are deleted when acknowledged), and no retry is due. Retries scheduled for
/// later may wait. Once this returns, every delivery the node was given, and every response
/// it was waiting for, has been handled and its outcome written.
///
/// A node without the worker role is judged by the queues alone.
pub async fn wait_quiet(server: &TestServer) {
    poll_until(
        WAIT,
        "the node quiet and its queues settled",
        || async { (server.activity(), depth(&server.store).await) },
        |(activity, depth)| activity.is_none_or(|a| a.is_quiet()) && depth.is_settled(),
    )
    .await;
}

/// Waits until a message has at least `count` attempts and returns them.
pub async fn wait_attempts(
    server: &TestServer,
    app: &str,
    message: &str,
    count: usize,
) -> Vec<Value> {
    poll_until(
        WAIT,
        &format!("{count} attempts of {message}"),
        || server.attempts(app, message),
        |attempts| attempts.len() >= count,
    )
    .await
}

/// Waits until the message has an attempt with this status (for any endpoint when
/// `endpoint` is `None`); returns all its attempts.
pub async fn wait_attempt_status(
    server: &TestServer,
    app: &str,
    message: &str,
    endpoint: Option<&Value>,
    status: &str,
) -> Vec<Value> {
    poll_until(
        WAIT,
        &format!("a {status} attempt of {message}"),
        || server.attempts(app, message),
        |attempts| {
            attempts.iter().any(|a| {
                a["status"] == status && endpoint.is_none_or(|e| a["endpointId"] == e["id"])
            })
        },
    )
    .await
}

/// Polls an endpoint until `check` holds on it and returns it; panics after `timeout`.
pub async fn endpoint_when(
    server: &TestServer,
    app: &str,
    id: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    poll_until(timeout, what, || server.endpoint(app, id), check).await
}

/// Waits until the wall clock (epoch ms, the unit of stored timestamps) is past `ms`, so a
/// write made now gets a later timestamp than one stamped `ms`.
pub async fn wait_clock_past(ms: i64) {
    while octohooks::clock::now_ms() <= ms {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits until `receiver` has answered `count` requests, then until the node has handled
/// the responses ([`wait_quiet`]): the outcome of every one of those deliveries is written.
pub async fn wait_answered_and_quiet(server: &TestServer, receiver: &Receiver, count: usize) {
    eventually(WAIT, &format!("{count} requests answered"), || async {
        receiver.ended() >= count
    })
    .await;
    wait_quiet(server).await;
}

/// Checks `check` (which asserts) over and over for `period`: for the few claims that are
/// about a stretch of time itself ("a draining worker keeps its leases longer than a lease
/// lives"), where no event could stand in for the time passing.
pub async fn holds_for<F, Fut>(period: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let until = Instant::now() + period;
    while Instant::now() < until {
        check().await;
        tokio::time::sleep(POLL).await;
    }
}
