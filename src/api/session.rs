//! Dashboard sign-in: `POST /api/v1/auth/session` exchanges a token for a session cookie
//! (HttpOnly, SameSite=Strict, Secure over https, with an expiry), `GET` tells the page who it
//! is signed in as (and the CSRF secret its changes must echo), `DELETE` signs out, ending the
//! session in Redis at once. The session acts exactly as its token (see `auth.rs`), so the
//! dashboard can do nothing the token could not.

use actix_web::cookie::{time, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{check_csrf, grant, live_session, session_id, SESSION_COOKIE};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::request::{parse_json, read_body};
use super::types::{SessionIn, SessionOut};
use super::ApiState;
use crate::store::sessions::Session;
use crate::store::tokens::token_hash;

/// Where sessions are opened, read and closed.
pub const SESSION_PATH: &str = "/api/v1/auth/session";

/// The session cookie: sent back only to this site, never readable by scripts.
fn cookie(req: &HttpRequest, value: String, max_age: time::Duration) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(max_age)
        .finish()
}

fn session_out(org: String, session: Session) -> SessionOut {
    SessionOut {
        org,
        csrf_token: session.csrf,
        expires_at: session.expires,
    }
}

/// `POST /api/v1/auth/session`: sign in.
#[utoipa::path(
    post,
    path = "/api/v1/auth/session",
    operation_id = "createSession",
    tag = "Dashboard",
    summary = "Sign in to the dashboard",
    description = "Exchanges a token for a session cookie (`octohooks_session`: HttpOnly, \
        SameSite=Strict, Secure over https, expiring after `dashboard.session_ttl`) that the API \
        then accepts instead of the bearer token. Only for browsers on this site: the request \
        needs an `X-Octohooks-CSRF` header (any value) and must not come from another origin. \
        Every POST, PUT and DELETE made with the cookie must send the returned `csrfToken` in \
        `X-Octohooks-CSRF`. Organisation tokens only. Not idempotent (each call opens a \
        session).",
    security(()),
    params(("X-Octohooks-CSRF" = String, Header,
        description = "Any non-empty value: proves the caller could set headers (no form).")),
    request_body = SessionIn,
    responses(
        (status = 201, description = "Signed in; the cookie is set.", body = SessionOut,
            headers(("set-cookie" = String, description = "The session cookie."))),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 401, description = "`unauthorized`: unknown, revoked or expired token.",
            body = ErrorBody),
        (status = 403, description = "`csrf_failed`: no `X-Octohooks-CSRF` header, or a \
            request from another site; `forbidden`: an application-scoped token.",
            body = ErrorBody),
        (status = 422, description = "`validation_error`: the body is not `{\"token\"}`.",
            body = ErrorBody),
    )
)]
pub async fn sign_in(
    state: web::Data<ApiState>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    check_csrf(&req, None)?;
    let body = read_body(&state.config.server, &req, payload).await?;
    let input: SessionIn = parse_json(&body)?;
    let token = input.token.trim();
    if token.is_empty() || token.len() > 256 {
        return Err(ApiError::Unauthorized);
    }
    let hash = token_hash(token);
    let grant = grant(&state, hash.clone()).await?;
    if grant.scope.is_some() {
        return Err(ApiError::Forbidden(
            "sign in with an organisation token (application-scoped tokens are for portal links)",
        ));
    }
    let org = grant.org;
    let ttl = state.config.dashboard.session_ttl;
    let (id, session) = state.store.create_session(&hash, ttl).await?;
    let max_age = time::Duration::seconds(ttl.as_secs().try_into().unwrap_or(i64::MAX));
    Ok(HttpResponse::Created()
        .cookie(cookie(&req, id, max_age))
        .json(session_out(org, session)))
}

/// `GET /api/v1/auth/session`: the signed-in session.
#[utoipa::path(
    get,
    path = "/api/v1/auth/session",
    operation_id = "getSession",
    tag = "Dashboard",
    summary = "The current dashboard session",
    description = "Who the session cookie acts for, its CSRF secret and its end. 401 without a \
        live session (never opened, signed out, expired, or its token revoked).",
    security(("session" = [])),
    responses(
        (status = 200, description = "The session.", body = SessionOut),
    )
)]
pub async fn current(state: web::Data<ApiState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let id = session_id(&req).ok_or(ApiError::Unauthorized)?;
    let session = live_session(&state, &id).await?;
    let org = grant(&state, session.token_hash.clone()).await?.org;
    Ok(HttpResponse::Ok().json(session_out(org, session)))
}

/// `DELETE /api/v1/auth/session`: sign out.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/session",
    operation_id = "deleteSession",
    tag = "Dashboard",
    summary = "Sign out of the dashboard",
    description = "Ends the session in Redis at once (the cookie stops working on every node) \
        and clears the cookie. Needs the session's `X-Octohooks-CSRF`.",
    security(("session" = [])),
    params(("X-Octohooks-CSRF" = String, Header, description = "The session's `csrfToken`.")),
    responses(
        (status = 204, description = "Signed out."),
        (status = 403, description = "`csrf_failed`: a missing or wrong `X-Octohooks-CSRF`, or \
            a request from another site.", body = ErrorBody),
    )
)]
pub async fn sign_out(state: web::Data<ApiState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let id = session_id(&req).ok_or(ApiError::Unauthorized)?;
    let session = live_session(&state, &id).await?;
    check_csrf(&req, Some(&session))?;
    state.store.delete_session(&id).await?;
    let mut gone = cookie(&req, String::new(), time::Duration::ZERO);
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}
