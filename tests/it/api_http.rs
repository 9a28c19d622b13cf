//! HTTP-level behaviour: CORS on every answer and preflights, body limits (413), the health
//! check, and JSON answers for unknown routes (404) and wrong methods (405).

use std::io::{Read, Write};

use serde_json::json;

use crate::support::api::{assert_error, assert_error_body, authed_raw, raw, Raw};
use crate::support::server::TestServer;

const APPS: &str = "/api/v1/applications";

fn assert_cors(answer: &Raw, what: &str) {
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("*"),
        "{what}: {:?}",
        answer.headers
    );
}

#[actix_rt::test]
async fn every_answer_allows_any_origin() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let auth = format!("Bearer {}", server.token);
    let with_auth = [
        ("authorization", auth.as_str()),
        ("origin", "https://somewhere.example"),
    ];
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, Option<Vec<u8>>);
    let cases: Vec<Case> = vec![
        ("GET", "/health".into(), vec![], None),
        ("GET", APPS.into(), with_auth.to_vec(), None),
        ("GET", format!("{APPS}/{app}"), with_auth.to_vec(), None),
        (
            "POST",
            APPS.into(),
            with_auth.to_vec(),
            Some(br#"{"name":"b"}"#.to_vec()),
        ),
        ("POST", APPS.into(), with_auth.to_vec(), Some(b"{".to_vec())),
        (
            "POST",
            APPS.into(),
            with_auth.to_vec(),
            Some(b"{}".to_vec()),
        ),
        ("GET", format!("{APPS}/nope"), with_auth.to_vec(), None),
        ("GET", APPS.into(), vec![], None),
        ("PATCH", APPS.into(), with_auth.to_vec(), None),
        ("GET", "/no/such/route".into(), vec![], None),
    ];
    for (method, path, headers, body) in cases {
        let answer = raw(&server, method, &path, &headers, body).await;
        assert_cors(&answer, &format!("{method} {path} -> {}", answer.status));
    }
    // The list cursor and the replay marker are readable by browsers.
    let answer = raw(&server, "GET", APPS, &with_auth, None).await;
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(exposed.contains("x-next-iterator"), "{exposed}");
    assert!(exposed.contains("idempotent-replayed"), "{exposed}");
    server.shutdown().await;
}

