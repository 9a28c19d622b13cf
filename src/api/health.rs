//! `GET /health`: 200 when Redis answers, 503 otherwise; no authentication.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::ApiState;

/// Health of a node: whether it can reach its store.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    /// `ok`, or `unavailable` when the store cannot be reached.
    #[schema(value_type = String, schema_with = status_schema)]
    pub status: &'static str,
    /// `ok` or `unreachable`.
    #[schema(value_type = String, schema_with = redis_schema)]
    pub redis: &'static str,
}

fn status_schema() -> utoipa::openapi::Schema {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["ok", "unavailable"]))
        .into()
}

fn redis_schema() -> utoipa::openapi::Schema {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["ok", "unreachable"]))
        .into()
}

/// Health of this node and its store.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "getHealth",
    tag = "Operations",
    summary = "Health check",
    description = "200 when the node reaches Redis, 503 otherwise. No authentication.",
    security(()),
    responses(
        (status = 200, description = "The node is healthy.", body = HealthStatus),
        (status = 503, description = "The node cannot reach Redis.", body = HealthStatus),
    )
)]
pub async fn health(state: web::Data<ApiState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(HealthStatus {
            status: "ok",
            redis: "ok",
        }),
        Err(e) => {
            tracing::warn!(error = %e, "health check: redis unavailable");
            HttpResponse::ServiceUnavailable().json(HealthStatus {
                status: "unavailable",
                redis: "unreachable",
            })
        }
    }
}
