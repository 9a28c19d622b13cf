//! The HTTP API (actix-web): authenticates, validates and hands requests to the store.
//!
//! Request flow: CORS/default headers → route → `Org` extractor (bearer token) → body read
//! with a size limit → JSON parse with typed errors → validation → idempotency wrapper (POST)
//! → store. Every failure is an [`ApiError`], rendered as `{"code", "detail"}` in one place.

pub mod applications;
pub mod auth;
pub mod endpoints;
pub mod health;
pub mod idempotency;
pub mod messages;
pub mod metrics;
pub mod openapi;
pub mod recovery;
pub mod validation;

use std::sync::{Arc, OnceLock};

use actix_web::http::{header, Method, StatusCode};
use actix_web::{middleware, web, HttpRequest, HttpResponse};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::store::{Page, Store};
use openapi::resource;

/// Response header carrying the cursor of the next page of a list.
pub const NEXT_ITERATOR_HEADER: &str = "x-next-iterator";
/// Response header set on answers replayed from an Idempotency-Key.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

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

/// Registers every route of the API on an actix-web app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    routes(&mut utoipa_actix_web::service_config::ServiceConfig::new(
        cfg,
    ));
}

/// Every route of the API, each with its OpenAPI documentation (see [`openapi`]): one
/// [`resource`] per path, whose other methods answer a JSON 405.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::Validation(format!("invalid query string: {err}")).into()
    }))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::Validation(format!("invalid path: {err}")).into()),
    )
    .service(resource("/health").get(health::health, health::__path_health))
    .service(resource("/metrics").get(metrics::metrics, metrics::__path_metrics))
    .service(resource(openapi::DOCUMENT_PATH).get(openapi::serve, openapi::__path_serve))
    .service(
        utoipa_actix_web::scope("/api/v1/applications")
            .service(
                resource("")
                    .get(applications::list, applications::__path_list)
                    .post(applications::create, applications::__path_create),
            )
            .service(
                resource("/{app}")
                    .get(applications::get, applications::__path_get)
                    .put(applications::update, applications::__path_update)
                    .delete(applications::delete, applications::__path_delete),
            )
            .service(
                resource("/{app}/endpoints")
                    .get(endpoints::list, endpoints::__path_list)
                    .post(endpoints::create, endpoints::__path_create),
            )
            .service(
                resource("/{app}/endpoints/{endpoint}")
                    .get(endpoints::get, endpoints::__path_get)
                    .put(endpoints::update, endpoints::__path_update)
                    .delete(endpoints::delete, endpoints::__path_delete),
            )
            .service(
                resource("/{app}/messages")
                    .get(messages::list, messages::__path_list)
                    .post(messages::create, messages::__path_create),
            )
            .service(resource("/{app}/messages/{message}").get(messages::get, messages::__path_get))
            .service(
                resource("/{app}/messages/{message}/attempts")
                    .get(messages::attempts, messages::__path_attempts),
            )
            .service(
                resource("/{app}/messages/{message}/endpoints/{endpoint}/resend")
                    .post(messages::resend, messages::__path_resend),
            )
            .service(
                resource("/{app}/endpoints/{endpoint}/recover")
                    .post(recovery::recover, recovery::__path_recover),
            )
            .service(
                resource("/{app}/endpoints/{endpoint}/recover/{job}")
                    .get(recovery::status, recovery::__path_status),
            ),
    );
}

/// Headers every response carries: CORS is wide open, as the API documentation promises.
pub fn cors_headers() -> middleware::DefaultHeaders {
    middleware::DefaultHeaders::new()
        .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .add((
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "x-next-iterator, idempotent-replayed",
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

/// Reads a request body, refusing more than `limit` bytes with a JSON 413.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> ApiResult<Bytes> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidJson(format!("could not read body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Parses a JSON body: syntax errors are 400 `invalid_json`, shape errors (missing fields,
/// wrong types) 422 `validation_error`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Validation(e.to_string()),
        _ => ApiError::InvalidJson(format!("request body is not valid JSON: {e}")),
    })
}

/// `?limit=&iterator=` of every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size (bounds in the schema: `api.max_page_size`, default `api.default_page_size`).
    pub limit: Option<usize>,
    /// Where the page starts: the `x-next-iterator` of the previous page; absent or empty for
    /// the first page.
    #[param(schema_with = openapi::schema::iterator)]
    pub iterator: Option<String>,
}

impl PageQuery {
    /// The page size, checked against the configured bounds.
    pub fn limit(&self, config: &Config) -> ApiResult<usize> {
        match self.limit {
            None => Ok(config.api.default_page_size),
            Some(n) if (1..=config.api.max_page_size).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::Validation(format!(
                "limit must be between 1 and {}",
                config.api.max_page_size
            ))),
        }
    }

    /// The cursor, checked for shape so it can be passed to Redis as a range bound.
    pub fn iterator(&self) -> ApiResult<Option<&str>> {
        match self.iterator.as_deref() {
            None | Some("") => Ok(None),
            Some(it) if crate::store::keys::member_id(it).is_some() && it.len() < 64 => {
                Ok(Some(it))
            }
            Some(_) => Err(ApiError::Validation(
                "iterator is not a valid cursor".into(),
            )),
        }
    }
}

/// The application and endpoint a `.../{app}/endpoints/{endpoint}/...` path names, both
/// resolved within the caller's organisation (id or uid each).
pub async fn app_endpoint(
    state: &ApiState,
    org: &str,
    app: &str,
    endpoint: &str,
) -> ApiResult<(crate::model::Application, crate::model::Endpoint)> {
    let app = state.store.find_application(org, app).await?;
    let endpoint = state.store.find_endpoint(app.id, endpoint).await?;
    Ok((app, endpoint))
}

/// A JSON answer with its status, kept as bytes so idempotent requests can store it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    /// Serializes `value` as the body of a `status` answer.
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> ApiResult<Reply> {
        let body = serde_json::to_vec(value).map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(Reply { status, body })
    }

    /// The HTTP response.
    pub fn into_response(self) -> HttpResponse {
        HttpResponse::build(self.status)
            .content_type("application/json")
            .body(self.body)
    }
}

/// A list answer: the JSON array and, when more follow, the next cursor in a header.
pub fn page_response<T: Serialize>(page: Page<T>) -> ApiResult<HttpResponse> {
    let mut response = HttpResponse::Ok();
    if let Some(next) = &page.next {
        response.insert_header((NEXT_ITERATOR_HEADER, next.as_str()));
    }
    Ok(response.json(page.items))
}
