//! `/api/v1/applications`: list, create, get, update, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Org;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::idempotency::idempotent;
use super::reply::{page_response, Reply};
use super::request::{parse_json, read_body, PageQuery};
use super::types::{ApplicationIn, ApplicationOut};
use super::{validation, ApiState};

fn validated(body: &[u8]) -> ApiResult<ApplicationIn> {
    let input: ApplicationIn = parse_json(body)?;
    validation::name(&input.name)?;
    validation::opt_uid(input.uid.as_deref())?;
    Ok(input)
}

/// `GET /applications`
#[utoipa::path(
    get,
    path = "/api/v1/applications",
    operation_id = "listApplications",
    tag = "Applications",
    summary = "List applications",
    description = "The organisation's applications, oldest first.",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of applications.", body = Vec<ApplicationOut>,
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
        .list_applications(&org.0, query.iterator()?, limit)
        .await?;
    page_response(page.map(ApplicationOut::from))
}

/// `POST /applications`
#[utoipa::path(
    post,
    path = "/api/v1/applications",
    operation_id = "createApplication",
    tag = "Applications",
    summary = "Create an application",
    request_body = ApplicationIn,
    responses(
        (status = 201, description = "The new application.", body = ApplicationOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 409, description = "`conflict`: the uid is taken (or \
            `idempotency_key_in_progress`).", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema (or \
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
        let input = validated(&body)?;
        let app = state
            .store
            .create_application(&org.0, &input.name, input.uid.as_deref())
            .await?;
        Reply::json(StatusCode::CREATED, &ApplicationOut::from(app))
    })
    .await
}

/// `GET /applications/{application_id}`
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}",
    operation_id = "getApplication",
    tag = "Applications",
    summary = "Get an application",
    params(("application_id" = String, Path, description = "The application's id or uid.")),
    responses(
        (status = 200, description = "The application.", body = ApplicationOut),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let app = state.store.find_application(&org.0, &path).await?;
    Ok(HttpResponse::Ok().json(ApplicationOut::from(app)))
}

/// `PUT /applications/{application_id}`: replaces the name; a given uid replaces the uid.
#[utoipa::path(
    put,
    path = "/api/v1/applications/{application_id}",
    operation_id = "updateApplication",
    tag = "Applications",
    summary = "Update an application",
    description = "Replaces the name; a given uid replaces the uid, a missing one keeps it.",
    params(("application_id" = String, Path, description = "The application's id or uid.")),
    request_body = ApplicationIn,
    responses(
        (status = 200, description = "The updated application.", body = ApplicationOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
        (status = 409, description = "`conflict`: the uid is taken.", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema.",
            body = ErrorBody),
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
    let input = validated(&body)?;
    let app = state.store.find_application(&org.0, &path).await?;
    let app = state
        .store
        .update_application(&org.0, app.id, &input.name, input.uid.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(ApplicationOut::from(app)))
}

/// `DELETE /applications/{application_id}`: removes it with its endpoints, messages and pending work.
#[utoipa::path(
    delete,
    path = "/api/v1/applications/{application_id}",
    operation_id = "deleteApplication",
    tag = "Applications",
    summary = "Delete an application",
    description = "Deletes the application with its endpoints, messages and pending deliveries.",
    params(("application_id" = String, Path, description = "The application's id or uid.")),
    responses(
        (status = 200, description = "The deleted application.", body = ApplicationOut),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let app = state.store.find_application(&org.0, &path).await?;
    // Detached from the request: a client hanging up cannot stop it half-way.
    let store = state.store.clone();
    let org = org.0;
    let deleted = actix_rt::spawn(async move {
        let deleted = store.delete_application(&org, &app).await?;
        // The purge runs in the background; the partition's owner resumes it if this node
        // dies first.
        actix_rt::spawn(async move {
            if let Err(e) = store.purge_now(&org, deleted.id).await {
                tracing::warn!(error = %e, app = %deleted.id, "purge interrupted; the worker resumes it");
            }
        });
        Ok::<_, crate::db::StoreError>(deleted)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok().json(ApplicationOut::from(deleted)))
}
