//! The shapes clients send and receive (camelCase JSON, documented in the OpenAPI document),
//! kept apart from what the store keeps (`domain`): an API change is not a storage migration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::ToSchema;
use uuid::Uuid;

use super::schema;
use crate::clock::now_ms;
use crate::domain::{
    Application, Attempt, AttemptStatus, EndpointHealth, EventType, FailureKind, Message,
};
use crate::queue::log::Bucket;
use crate::store::endpoints::EndpointWithHealth;
use crate::store::erasure::ErasureJob;
use crate::store::recovery::RecoveryJob;
use crate::store::tokens::TokenRecord;

/// Body of `POST /applications` and `PUT /applications/{application_id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationIn {
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::opt_uid)]
    pub uid: Option<String>,
}

/// Where messages are sent to: usually one per customer of the platform.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ApplicationOut {
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[schema(schema_with = schema::opt_uid, required = true)]
    pub uid: Option<String>,
    pub id: Uuid,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms.
    pub updated: i64,
}

impl From<Application> for ApplicationOut {
    fn from(app: Application) -> Self {
        ApplicationOut {
            name: app.name,
            uid: app.uid,
            id: app.id,
            created: app.created,
            updated: app.updated,
        }
    }
}

/// Body of `POST .../endpoints` and `PUT .../endpoints/{endpoint_id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointIn {
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[schema(schema_with = schema::url)]
    pub url: String,
    #[serde(default)]
    #[schema(schema_with = schema::opt_uid)]
    pub uid: Option<String>,
    /// Only messages sharing a channel with the endpoint are delivered to it (`null`, absent or
    /// empty: any).
    #[serde(default)]
    #[schema(schema_with = schema::opt_channels)]
    pub channels: Option<Vec<String>>,
    /// Event types delivered to the endpoint (`null`, absent or empty: all).
    #[serde(default)]
    #[schema(schema_with = schema::opt_event_types)]
    pub event_types: Option<Vec<String>>,
    /// `null` or absent: `true`.
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    #[schema(schema_with = schema::opt_secrets)]
    pub secrets: Option<Vec<String>>,
    #[serde(default, deserialize_with = "integral_u32")]
    #[schema(schema_with = schema::opt_rate_limit)]
    pub rate_limit: Option<u32>,
    /// Extra headers sent with every delivery (`null` or absent: none).
    #[serde(default)]
    #[schema(schema_with = schema::opt_headers)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Only messages whose payload matches are delivered (`null` or absent: all).
    #[serde(default)]
    #[schema(schema_with = schema::opt_filter)]
    pub filter: Option<Value>,
    /// `fifo`: deliveries keep creation order (per `orderingKey`); `none` (default): as fast
    /// as possible.
    #[serde(default)]
    #[schema(schema_with = schema::opt_ordering)]
    pub ordering: Option<String>,
}

/// Body of `POST /operational-webhooks/endpoints` and `PUT .../{endpoint_id}`: an
/// [`EndpointIn`] whose `eventTypes` name operational events. It only documents: the body is
/// read as an `EndpointIn` (and its event types checked apart).
pub struct OperationalEndpointIn;

impl utoipa::PartialSchema for OperationalEndpointIn {
    fn schema() -> RefOr<Schema> {
        let mut endpoint = <EndpointIn as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut endpoint {
            object
                .properties
                .insert("eventTypes".into(), schema::opt_ops_event_types().into());
        }
        endpoint
    }
}

impl ToSchema for OperationalEndpointIn {}

/// A URL an application's messages are delivered to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    /// Only messages sharing a channel with the endpoint are delivered to it (empty: any).
    #[schema(schema_with = schema::channels)]
    pub channels: Vec<String>,
    pub enabled: bool,
    /// Event types delivered to the endpoint (empty: all).
    #[schema(schema_with = schema::event_types)]
    pub event_types: Vec<String>,
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[schema(schema_with = schema::secrets)]
    pub secrets: Vec<String>,
    #[schema(schema_with = schema::opt_uid, required = true)]
    pub uid: Option<String>,
    #[schema(schema_with = schema::url)]
    pub url: String,
    /// Deliveries per second; `None` = the configured default.
    #[schema(schema_with = schema::opt_rate_limit, required = true)]
    pub rate_limit: Option<u32>,
    pub id: Uuid,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms.
    pub updated: i64,
    /// Extra headers sent with every delivery.
    #[schema(schema_with = schema::headers)]
    pub headers: BTreeMap<String, String>,
    /// The payload filter, `null` when every payload is delivered.
    #[schema(schema_with = schema::stored_filter, required = true)]
    pub filter: Option<Value>,
    /// `fifo` or `none`.
    #[schema(schema_with = schema::ordering)]
    pub ordering: String,
    /// Paused (`POST .../pause`): nothing is sent, everything is held until it is resumed.
    pub paused: bool,
    /// Read-only delivery health (circuit breaker, failure streak); ignored on input.
    #[schema(read_only)]
    pub health: EndpointHealthOut,
}

