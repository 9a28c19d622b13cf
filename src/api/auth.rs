//! Bearer-token authentication: every API request acts for exactly one organisation.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use super::ApiState;
use crate::error::ApiError;
use crate::store::tokens::token_hash;

/// Name of the organisation the bootstrap token acts for.
pub const BOOTSTRAP_ORG: &str = "default";

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
            if state.bootstrap_token_hash.as_deref() == Some(token_hash(&token).as_str()) {
                return Ok(Org(BOOTSTRAP_ORG.to_string()));
            }
            match state.store.token_org(&token).await? {
                Some(org) => Ok(Org(org)),
                None => Err(ApiError::Unauthorized),
            }
        })
    }
}
