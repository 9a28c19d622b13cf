//! Reading requests: bodies with a size limit, JSON with typed errors, paging parameters,
//! and the application/endpoint a path names.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::{schema, ApiState};
use crate::config::{Config, ServerConfig};
use crate::domain::Application;
use crate::store::endpoints::EndpointWithHealth;
use crate::store::ordered;

/// Reads a request body, refusing more than `server.body_limit` bytes with a JSON 413 and a
/// body that takes longer than `server.body_timeout` to arrive with a JSON 408.
pub async fn read_body(
    server: &ServerConfig,
    req: &HttpRequest,
    payload: web::Payload,
) -> ApiResult<Bytes> {
    tokio::time::timeout(
        server.body_timeout,
        read_limited(req, payload, server.body_limit),
    )
    .await
    .map_err(|_| ApiError::RequestTimeout)?
}

async fn read_limited(
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
/// wrong types, anything but an object: serde would read a struct from an array too) 422
/// `validation_error`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let parsed = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Validation(e.to_string()),
        _ => ApiError::InvalidJson(format!("request body is not valid JSON: {e}")),
    })?;
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::Validation(
            "the request body must be a JSON object".into(),
        ));
    }
    Ok(parsed)
}

/// `?limit=&iterator=` of every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size (bounds in the schema: `api.max_page_size`, default `api.default_page_size`).
    pub limit: Option<usize>,
    /// Where the page starts: the `x-next-iterator` of the previous page; absent or empty for
    /// the first page.
    #[param(schema_with = schema::iterator)]
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
            Some(it) if ordered::member_id(it).is_some() && it.len() < 64 => Ok(Some(it)),
            Some(_) => Err(ApiError::Validation(
                "iterator is not a valid cursor".into(),
            )),
        }
    }
}

/// The application and endpoint a `.../{application_id}/endpoints/{endpoint_id}/...` path
/// names, both resolved within the caller's organisation (id or uid each).
pub async fn app_endpoint(
    state: &ApiState,
    org: &str,
    app: &str,
    endpoint: &str,
) -> ApiResult<(Application, EndpointWithHealth)> {
    let app = state.store.find_application(org, app).await?;
    let endpoint = state.store.find_endpoint(app.id, endpoint).await?;
    Ok((app, endpoint))
}