impl From<EndpointWithHealth> for EndpointOut {
    fn from(EndpointWithHealth { endpoint, health }: EndpointWithHealth) -> Self {
        let secrets = endpoint
            .signing_secrets(now_ms())
            .into_iter()
            .map(str::to_string)
            .collect();
        EndpointOut {
            channels: endpoint.channels,
            enabled: endpoint.enabled,
            event_types: endpoint.event_types,
            name: endpoint.name,
            secrets,
            headers: endpoint.headers.into_iter().collect(),
            filter: endpoint.filter,
            ordering: endpoint.ordering.as_str().to_string(),
            paused: endpoint.paused,
            uid: endpoint.uid,
            url: endpoint.url,
            rate_limit: endpoint.rate_limit,
            id: endpoint.id,
            created: endpoint.created,
            updated: endpoint.updated,
            health: health.into(),
        }
    }
}

/// How deliveries to an endpoint are going, as the circuit breaker and the attempt records
/// see them. Times are epoch ms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealthOut {
    /// `closed` (delivering), `open` (paused until `nextProbe`) or `half_open` (one probe).
    #[schema(schema_with = schema::circuit)]
    pub circuit: String,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Last successful delivery, epoch ms.
    #[schema(required = true)]
    pub last_success: Option<i64>,
    /// Last failed attempt, epoch ms.
    #[schema(required = true)]
    pub last_failure: Option<i64>,
    /// Start of the current failure streak; the endpoint is disabled when it gets too old.
    #[schema(required = true)]
    pub failing_since: Option<i64>,
    /// When the open circuit lets a probe through.
    #[schema(required = true)]
    pub next_probe: Option<i64>,
    /// Deliveries per second the endpoint gets while a receiver that answered 429 or 503
    /// without Retry-After has lowered its rate (halved each time, never below 1/s, raised
    /// back step by step by successes); `null` when not lowered.
    #[schema(required = true)]
    pub effective_rate_limit: Option<u32>,
}

impl From<EndpointHealth> for EndpointHealthOut {
    fn from(health: EndpointHealth) -> Self {
        EndpointHealthOut {
            circuit: health.circuit.as_str().to_string(),
            consecutive_failures: health.consecutive_failures,
            last_success: health.last_success,
            last_failure: health.last_failure,
            failing_since: health.failing_since,
            next_probe: health.next_probe,
            effective_rate_limit: health.effective_rate,
        }
    }
}

/// Body of `POST .../messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MessageIn {
    /// The type of the event, which endpoints subscribe to.
    #[schema(schema_with = schema::identifier)]
    pub event_type: String,
    #[schema(schema_with = schema::payload)]
    pub payload: Box<RawValue>,
    /// Endpoints with channels only get messages sharing one (`null` or absent: none).
    #[serde(default)]
    #[schema(schema_with = schema::opt_channels)]
    pub channels: Option<Vec<String>>,
    /// Unique per application: a second message with the same uid is refused (409).
    #[serde(default)]
    #[schema(schema_with = schema::opt_uid)]
    pub uid: Option<String>,
    /// For `fifo` endpoints: messages with the same key are delivered in creation order,
    /// different keys in parallel (`null` or absent: the endpoint's default lane).
    #[serde(default)]
    #[schema(schema_with = schema::opt_ordering_key)]
    pub ordering_key: Option<String>,
    /// `true`: the payload must match the JSON Schema of its event type in the catalogue (422
    /// listing the first errors otherwise); a type without a schema, or missing from the
    /// catalogue, has nothing to check. `null` or absent: `false`.
    #[serde(default)]
    pub validate: Option<bool>,
}

