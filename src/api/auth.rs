//! Authentication: every API request acts for exactly one organisation, through a bearer
//! token or, for the dashboard, a session cookie opened with a token (`session.rs`).
//!
//! A session cookie is HttpOnly and SameSite=Strict, and a request that changes something
//! through it must also pass [`check_csrf`]: the session's CSRF secret echoed in the
//! [`CSRF_HEADER`] header (which another site can neither read nor make a browser send) and an
//! `Origin` (or `Referer`, or `Sec-Fetch-Site`) that is this site. A bearer token needs none of
//! this: browsers never attach it by themselves.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest};

use super::error::ApiError;
use super::ApiState;
use crate::delivery::signature::constant_time_eq;
use crate::store::sessions::Session;
use crate::store::tokens::token_hash;

/// Name of the organisation the bootstrap token acts for.
pub const BOOTSTRAP_ORG: &str = "default";
/// Name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "octohooks_session";
/// Header in which a cookie-authenticated change echoes its session's CSRF secret.
pub const CSRF_HEADER: &str = "x-octohooks-csrf";
/// Longest token or session id looked at (anything longer is refused unread).
const MAX_CREDENTIAL: usize = 256;

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
        let state = req.app_data::<web::Data<ApiState>>().cloned();
        // The Authorization header wins: a client that sends one means it, cookie or not.
        let credential = if req.headers().contains_key(header::AUTHORIZATION) {
            bearer_token(req).map(Credential::Bearer)
        } else {
            session_id(req).map(|id| Credential::Session(id, req.clone()))
        };
        Box::pin(async move {
            let (Some(credential), Some(state)) = (credential, state) else {
                return Err(ApiError::Unauthorized);
            };
            let hash = match credential {
                Credential::Bearer(token) => token_hash(&token),
                Credential::Session(id, req) => {
                    let session = live_session(&state, &id).await?;
                    if !is_safe(req.method()) {
                        check_csrf(&req, Some(&session))?;
                    }
                    session.token_hash
                }
            };
            org_of_token_hash(&state, hash).await.map(Org)
        })
    }
}

/// How a request authenticates.
enum Credential {
    Bearer(String),
    /// A session id, with the request (for the CSRF checks of changes).
    Session(String, HttpRequest),
}

/// The token of an `Authorization: Bearer` header (scheme case-insensitive, token trimmed).
fn bearer_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
        })
        .filter(|t| !t.is_empty() && t.len() <= MAX_CREDENTIAL)
}

/// The session id of the request's session cookie.
pub fn session_id(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= MAX_CREDENTIAL)
}

/// The session a cookie names, while it lives (expired or signed out: 401).
pub async fn live_session(state: &ApiState, id: &str) -> Result<Session, ApiError> {
    state.store.session(id).await?.ok_or(ApiError::Unauthorized)
}

/// The organisation a token (given by its hash) acts for; 401 for unknown tokens.
pub async fn org_of_token_hash(state: &ApiState, hash: String) -> Result<String, ApiError> {
    if state.bootstrap_token_hash.as_deref() == Some(hash.as_str()) {
        return Ok(BOOTSTRAP_ORG.to_string());
    }
    if let Some(org) = state.token_cache.get(&hash) {
        return Ok(org);
    }
    match state.store.token_org_by_hash(&hash).await? {
        Some(org) => {
            state.token_cache.put(hash, org.clone());
            Ok(org)
        }
        None => Err(ApiError::Unauthorized),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a browser request that may come from another site: it must come from this very
/// origin and carry [`CSRF_HEADER`], equal to the session's secret when there is a session
/// (signing in, there is none yet: any value proves the page could set headers).
pub fn check_csrf(req: &HttpRequest, session: Option<&Session>) -> Result<(), ApiError> {
    same_origin(req)?;
    let given = req
        .headers()
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::Csrf("the X-Octohooks-CSRF header is missing"))?;
    match session {
        Some(session) if !constant_time_eq(given, session.csrf.as_bytes()) => Err(ApiError::Csrf(
            "the X-Octohooks-CSRF header does not match the session",
        )),
        _ => Ok(()),
    }
}

/// The request's `Sec-Fetch-Site`, `Origin` and `Referer`, those it has, all name this
/// origin (as the client reached it: `Forwarded`/`X-Forwarded-*` behind a proxy).
fn same_origin(req: &HttpRequest) -> Result<(), ApiError> {
    let text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if text("sec-fetch-site").is_some_and(|site| site != "same-origin" && site != "none") {
        return Err(ApiError::Csrf(
            "a cross-site request cannot use the session",
        ));
    }
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    if let Some(origin) = text("origin") {
        if !origin.eq_ignore_ascii_case(&own) {
            return Err(ApiError::Csrf("the Origin is not this site"));
        }
    } else if let Some(referer) = text("referer") {
        let path = referer.get(own.len()..).unwrap_or("");
        let same = referer
            .get(..own.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(&own))
            && (path.is_empty() || path.starts_with('/'));
        if !same {
            return Err(ApiError::Csrf("the Referer is not this site"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn session() -> Session {
        Session {
            token_hash: "h".into(),
            csrf: "secret".into(),
            expires: i64::MAX,
        }
    }

    #[test]
    fn a_change_needs_the_sessions_secret_from_this_origin() {
        let host = ("host", "octo.example");
        let ok = TestRequest::post()
            .insert_header(host)
            .insert_header(("origin", "http://octo.example"))
            .insert_header((CSRF_HEADER, "secret"))
            .to_http_request();
        assert!(check_csrf(&ok, Some(&session())).is_ok());
        let refused = [
            // no header
            TestRequest::post()
                .insert_header(host)
                .insert_header(("origin", "http://octo.example")),
            // wrong secret
            TestRequest::post()
                .insert_header(host)
                .insert_header((CSRF_HEADER, "secreT")),
            // another origin, another scheme, a look-alike host
            TestRequest::post()
                .insert_header(host)
                .insert_header(("origin", "http://evil.example"))
                .insert_header((CSRF_HEADER, "secret")),
            TestRequest::post()
                .insert_header(host)
                .insert_header(("origin", "https://octo.example"))
                .insert_header((CSRF_HEADER, "secret")),
            TestRequest::post()
                .insert_header(host)
                .insert_header(("referer", "http://octo.example.evil.example/"))
                .insert_header((CSRF_HEADER, "secret")),
            TestRequest::post()
                .insert_header(host)
                .insert_header(("origin", "null"))
                .insert_header((CSRF_HEADER, "secret")),
            // the browser says it is cross-site
            TestRequest::post()
                .insert_header(host)
                .insert_header(("sec-fetch-site", "cross-site"))
                .insert_header((CSRF_HEADER, "secret")),
        ];
        for request in refused {
            let request = request.to_http_request();
            assert!(
                matches!(
                    check_csrf(&request, Some(&session())),
                    Err(ApiError::Csrf(_))
                ),
                "{:?}",
                request.headers()
            );
        }
        let referer = TestRequest::post()
            .insert_header(host)
            .insert_header(("referer", "http://octo.example/#/apps"))
            .insert_header((CSRF_HEADER, "secret"))
            .to_http_request();
        assert!(check_csrf(&referer, Some(&session())).is_ok());
    }

    #[test]
    fn signing_in_needs_the_header_with_any_value() {
        let request = TestRequest::post()
            .insert_header(("host", "h"))
            .insert_header((CSRF_HEADER, "1"))
            .to_http_request();
        assert!(check_csrf(&request, None).is_ok());
        let bare = TestRequest::post()
            .insert_header(("host", "h"))
            .to_http_request();
        assert!(check_csrf(&bare, None).is_err());
    }
}
