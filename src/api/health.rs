//! `GET /health`: 200 when Redis answers, 503 otherwise; no authentication.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::ApiState;

/// Health of this node and its store.
pub async fn health(state: web::Data<ApiState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "redis": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "health check: redis unavailable");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "unavailable", "redis": "unreachable"}))
        }
    }
}
