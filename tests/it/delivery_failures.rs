//! How each kind of failure is classified and acted on: 410 disables, 429/503 honour
//! Retry-After (capped), timeouts, redirects (never followed), refused connections, DNS
//! failures and SSRF-blocked addresses each leave a precise attempt record; a kept-alive
//! connection the receiver drops as a request goes out is tried again at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::api::{attempts_of, id_of, int as ms};
use crate::support::queue::{assert_drained, retries_of_endpoint};
use crate::support::receiver::{Receiver, Reply};
use crate::support::redis_server::free_port;
use crate::support::server::TestServer;
use crate::support::wait::{eventually, wait_attempts, wait_quiet, WAIT};

const SLACK_MS: i64 = 300;
const EPSILON_MS: i64 = 5;
/// How late past its announced time a retry may start on a loaded machine.
const LATE_MS: i64 = 2000;

/// A short schedule: one retry after 200 ms (± 20 %), then give up.
fn one_retry(c: &mut octohooks::config::Config) {
    c.retry.schedule = vec![Duration::from_millis(200)];
    c.retry.jitter = 0.2;
}

#[actix_rt::test]
async fn gone_disables_the_endpoint_without_retrying() {
    let server = TestServer::start_with(one_retry).await;
    let receiver = Receiver::with(Arc::new(|_, hit| {
        Reply::status(if hit.path == "/gone" { 410 } else { 200 })
    }));
    let (app, gone) = server
        .app_with_endpoint("gone", &format!("{}/gone", receiver.url))
        .await;
    server
        .create_endpoint(&app, &format!("{}/sentinel", receiver.url), json!({}))
        .await;
    let endpoint_path = format!("/api/v1/applications/{app}/endpoints/{}", id_of(&gone));
    let first = server.send_event(&app, "x").await;
    let attempts = wait_attempts(&server, &app, &first, 2).await;
    let to_gone = attempts_of(&attempts, &id_of(&gone));
    assert_eq!(to_gone.len(), 1, "{attempts:#?}");
    assert_eq!(to_gone[0]["status"], "failed", "410 is final");
    assert_eq!(to_gone[0]["responseStatusCode"], 410);
    assert!(to_gone[0]["nextAttempt"].is_null());
    eventually(WAIT, "endpoint disabled", || async {
        server.get(&endpoint_path).await.body["enabled"] == false
    })
    .await;
    // Handled, and no retry scheduled: none can come.
    wait_quiet(&server).await;
    let retries = retries_of_endpoint(&server.store, &id_of(&gone)).await;
    assert!(retries.is_empty(), "410 scheduled a retry: {retries:?}");
    assert_eq!(receiver.hits_on("/gone").len(), 1);
    assert_eq!(server.attempts(&app, &first).await.len(), 2);

    // Later messages skip the disabled endpoint.
    let second = server.send_event(&app, "x").await;
    eventually(WAIT, "sentinel gets the second message", || async {
        receiver.hits_on("/sentinel").len() == 2
    })
    .await;
    // Its fan-out is done once the node is quiet: a delivery to /gone would have shown.
    wait_quiet(&server).await;
    assert_eq!(receiver.hits_on("/gone").len(), 1);
    assert_eq!(server.attempts(&app, &second).await.len(), 1);

    // Re-enabled by its owner, it is tried again (and, still gone, disabled again).
    let answer = server
        .call(
            "PUT",
            &endpoint_path,
            Some(json!({"name": "back", "url": gone["url"], "enabled": true})),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    server.send_event(&app, "x").await;
    eventually(WAIT, "delivery after re-enabling", || async {
        receiver.hits_on("/gone").len() == 2
    })
    .await;
    eventually(WAIT, "disabled again", || async {
        server.get(&endpoint_path).await.body["enabled"] == false
    })
    .await;
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn an_endpoint_failing_for_too_long_is_disabled() {
    let server = TestServer::start_with(|c| {
        c.retry.schedule = vec![Duration::from_millis(200); 4];
        c.retry.jitter = 0.0;
        c.endpoint.disable_after = Duration::from_millis(300);
        c.circuit.failure_threshold = 1000;
    })
    .await;
    let receiver = Receiver::with(Arc::new(|_, hit| {
        Reply::status(if hit.path == "/down" { 500 } else { 200 })
    }));
    let (app, down) = server
        .app_with_endpoint("auto-disable", &format!("{}/down", receiver.url))
        .await;
    server
        .create_endpoint(&app, &format!("{}/sentinel", receiver.url), json!({}))
        .await;
    let endpoint_path = format!("/api/v1/applications/{app}/endpoints/{}", id_of(&down));
    let first = server.send_event(&app, "x").await;
    eventually(
        WAIT,
        "endpoint disabled after failing for 300 ms",
        || async { server.get(&endpoint_path).await.body["enabled"] == false },
    )
    .await;
    let hits = receiver.hits_on("/down");
    let failing_for = hits.last().expect("hit").at.duration_since(hits[0].at);
    assert!(
        failing_for >= Duration::from_millis(300 - EPSILON_MS as u64),
        "disabled after failing for only {failing_for:?}"
    );
    // The rest of the schedule (5 attempts in all) is not carried out: once the disabling
    // attempt is handled, no retry of the endpoint is left to come.
    wait_quiet(&server).await;
    let retries = retries_of_endpoint(&server.store, &id_of(&down)).await;
    assert!(retries.is_empty(), "retries after disabling: {retries:?}");
    assert_eq!(receiver.hits_on("/down").len(), hits.len());
    assert!(
        hits.len() < 5,
        "{} attempts: the schedule ran out first",
        hits.len()
    );
    // The attempt that disabled the endpoint is final: no retry is announced or scheduled.
    let attempts = server.attempts(&app, &first).await;
    let mine = attempts_of(&attempts, &id_of(&down));
    assert_eq!(mine.len(), hits.len(), "{mine:#?}");
    let last = mine.last().expect("attempt");
    assert_eq!(last["status"], "failed", "{mine:#?}");
    assert!(last["nextAttempt"].is_null(), "{last}");
    assert!(mine[..mine.len() - 1]
        .iter()
        .all(|a| a["status"] == "pending"));
    assert_drained(&server.store).await;
    let second = server.send_event(&app, "x").await;
    eventually(WAIT, "sentinel gets the second message", || async {
        receiver
            .hits_on("/sentinel")
            .iter()
            .any(|h| h.headers["webhook-id"] == second)
    })
    .await;
    wait_quiet(&server).await;
    assert_eq!(receiver.hits_on("/down").len(), hits.len());
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn retry_after_on_429_and_503_is_honoured_and_capped() {
    let server = TestServer::start_with(|c| {
        one_retry(c);
        c.retry.retry_after_max = Duration::from_millis(1500);
    })
    .await;
    let receiver = Receiver::with(Arc::new(|nth, hit| {
        if nth > 0 {
            return Reply::status(200);
        }
        match hit.path.as_str() {
            "/429" => Reply::status(429).header("Retry-After", "1"),
            "/503" => Reply::status(503).header("Retry-After", "1"),
            "/429-long" => Reply::status(429).header("Retry-After", "3600"),
            // The HTTP-date form (RFC 9110): 3 s ahead, so capped at 1.5 s like the rest.
            "/503-date" => {
                let at = std::time::SystemTime::now() + Duration::from_secs(3);
                Reply::status(503).header("Retry-After", &httpdate::fmt_http_date(at))
            }
            // Retry-After only means something on 429 and 503.
            _ => Reply::status(500).header("Retry-After", "5"),
        }
    }));
    let app = server.create_app("retry-after").await;
    // (path, expected delay in ms, lower bound in ms)
    let cases = [
        ("/429", 1000, 1000),
        ("/503", 1000, 1000),
        ("/429-long", 1500, 1500),
        ("/503-date", 1500, 1500),
        ("/500", 240, 160),
    ];
    let mut endpoints = Vec::new();
    for (path, _, _) in &cases {
        let endpoint = server
            .create_endpoint(&app, &format!("{}{path}", receiver.url), json!({}))
            .await;
        endpoints.push(id_of(&endpoint));
    }
    let message = server.send_event(&app, "x").await;
    let attempts = wait_attempts(&server, &app, &message, 2 * cases.len()).await;
    for ((path, high, low), endpoint) in cases.iter().zip(&endpoints) {
        let mine = attempts_of(&attempts, endpoint);
        assert_eq!(mine.len(), 2, "{path}: {mine:#?}");
        assert_eq!(mine[0]["status"], "pending", "{path}");
        assert_eq!(mine[1]["status"], "success", "{path}");
        let announced =
            ms(&mine[0]["nextAttempt"]) - ms(&mine[0]["timestamp"]) - ms(&mine[0]["durationMs"]);
        assert!(
            (low - EPSILON_MS..=high + SLACK_MS).contains(&announced),
            "{path}: nextAttempt {announced} ms after the response, expected [{low}, {high}]"
        );
        let hits = receiver.hits_on(path);
        assert_eq!(hits.len(), 2, "{path}");
        // Never early; how late depends on the machine's load (the retry mover's tick, two
        // busy cores), so only an outlier beyond the announced time plus LATE_MS fails.
        let gap = hits[1].at.duration_since(hits[0].at).as_millis() as i64;
        assert!(
            (low - EPSILON_MS..=announced + LATE_MS).contains(&gap),
            "{path}: retried after {gap} ms, announced {announced} ms, not before {low}"
        );
    }
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_slow_receiver_times_out() {
    let server = TestServer::start_with(|c| {
        one_retry(c);
        c.delivery.timeout = Duration::from_millis(500);
    })
    .await;
    let receiver = Receiver::with(Arc::new(|nth, _| {
        let reply = Reply::status(200);
        if nth == 0 {
            reply.delay(Duration::from_millis(1500))
        } else {
            reply
        }
    }));
    let (app, _) = server
        .app_with_endpoint("timeout", &format!("{}/slow", receiver.url))
        .await;
    let message = server.send_event(&app, "x").await;
    let attempts = wait_attempts(&server, &app, &message, 2).await;
    let first = &attempts[0];
    assert_eq!(first["error"], "timeout", "{first}");
    assert!(first["responseStatusCode"].is_null(), "{first}");
    assert_eq!(first["status"], "pending");
    let duration = ms(&first["durationMs"]);
    assert!(
        (500 - EPSILON_MS..=500 + SLACK_MS).contains(&duration),
        "timed out after {duration} ms"
    );
    assert_eq!(attempts[1]["status"], "success", "{:?}", attempts[1]);
    assert_eq!(receiver.hits_on("/slow").len(), 2);
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn redirects_are_failures_and_never_followed() {
    let server = TestServer::start_with(one_retry).await;
    let receiver = Receiver::with(Arc::new(|_, hit| {
        let code: u16 = hit.path.trim_start_matches("/r").parse().unwrap_or(200);
        if hit.path.starts_with("/r") {
            Reply::status(code).header("Location", &format!("/landing{code}"))
        } else {
            Reply::status(200)
        }
    }));
    let app = server.create_app("redirects").await;
    let codes = [301u16, 302, 303, 307, 308];
    let mut endpoints = Vec::new();
    for code in codes {
        let endpoint = server
            .create_endpoint(&app, &format!("{}/r{code}", receiver.url), json!({}))
            .await;
        endpoints.push(id_of(&endpoint));
    }
    let message = server.send_event(&app, "x").await;
    // Two attempts each (first plus one retry), both redirects.
    let attempts = wait_attempts(&server, &app, &message, 10).await;
    for (code, endpoint) in codes.iter().zip(&endpoints) {
        let mine = attempts_of(&attempts, endpoint);
        assert_eq!(mine.len(), 2, "{code}: {mine:#?}");
        for attempt in &mine {
            assert_eq!(attempt["responseStatusCode"], *code);
            assert_eq!(attempt["error"], "redirect");
        }
        assert_eq!(mine[0]["status"], "pending");
        assert_eq!(mine[1]["status"], "failed");
        assert_eq!(receiver.hits_on(&format!("/r{code}")).len(), 2);
    }
    // A followed redirect would have been requested within its delivery, handled by now.
    wait_quiet(&server).await;
    let landed: Vec<String> = receiver
        .hits()
        .into_iter()
        .filter(|h| h.path.starts_with("/landing"))
        .map(|h| h.path)
        .collect();
    assert!(landed.is_empty(), "redirects were followed: {landed:?}");
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn unreachable_receivers_are_classified() {
    let server = TestServer::start_with(one_retry).await;
    let app = server.create_app("unreachable").await;
    // Nothing listens on a port just freed. The host name's 64-character label is refused by
    // the resolver itself, so the lookup fails without a query leaving the machine (a plain
    // `.invalid` name would be sent to the configured DNS server).
    let refused = server
        .create_endpoint(
            &app,
            &format!("http://127.0.0.1:{}/x", free_port()),
            json!({}),
        )
        .await;
    let dns = server
        .create_endpoint(
            &app,
            &format!("http://{}.invalid/x", "a".repeat(64)),
            json!({}),
        )
        .await;
    let message = server.send_event(&app, "x").await;
    let attempts = wait_attempts(&server, &app, &message, 4).await;
    for (endpoint, error) in [(&refused, "connection_refused"), (&dns, "dns")] {
        let mine = attempts_of(&attempts, &id_of(endpoint));
        assert_eq!(mine.len(), 2, "{error}: {mine:#?}");
        for attempt in &mine {
            assert_eq!(attempt["error"], error, "{attempt}");
            assert!(attempt["responseStatusCode"].is_null(), "{attempt}");
        }
        assert_eq!(mine[0]["status"], "pending");
        assert_eq!(mine[1]["status"], "failed");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn private_addresses_are_refused_unless_allowed() {
    let server = TestServer::start_with(|c| {
        one_retry(c);
        c.delivery.allow_private_ips = false;
    })
    .await;
    let receiver = Receiver::ok();
    let port = receiver.url.rsplit(':').next().expect("port").to_string();
    let app = server.create_app("ssrf").await;
    // IP literals are checked before connecting; names after resolution.
    let urls = [
        format!("http://127.0.0.1:{port}/literal"),
        format!("http://localhost:{port}/name"),
        format!("http://[::1]:{port}/v6"),
        format!("http://[::ffff:127.0.0.1]:{port}/mapped"),
        "http://10.0.0.1/private".to_string(),
        "http://169.254.169.254/metadata".to_string(),
    ];
    let mut endpoints = Vec::new();
    for url in &urls {
        endpoints.push(id_of(&server.create_endpoint(&app, url, json!({})).await));
    }
    let message = server.send_event(&app, "x").await;
    let attempts = wait_attempts(&server, &app, &message, 2 * urls.len()).await;
    for (url, endpoint) in urls.iter().zip(&endpoints) {
        let mine = attempts_of(&attempts, endpoint);
        assert_eq!(mine.len(), 2, "{url}: {mine:#?}");
        for attempt in &mine {
            assert_eq!(attempt["error"], "blocked_address", "{url}: {attempt}");
            assert!(attempt["responseStatusCode"].is_null());
        }
    }
    wait_quiet(&server).await;
    assert!(
        receiver.hits().is_empty(),
        "a blocked delivery reached the receiver"
    );
    server.shutdown().await;
    receiver.stop().await;
}

/// What a [`Dropping`] receiver does with a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Drop {
    /// Answer 200 and keep the connection open.
    Answer,
    /// Close the connection after reading the request, without an answer (FIN).
    Close,
    /// Reset the connection after reading the request (RST).
    Reset,
}

/// A raw HTTP/1.1 receiver on keep-alive connections that drops some requests' connections
/// instead of answering them, as a server whose idle timeout fires just as a request comes in
/// on a connection it kept alive. `plan[n]` says what happens to the n-th request (from 0);
/// later ones are answered. Counts connections and records each request's `webhook-id`.
struct Dropping {
    url: String,
    ids: Arc<std::sync::Mutex<Vec<String>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

/// Reads what has arrived on `socket` into `buf`; false once the peer closed or failed.
async fn read_more(socket: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 4096];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

impl Dropping {
    async fn start(plan: &'static [Drop]) -> Dropping {
        use std::sync::atomic::Ordering::SeqCst;
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let ids: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let connections: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (seen, accepted) = (ids.clone(), connections.clone());
        actix_rt::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                accepted.fetch_add(1, SeqCst);
                let seen = seen.clone();
                actix_rt::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // One request: the head up to its blank line, then its body.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            if !read_more(&mut socket, &mut buf).await {
                                return;
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                        let header = |name: &str| {
                            head.lines()
                                .find_map(|l| l.strip_prefix(name))
                                .map(|v| v.trim().to_string())
                        };
                        let length: usize = header("content-length:")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + length {
                            if !read_more(&mut socket, &mut buf).await {
                                return;
                            }
                        }
                        buf.drain(..head_end + length);
                        let n = {
                            let mut ids = seen.lock().expect("ids");
                            ids.push(header("webhook-id:").unwrap_or_default());
                            ids.len() - 1
                        };
                        match plan.get(n).copied().unwrap_or(Drop::Answer) {
                            Drop::Answer => {
                                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                                if socket.write_all(ok).await.is_err() {
                                    return;
                                }
                            }
                            Drop::Close => return,
                            Drop::Reset => {
                                let _ = socket.set_zero_linger();
                                return;
                            }
                        }
                    }
                });
            }
        });
        Dropping {
            url,
            ids,
            connections,
        }
    }

    fn ids(&self) -> Vec<String> {
        self.ids.lock().expect("ids").clone()
    }
}

#[actix_rt::test]
async fn a_kept_alive_connection_dropped_as_a_request_goes_out_is_tried_again_on_another() {
    use std::sync::atomic::Ordering::SeqCst;
    let server = TestServer::start_with(one_retry).await;
    // The second request goes out on the connection the first left open, which the receiver
    // closes; the fourth on the next one, which it resets.
    let receiver = Dropping::start(&[
        Drop::Answer,
        Drop::Close,
        Drop::Answer,
        Drop::Reset,
        Drop::Answer,
    ])
    .await;
    let (app, _) = server
        .app_with_endpoint("dropping", &format!("{}/hook", receiver.url))
        .await;
    let mut messages = Vec::new();
    for _ in 0..3 {
        let message = server.send_event(&app, "x").await;
        // One at a time: each next message finds the last one's connection idle in the pool.
        let attempts = wait_attempts(&server, &app, &message, 1).await;
        assert_eq!(attempts[0]["status"], "success", "{attempts:#?}");
        messages.push(message);
    }
    wait_quiet(&server).await;
    for message in &messages {
        let attempts = server.attempts(&app, message).await;
        assert_eq!(attempts.len(), 1, "{message}: {attempts:#?}");
        assert_eq!(attempts[0]["status"], "success", "{attempts:#?}");
    }
    let [first, second, third] = [0, 1, 2].map(|i| messages[i].clone());
    assert_eq!(
        receiver.ids(),
        [first, second.clone(), second, third.clone(), third],
        "each dropped request is sent once more, on a new connection"
    );
    assert_eq!(receiver.connections.load(SeqCst), 3);
    server.shutdown().await;
}
