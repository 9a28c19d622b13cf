//! Bearer-token authentication and the token's reach: every API request acts for exactly one
//! organisation, and an application-scoped token (a customer portal's) only for one of its
//! applications.
//!
//! What a scoped token may do is decided here, once, from the route pattern the request
//! matched ([`scoped_rule`]) and the application its path names, so no handler can forget it:
//! routes under its own application (endpoints, messages, attempts; only GET when read-only)
//! and reading the event-type catalogue. Another application answers 404 exactly like a
//! missing one; every other route, and changing or deleting the application itself, 403.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use uuid::Uuid;

use super::error::ApiError;
use super::resource::RouteLabel;
use super::ApiState;
use crate::clock::now_ms;
use crate::store::tokens::{token_hash, TokenGrant};

/// Name of the organisation the bootstrap token acts for.
pub const BOOTSTRAP_ORG: &str = "default";

/// How long a node trusts what it read of a token without asking Redis again: a revoked
/// token stops working on every API node within this time.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_millis(500);
/// A node records a token's use (its `lastUsed`) at most this often.
const LAST_USED_EVERY: Duration = Duration::from_secs(60);
/// Entries kept at most (cleared when full; only valid tokens are cached, so clients cannot
/// grow it with garbage).
const TOKEN_CACHE_MAX: usize = 10_000;

/// The path of one application, under which a scoped token's routes live.
const APPLICATION_PATH: &str = "/api/v1/applications/{application_id}";
/// The event-type catalogue, which a scoped token may read.
const EVENT_TYPES_PATH: &str = "/api/v1/event-types";

/// A token as this node last read it.
struct Cached {
    grant: TokenGrant,
    verified: Instant,
    /// When this node last recorded its use.
    touched: Option<Instant>,
}

/// Token hash → what it may do, as read recently.
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, Cached>>);

impl TokenCache {
    fn get(&self, hash: &str) -> Option<TokenGrant> {
        let map = self.0.lock().ok()?;
        map.get(hash)
            .filter(|c| c.verified.elapsed() < TOKEN_CACHE_TTL)
            .map(|c| c.grant.clone())
    }

    /// Caches a grant just read; true when its use is due to be recorded.
    fn put(&self, hash: String, grant: TokenGrant) -> bool {
        let Ok(mut map) = self.0.lock() else {
            return false;
        };
        if map.len() >= TOKEN_CACHE_MAX {
            map.clear();
        }
        let now = Instant::now();
        let touched = map.get(&hash).and_then(|c| c.touched);
        let due = touched.is_none_or(|t| now.duration_since(t) >= LAST_USED_EVERY);
        map.insert(
            hash,
            Cached {
                grant,
                verified: now,
                touched: if due { Some(now) } else { touched },
            },
        );
        due
    }
}

/// What the request's token reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Everything of its organisation.
    Organisation,
    /// One application of it (a customer portal's token).
    Application { app: Uuid, read_only: bool },
}

/// The authenticated organisation of a request, and what of it the token reaches.
#[derive(Debug, Clone)]
pub struct Org(pub String, pub Access);

/// What a scoped token may do on a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopedRule {
    /// Allowed when the path's application is the token's.
    OwnApplication,
    /// Allowed (reading the organisation's event-type catalogue).
    Allowed,
    /// Refused, with the reason.
    Forbidden(&'static str),
}

/// The rule for a scoped token on the route `pattern` (as in the route table) with `method`.
pub fn scoped_rule(pattern: &str, method: &Method, read_only: bool) -> ScopedRule {
    let reading = method == Method::GET;
    if let Some(rest) = pattern.strip_prefix(APPLICATION_PATH) {
        if rest.is_empty() && !reading {
            return ScopedRule::Forbidden(
                "an application-scoped token cannot change or delete its application",
            );
        }
        if read_only && !reading {
            return ScopedRule::Forbidden("this token is read-only");
        }
        return ScopedRule::OwnApplication;
    }
    if pattern.starts_with(EVENT_TYPES_PATH) && reading {
        return ScopedRule::Allowed;
    }
    ScopedRule::Forbidden("an application-scoped token reaches its own application only")
}