/// A webhook: its payload is delivered verbatim to every matching endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    #[schema(schema_with = schema::channels)]
    pub channels: Vec<String>,
    #[schema(schema_with = schema::identifier)]
    pub event_type: String,
    /// The payload exactly as the client sent it (bytes preserved); `null` once erased.
    #[schema(schema_with = schema::erasable_payload, required = true)]
    pub payload: Option<Box<RawValue>>,
    #[schema(schema_with = schema::opt_uid, required = true)]
    pub uid: Option<String>,
    /// Its FIFO lane's key; absent when it has none (the seed's message shape is unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::opt_ordering_key)]
    pub ordering_key: Option<String>,
    pub id: Uuid,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms (messages do not change: the creation time).
    pub updated: i64,
}

impl From<Message> for MessageOut {
    fn from(message: Message) -> Self {
        MessageOut {
            channels: message.channels,
            event_type: message.event_type,
            payload: message.payload,
            uid: message.uid,
            ordering_key: message.ordering_key,
            id: message.id,
            created: message.created,
            updated: message.created,
        }
    }
}

/// What happened on one delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
    /// 1 for the first attempt, counting up through retries.
    pub attempt: u32,
    /// When the request was sent (epoch ms).
    pub timestamp: i64,
    /// `success`, `pending` (a retry is scheduled) or `failed` (no more retries).
    pub status: AttemptStatusOut,
    /// HTTP status of the response, when there was one.
    #[schema(required = true)]
    pub response_status_code: Option<u16>,
    /// Why there was no usable response, when there was none (or a redirect).
    #[schema(schema_with = schema::failure_kind, required = true)]
    pub error: Option<String>,
    /// Request duration in ms.
    pub duration_ms: u64,
    /// The start of the response body (a few KB at most).
    #[schema(required = true)]
    pub response_body: Option<String>,
    /// When the next retry is due (epoch ms), when one is scheduled.
    #[schema(required = true)]
    pub next_attempt: Option<i64>,
}

/// Outcome class of one attempt.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = AttemptStatus)]
pub enum AttemptStatusOut {
    Success,
    Pending,
    Failed,
}

impl From<(Uuid, Attempt)> for AttemptOut {
    fn from((message_id, attempt): (Uuid, Attempt)) -> Self {
        AttemptOut {
            message_id,
            endpoint_id: attempt.endpoint_id,
            attempt: attempt.attempt,
            timestamp: attempt.timestamp,
            status: match attempt.status {
                AttemptStatus::Success => AttemptStatusOut::Success,
                AttemptStatus::Pending => AttemptStatusOut::Pending,
                AttemptStatus::Failed => AttemptStatusOut::Failed,
            },
            response_status_code: attempt.response_status_code,
            error: attempt
                .error
                .map(|kind| FailureKind::as_str(kind).to_string()),
            duration_ms: attempt.duration_ms,
            response_body: attempt.response_body,
            next_attempt: attempt.next_attempt,
        }
    }
}

/// Successes and failures of an endpoint in one period.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct BucketOut {
    /// Start of the period, epoch ms.
    pub start: i64,
    pub success: u64,
    pub failure: u64,
}

/// An endpoint's attempt counts: every hour of the last 24 and every day of the last 30,
/// oldest first (the current period last).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct EndpointStatsOut {
    pub hourly: Vec<BucketOut>,
    pub daily: Vec<BucketOut>,
}

impl EndpointStatsOut {
    pub fn new(hourly: &[Bucket], daily: &[Bucket]) -> Self {
        let out = |buckets: &[Bucket]| {
            buckets
                .iter()
                .map(|b| BucketOut {
                    start: b.start,
                    success: b.success,
                    failure: b.failure,
                })
                .collect()
        };
        EndpointStatsOut {
            hourly: out(hourly),
            daily: out(daily),
        }
    }
}

/// Answer of a resend: which message goes to which endpoint again.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResendAccepted {
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
}

