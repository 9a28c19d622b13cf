//! `/api/v1/applications`: list, create, get, update, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Org;
use super::idempotency::idempotent;
use super::{page_response, parse_json, read_body, validation, ApiState, PageQuery, Reply};
use crate::error::ApiResult;
use crate::model::ApplicationIn;

fn validated(body: &[u8]) -> ApiResult<ApplicationIn> {
    let input: ApplicationIn = parse_json(body)?;
    validation::name(&input.name)?;
    validation::opt_uid(input.uid.as_deref())?;
    Ok(input)
}

/// `GET /applications`
pub async fn list(
    state: web::Data<ApiState>,
    org: Org,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let limit = query.limit(&state.config)?;
    let page = state
        .store
        .list_applications(&org.0, query.iterator()?, limit)
        .await?;
    page_response(page)
}

/// `POST /applications`
pub async fn create(
    state: web::Data<ApiState>,
    org: Org,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&req, payload, state.config.server.body_limit).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input = validated(&body)?;
        let app = state
            .store
            .create_application(&org.0, &input.name, input.uid.as_deref())
            .await?;
        Reply::json(StatusCode::CREATED, &app)
    })
    .await
}

/// `GET /applications/{app}`
pub async fn get(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let app = state.store.find_application(&org.0, &path).await?;
    Ok(HttpResponse::Ok().json(app))
}

/// `PUT /applications/{app}`: replaces the name; a given uid replaces the uid.
pub async fn update(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&req, payload, state.config.server.body_limit).await?;
    let input = validated(&body)?;
    let app = state.store.find_application(&org.0, &path).await?;
    let app = state
        .store
        .update_application(&org.0, app.id, &input.name, input.uid.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(app))
}

/// `DELETE /applications/{app}`: removes it with its endpoints, messages and pending work.
pub async fn delete(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let app = state.store.find_application(&org.0, &path).await?;
    let app = state.store.delete_application(&org.0, app.id).await?;
    Ok(HttpResponse::Ok().json(app))
}
