//! What can be done to an endpoint besides editing it: pause and resume it, read and rotate
//! its signing secret, try a payload filter, and send it an event type's example.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Org;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::idempotency::idempotent;
use super::reply::Reply;
use super::request::{app_endpoint, parse_json, read_body};
use super::types::{
    EndpointOut, FilterTestIn, FilterTestOut, MessageOut, RotateIn, SecretOut, SendExampleIn,
};
use super::{validation, ApiState};
use crate::db::StoreError;
use crate::domain::secret;
use crate::store::messages::{Accepted, NewMessage};
use crate::telemetry::metrics;
use serde_json::value::RawValue;

/// Default grace period of the previous secrets after a rotation.
const DEFAULT_GRACE: Duration = Duration::from_secs(86_400);
/// Longest grace period.
const MAX_GRACE_SECS: u32 = 604_800;

async fn set_paused(
    state: &ApiState,
    org: &str,
    req: &HttpRequest,
    body: &[u8],
    (app, endpoint): (&str, &str),
    paused: bool,
) -> ApiResult<HttpResponse> {
    idempotent(state, org, req, body, || async {
        let (_, found) = app_endpoint(state, org, app, endpoint).await?;
        let endpoint = state.store.set_paused(&found.endpoint, paused).await?;
        Reply::json(StatusCode::OK, &EndpointOut::from(endpoint))
    })
    .await
}

/// `POST .../endpoints/{endpoint_id}/pause`
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/pause",
    operation_id = "pauseEndpoint",
    tag = "Endpoints",
    summary = "Pause an endpoint",
    description = "Nothing is sent to the endpoint while it is paused; its deliveries are held \
        (not dropped, not counted as attempts) and sent once it is resumed, in order for a `fifo` \
        endpoint. The request body, if any, is ignored.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 200, description = "The paused endpoint.", body = EndpointOut),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
    )
)]
pub async fn pause(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let body = read_body(&state.config.server, &req, payload).await?;
    set_paused(&state, &org.0, &req, &body, (&app, &endpoint), true).await
}

/// `POST .../endpoints/{endpoint_id}/resume`
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/resume",
    operation_id = "resumeEndpoint",
    tag = "Endpoints",
    summary = "Resume a paused endpoint",
    description = "Everything held while the endpoint was paused is delivered. The request body, \
        if any, is ignored.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 200, description = "The resumed endpoint.", body = EndpointOut),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
    )
)]
pub async fn resume(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let body = read_body(&state.config.server, &req, payload).await?;
    set_paused(&state, &org.0, &req, &body, (&app, &endpoint), false).await
}

/// `GET .../endpoints/{endpoint_id}/secret`
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret",
    operation_id = "getEndpointSecret",
    tag = "Endpoints",
    summary = "Get an endpoint's signing secret",
    description = "The current secret (the newest one; rotated-out secrets still signing during \
        their grace period are listed in the endpoint's `secrets`).",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 200, description = "The current secret.", body = SecretOut),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
    )
)]
pub async fn get_secret(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let (_, found) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    let key = found
        .endpoint
        .secrets
        .first()
        .cloned()
        .ok_or_else(|| ApiError::Internal("an endpoint without a secret".into()))?;
    Ok(HttpResponse::Ok().json(SecretOut { key }))
}

