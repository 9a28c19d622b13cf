//! Delivery attempts: what happened each time a message was sent to an endpoint.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What one HTTP attempt produced, before any decision is taken on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// When the request started, epoch ms.
    pub started_ms: i64,
    /// How long it took.
    pub duration: Duration,
    /// HTTP status, when the receiver answered.
    pub status: Option<u16>,
    /// Start of the response body, when there was one.
    pub body: Option<String>,
    /// Why it failed; `None` on success (any 2xx).
    pub failure: Option<FailureKind>,
    /// The receiver's Retry-After, on a 429 or 503 answer.
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

    /// 429 or 503 without Retry-After: the receiver asks for less, without saying how long.
    pub fn is_throttled(&self) -> bool {
        matches!(self.status, Some(429 | 503)) && self.retry_after.is_none()
    }

    /// The metric label of this outcome: `success` or the failure kind.
    pub fn label(&self) -> &'static str {
        self.failure.map_or("success", FailureKind::as_str)
    }
}

/// One delivery attempt, as recorded (one JSON document per attempt in the message's attempt
/// list; the field names are the stored format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub endpoint_id: Uuid,
    /// 1 for the first attempt, counting up through retries.
    pub attempt: u32,
    /// When the request was sent, epoch ms.
    pub timestamp: i64,
    pub status: AttemptStatus,
    /// HTTP status of the response, when there was one.
    pub response_status_code: Option<u16>,
    /// Why there was no usable response (or a redirect).
    pub error: Option<FailureKind>,
    /// Request duration in ms.
    pub duration_ms: u64,
    /// The start of the response body (a few KB at most).
    pub response_body: Option<String>,
    /// When the next retry is due, epoch ms, when one is scheduled.
    pub next_attempt: Option<i64>,
}

/// Outcome class of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptStatus {
    /// The receiver answered 2xx.
    Success,
    /// It failed and a retry is scheduled.
    Pending,
    /// It failed and no retry follows (schedule exhausted, endpoint gone or disabled).
    Failed,
}

/// Why an attempt had no successful response; stable names, shown to clients and used as
/// metric labels.
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
    /// The target is a private, loopback, link-local or otherwise reserved address.
    BlockedAddress,
    /// Any other connection problem (reset, closed early).
    Connection,
    /// The endpoint URL cannot be requested.
    InvalidUrl,
}

impl FailureKind {
    /// Every kind, for documentation and tests.
    pub const ALL: [FailureKind; 9] = [
        FailureKind::HttpStatus,
        FailureKind::Redirect,
        FailureKind::Timeout,
        FailureKind::ConnectionRefused,
        FailureKind::Dns,
        FailureKind::Tls,
        FailureKind::BlockedAddress,
        FailureKind::Connection,
        FailureKind::InvalidUrl,
    ];

    /// Stable snake_case name (the same as its JSON form).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_kind_names_are_their_json_form() {
        for kind in FailureKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }
}