/// Body of a recovery request: the window, in epoch milliseconds.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecoverIn {
    /// Start of the window (epoch ms): messages whose last attempt failed at or after it.
    #[schema(minimum = 0)]
    #[serde(deserialize_with = "integral_ms")]
    pub since: i64,
    /// End of the window (epoch ms); absent = now. A window that ends before it starts (or
    /// starts in the future) is empty: the job finishes at once, re-sending nothing.
    #[serde(default, deserialize_with = "integral_ms_opt")]
    #[schema(minimum = 0)]
    pub until: Option<i64>,
}

/// A recovery job and its progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryJobOut {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// Start of the window (epoch ms): attempts at or after it count.
    pub since: i64,
    /// End of the window (epoch ms), `null` = until the job started.
    #[schema(required = true)]
    pub until: Option<i64>,
    /// `running` or `done`.
    #[schema(schema_with = schema::job_status)]
    pub status: String,
    /// Messages examined so far.
    pub scanned: u64,
    /// Messages queued for re-sending so far.
    pub resent: u64,
    pub created: i64,
    pub updated: i64,
}

impl From<RecoveryJob> for RecoveryJobOut {
    fn from(job: RecoveryJob) -> Self {
        RecoveryJobOut {
            id: job.id,
            endpoint_id: job.endpoint_id,
            since: job.since,
            until: job.until,
            status: job.status.as_str().to_string(),
            scanned: job.scanned,
            resent: job.resent,
            created: job.created,
            updated: job.updated,
        }
    }
}

/// Body of `POST .../messages/erase`: which messages' payloads to erase (all when empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EraseIn {
    /// Only messages whose uid starts with this.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 256)]
    pub uid_prefix: Option<String>,
    /// Only messages with this channel.
    #[serde(default)]
    #[schema(schema_with = schema::opt_identifier)]
    pub channel: Option<String>,
    /// Only messages created before this time (epoch ms); absent: every message that exists
    /// when the job starts.
    #[serde(default, deserialize_with = "integral_ms_opt")]
    #[schema(minimum = 0)]
    pub before: Option<i64>,
}

/// An erasure job and its progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureJobOut {
    pub id: Uuid,
    #[schema(required = true)]
    pub uid_prefix: Option<String>,
    #[schema(required = true)]
    pub channel: Option<String>,
    #[schema(required = true)]
    pub before: Option<i64>,
    /// `running` or `done`.
    #[schema(schema_with = schema::job_status)]
    pub status: String,
    /// Messages examined so far.
    pub scanned: u64,
    /// Payloads erased so far.
    pub erased: u64,
    pub created: i64,
    pub updated: i64,
}

impl From<ErasureJob> for ErasureJobOut {
    fn from(job: ErasureJob) -> Self {
        ErasureJobOut {
            id: job.id,
            uid_prefix: job.filter.uid_prefix,
            channel: job.filter.channel,
            before: job.filter.before,
            status: job.status.as_str().to_string(),
            scanned: job.scanned,
            erased: job.erased,
            created: job.created,
            updated: job.updated,
        }
    }
}

/// Body of `POST .../endpoints/{endpoint_id}/secret/rotate` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateIn {
    /// The new secret (absent: one is generated).
    #[serde(default)]
    #[schema(schema_with = schema::opt_secret)]
    pub key: Option<String>,
    /// How long the previous secrets keep signing, 0 to 604800 seconds (default 86400).
    #[serde(default, deserialize_with = "integral_u32")]
    #[schema(minimum = 0, maximum = 604800)]
    pub grace_period_seconds: Option<u32>,
}

/// An endpoint's current signing secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SecretOut {
    #[schema(schema_with = schema::secret_schema)]
    pub key: String,
}

/// Body of `POST .../endpoints/{endpoint_id}/filter/test`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterTestIn {
    #[schema(schema_with = schema::filter)]
    pub filter: Value,
    /// A payload to test the filter on.
    #[schema(schema_with = schema::payload)]
    pub payload: Value,
}

/// Whether a payload matches a filter.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FilterTestOut {
    pub matches: bool,
}

/// Body of `POST /api/v1/auth/session`: the token a dashboard session acts with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIn {
    /// An API token (organisation or application-scoped); only its hash is kept.
    #[schema(min_length = 1, max_length = 256)]
    pub token: String,
}