/// `POST .../endpoints/{endpoint_id}/secret/rotate`
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret/rotate",
    operation_id = "rotateEndpointSecret",
    tag = "Endpoints",
    summary = "Rotate an endpoint's signing secret",
    description = "The new secret (given, or generated) signs from now on; the previous secrets \
        keep signing too (one signature each) until their grace period ends (`gracePeriodSeconds`, \
        default 86400, at most 604800; 0 drops them at once), then they are removed by \
        themselves. At most 5 secrets sign at a time. The body is optional.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    request_body(content = RotateIn, description = "Optional."),
    responses(
        (status = 200, description = "The endpoint with its new secrets.", body = EndpointOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
        (status = 409, description = "`conflict`: the endpoint kept changing meanwhile (or \
            `idempotency_key_in_progress`).", body = ErrorBody),
        (status = 422, description = "`validation_error`: an invalid key or grace period (or \
            `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn rotate_secret(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input: RotateIn = if body.iter().all(u8::is_ascii_whitespace) {
            RotateIn::default()
        } else {
            parse_json(&body)?
        };
        let key = match input.key {
            Some(key) => {
                validation::secrets(std::slice::from_ref(&key))?;
                key
            }
            None => secret::generate(),
        };
        let grace = match input.grace_period_seconds {
            None => DEFAULT_GRACE,
            Some(secs) if secs <= MAX_GRACE_SECS => Duration::from_secs(u64::from(secs)),
            Some(_) => {
                return Err(ApiError::Validation(format!(
                    "gracePeriodSeconds must be between 0 and {MAX_GRACE_SECS}"
                )))
            }
        };
        let (_, found) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
        let rotated = state
            .store
            .rotate_secret(&found.endpoint, key, grace, validation::MAX_SECRETS)
            .await?;
        Reply::json(StatusCode::OK, &EndpointOut::from(rotated))
    })
    .await
}

/// `POST .../endpoints/{endpoint_id}/filter/test`
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/filter/test",
    operation_id = "testEndpointFilter",
    tag = "Endpoints",
    summary = "Test a payload filter",
    description = "Whether `payload` matches `filter` (the endpoint's own filter is not changed).",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    request_body = FilterTestIn,
    responses(
        (status = 200, description = "Whether the payload matches.", body = FilterTestOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
        (status = 422, description = "`validation_error`: an invalid filter, or a payload that \
            is not an object (or `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn test_filter(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input: FilterTestIn = parse_json(&body)?;
        let filter = validation::filter(&input.filter)?;
        if !input.payload.is_object() {
            return Err(ApiError::Validation("payload must be a JSON object".into()));
        }
        app_endpoint(&state, &org.0, &app, &endpoint).await?;
        Reply::json(
            StatusCode::OK,
            &FilterTestOut {
                matches: filter.matches(&input.payload),
            },
        )
    })
    .await
}

/// `POST .../endpoints/{endpoint_id}/send-example`
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/send-example",
    operation_id = "sendExample",
    tag = "Endpoints",
    summary = "Send an event type's example to an endpoint",
    description = "Creates a message of `eventType` whose payload is the catalogue's example of \
        that type (`{}` when it has none or the type is not in the catalogue) and delivers it to \
        this endpoint only, as any message (signed, retried, listed). 202 once queued.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    request_body = SendExampleIn,
    responses(
        (status = 202, description = "The example message.", body = MessageOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
        (status = 409, description = "`conflict`: the endpoint is disabled (or \
            `idempotency_key_in_progress`).", body = ErrorBody),
        (status = 422, description = "`validation_error`: an invalid `eventType` (or \
            `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn send_example(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input: SendExampleIn = parse_json(&body)?;
        validation::identifier("eventType", &input.event_type)?;
        let (app, found) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
        if !found.endpoint.enabled {
            return Err(ApiError::Conflict(
                "the endpoint is disabled; enable it before sending to it".into(),
            ));
        }
        let example = match state.store.find_event_type(&org.0, &input.event_type).await {
            Ok(event_type) => event_type.example,
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let text = example.map_or_else(|| "{}".to_string(), |e| e.to_string());
        let payload = RawValue::from_string(text).map_err(|e| ApiError::Internal(e.to_string()))?;
        let accepted = state
            .store
            .create_message(
                &org.0,
                app.id,
                &NewMessage {
                    event_type: &input.event_type,
                    channels: &[],
                    payload: &payload,
                    uid: None,
                    idempotency: None,
                    ordering_key: None,
                    only_to: Some(found.endpoint.id),
                },
            )
            .await?;
        let Accepted::Created(message) = accepted else {
            return Err(ApiError::Internal("an example answered as a replay".into()));
        };
        metrics::MESSAGES_ACCEPTED.inc();
        Reply::json(StatusCode::ACCEPTED, &MessageOut::from(message))
    })
    .await
}
