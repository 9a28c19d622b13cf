//! Bearer-token authentication: every API request acts for exactly one organisation.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use super::ApiState;
use crate::store::tokens::token_hash;

/// Name of the organisation the bootstrap token acts for.
pub const BOOTSTRAP_ORG: &str = "default";

/// How long a verified token is trusted without asking Redis again. Tokens are never
/// changed in place, so the only effect is that a token deleted from Redis keeps working
/// on a node for at most this long.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);
/// Entries kept at most (cleared when full; only valid tokens are cached, so clients cannot
/// grow it with garbage).
const TOKEN_CACHE_MAX: usize = 10_000;

/// Token hash → (organisation, when verified).
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, (String, Instant)>>);

impl TokenCache {
    fn get(&self, hash: &str) -> Option<String> {
        let map = self.0.lock().ok()?;
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(org, _)| org.clone())
    }

    fn put(&self, hash: String, org: String) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= TOKEN_CACHE_MAX {
                map.clear();
            }
            map.insert(hash, (org, Instant::now()));
        }
    }
}

/// The authenticated organisation of a request.
#[derive(Debug, Clone)]
pub struct Org(pub String);

impl FromRequest for Org {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Org, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_string())
            })
            .filter(|t| !t.is_empty() && t.len() <= 256);
        let state = req.app_data::<web::Data<ApiState>>().cloned();
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(ApiError::Unauthorized);
            };
            let hash = token_hash(&token);
            if state.bootstrap_token_hash.as_deref() == Some(hash.as_str()) {
                return Ok(Org(BOOTSTRAP_ORG.to_string()));
            }
            if let Some(org) = state.token_cache.get(&hash) {
                return Ok(Org(org));
            }
            match state.store.token_org_by_hash(&hash).await? {
                Some(org) => {
                    state.token_cache.put(hash, org.clone());
                    Ok(Org(org))
                }
                None => Err(ApiError::Unauthorized),
            }
        })
    }
}
