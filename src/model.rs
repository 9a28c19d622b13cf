//! The entities of the API, as clients see them (camelCase JSON) and as the store keeps them.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::openapi::schema;

/// Milliseconds since the Unix epoch, the unit of every `created`/`updated` field.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where messages are sent to: usually one per customer of the platform.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Application {
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

/// Body of `POST /applications` and `PUT /applications/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ApplicationIn {
    #[schema(schema_with = schema::name)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = schema::opt_uid)]
    pub uid: Option<String>,
}

/// A URL an application's messages are delivered to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
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
    /// Read-only delivery health (circuit breaker, failure streak); ignored on input.
    #[serde(default)]
    #[schema(read_only, required = true)]
    pub health: EndpointHealth,
    /// Bumped each time re-enabling resets the health (internal, not part of the API).
    #[serde(skip)]
    pub health_epoch: u64,
}

/// How deliveries to an endpoint are going, as the circuit breaker and the attempt records
/// see them. Times are epoch ms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealth {
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
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
pub fn integral_ms<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
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
pub fn integral_ms_opt<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "integral_ms")] i64);
    Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(ms)| ms))
}

/// A webhook: its payload is delivered verbatim to every matching endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[schema(schema_with = schema::channels)]
    pub channels: Vec<String>,
    #[schema(schema_with = schema::identifier)]
    pub event_type: String,
    /// The payload exactly as the client sent it (bytes preserved).
    #[schema(schema_with = schema::payload)]
    pub payload: Box<RawValue>,
    #[schema(schema_with = schema::opt_uid, required = true)]
    pub uid: Option<String>,
    pub id: Uuid,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms.
    pub updated: i64,
}

/// Body of `POST .../messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
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
}

/// What happened on one delivery attempt, as the attempts API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
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
    #[schema(required = true)]
    pub response_status_code: Option<u16>,
    /// Why there was no usable response, when there was none (or a redirect).
    #[schema(required = true)]
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
pub enum AttemptStatus {
    Success,
    Pending,
    Failed,
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
