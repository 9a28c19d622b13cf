//! The API's request and response bodies (camelCase JSON), as the OpenAPI document names
//! them. Response types ignore fields they do not know, so a newer server does not break an
//! older client.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of `createApplication` and `updateApplication`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationIn {
    pub name: String,
    /// Your own identifier (1–256 of `[a-zA-Z0-9._-]`), usable instead of the id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl ApplicationIn {
    /// An application with this name and no uid.
    pub fn new(name: impl Into<String>) -> Self {
        ApplicationIn {
            name: name.into(),
            uid: None,
        }
    }

    /// Sets the uid.
    pub fn uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }
}

/// Where messages are sent to: usually one per customer of the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOut {
    pub id: String,
    pub name: String,
    pub uid: Option<String>,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms.
    pub updated: i64,
}

/// Body of `createEndpoint` and `updateEndpoint` (PUT replaces: absent lists mean none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    pub name: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Only messages sharing a channel are delivered (empty: any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// Event types delivered (empty: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `whsec_` secrets (absent: one is generated, or the current ones are kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<String>>,
    /// Deliveries per second (absent: the server's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    /// Extra headers sent with every delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// Only payloads matching this filter are delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// `fifo` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering: Option<String>,
}

impl EndpointIn {
    /// An endpoint with this name and URL, everything else at its default.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        EndpointIn {
            name: name.into(),
            url: url.into(),
            ..EndpointIn::default()
        }
    }
}

/// A URL an application's messages are delivered to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    pub id: String,
    pub name: String,
    pub url: String,
    pub uid: Option<String>,
    pub channels: Vec<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub secrets: Vec<String>,
    pub rate_limit: Option<u32>,
    pub headers: BTreeMap<String, String>,
    pub filter: Option<Value>,
    pub ordering: String,
    /// Paused: deliveries are held until it is resumed.
    pub paused: bool,
    pub health: EndpointHealthOut,
    pub created: i64,
    pub updated: i64,
}

/// How deliveries to an endpoint are going (times in epoch ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealthOut {
    /// `closed`, `open` or `half_open`.
    pub circuit: String,
    pub consecutive_failures: u32,
    pub last_success: Option<i64>,
    pub last_failure: Option<i64>,
    pub failing_since: Option<i64>,
    pub next_probe: Option<i64>,
    pub effective_rate_limit: Option<u32>,
}

/// Body of `createMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    pub event_type: String,
    /// A JSON object, delivered as serialized here.
    pub payload: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<String>>,
    /// Unique per application: a second message with it is refused (409).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// For `fifo` endpoints: same key, same lane (in order).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// Check the payload against its event type's schema in the catalogue (422 when it
    /// does not match).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validate: Option<bool>,
}

impl MessageIn {
    /// A message of this event type with this payload.
    pub fn new(event_type: impl Into<String>, payload: Value) -> Self {
        MessageIn {
            event_type: event_type.into(),
            payload,
            channels: None,
            uid: None,
            ordering_key: None,
            validate: None,
        }
    }
}

/// A webhook: its payload is delivered verbatim to every matching endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    pub id: String,
    pub event_type: String,
    pub payload: Value,
    pub channels: Vec<String>,
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    pub created: i64,
    pub updated: i64,
}

/// Outcome class of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptStatus {
    Success,
    Pending,
    Failed,
}

impl AttemptStatus {
    /// The value the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Success => "success",
            AttemptStatus::Pending => "pending",
            AttemptStatus::Failed => "failed",
        }
    }
}

/// What happened on one delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    pub message_id: String,
    pub endpoint_id: String,
    /// 1 for the first attempt, counting up through retries.
    pub attempt: u32,
    pub timestamp: i64,
    pub status: AttemptStatus,
    pub response_status_code: Option<u16>,
    /// Why there was no usable response (`timeout`, `connection_refused`, ...).
    pub error: Option<String>,
    pub duration_ms: u64,
    pub response_body: Option<String>,
    pub next_attempt: Option<i64>,
}

/// Successes and failures in one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BucketOut {
    pub start: i64,
    pub success: u64,
    pub failure: u64,
}

/// An endpoint's attempt counts per hour (24 h) and per day (30 days), oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStatsOut {
    pub hourly: Vec<BucketOut>,
    pub daily: Vec<BucketOut>,
}

