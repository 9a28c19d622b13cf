//! The entities of the API, as clients see them (camelCase JSON) and as the store keeps them.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// Milliseconds since the Unix epoch, the unit of every `created`/`updated` field.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where messages are sent to: usually one per customer of the platform.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Application {
    pub name: String,
    pub uid: Option<String>,
    pub id: Uuid,
    pub created: i64,
    pub updated: i64,
}

/// Body of `POST /applications` and `PUT /applications/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApplicationIn {
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
}

/// A URL an application's messages are delivered to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub channels: Vec<String>,
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub name: String,
    pub secrets: Vec<String>,
    pub uid: Option<String>,
    pub url: String,
    /// Deliveries per second; `None` = the configured default.
    pub rate_limit: Option<u32>,
    pub id: Uuid,
    pub created: i64,
    pub updated: i64,
    /// Read-only delivery health (circuit breaker, failure streak); ignored on input.
    #[serde(default)]
    pub health: EndpointHealth,
    /// Bumped each time re-enabling resets the health (internal, not part of the API).
    #[serde(skip)]
    pub health_epoch: u64,
}

/// How deliveries to an endpoint are going, as the circuit breaker and the attempt records
/// see them. Times are epoch ms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealth {
    /// `closed` (delivering), `open` (paused until `nextProbe`) or `half_open` (one probe).
    pub circuit: String,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    pub last_success: Option<i64>,
    pub last_failure: Option<i64>,
    /// Start of the current failure streak; the endpoint is disabled when it gets too old.
    pub failing_since: Option<i64>,
    /// When the open circuit lets a probe through.
    pub next_probe: Option<i64>,
}

impl Default for EndpointHealth {
    fn default() -> Self {
        EndpointHealth {
            circuit: "closed".into(),
            consecutive_failures: 0,
            last_success: None,
            last_failure: None,
            failing_since: None,
            next_probe: None,
        }
    }
}

/// Body of `POST .../endpoints` and `PUT .../endpoints/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub secrets: Option<Vec<String>>,
    #[serde(default)]
    pub rate_limit: Option<u32>,
}

/// A webhook: its payload is delivered verbatim to every matching endpoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub channels: Vec<String>,
    pub event_type: String,
    /// The payload exactly as the client sent it (bytes preserved).
    pub payload: Box<RawValue>,
    pub uid: Option<String>,
    pub id: Uuid,
    pub created: i64,
    pub updated: i64,
}

/// Body of `POST .../messages`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    pub event_type: String,
    pub payload: Box<RawValue>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub uid: Option<String>,
}

/// What happened on one delivery attempt, as the attempts API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub endpoint_id: Uuid,
    /// 1 for the first attempt, counting up through retries.
    pub attempt: u32,
    /// When the request was sent (epoch ms).
    pub timestamp: i64,
    /// `success`, `pending` (a retry is scheduled) or `failed` (no more retries).
    pub status: AttemptStatus,
    /// HTTP status of the response, when there was one.
    pub response_status_code: Option<u16>,
    /// Why there was no usable response, when there was none (or a redirect).
    pub error: Option<String>,
    /// Request duration in ms.
    pub duration_ms: u64,
    /// The start of the response body (a few KB at most).
    pub response_body: Option<String>,
    /// When the next retry is due (epoch ms), when one is scheduled.
    pub next_attempt: Option<i64>,
}

/// Outcome class of one attempt.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AttemptStatus {
    Success,
    Pending,
    Failed,
}
