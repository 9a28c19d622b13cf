//! Bearer-token authentication and the token's reach: every API request acts for exactly one
//! organisation, and an application-scoped token (a customer portal's) only for one of its
//! applications.
//!
//! What a scoped token may do is decided here, once, from the route pattern the request
//! matched ([`scoped_rule`]) and the application its path names, so no handler can forget it:
//! routes under its own application (endpoints, messages, attempts; only GET when read-only)
//! and reading the event-type catalogue. Another application answers 404 exactly like a
//! missing one; every other route, and changing or deleting the application itself, 403.
//!
//! The dashboard authenticates with a session cookie instead (opened with an organisation
//! token, `session.rs`), which acts exactly as that token. The cookie is HttpOnly and
//! SameSite=Strict, and a request that changes something through it must also pass
//! [`check_csrf`]: the session's CSRF secret echoed in the [`CSRF_HEADER`] header (which
//! another site can neither read nor make a browser send) and an `Origin` (or `Referer`, or
//! `Sec-Fetch-Site`) that is this site. A bearer token needs none of this: browsers never
//! attach it by themselves.

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
use crate::delivery::signature::constant_time_eq;
use crate::store::sessions::Session;
use crate::store::tokens::{token_hash, TokenGrant};

/// Name of the organisation the bootstrap token acts for.
pub const BOOTSTRAP_ORG: &str = "default";
/// Name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "octohooks_session";
/// Header in which a cookie-authenticated change echoes its session's CSRF secret.
pub const CSRF_HEADER: &str = "x-octohooks-csrf";
/// Longest token or session id looked at (anything longer is refused unread).
const MAX_CREDENTIAL: usize = 256;

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
        .filter(|t| !t.is_empty() && t.len() <= MAX_CREDENTIAL)
}

/// What a live token (given by its hash) may do: the bootstrap token, a recently read grant,
/// or Redis. Unknown and expired tokens: 401.
pub async fn grant(state: &ApiState, hash: String) -> Result<TokenGrant, ApiError> {
    let grant = lookup(state, hash).await?;
    if grant.expired(now_ms()) {
        return Err(ApiError::Unauthorized);
    }
    Ok(grant)
}

async fn lookup(state: &ApiState, hash: String) -> Result<TokenGrant, ApiError> {
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
        // The Authorization header wins: a client that sends one means it, cookie or not.
        let credential = if req.headers().contains_key(header::AUTHORIZATION) {
            bearer(req).map(Credential::Bearer)
        } else {
            session_id(req).map(|id| Credential::Session(id, req.clone()))
        };
        let state = req.app_data::<web::Data<ApiState>>().cloned();
        let pattern = req.extensions().get::<RouteLabel>().map(|l| l.0);
        let method = req.method().clone();
        let named = req.match_info().get("application_id").map(str::to_string);
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
            let grant = grant(&state, hash).await?;
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

/// How a request authenticates.
enum Credential {
    Bearer(String),
    /// A session id, with the request (for the CSRF checks of changes).
    Session(String, HttpRequest),
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