/// Answer of `resendMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendAccepted {
    pub message_id: String,
    pub endpoint_id: String,
}

/// Body of `recoverEndpoint` (epoch ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverIn {
    pub since: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

/// A recovery job and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryJobOut {
    pub id: String,
    pub endpoint_id: String,
    pub since: i64,
    pub until: Option<i64>,
    /// `running` or `done`.
    pub status: String,
    pub scanned: u64,
    pub resent: u64,
    pub created: i64,
    pub updated: i64,
}

/// Body of `rotateEndpointSecret`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotateIn {
    /// The new secret (absent: generated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// How long the previous secrets keep signing (default 86400 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<u32>,
}

/// An endpoint's current signing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretOut {
    pub key: String,
}

/// Body of `testEndpointFilter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterTestIn {
    pub filter: Value,
    pub payload: Value,
}

/// Whether a payload matches a filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterTestOut {
    pub matches: bool,
}

/// Body of `createToken`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenIn {
    /// Shown in lists, so people know which token is which.
    pub name: String,
    /// When it stops working (epoch ms; absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Limits it to one application (absent: the whole organisation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<TokenScopeIn>,
}

/// The application a scoped token reaches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenScopeIn {
    /// The application's id or uid.
    pub application: String,
    /// Only GET requests.
    pub read_only: bool,
}

/// What a scoped token reaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenScopeOut {
    pub application: String,
    pub read_only: bool,
}

/// An API token (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenOut {
    pub id: String,
    pub name: String,
    pub scope: Option<TokenScopeOut>,
    pub expires_at: Option<i64>,
    pub created: i64,
    pub last_used: Option<i64>,
}

/// A new token: its record and, this once, the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenCreatedOut {
    #[serde(flatten)]
    pub record: TokenOut,
    /// The bearer token (`None` in an answer replayed for an Idempotency-Key).
    pub token: Option<String>,
}

/// Body of `createPortalLink` (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalLinkIn {
    /// How long the link works, in seconds (60–604800).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u32>,
    /// The customer may only look.
    pub read_only: bool,
    /// `#rgb` or `#rrggbb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    /// The name the portal shows as yours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
}

/// A portal link for one application's customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortalLinkOut {
    /// The page (`None` in an answer replayed for an Idempotency-Key).
    pub url: Option<String>,
    pub token_id: String,
    pub expires_at: i64,
}

/// Body of `createSession`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionIn {
    pub token: String,
}

/// A dashboard session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOut {
    pub org: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// Answer of `getHealth`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthOut {
    /// `ok` or `unavailable`.
    pub status: String,
    /// `ok` or `unreachable`.
    pub redis: String,
}

/// An error answer: a stable `code` and a human-readable `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
}

/// One page of a list and the cursor of the next (absent on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct ListResponse<T> {
    pub data: Vec<T>,
    /// Pass it as `iterator` to get the next page.
    pub iterator: Option<String>,
}

/// Body of `createEventType`: a name and its attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeIn {
    /// Dotted name, as messages' `eventType` carry it.
    pub name: String,
    #[serde(flatten)]
    pub attributes: EventTypeUpdateIn,
}

/// Body of `updateEventType` (it replaces every attribute), and the attributes of a new type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeUpdateIn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema (draft 2020-12) of the payloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// An example payload, matching the schema (what `sendExample` sends).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
}

/// An entry of the organisation's event-type catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    pub name: String,
    pub description: String,
    pub schema: Option<Value>,
    pub example: Option<Value>,
    /// Archived types stay for old messages; endpoints naming them get a warning.
    pub archived: bool,
    pub created: i64,
    pub updated: i64,
}

/// Body of `sendExample`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendExampleIn {
    /// The event type whose catalogue example is sent (`{}` when it has none).
    pub event_type: String,
}

/// Body of `eraseMessages`: which messages' payloads to erase (all when empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EraseIn {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Only messages created before this time (epoch ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

/// An erasure job and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureJobOut {
    pub id: String,
    pub uid_prefix: Option<String>,
    pub channel: Option<String>,
    pub before: Option<i64>,
    /// `running` or `done`.
    pub status: String,
    pub scanned: u64,
    pub erased: u64,
    pub created: i64,
    pub updated: i64,
}