#[actix_rt::test]
async fn preflight_answers_2xx_with_the_allowed_methods_and_headers() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    for path in [
        APPS.to_string(),
        format!("{APPS}/{app}"),
        format!("{APPS}/{app}/endpoints"),
        format!("{APPS}/{app}/endpoints/x"),
        format!("{APPS}/{app}/messages"),
        format!("{APPS}/{app}/messages/x"),
        "/health".to_string(),
    ] {
        // A preflight carries no credentials.
        let answer = raw(
            &server,
            "OPTIONS",
            &path,
            &[
                ("origin", "https://dashboard.example"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type, idempotency-key",
                ),
            ],
            None,
        )
        .await;
        assert!(
            (200..300).contains(&answer.status),
            "OPTIONS {path}: {} {:?}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        assert_cors(&answer, &path);
        let methods = answer
            .header("access-control-allow-methods")
            .unwrap_or_default()
            .to_ascii_uppercase();
        for method in ["GET", "POST", "PUT", "DELETE"] {
            assert!(
                methods.contains(method),
                "{path}: allow-methods {methods:?}"
            );
        }
        let headers = answer
            .header("access-control-allow-headers")
            .unwrap_or_default()
            .to_ascii_lowercase();
        for header in ["authorization", "content-type", "idempotency-key"] {
            assert!(
                headers.contains(header),
                "{path}: allow-headers {headers:?}"
            );
        }
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn health_is_200_json_without_authentication() {
    let server = TestServer::start().await;
    let answer = raw(&server, "GET", "/health", &[], None).await;
    assert_eq!(answer.status, 200);
    assert!(answer
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
    assert_eq!(answer.json(), json!({"status": "ok", "redis": "ok"}));
    // A token does not hurt, even an invalid one.
    let answer = raw(
        &server,
        "GET",
        "/health",
        &[("authorization", "Bearer nope")],
        None,
    )
    .await;
    assert_eq!(answer.status, 200);
    server.shutdown().await;
}

#[actix_rt::test]
async fn unknown_routes_are_404_json() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    // (`/` and `/portal` are the dashboard's pages: tests/it/dashboard.rs.)
    for path in [
        "/portal/nope".to_string(),
        "/assets/nope.js".to_string(),
        "/nope".to_string(),
        "/api".to_string(),
        "/api/v2/applications".to_string(),
        format!("{APPS}/{app}/nope"),
        format!("{APPS}/{app}/endpoints/x/y"),
        format!("{APPS}/{app}/messages/x/attempts/y"),
    ] {
        for method in ["GET", "POST"] {
            let answer = server.call(method, &path, None).await;
            assert_error(&answer, 404, "not_found");
        }
        // Without a token too: the route does not exist whoever asks.
        let answer = raw(&server, "GET", &path, &[], None).await;
        assert_error_body(answer.status, &answer.json(), 404, "not_found");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn wrong_methods_are_405_json() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let cases = [
        ("PATCH", APPS.to_string()),
        ("PUT", APPS.to_string()),
        ("DELETE", APPS.to_string()),
        ("POST", format!("{APPS}/{app}")),
        ("PATCH", format!("{APPS}/{app}")),
        ("PUT", format!("{APPS}/{app}/endpoints")),
        ("POST", format!("{APPS}/{app}/endpoints/x")),
        ("DELETE", format!("{APPS}/{app}/messages")),
        ("PUT", format!("{APPS}/{app}/messages/x")),
        ("POST", format!("{APPS}/{app}/messages/x/attempts")),
        ("GET", format!("{APPS}/{app}/messages/x/endpoints/y/resend")),
        ("POST", "/health".to_string()),
        ("DELETE", "/health".to_string()),
    ];
    for (method, path) in cases {
        let answer = server.call(method, &path, None).await;
        assert_eq!(answer.status, 405, "{method} {path}: {:?}", answer.body);
        assert_error(&answer, 405, "method_not_allowed");
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn a_body_over_the_limit_is_413_json() {
    let server = TestServer::start().await;
    let limit = server.config.server.body_limit;
    assert_eq!(limit, 400_000, "the documented default");
    let app = server.create_app("a").await;
    // Valid JSON (padded with white space), so only the size can be the reason.
    let padded = |total: usize| -> Vec<u8> {
        let mut body = br#"{"name":"x""#.to_vec();
        let tail = b"}";
        body.resize(total - tail.len(), b' ');
        body.extend_from_slice(tail);
        assert_eq!(body.len(), total);
        body
    };
    for path in [
        APPS.to_string(),
        format!("{APPS}/{app}"),
        format!("{APPS}/{app}/endpoints"),
        format!("{APPS}/{app}/messages"),
    ] {
        let method = if path == format!("{APPS}/{app}") {
            "PUT"
        } else {
            "POST"
        };
        let answer = server.call_raw(method, &path, padded(limit + 1)).await;
        assert_error(&answer, 413, "payload_too_large");
        let answer = authed_raw(&server, method, &path, Some(padded(limit + 1))).await;
        assert_cors(&answer, &path);
    }
    // Exactly the limit is read (and then judged on its content).
    let answer = server.call_raw("POST", APPS, padded(limit)).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_eq!(server.get(APPS).await.body.as_array().unwrap().len(), 2);
    server.shutdown().await;
}

/// A raw HTTP/1.1 exchange (for chunked bodies, which declare no length up front).
fn exchange(addr: &str, request: Vec<u8>) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // The server may answer (and stop reading) before the whole body is sent.
    let _ = stream.write_all(&request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

#[actix_rt::test]
async fn a_chunked_body_over_the_limit_is_413_json() {
    let server = TestServer::start_with(|c| c.server.body_limit = 2048).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut request = format!(
        "POST {APPS} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.token
    )
    .into_bytes();
    let mut body = br#"{"name":"x","pad":""#.to_vec();
    body.resize(3000, b'a');
    body.extend_from_slice(br#""}"#);
    for chunk in body.chunks(500) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = tokio::task::spawn_blocking(move || exchange(&addr, request))
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("\"payload_too_large\""), "{response}");
    assert!(server.get(APPS).await.body == json!([]));
    server.shutdown().await;
}

#[actix_rt::test]
async fn a_message_payload_over_350_kb_is_413_even_under_the_body_limit() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let path = format!("{APPS}/{app}/messages");
    let max = 350 * 1024;
    let payload = |size: usize| -> String {
        let payload = format!(
            r#"{{"data":"{}"}}"#,
            "x".repeat(size - r#"{"data":""}"#.len())
        );
        assert_eq!(payload.len(), size);
        payload
    };
    let body = |size: usize| -> Vec<u8> {
        format!(r#"{{"eventType":"big","payload":{}}}"#, payload(size)).into_bytes()
    };
    let too_big = body(max + 1);
    assert!(too_big.len() < server.config.server.body_limit);
    let answer = server.call_raw("POST", &path, too_big).await;
    assert_error(&answer, 413, "payload_too_large");
    assert_eq!(server.get(&path).await.body, json!([]));
    // Exactly 350 KB is accepted and kept whole.
    let answer = server.call_raw("POST", &path, body(max)).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let id = answer.body["id"].as_str().unwrap();
    let got = server.get(&format!("{path}/{id}")).await;
    assert_eq!(
        got.body["payload"]["data"].as_str().unwrap().len(),
        max - 11
    );
    server.shutdown().await;
}

/// A TCP proxy in front of the run's Redis that can be cut, to take Redis away from a server.
struct RedisProxy {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl RedisProxy {
    fn start() -> RedisProxy {
        use std::net::{TcpListener, TcpStream};
        let target = crate::support::redis_server::redis_url()
            .trim_start_matches("redis://")
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let streams = std::sync::Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
        let (stop2, streams2) = (stop.clone(), streams.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    break; // drops the listener: later connections are refused
                }
                let (Ok(client), Ok(upstream)) = (client, TcpStream::connect(&target)) else {
                    continue;
                };
                let mut all = streams2.lock().unwrap();
                all.push(client.try_clone().unwrap());
                all.push(upstream.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        RedisProxy {
            addr,
            stop,
            streams,
        }
    }

    /// Closes every proxied connection and refuses new ones.
    fn cut(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr); // wakes the accept loop
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[actix_rt::test]
async fn without_redis_health_and_the_api_answer_503_json() {
    let proxy = RedisProxy::start();
    let mut config = crate::support::server::test_config();
    config.redis.url = format!("redis://{}", proxy.addr);
    let server = TestServer::start_config(config, octohooks::runtime::Roles::API).await;
    assert_eq!(raw(&server, "GET", "/health", &[], None).await.status, 200);
    let app = server.create_app("before").await;

    proxy.cut();
    crate::support::wait::eventually(std::time::Duration::from_secs(10), "health 503", || async {
        raw(&server, "GET", "/health", &[], None).await.status == 503
    })
    .await;
    let health = raw(&server, "GET", "/health", &[], None).await;
    assert_eq!(health.status, 503);
    assert_eq!(
        health.json(),
        json!({"status": "unavailable", "redis": "unreachable"})
    );
    assert_cors(&health, "health");
    // Every API call needs Redis (the token first): a JSON 503, never a 500.
    for (method, path, body) in [
        ("GET", APPS.to_string(), None),
        ("POST", APPS.to_string(), Some(json!({"name": "x"}))),
        ("GET", format!("{APPS}/{app}"), None),
    ] {
        let answer = server.call(method, &path, body).await;
        assert_error(&answer, 503, "unavailable");
    }
    server.shutdown().await;
}