/// Checks a scoped token's request against [`scoped_rule`] and the application its path names.
async fn check_scope(
    state: &ApiState,
    org: &str,
    (app, read_only): (Uuid, bool),
    (pattern, method, named): (Option<&'static str>, &Method, Option<String>),
) -> Result<(), ApiError> {
    let Some(pattern) = pattern else {
        return Err(ApiError::Forbidden("not for an application-scoped token"));
    };
    match scoped_rule(pattern, method, read_only) {
        ScopedRule::Allowed => Ok(()),
        ScopedRule::Forbidden(reason) => Err(ApiError::Forbidden(reason)),
        ScopedRule::OwnApplication => {
            let named = named.ok_or(ApiError::NotFound("application"))?;
            let id = match Uuid::parse_str(&named) {
                Ok(id) => id,
                Err(_) => state.store.resolve_application(org, &named).await?,
            };
            // Another application looks exactly like a missing one.
            if id == app {
                Ok(())
            } else {
                Err(ApiError::NotFound("application"))
            }
        }
    }
}

/// The bearer token of a request, when it has a well-formed one.
fn bearer(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        })
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// What a token may do: the bootstrap token, a recently read grant, or Redis.
async fn grant(state: &web::Data<ApiState>, token: &str) -> Result<TokenGrant, ApiError> {
    let hash = token_hash(token);
    if state.bootstrap_token_hash.as_deref() == Some(hash.as_str()) {
        return Ok(TokenGrant {
            org: BOOTSTRAP_ORG.to_string(),
            id: None,
            scope: None,
            expires_at: None,
        });
    }
    if let Some(grant) = state.token_cache.get(&hash) {
        return Ok(grant);
    }
    let grant = state
        .store
        .token_grant(&hash)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if state.token_cache.put(hash, grant.clone()) {
        if let Some(id) = grant.id {
            let (store, org) = (state.store.clone(), grant.org.clone());
            actix_rt::spawn(async move {
                if let Err(e) = store.touch_token(&org, id, now_ms()).await {
                    tracing::debug!(error = %e, "could not record a token's use");
                }
            });
        }
    }
    Ok(grant)
}

impl FromRequest for Org {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Org, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let token = bearer(req);
        let state = req.app_data::<web::Data<ApiState>>().cloned();
        let pattern = req.extensions().get::<RouteLabel>().map(|l| l.0);
        let method = req.method().clone();
        let named = req.match_info().get("application_id").map(str::to_string);
        Box::pin(async move {
            let (Some(token), Some(state)) = (token, state) else {
                return Err(ApiError::Unauthorized);
            };
            let grant = grant(&state, &token).await?;
            if grant.expired(now_ms()) {
                return Err(ApiError::Unauthorized);
            }
            let access = match grant.scope {
                None => Access::Organisation,
                Some(scope) => {
                    let reach = (scope.application, scope.read_only);
                    check_scope(&state, &grant.org, reach, (pattern, &method, named)).await?;
                    Access::Application {
                        app: scope.application,
                        read_only: scope.read_only,
                    }
                }
            };
            Ok(Org(grant.org, access))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoped_tokens_reach_their_application_and_read_the_catalogue() {
        use ScopedRule::*;
        let app = "/api/v1/applications/{application_id}";
        let endpoints = "/api/v1/applications/{application_id}/endpoints";
        for read_only in [false, true] {
            assert_eq!(scoped_rule(app, &Method::GET, read_only), OwnApplication);
            assert!(matches!(
                scoped_rule(app, &Method::PUT, read_only),
                Forbidden(_)
            ));
            assert!(matches!(
                scoped_rule(app, &Method::DELETE, read_only),
                Forbidden(_)
            ));
            assert_eq!(
                scoped_rule(endpoints, &Method::GET, read_only),
                OwnApplication
            );
            assert_eq!(
                scoped_rule(
                    "/api/v1/event-types/{event_type_name}",
                    &Method::GET,
                    read_only
                ),
                Allowed
            );
            for (pattern, method) in [
                ("/api/v1/applications", Method::GET),
                ("/api/v1/applications", Method::POST),
                ("/api/v1/tokens", Method::GET),
                ("/api/v1/event-types", Method::POST),
            ] {
                assert!(matches!(
                    scoped_rule(pattern, &method, read_only),
                    Forbidden(_)
                ));
            }
        }
        assert_eq!(scoped_rule(endpoints, &Method::POST, false), OwnApplication);
        assert!(matches!(
            scoped_rule(endpoints, &Method::POST, true),
            Forbidden(_)
        ));
    }
}
