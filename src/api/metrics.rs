//! `GET /metrics` (Prometheus text format) and the middleware that counts HTTP requests.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use tracing::Instrument;

use super::error::ApiError;
use super::resource::RouteLabel;
use super::ApiState;
use crate::telemetry::metrics;

/// The node's metrics; protected by `metrics.token` when one is set.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "Operations",
    summary = "Prometheus metrics",
    description = "The node's metrics in the Prometheus text format. Needs `Authorization: Bearer \
        <metrics.token>` when `metrics.token` is configured (API tokens do not apply).",
    security(()),
    responses(
        (status = 200, description = "Metrics, Prometheus text format 0.0.4.", body = String,
            content_type = "text/plain"),
        (status = 401, description = "`unauthorized`: `metrics.token` is configured and was not \
            given.", body = super::error::ErrorBody),
    )
)]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let token = state.config.metrics.token.as_str();
    if !token.is_empty() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token) {
            return Err(ApiError::Unauthorized);
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics::render()))
}

/// Counts each request by route pattern (bounded: the patterns of the route table, or
/// `unmatched`), method and status class, and observes its latency. The pattern is the
/// [`RouteLabel`] the matched resource put on the request.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    // One span per request; the path names application/endpoint/message ids or uids.
    let span = tracing::info_span!("request", method, path = %req.path());
    let response = next.call(req).instrument(span).await?;
    let route = response
        .request()
        .extensions()
        .get::<RouteLabel>()
        .map_or("unmatched", |label| label.0);
    let class = match response.status().as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    metrics::HTTP_REQUESTS
        .with_label_values(&[route, method, class])
        .inc();
    metrics::HTTP_LATENCY
        .with_label_values(&[route])
        .observe(start.elapsed().as_secs_f64());
    Ok(response)
}