/// A dashboard session: who it acts for, and the secret its changes must echo.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionOut {
    /// The organisation the session acts for.
    pub org: String,
    /// Send it as `X-Octohooks-CSRF` with every POST, PUT and DELETE of the session.
    pub csrf_token: String,
    /// When the session ends (epoch ms).
    pub expires_at: i64,
}

/// Body of `POST /tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenIn {
    /// Shown in lists, so people know which token is which.
    #[schema(schema_with = schema::name)]
    pub name: String,
    /// When the token stops working, epoch ms (`null` or absent: never; a time already past
    /// makes a token that never works).
    #[serde(default, deserialize_with = "integral_ms_opt")]
    #[schema(minimum = 0)]
    pub expires_at: Option<i64>,
    /// Limits the token to one application (`null` or absent: the whole organisation).
    #[serde(default)]
    pub scope: Option<TokenScopeIn>,
}

/// The application a scoped token reaches.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenScopeIn {
    /// The application's id or uid.
    #[schema(min_length = 1, max_length = 256)]
    pub application: String,
    /// Only GET requests (default `false`).
    #[serde(default)]
    pub read_only: bool,
}

/// What an application-scoped token reaches: that application's endpoints, messages and
/// attempts (only reading them when `readOnly`), and reading the event-type catalogue.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenScopeOut {
    /// The application's id.
    pub application: Uuid,
    pub read_only: bool,
}

/// An API token (never the token itself: only its hash is stored).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenOut {
    pub id: Uuid,
    #[schema(schema_with = schema::name)]
    pub name: String,
    /// `null`: the whole organisation.
    #[schema(required = true)]
    pub scope: Option<TokenScopeOut>,
    /// When it stops working (epoch ms), `null`: never.
    #[schema(required = true)]
    pub expires_at: Option<i64>,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last request made with it (epoch ms, to the minute), `null`: none yet.
    #[schema(required = true)]
    pub last_used: Option<i64>,
}

impl From<TokenRecord> for TokenOut {
    fn from(record: TokenRecord) -> Self {
        TokenOut {
            id: record.id,
            name: record.name,
            scope: record.scope.map(|s| TokenScopeOut {
                application: s.application,
                read_only: s.read_only,
            }),
            expires_at: record.expires_at,
            created: record.created,
            last_used: record.last_used,
        }
    }
}

/// A new token: its record and, this once, the token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreatedOut {
    #[serde(flatten)]
    pub record: TokenOut,
    /// The bearer token, shown this once; `null` in an answer replayed for an
    /// Idempotency-Key (the token is never stored: revoke it and make another).
    #[schema(required = true)]
    pub token: Option<String>,
}

/// Body of `POST /event-types`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTypeIn {
    /// Dotted name, as messages' `eventType` carry it.
    #[schema(schema_with = schema::identifier)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::description)]
    pub description: Option<String>,
    /// JSON Schema (draft 2020-12) of the payloads; checked when stored.
    #[serde(default)]
    #[schema(schema_with = schema::opt_json_schema)]
    pub schema: Option<Value>,
    /// An example payload, matching the schema.
    #[serde(default)]
    #[schema(schema_with = schema::opt_example)]
    pub example: Option<Value>,
    /// `null` or absent: `false`.
    #[serde(default)]
    pub archived: Option<bool>,
}

/// Body of `PUT /event-types/{event_type_name}`: replaces every attribute.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventTypeUpdateIn {
    #[serde(default)]
    #[schema(schema_with = schema::description)]
    pub description: Option<String>,
    /// JSON Schema (draft 2020-12) of the payloads; checked when stored.
    #[serde(default)]
    #[schema(schema_with = schema::opt_json_schema)]
    pub schema: Option<Value>,
    /// An example payload, matching the schema.
    #[serde(default)]
    #[schema(schema_with = schema::opt_example)]
    pub example: Option<Value>,
    /// `null` or absent: `false`.
    #[serde(default)]
    pub archived: Option<bool>,
}

/// An entry of the organisation's event-type catalogue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeOut {
    #[schema(schema_with = schema::identifier)]
    pub name: String,
    pub description: String,
    #[schema(schema_with = schema::opt_json_schema, required = true)]
    pub schema: Option<Value>,
    #[schema(schema_with = schema::opt_example, required = true)]
    pub example: Option<Value>,
    /// Archived types stay for old messages; endpoints naming them get a warning.
    pub archived: bool,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms.
    pub updated: i64,
}

