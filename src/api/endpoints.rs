//! `/api/v1/applications/{application_id}/endpoints`: list, create, get, update, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Org;
use super::error::{ApiResult, ErrorBody};
use super::event_types::subscription_warning;
use super::idempotency::idempotent;
use super::reply::{page_response, warning_header, Reply};
use super::request::{app_endpoint, parse_json, read_body, PageQuery};
use super::types::{EndpointIn, EndpointOut};
use super::{validation, ApiState};
use crate::domain::secret;
use crate::store::endpoints::EndpointSpec;

/// Parses and validates an endpoint body. Missing or empty secrets get one generated on create
/// and keep the current ones on update (an endpoint always has a secret to sign with).
pub(super) fn validated(body: &[u8], create: bool) -> ApiResult<EndpointSpec> {
    let input: EndpointIn = parse_json(body)?;
    validation::name(&input.name)?;
    validation::url(&input.url)?;
    validation::opt_uid(input.uid.as_deref())?;
    let channels = input.channels.unwrap_or_default();
    validation::identifier_list("channels", &channels, validation::MAX_CHANNELS)?;
    let event_types = input.event_types.unwrap_or_default();
    validation::identifier_list("eventTypes", &event_types, validation::MAX_EVENT_TYPES)?;
    validation::rate_limit(input.rate_limit)?;
    let headers = validation::headers(input.headers.unwrap_or_default())?;
    let filter = input
        .filter
        .filter(|f| !f.is_null())
        .map(|f| validation::filter(&f).map(|_| f))
        .transpose()?;
    let ordering = validation::ordering(input.ordering.as_deref())?;
    let secrets = match input.secrets {
        Some(secrets) if !secrets.is_empty() => {
            validation::secrets(&secrets)?;
            Some(secrets)
        }
        _ if create => Some(vec![secret::generate()]),
        _ => None,
    };
    Ok(EndpointSpec {
        name: input.name,
        url: input.url,
        uid: input.uid,
        channels,
        event_types,
        enabled: input.enabled.unwrap_or(true),
        secrets,
        rate_limit: input.rate_limit,
        headers,
        filter,
        ordering,
    })
}

/// `GET .../endpoints`
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/endpoints",
    operation_id = "listEndpoints",
    tag = "Endpoints",
    summary = "List endpoints",
    description = "The application's endpoints, oldest first.",
    params(("application_id" = String, Path, description = "The application's id or uid."), PageQuery),
    responses(
        (status = 200, description = "A page of endpoints.", body = Vec<EndpointOut>,
            headers((
                "x-next-iterator" = String,
                description = "Present when more items follow: the `iterator` of the next page."
            ))),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
        (status = 422, description = "`validation_error`: invalid `limit` or `iterator`.",
            body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let limit = query.limit(&state.config)?;
    let app = state.store.find_application(&org.0, &path).await?;
    let page = state
        .store
        .list_endpoints(app.id, query.iterator()?, limit)
        .await?;
    page_response(page.map(EndpointOut::from))
}

/// `POST .../endpoints`
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/endpoints",
    operation_id = "createEndpoint",
    tag = "Endpoints",
    summary = "Create an endpoint",
    description = "A `whsec_` secret is generated when none is given. `eventTypes` naming types \
        missing from the event-type catalogue (or archived) are accepted with a `Warning` \
        header, or refused with 422 when the server sets `api.strict_event_types`.",
    params(("application_id" = String, Path, description = "The application's id or uid.")),
    request_body = EndpointIn,
    responses(
        (status = 201, description = "The new endpoint.", body = EndpointOut,
            headers(("warning" = String, description = "Present when `eventTypes` names types \
                missing from the event-type catalogue or archived (`299 - \"...\"`)."))),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
        (status = 409, description = "`conflict`: the uid is taken (or \
            `idempotency_key_in_progress`).", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema, or \
            the application has too many endpoints (or `idempotency_key_reused`).",
            body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let spec = validated(&body, true)?;
        let app = state.store.find_application(&org.0, &path).await?;
        let warning = subscription_warning(&state, &org.0, &spec.event_types).await?;
        let max = state.config.api.max_endpoints_per_app;
        let endpoint = state.store.create_endpoint(app.id, &spec, max).await?;
        Ok(Reply::json(StatusCode::CREATED, &EndpointOut::from(endpoint))?.warned(warning))
    })
    .await
}

/// `GET .../endpoints/{endpoint_id}`
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}",
    operation_id = "getEndpoint",
    tag = "Endpoints",
    summary = "Get an endpoint",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 200, description = "The endpoint.", body = EndpointOut),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let (_, endpoint) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(endpoint)))
}

/// `PUT .../endpoints/{endpoint_id}`: replaces every attribute given; a missing uid or secrets
/// keep the current ones.
#[utoipa::path(
    put,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}",
    operation_id = "updateEndpoint",
    tag = "Endpoints",
    summary = "Update an endpoint",
    description = "Replaces the endpoint's attributes. A missing `uid` keeps the current uid, \
        missing or empty `secrets` keep the current secrets, missing `eventTypes`/`channels` mean \
        none and a missing `enabled` means `true`. Re-enabling an endpoint resets its health.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    request_body = EndpointIn,
    responses(
        (status = 200, description = "The updated endpoint.", body = EndpointOut,
            headers(("warning" = String, description = "Present when `eventTypes` names types \
                missing from the event-type catalogue or archived (`299 - \"...\"`)."))),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
        (status = 409, description = "`conflict`: the uid is taken.", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema.",
            body = ErrorBody),
    )
)]
pub async fn update(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let body = read_body(&state.config.server, &req, payload).await?;
    let spec = validated(&body, false)?;
    let (app, endpoint) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    let warning = subscription_warning(&state, &org.0, &spec.event_types).await?;
    let endpoint = state
        .store
        .update_endpoint(app.id, endpoint.endpoint.id, &spec)
        .await?;
    let mut response = HttpResponse::Ok();
    if let Some(text) = warning {
        response.insert_header(warning_header(&text));
    }
    Ok(response.json(EndpointOut::from(endpoint)))
}

/// `DELETE .../endpoints/{endpoint_id}`
#[utoipa::path(
    delete,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}",
    operation_id = "deleteEndpoint",
    tag = "Endpoints",
    summary = "Delete an endpoint",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 200, description = "The deleted endpoint.", body = EndpointOut),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let (_, found) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    let endpoint = state.store.delete_endpoint(&found.endpoint).await?;
    Ok(HttpResponse::Ok().json(EndpointOut::from(
        crate::store::endpoints::EndpointWithHealth {
            endpoint,
            health: found.health,
        },
    )))
}
