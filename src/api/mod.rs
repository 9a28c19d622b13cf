//! The HTTP API (actix-web): authenticates, validates and hands requests to the store.
//!
//! Request flow: CORS/default headers → route ([`routes`]) → `Org` extractor (bearer token)
//! → body read with a size limit → JSON parse with typed errors ([`request`]) → validation →
//! idempotency wrapper (POST) → store → API shape ([`types`]) → answer ([`reply`]). Every
//! failure is an [`ApiError`], rendered as `{"code", "detail"}` in one place ([`error`]).

pub mod applications;
pub mod auth;
pub mod dashboard;
pub mod endpoint_actions;
pub mod endpoint_logs;
pub mod endpoints;
pub mod erasure;
pub mod error;
pub mod event_types;
pub mod health;
pub mod idempotency;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod ops_webhooks;
pub mod portal;
pub mod recovery;
pub mod reply;
pub mod request;
pub mod resource;
pub mod routes;
pub mod schema;
pub mod session;
pub mod tokens;
pub mod types;
pub mod validation;

use std::sync::{Arc, OnceLock};

use actix_web::http::{header, Method};
use actix_web::{middleware, web, HttpRequest, HttpResponse};
use bytes::Bytes;

use crate::config::Config;
use crate::store::Store;
use error::ApiError;

/// Response header carrying the cursor of the next page of a list.
pub const NEXT_ITERATOR_HEADER: &str = "x-next-iterator";
/// Response header set on answers replayed from an Idempotency-Key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Response header of an answer whose request was done but looks wrong (an endpoint
/// subscribing to an event type missing from the catalogue).
pub const WARNING_HEADER: &str = "warning";

/// What every handler shares.
pub struct ApiState {
    /// The Redis store.
    pub store: Store,
    /// The node's configuration.
    pub config: Arc<Config>,
    /// SHA-256 of the bootstrap token, when one is configured.
    pub bootstrap_token_hash: Option<String>,
    /// Recently verified tokens, so most requests skip the token lookup in Redis.
    pub token_cache: auth::TokenCache,
    /// The OpenAPI document, serialized on first request.
    pub openapi: OnceLock<Bytes>,
}

impl ApiState {
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        let token = config.auth.bootstrap_token.trim();
        let bootstrap_token_hash =
            (!token.is_empty()).then(|| crate::store::tokens::token_hash(token));
        ApiState {
            store,
            config,
            bootstrap_token_hash,
            token_cache: auth::TokenCache::default(),
            openapi: OnceLock::new(),
        }
    }
}

/// Registers every route of the API, and the dashboard's pages, on an actix-web app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    dashboard::register(cfg);
    routes::register(&mut utoipa_actix_web::service_config::ServiceConfig::new(
        cfg,
    ));
}

/// Headers every response carries: CORS is wide open, as the API documentation promises.
pub fn cors_headers() -> middleware::DefaultHeaders {
    middleware::DefaultHeaders::new()
        .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .add((
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "x-next-iterator, idempotent-replayed, warning",
        ))
}

/// Answers a CORS preflight for any path.
pub async fn preflight(req: HttpRequest) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    response
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, PUT, DELETE, OPTIONS",
        ))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "authorization, content-type, idempotency-key",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"));
    if req.headers().contains_key(header::ORIGIN) {
        response.insert_header((header::VARY, "origin"));
    }
    response.finish()
}

/// Fallback of the whole app: a JSON 404 (OPTIONS are preflights, answered everywhere).
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return preflight(req).await;
    }
    actix_web::ResponseError::error_response(&ApiError::NoRoute)
}

/// A wrong method on an existing path: a JSON 405 listing the methods the path has (OPTIONS
/// are preflights, answered everywhere).
pub(crate) async fn method_not_allowed(req: HttpRequest, allow: String) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return preflight(req).await;
    }
    let mut response = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
    if let Ok(allow) = header::HeaderValue::try_from(allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}