impl From<EventType> for EventTypeOut {
    fn from(event_type: EventType) -> Self {
        EventTypeOut {
            name: event_type.name,
            description: event_type.description,
            schema: event_type.schema,
            example: event_type.example,
            archived: event_type.archived,
            created: event_type.created,
            updated: event_type.updated,
        }
    }
}

/// Body of `POST .../endpoints/{endpoint_id}/send-example`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendExampleIn {
    /// The event type whose catalogue example is sent (`{}` when it has none).
    #[schema(schema_with = schema::identifier)]
    pub event_type: String,
}

/// Body of `POST .../portal-link` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortalLinkIn {
    /// How long the link works, 60 to 604800 seconds (default `dashboard.portal_link_ttl`).
    #[serde(default, deserialize_with = "integral_u32")]
    #[schema(minimum = 60, maximum = 604800)]
    pub expires_in: Option<u32>,
    /// The customer may only look, not change endpoints (default `false`).
    #[serde(default)]
    pub read_only: bool,
    /// The portal's accent colour, `#rgb` or `#rrggbb` (default: the dashboard's).
    #[serde(default)]
    #[schema(pattern = "^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")]
    pub accent_color: Option<String>,
    /// The name the portal shows as yours (default: the organisation's id).
    #[serde(default)]
    #[schema(schema_with = schema::name)]
    pub org_name: Option<String>,
}

/// A portal link: the page of one application for its customer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalLinkOut {
    /// The portal page, its short-lived token in the fragment (never sent to servers or
    /// logs); shown this once, `null` in an answer replayed for an Idempotency-Key.
    #[schema(required = true)]
    pub url: Option<String>,
    /// The application-scoped token behind the link (listed under `/api/v1/tokens`, where it
    /// can be revoked early).
    pub token_id: Uuid,
    /// When the link stops working (epoch ms).
    pub expires_at: i64,
}

/// An optional u32 written as any JSON integer, `5.0` included: JSON (and the OpenAPI
/// document's `integer`) do not tell `5` from `5.0`, and some serializers write the latter.
fn integral_u32<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let value = match (number.as_u64(), number.as_f64()) {
        (Some(n), _) => u32::try_from(n).ok(),
        (None, Some(f)) if f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&f) => {
            Some(f as u32)
        }
        _ => None,
    };
    value.map(Some).ok_or_else(|| {
        D::Error::custom(format!(
            "invalid value: {number}, expected an integer from 0 to {}",
            u32::MAX
        ))
    })
}

/// An epoch-ms time written as any integral JSON number (`5.0` included), as for rateLimit.
fn integral_ms<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    match (number.as_i64(), number.as_f64()) {
        (Some(n), _) => Some(n),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
        _ => None,
    }
    .ok_or_else(|| {
        D::Error::custom(format!(
            "invalid value: {number}, expected epoch milliseconds"
        ))
    })
}

/// [`integral_ms`] for optional fields.
fn integral_ms_opt<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "integral_ms")] i64);
    Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(ms)| ms))
}

#[cfg(test)]
mod tests {
    use super::EndpointIn;

    fn rate_limit(json: &str) -> Result<Option<u32>, serde_json::Error> {
        serde_json::from_str::<EndpointIn>(&format!(
            r#"{{"name": "n", "url": "https://e.com", "rateLimit": {json}}}"#
        ))
        .map(|e| e.rate_limit)
    }

    #[test]
    fn rate_limits_are_integers_however_written() {
        assert_eq!(rate_limit("5").unwrap(), Some(5));
        assert_eq!(rate_limit("5.0").unwrap(), Some(5));
        assert_eq!(rate_limit("5e2").unwrap(), Some(500));
        assert_eq!(rate_limit("null").unwrap(), None);
        assert_eq!(rate_limit("4294967295").unwrap(), Some(u32::MAX));
        for bad in ["1.5", "-1", "4294967296", "4294967296.0", "\"5\"", "1e300"] {
            assert!(rate_limit(bad).is_err(), "{bad}");
        }
        let absent: EndpointIn =
            serde_json::from_str(r#"{"name": "n", "url": "https://e.com"}"#).unwrap();
        assert_eq!(absent.rate_limit, None);
    }
}
