//! `/api/v1/applications/{app}/endpoints`: list, create, get, update, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Org;
use super::idempotency::idempotent;
use super::{
    app_endpoint, page_response, parse_json, read_body, validation, ApiState, PageQuery, Reply,
};
use crate::delivery::signature::generate_secret;
use crate::error::{ApiResult, ErrorBody};
use crate::model::{Endpoint, EndpointIn};
use crate::store::endpoints::EndpointSpec;

/// Parses and validates an endpoint body. Missing or empty secrets get one generated on create
/// and keep the current ones on update (an endpoint always has a secret to sign with).
fn validated(body: &[u8], create: bool) -> ApiResult<EndpointSpec> {
    let input: EndpointIn = parse_json(body)?;
    validation::name(&input.name)?;
    validation::url(&input.url)?;
    validation::opt_uid(input.uid.as_deref())?;
    let channels = input.channels.unwrap_or_default();
    validation::identifier_list("channels", &channels, validation::MAX_CHANNELS)?;
    let event_types = input.event_types.unwrap_or_default();
    validation::identifier_list("eventTypes", &event_types, validation::MAX_EVENT_TYPES)?;
    validation::rate_limit(input.rate_limit)?;
    let secrets = match input.secrets {
        Some(secrets) if !secrets.is_empty() => {
            validation::secrets(&secrets)?;
            Some(secrets)
        }
        _ if create => Some(vec![generate_secret()]),
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
    })
}

/// `GET .../endpoints`
#[utoipa::path(
    get,
    path = "/{app}/endpoints",
    operation_id = "listEndpoints",
    tag = "Endpoints",
    summary = "List endpoints",
    description = "The application's endpoints, oldest first.",
    params(("app" = String, Path, description = "The application's id or uid."), PageQuery),
    responses(
        (status = 200, description = "A page of endpoints.", body = Vec<Endpoint>,
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
    page_response(page)
}

/// `POST .../endpoints`
#[utoipa::path(
    post,
    path = "/{app}/endpoints",
    operation_id = "createEndpoint",
    tag = "Endpoints",
    summary = "Create an endpoint",
    description = "A `whsec_` secret is generated when none is given.",
    params(("app" = String, Path, description = "The application's id or uid.")),
    request_body = EndpointIn,
    responses(
        (status = 201, description = "The new endpoint.", body = Endpoint),
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
    let body = read_body(&req, payload, state.config.server.body_limit).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let spec = validated(&body, true)?;
        let app = state.store.find_application(&org.0, &path).await?;
        let max = state.config.api.max_endpoints_per_app;
        let endpoint = state.store.create_endpoint(app.id, &spec, max).await?;
        Reply::json(StatusCode::CREATED, &endpoint)
    })
    .await
}

/// `GET .../endpoints/{endpoint}`
#[utoipa::path(
    get,
    path = "/{app}/endpoints/{endpoint}",
    operation_id = "getEndpoint",
    tag = "Endpoints",
    summary = "Get an endpoint",
    params(
        ("app" = String, Path, description = "The application's id or uid."),
        ("endpoint" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 200, description = "The endpoint.", body = Endpoint),
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
    Ok(HttpResponse::Ok().json(endpoint))
}

/// `PUT .../endpoints/{endpoint}`: replaces every attribute given; a missing uid or secrets
/// keep the current ones.
#[utoipa::path(
    put,
    path = "/{app}/endpoints/{endpoint}",
    operation_id = "updateEndpoint",
    tag = "Endpoints",
    summary = "Update an endpoint",
    description = "Replaces the endpoint's attributes. A missing `uid` keeps the current uid, \
        missing or empty `secrets` keep the current secrets, missing `eventTypes`/`channels` mean \
        none and a missing `enabled` means `true`. Re-enabling an endpoint resets its health.",
    params(
        ("app" = String, Path, description = "The application's id or uid."),
        ("endpoint" = String, Path, description = "The endpoint's id or uid."),
    ),
    request_body = EndpointIn,
    responses(
        (status = 200, description = "The updated endpoint.", body = Endpoint),
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
    let body = read_body(&req, payload, state.config.server.body_limit).await?;
    let spec = validated(&body, false)?;
    let (app, endpoint) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    let endpoint = state
        .store
        .update_endpoint(app.id, endpoint.id, &spec)
        .await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// `DELETE .../endpoints/{endpoint}`
#[utoipa::path(
    delete,
    path = "/{app}/endpoints/{endpoint}",
    operation_id = "deleteEndpoint",
    tag = "Endpoints",
    summary = "Delete an endpoint",
    params(
        ("app" = String, Path, description = "The application's id or uid."),
        ("endpoint" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 200, description = "The deleted endpoint.", body = Endpoint),
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
    let (app, endpoint) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    let endpoint = state.store.delete_endpoint(app.id, endpoint.id).await?;
    Ok(HttpResponse::Ok().json(endpoint))
}
