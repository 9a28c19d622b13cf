//! An endpoint's delivery log and stats: its attempts, newest first, and its success and
//! failure counts per hour (24 h) and per day (30 days).

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::auth::Org;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::reply::page_response;
use super::request::{app_endpoint, PageQuery};
use super::types::{AttemptOut, EndpointStatsOut};
use super::{schema, ApiState};
use crate::domain::AttemptStatus;
use crate::store::attempts::{parse_log_cursor, LogFilter};

/// Query of an endpoint's attempt log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Page size (bounds in the schema: `api.max_page_size`, default `api.default_page_size`).
    pub limit: Option<usize>,
    /// Where the page starts: the `x-next-iterator` of the previous page; absent or empty for
    /// the first page.
    #[param(schema_with = schema::log_iterator)]
    pub iterator: Option<String>,
    /// Only attempts with this status: `success`, `pending` or `failed`.
    #[param(schema_with = schema::attempt_status)]
    pub status: Option<String>,
    /// Only attempts started at or after this time (epoch ms).
    pub since: Option<i64>,
    /// Only attempts started at or before this time (epoch ms).
    pub until: Option<i64>,
}

/// `GET .../endpoints/{endpoint_id}/attempts`
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/attempts",
    operation_id = "listEndpointAttempts",
    tag = "Endpoints",
    summary = "List an endpoint's delivery attempts",
    description = "Every attempt to the endpoint, newest first, with its message, optionally only \
        those of one status or time window (epoch ms).",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
        LogQuery,
    ),
    responses(
        (status = 200, description = "A page of attempts.", body = Vec<AttemptOut>,
            headers((
                "x-next-iterator" = String,
                description = "Present when more items follow: the `iterator` of the next page."
            ))),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
        (status = 422, description = "`validation_error`: invalid `limit`, `iterator` or \
            `status`.", body = ErrorBody),
    )
)]
pub async fn attempts(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    query: web::Query<LogQuery>,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let query = query.into_inner();
    let limit = PageQuery {
        limit: query.limit,
        iterator: None,
    }
    .limit(&state.config)?;
    let cursor = match query.iterator.as_deref() {
        None | Some("") => None,
        Some(it) => Some(
            parse_log_cursor(it)
                .ok_or_else(|| ApiError::Validation("iterator is not a valid cursor".into()))?,
        ),
    };
    let status = match query.status.as_deref() {
        None => None,
        Some("success") => Some(AttemptStatus::Success),
        Some("pending") => Some(AttemptStatus::Pending),
        Some("failed") => Some(AttemptStatus::Failed),
        Some(_) => {
            return Err(ApiError::Validation(
                "status must be success, pending or failed".into(),
            ))
        }
    };
    let (app, found) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    let filter = LogFilter {
        status,
        since: query.since,
        until: query.until,
    };
    let page = state
        .store
        .endpoint_attempts(app.id, found.endpoint.id, cursor, limit, &filter)
        .await?;
    page_response(page.map(AttemptOut::from))
}

/// `GET .../endpoints/{endpoint_id}/stats`
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/stats",
    operation_id = "getEndpointStats",
    tag = "Endpoints",
    summary = "An endpoint's delivery stats",
    description = "Successful and failed attempts per hour over the last 24 hours and per day over \
        the last 30 days, oldest first (kept in constant memory per endpoint).",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 200, description = "The counts.", body = EndpointStatsOut),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
    )
)]
pub async fn stats(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let (app, found) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    let (hourly, daily) = state
        .store
        .endpoint_stats(app.id, found.endpoint.id)
        .await?;
    Ok(HttpResponse::Ok().json(EndpointStatsOut::new(&hourly, &daily)))
}
