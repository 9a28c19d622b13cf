//! API errors, mapped to HTTP in exactly one place (`ResponseError for ApiError`), and the
//! one mapping of the data layer's errors to them.
//!
//! Every client-caused error is a 4xx with a stable `{"code", "detail"}` body; internal errors
//! are logged with their cause and answered with a generic 500 that leaks nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::db::StoreError;

/// What a 503 asks clients to wait before retrying, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Everything an API request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidJson(String),
    #[error("{0}")]
    Validation(String),
    #[error("missing or invalid bearer token (or dashboard session)")]
    Unauthorized,
    /// A change through the session cookie without this site's proof (CSRF defence).
    #[error("{0}")]
    Csrf(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    #[error("request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("no such route")]
    NoRoute,
    #[error("the store is unavailable, retry later")]
    Unavailable,
    #[error("the request took too long to arrive")]
    RequestTimeout,
    #[error("recovery job {0} is still running for this endpoint")]
    RecoveryRunning(uuid::Uuid),
    #[error("internal error")]
    Internal(String),
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable, machine-readable code: `invalid_json`, `validation_error`, `unauthorized`,
    /// `forbidden`, `csrf_failed`, `not_found`, `conflict`, `idempotency_key_reused`,
    /// `idempotency_key_in_progress`, `payload_too_large`, `method_not_allowed`,
    /// `request_timeout`, `recovery_in_progress`, `unavailable` or `internal_error`.
    pub code: String,
    /// Human-readable explanation of what was wrong.
    pub detail: String,
    /// The running job, on `recovery_in_progress`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub job_id: Option<uuid::Uuid>,
}

impl ApiError {
    /// The stable code clients can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::Validation(_) => "validation_error",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Csrf(_) => "csrf_failed",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::IdempotencyMismatch => "idempotency_key_reused",
            ApiError::IdempotencyInProgress => "idempotency_key_in_progress",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::NoRoute => "not_found",
            ApiError::Unavailable => "unavailable",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::RecoveryRunning(_) => "recovery_in_progress",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(detail) => ApiError::Conflict(detail),
            StoreError::Limit(detail) => ApiError::Validation(detail),
            err if err.is_unavailable() => {
                tracing::warn!(error = %err, "redis unavailable");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::IdempotencyMismatch => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Csrf(_) => StatusCode::FORBIDDEN,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::Conflict(_)
            | ApiError::IdempotencyInProgress
            | ApiError::RecoveryRunning(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unavailable = self {
            response.insert_header((actix_web::http::header::RETRY_AFTER, RETRY_AFTER_SECS));
        }
        response.json(ErrorBody {
            code: self.code().to_string(),
            detail: self.to_string(),
            job_id: match self {
                ApiError::RecoveryRunning(job) => Some(*job),
                _ => None,
            },
        })
    }
}

/// Result of API handlers.
pub type ApiResult<T> = Result<T, ApiError>;
