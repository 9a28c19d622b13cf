//! One delivery attempt: a signed POST of the payload to an endpoint, classified into an
//! [`Outcome`] (success, HTTP failure, or a failure kind when there was no usable response).
//! No redirect is followed: a 3xx is a failure, as the Standard Webhooks spec recommends.
//! What to do next is not decided here (see `retry::decide`).

pub mod client;
pub mod signature;

use std::error::Error;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::clock::now_ms;
use crate::config::DeliveryConfig;
use crate::domain::{FailureKind, Outcome};
use crate::telemetry::metrics;
use bytes::Bytes;
use client::{HttpClient, ResolveError};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request};

/// One webhook to send.
#[derive(Debug)]
pub struct Webhook<'a> {
    pub url: &'a str,
    /// Message id: the stable `webhook-id`.
    pub message_id: &'a str,
    /// Payload bytes exactly as the client sent them.
    pub payload: Bytes,
    /// Decoded signing keys of the endpoint, one signature each.
    pub signing_keys: &'a [&'a [u8]],
    /// The endpoint's own headers.
    pub headers: &'a [(hyper::header::HeaderName, HeaderValue)],
}

/// Sends webhooks through the one shared, pooled HTTP client.
#[derive(Clone)]
pub struct WebhookClient {
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

impl WebhookClient {
    /// `max_in_flight`: the node's cap on requests in flight, which sizes the idle pool.
    pub fn new(config: &DeliveryConfig, max_in_flight: usize) -> Self {
        WebhookClient {
            client: client::build(
                config.connect_timeout,
                config.dns_timeout,
                config.allow_private_ips,
                max_in_flight,
            ),
            timeout: config.timeout,
            allow_private: config.allow_private_ips,
            max_body: config.max_response_body,
            user_agent: HeaderValue::from_str(&config.user_agent)
                .unwrap_or(HeaderValue::from_static("Octohooks")),
        }
    }

    /// Performs one attempt; never fails, every problem becomes an [`Outcome`].
    pub async fn send(&self, webhook: &Webhook<'_>) -> Outcome {
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
        let request = match self.request(webhook, started_ms) {
            Ok(request) => request,
            Err(kind) => return finish(None, None, Some(kind), None),
        };
        let exchange = async {
            let response = match self.client.request(request).await {
                // A pooled keep-alive connection the receiver closed just as this request
                // went out (its idle timeout ran out): one more try, on another connection.
                // Webhooks are at-least-once and carry `webhook-id`, so a receiver that did
                // see the first copy can tell; Go's client retries such a request the same way.
                Err(e) if closed_before_answering(&e) => {
                    metrics::RESENT.inc();
                    let again = self.request(webhook, started_ms)?;
                    self.client.request(again).await
                }
                sent => sent,
            }
            .map_err(|e| classify(&e))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let body = read_limited(response.into_body(), self.max_body).await;
            Ok::<_, FailureKind>((status, retry_after, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => finish(None, None, Some(FailureKind::Timeout), None),
            Ok(Err(kind)) => finish(None, None, Some(kind), None),
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

    fn request(&self, d: &Webhook<'_>, now_ms: i64) -> Result<Request<Full<Bytes>>, FailureKind> {
        let uri: hyper::Uri = d.url.parse().map_err(|_| FailureKind::InvalidUrl)?;
        let host = uri.host().ok_or(FailureKind::InvalidUrl)?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if client::is_blocked(ip, self.allow_private) {
                return Err(FailureKind::BlockedAddress);
            }
        }
        let timestamp = now_ms / 1000;
        let signature = signature::sign(d.signing_keys, d.message_id, timestamp, &d.payload);
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, self.user_agent.clone());
        // The endpoint's own headers (checked: none of the delivery's own names) go first,
        // so a receiver-chosen User-Agent replaces ours.
        if let Some(headers) = request.headers_mut() {
            for (name, value) in d.headers {
                headers.insert(name.clone(), value.clone());
            }
        }
        request
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

/// Whether a request failed because its connection was closed or reset before any answer,
/// the mark of a keep-alive connection the receiver closed as the request was sent. Not a
/// failure to connect: that one a second try would only repeat.
fn closed_before_answering(err: &hyper_util::client::legacy::Error) -> bool {
    if err.is_connect() {
        return false;
    }
    for e in causes(err) {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
            return matches!(io.kind(), ConnectionReset | BrokenPipe | ConnectionAborted);
        }
    }
    false
}

/// A client error and its causes, outermost first.
fn causes<'a>(
    err: &'a hyper_util::client::legacy::Error,
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    let first: &'a (dyn Error + 'static) = err;
    std::iter::successors(Some(first), |e: &&'a (dyn Error + 'static)| (*e).source())
}

/// Maps a client error to a failure kind by walking its causes.
fn classify(err: &hyper_util::client::legacy::Error) -> FailureKind {
    for e in causes(err) {
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
