//! One delivery attempt: a signed POST of the payload to an endpoint, classified into an
//! [`Outcome`] (success, HTTP failure, or a failure kind when there was no usable response).
//! No redirect is followed: a 3xx is a failure, as the Standard Webhooks spec recommends.

pub mod client;
pub mod signature;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request};
use serde::{Deserialize, Serialize};

use crate::config::DeliveryConfig;
use crate::model::now_ms;
use client::{HttpClient, ResolveError};

/// Why an attempt had no successful response; stable names, shown in the attempts API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The receiver answered with a non-2xx status (see the status code).
    HttpStatus,
    /// The receiver answered 3xx; redirects are never followed.
    Redirect,
    /// No complete answer within the request timeout.
    Timeout,
    /// Nothing listens at the address.
    ConnectionRefused,
    /// The host name does not resolve.
    Dns,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The target is a private, loopback or link-local address.
    BlockedAddress,
    /// Any other connection problem (reset, closed early).
    Connection,
    /// The endpoint URL cannot be requested.
    InvalidUrl,
}

impl FailureKind {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::HttpStatus => "http_status",
            FailureKind::Redirect => "redirect",
            FailureKind::Timeout => "timeout",
            FailureKind::ConnectionRefused => "connection_refused",
            FailureKind::Dns => "dns",
            FailureKind::Tls => "tls",
            FailureKind::BlockedAddress => "blocked_address",
            FailureKind::Connection => "connection",
            FailureKind::InvalidUrl => "invalid_url",
        }
    }
}

/// Result of one attempt.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the request started (epoch ms).
    pub started_ms: i64,
    /// How long it took.
    pub duration: Duration,
    /// HTTP status, when the receiver answered.
    pub status: Option<u16>,
    /// Start of the response body, when there was one.
    pub body: Option<String>,
    /// Failure class; `None` on success.
    pub failure: Option<FailureKind>,
    /// Retry-After of a 429/503 answer.
    pub retry_after: Option<Duration>,
}

impl Outcome {
    /// Any 2xx.
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }

    /// 410 Gone: the receiver asks us to stop for good.
    pub fn is_gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// What to send.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub url: &'a str,
    /// Message id: the stable `webhook-id`.
    pub message_id: &'a str,
    /// Payload bytes exactly as the client sent them.
    pub payload: Bytes,
    /// Decoded signing keys of the endpoint.
    pub keys: &'a [Vec<u8>],
}

/// Sends deliveries through the shared client.
#[derive(Clone)]
pub struct Deliverer {
    /// Pooled keep-alive client shared by every endpoint.
    client: HttpClient,
    /// Whole-request timeout.
    timeout: Duration,
    /// SSRF switch (IP literals are checked here, names in the resolver).
    allow_private: bool,
    /// Bytes of response body kept.
    max_body: usize,
    /// User-Agent header value.
    user_agent: HeaderValue,
}

impl Deliverer {
    pub fn new(config: &DeliveryConfig) -> Self {
        Deliverer {
            client: client::build(config.connect_timeout, config.allow_private_ips),
            timeout: config.timeout,
            allow_private: config.allow_private_ips,
            max_body: config.max_response_body,
            user_agent: HeaderValue::from_str(&config.user_agent)
                .unwrap_or(HeaderValue::from_static("Octohooks")),
        }
    }

    /// Performs one attempt; never fails, every problem becomes an [`Outcome`].
    pub async fn deliver(&self, delivery: &Delivery<'_>) -> Outcome {
        let started_ms = now_ms();
        let start = Instant::now();
        let finish = |status, body, failure, retry_after| Outcome {
            started_ms,
            duration: start.elapsed(),
            status,
            body,
            failure,
            retry_after,
        };
        let request = match self.request(delivery, started_ms) {
            Ok(request) => request,
            Err(kind) => return finish(None, None, Some(kind), None),
        };
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = read_limited(response.into_body(), self.max_body).await;
            Ok::<_, hyper_util::client::legacy::Error>((status, retry_after, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => finish(None, None, Some(FailureKind::Timeout), None),
            Ok(Err(e)) => finish(None, None, Some(classify(&e)), None),
            Ok(Ok((status, retry_after, body))) => {
                let code = status.as_u16();
                let failure = if status.is_success() {
                    None
                } else if status.is_redirection() {
                    Some(FailureKind::Redirect)
                } else {
                    Some(FailureKind::HttpStatus)
                };
                let retry_after = retry_after.filter(|_| matches!(code, 429 | 503));
                finish(Some(code), Some(body), failure, retry_after)
            }
        }
    }

    fn request(&self, d: &Delivery<'_>, now_ms: i64) -> Result<Request<Full<Bytes>>, FailureKind> {
        let uri: hyper::Uri = d.url.parse().map_err(|_| FailureKind::InvalidUrl)?;
        let host = uri.host().ok_or(FailureKind::InvalidUrl)?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if client::is_blocked(ip, self.allow_private) {
                return Err(FailureKind::BlockedAddress);
            }
        }
        let timestamp = now_ms / 1000;
        let signature = signature::sign(d.keys, d.message_id, timestamp, &d.payload);
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, self.user_agent.clone())
            .header("webhook-id", d.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(Full::new(d.payload.clone()))
            .map_err(|_| FailureKind::InvalidUrl)
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the
/// past means now.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Reads at most `max` bytes of a body, lossily as text.
async fn read_limited(mut body: hyper::body::Incoming, max: usize) -> String {
    let mut out = Vec::new();
    while out.len() < max {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let room = max - out.len();
                    out.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Maps a client error to a failure kind by walking its causes.
fn classify(err: &hyper_util::client::legacy::Error) -> FailureKind {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(resolve) = e.downcast_ref::<ResolveError>() {
            return match resolve {
                ResolveError::Blocked(_) => FailureKind::BlockedAddress,
                ResolveError::Dns(_) => FailureKind::Dns,
            };
        }
        if e.downcast_ref::<rustls::Error>().is_some() {
            return FailureKind::Tls;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return FailureKind::ConnectionRefused,
                std::io::ErrorKind::TimedOut => return FailureKind::Timeout,
                _ => {}
            }
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return FailureKind::Tls;
            }
        }
        source = e.source();
    }
    FailureKind::Connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        let ahead = std::time::SystemTime::now() + Duration::from_secs(60);
        let wait = parse_retry_after(&httpdate::fmt_http_date(ahead)).unwrap();
        assert!(wait > Duration::from_secs(58) && wait <= Duration::from_secs(60));
        let past = parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(past, Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-5"), None);
    }
}
