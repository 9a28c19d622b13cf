//! `/api/v1/applications/{app}/endpoints`: list, create, get, update, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Org;
use super::idempotency::idempotent;
use super::{page_response, parse_json, read_body, validation, ApiState, PageQuery, Reply};
use crate::delivery::signature::generate_secret;
use crate::error::ApiResult;
use crate::model::EndpointIn;
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
pub async fn get(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let app = state.store.find_application(&org.0, &app).await?;
    let endpoint = state.store.find_endpoint(app.id, &endpoint).await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// `PUT .../endpoints/{endpoint}`: replaces every attribute given; a missing uid or secrets
/// keep the current ones.
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
    let app = state.store.find_application(&org.0, &app).await?;
    let endpoint = state.store.find_endpoint(app.id, &endpoint).await?;
    let endpoint = state
        .store
        .update_endpoint(app.id, endpoint.id, &spec)
        .await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// `DELETE .../endpoints/{endpoint}`
pub async fn delete(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let app = state.store.find_application(&org.0, &app).await?;
    let endpoint = state.store.find_endpoint(app.id, &endpoint).await?;
    let endpoint = state.store.delete_endpoint(app.id, endpoint.id).await?;
    Ok(HttpResponse::Ok().json(endpoint))
}
