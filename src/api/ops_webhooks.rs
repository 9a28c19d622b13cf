//! `/api/v1/operational-webhooks/endpoints`: the organisation's own endpoints for operational
//! events (an endpoint disabled or about to be, a circuit opened or closed, a message's
//! attempts failing or exhausted, a recovery finished). They are endpoints of the
//! organisation's operational application (`store::ops` explains why), with the same fields
//! and rules as any endpoint; their `eventTypes` name operational events.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Org;
use super::endpoints::validated;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::idempotency::idempotent;
use super::reply::{page_response, Reply};
use super::request::{read_body, PageQuery};
use super::types::{EndpointOut, OperationalEndpointIn};
use super::ApiState;
use crate::queue::outbox::OpsEvent;
use crate::store::endpoints::{EndpointSpec, EndpointWithHealth};
use crate::store::ops::ops_app;

/// An operational endpoint's body: an endpoint's, whose `eventTypes` are operational events.
fn ops_validated(body: &[u8], create: bool) -> ApiResult<EndpointSpec> {
    let spec = validated(body, create)?;
    if let Some(unknown) = spec
        .event_types
        .iter()
        .find(|name| OpsEvent::parse(name).is_none())
    {
        let known: Vec<&str> = OpsEvent::ALL.iter().map(|e| e.as_str()).collect();
        return Err(ApiError::Validation(format!(
            "eventTypes: {unknown:?} is not an operational event ({})",
            known.join(", ")
        )));
    }
    Ok(spec)
}

/// The operational endpoint a path names.
async fn found(state: &ApiState, org: &str, endpoint: &str) -> ApiResult<EndpointWithHealth> {
    Ok(state.store.find_endpoint(ops_app(org), endpoint).await?)
}

/// `GET /operational-webhooks/endpoints`
#[utoipa::path(
    get,
    path = "/api/v1/operational-webhooks/endpoints",
    operation_id = "listOperationalEndpoints",
    tag = "Operational webhooks",
    summary = "List operational endpoints",
    description = "The organisation's operational endpoints, oldest first.",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of endpoints.", body = Vec<EndpointOut>,
            headers((
                "x-next-iterator" = String,
                description = "Present when more items follow: the `iterator` of the next page."
            ))),
        (status = 422, description = "`validation_error`: invalid `limit` or `iterator`.",
            body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<ApiState>,
    org: Org,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let limit = query.limit(&state.config)?;
    let page = state
        .store
        .list_endpoints(ops_app(&org.0), query.iterator()?, limit)
        .await?;
    page_response(page.map(EndpointOut::from))
}

/// `POST /operational-webhooks/endpoints`
#[utoipa::path(
    post,
    path = "/api/v1/operational-webhooks/endpoints",
    operation_id = "createOperationalEndpoint",
    tag = "Operational webhooks",
    summary = "Create an operational endpoint",
    description = "An endpoint for the organisation's operational events: `endpoint.disabled`, \
        `endpoint.disabling`, `endpoint.circuit_opened`, `endpoint.circuit_closed`, \
        `message.attempt.exhausted`, `message.attempt.failing`, `recovery.finished` (`eventTypes` \
        empty: all). Each is a signed POST of `{\"type\", \"timestamp\", \"data\"}`, delivered \
        and retried like any message. A `whsec_` secret is generated when none is given.",
    request_body = OperationalEndpointIn,
    responses(
        (status = 201, description = "The new endpoint.", body = EndpointOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 409, description = "`conflict`: the uid is taken (or \
            `idempotency_key_in_progress`).", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema, \
            or `eventTypes` names something else than an operational event (or \
            `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<ApiState>,
    org: Org,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let spec = ops_validated(&body, true)?;
        let app = state.store.ensure_ops_app(&org.0).await?;
        let max = state.config.api.max_endpoints_per_app;
        let endpoint = state.store.create_endpoint(app, &spec, max).await?;
        Reply::json(StatusCode::CREATED, &EndpointOut::from(endpoint))
    })
    .await
}

/// `GET /operational-webhooks/endpoints/{endpoint_id}`
#[utoipa::path(
    get,
    path = "/api/v1/operational-webhooks/endpoints/{endpoint_id}",
    operation_id = "getOperationalEndpoint",
    tag = "Operational webhooks",
    summary = "Get an operational endpoint",
    params(("endpoint_id" = String, Path, description = "The endpoint's id or uid.")),
    responses(
        (status = 200, description = "The endpoint.", body = EndpointOut),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let endpoint = found(&state, &org.0, &path).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(endpoint)))
}

/// `PUT /operational-webhooks/endpoints/{endpoint_id}`
#[utoipa::path(
    put,
    path = "/api/v1/operational-webhooks/endpoints/{endpoint_id}",
    operation_id = "updateOperationalEndpoint",
    tag = "Operational webhooks",
    summary = "Update an operational endpoint",
    description = "Replaces the endpoint's attributes, as for any endpoint.",
    params(("endpoint_id" = String, Path, description = "The endpoint's id or uid.")),
    request_body = OperationalEndpointIn,
    responses(
        (status = 200, description = "The updated endpoint.", body = EndpointOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorBody),
        (status = 409, description = "`conflict`: the uid is taken.", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema, \
            or `eventTypes` names something else than an operational event.", body = ErrorBody),
    )
)]
pub async fn update(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state.config.server, &req, payload).await?;
    let spec = ops_validated(&body, false)?;
    let endpoint = found(&state, &org.0, &path).await?;
    let updated = state
        .store
        .update_endpoint(endpoint.endpoint.app, endpoint.endpoint.id, &spec)
        .await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(updated)))
}

/// `DELETE /operational-webhooks/endpoints/{endpoint_id}`
#[utoipa::path(
    delete,
    path = "/api/v1/operational-webhooks/endpoints/{endpoint_id}",
    operation_id = "deleteOperationalEndpoint",
    tag = "Operational webhooks",
    summary = "Delete an operational endpoint",
    params(("endpoint_id" = String, Path, description = "The endpoint's id or uid.")),
    responses(
        (status = 200, description = "The deleted endpoint.", body = EndpointOut),
        (status = 404, description = "`not_found`: no such endpoint.", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let found = found(&state, &org.0, &path).await?;
    let endpoint = state.store.delete_endpoint(&found.endpoint).await?;
    Ok(
        HttpResponse::Ok().json(EndpointOut::from(EndpointWithHealth {
            endpoint,
            health: found.health,
        })),
    )
}
