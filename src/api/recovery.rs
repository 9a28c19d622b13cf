//! Endpoint recovery: `POST .../endpoints/{endpoint_id}/recover` re-sends every message whose
//! last attempt to the endpoint failed for good inside `[since, until]`, as a tracked job;
//! `GET .../endpoints/{endpoint_id}/recover/{job_id}` shows its progress.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::auth::Org;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::idempotency::idempotent;
use super::reply::Reply;
use super::request::{app_endpoint, parse_json, read_body};
use super::types::{RecoverIn, RecoveryJobOut};
use super::ApiState;
use crate::store::recovery::Started;
use crate::store::Store;

/// Runs a job in the background of this node; progress is in Redis, so another node can
/// resume it if this one dies.
fn spawn_job(store: Store, app: Uuid, job: Uuid) {
    actix_rt::spawn(async move {
        if let Err(e) = store.run_recovery(app, job).await {
            tracing::error!(error = %e, %job, "recovery job failed; the next status request resumes it");
        }
    });
}

/// `POST .../endpoints/{endpoint_id}/recover`: 202 with the job.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover",
    operation_id = "recoverEndpoint",
    tag = "Endpoints",
    summary = "Re-send failed messages to an endpoint",
    description = "Starts a job that re-sends to the endpoint every message whose last attempt \
        there failed for good between `since` and `until` (epoch ms). Works for any volume; \
        follow its progress with the returned job id.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    request_body = RecoverIn,
    responses(
        (status = 202, description = "The job is running.", body = RecoveryJobOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application or endpoint.",
            body = ErrorBody),
        (status = 409, description = "`recovery_in_progress`: a job is still running for this \
            endpoint; `jobId` names it (or `idempotency_key_in_progress`).", body = ErrorBody),
        (status = 422, description = "`validation_error`: a negative time (or \
            `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn recover(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, endpoint) = path.into_inner();
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input: RecoverIn = parse_json(&body)?;
        if input.since < 0 || input.until.is_some_and(|u| u < 0) {
            return Err(ApiError::Validation(
                "since and until are epoch milliseconds (0 or more)".into(),
            ));
        }
        let (app, endpoint) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
        // A message's last attempt can come long after its creation: look back over the
        // whole retry schedule (with its jitter) before `since`.
        let schedule: std::time::Duration = state.config.retry.schedule.iter().sum();
        let lookback = schedule
            .mul_f64(1.0 + state.config.retry.jitter)
            .as_millis() as i64;
        let started = state
            .store
            .create_recovery(
                app.id,
                endpoint.endpoint.id,
                input.since,
                input.until,
                input.since - lookback - 60_000,
            )
            .await?;
        let job = match started {
            Started::New(job) => job,
            Started::AlreadyRunning(job) => return Err(ApiError::RecoveryRunning(job)),
        };
        spawn_job(state.store.clone(), app.id, job.id);
        Reply::json(StatusCode::ACCEPTED, &RecoveryJobOut::from(job))
    })
    .await
}

/// `GET .../endpoints/{endpoint_id}/recover/{job_id}`: progress; resumes a job whose node died.
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover/{job_id}",
    operation_id = "getRecoveryJob",
    tag = "Endpoints",
    summary = "Progress of a recovery job",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
        ("job_id" = String, Path, description = "The job's id."),
    ),
    responses(
        (status = 200, description = "The job.", body = RecoveryJobOut),
        (status = 404, description = "`not_found`: no such application, endpoint or job.",
            body = ErrorBody),
    )
)]
pub async fn status(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, endpoint, job) = path.into_inner();
    let (app, endpoint) = app_endpoint(&state, &org.0, &app, &endpoint).await?;
    let job = Uuid::parse_str(&job).map_err(|_| ApiError::NotFound("recovery job"))?;
    match state.store.recovery(app.id, job).await? {
        Some((job, stale)) if job.endpoint_id == endpoint.endpoint.id => {
            if stale {
                spawn_job(state.store.clone(), app.id, job.id);
            }
            Ok(HttpResponse::Ok().json(RecoveryJobOut::from(job)))
        }
        _ => Err(ApiError::NotFound("recovery job")),
    }
}
