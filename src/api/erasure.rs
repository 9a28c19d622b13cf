//! Erasing message payloads (GDPR requests): `DELETE .../messages/{message_id}/content` erases
//! one at once; `POST .../messages/erase` starts a tracked background job for every message of
//! the application matching a filter, and `GET .../messages/erase/{job_id}` shows its progress
//! (and resumes it when its node died; the partition's owner resumes it too).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::auth::Org;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::idempotency::idempotent;
use super::reply::Reply;
use super::request::{parse_json, read_body};
use super::types::{EraseIn, ErasureJobOut, MessageOut};
use super::{validation, ApiState};
use crate::store::erasure::EraseFilter;
use crate::store::Store;

/// Runs a job in the background of this node; progress is in Redis, so another node resumes
/// it if this one dies.
fn spawn_job(store: Store, app: Uuid, job: Uuid) {
    actix_rt::spawn(async move {
        if let Err(e) = store.run_erasure(app, job).await {
            tracing::error!(error = %e, %job, "erasure job failed; it is resumed later");
        }
    });
}

/// `DELETE .../messages/{message_id}/content`
#[utoipa::path(
    delete,
    path = "/api/v1/applications/{application_id}/messages/{message_id}/content",
    operation_id = "eraseMessageContent",
    tag = "Messages",
    summary = "Erase a message's payload",
    description = "Removes the message's payload from the store, with the answer an \
        Idempotency-Key kept for its creation. The message and its attempts stay, with `payload: \
        null`; deliveries still pending for it end, and it can no longer be resent.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("message_id" = String, Path, description = "The message's id or uid."),
    ),
    responses(
        (status = 200, description = "The message, without its payload.", body = MessageOut),
        (status = 404, description = "`not_found`: no such application or message.",
            body = ErrorBody),
    )
)]
pub async fn erase_content(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, message) = path.into_inner();
    let app = state.store.find_application(&org.0, &app).await?;
    let message = state.store.find_message(app.id, &message).await?;
    let erased = state.store.erase_message(app.id, message.id).await?;
    Ok(HttpResponse::Ok().json(MessageOut::from(erased)))
}

/// `POST .../messages/erase`: 202 with the job.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/messages/erase",
    operation_id = "eraseMessages",
    tag = "Messages",
    summary = "Erase the payloads of many messages",
    description = "Starts a job erasing the payload of every message of the application that \
        matches the filter (all of them when it is empty) and exists when the job starts, like \
        `DELETE .../content` for each. Works for any volume; follow its progress with the \
        returned job id.",
    params(("application_id" = String, Path, description = "The application's id or uid.")),
    request_body = EraseIn,
    responses(
        (status = 202, description = "The job is running.", body = ErasureJobOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema \
            (or `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn start(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input: EraseIn = parse_json(&body)?;
        if let Some(prefix) = &input.uid_prefix {
            if prefix.is_empty() || prefix.chars().count() > validation::MAX_TEXT {
                return Err(ApiError::Validation(format!(
                    "uidPrefix must be 1 to {} characters",
                    validation::MAX_TEXT
                )));
            }
        }
        if let Some(channel) = &input.channel {
            validation::identifier("channel", channel)?;
        }
        if input.before.is_some_and(|b| b < 0) {
            return Err(ApiError::Validation(
                "before is epoch milliseconds (0 or more)".into(),
            ));
        }
        let app = state.store.find_application(&org.0, &path).await?;
        let filter = EraseFilter {
            uid_prefix: input.uid_prefix,
            channel: input.channel,
            before: input.before,
        };
        let job = state.store.create_erasure(app.id, &filter).await?;
        spawn_job(state.store.clone(), app.id, job.id);
        Reply::json(StatusCode::ACCEPTED, &ErasureJobOut::from(job))
    })
    .await
}

/// `GET .../messages/erase/{job_id}`: progress; resumes a job whose node died.
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/messages/erase/{job_id}",
    operation_id = "getErasureJob",
    tag = "Messages",
    summary = "Progress of an erasure job",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("job_id" = String, Path, description = "The job's id."),
    ),
    responses(
        (status = 200, description = "The job.", body = ErasureJobOut),
        (status = 404, description = "`not_found`: no such application or job.",
            body = ErrorBody),
    )
)]
pub async fn status(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, job) = path.into_inner();
    let app = state.store.find_application(&org.0, &app).await?;
    let job = Uuid::parse_str(&job).map_err(|_| ApiError::NotFound("erasure job"))?;
    let (job, stale) = state
        .store
        .erasure(app.id, job)
        .await?
        .ok_or(ApiError::NotFound("erasure job"))?;
    if stale {
        spawn_job(state.store.clone(), app.id, job.id);
    }
    Ok(HttpResponse::Ok().json(ErasureJobOut::from(job)))
}
