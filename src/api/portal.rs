//! The customer portal: `POST /api/v1/applications/{application_id}/portal-link` makes a
//! short-lived token scoped to that application and answers the URL of the portal page
//! (`/portal`, served with the dashboard), which shows the customer only that application's
//! endpoints, messages, attempts and stats. The token rides in the URL's fragment, which
//! browsers never send to a server, so it stays out of access logs and `Referer` headers.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{Access, Org};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::idempotency::idempotent;
use super::reply::Reply;
use super::request::{parse_json, read_body};
use super::types::{PortalLinkIn, PortalLinkOut};
use super::{validation, ApiState};
use crate::clock::now_ms;
use crate::store::tokens::{NewToken, TokenScope};

/// Longest life of a portal link.
const MAX_EXPIRES_IN: u32 = 604_800;
/// Shortest life of a portal link.
const MIN_EXPIRES_IN: u32 = 60;

/// `#rgb` or `#rrggbb`.
fn is_colour(text: &str) -> bool {
    text.strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Percent-encodes a fragment parameter.
fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Checks the optional body.
fn validated(body: &[u8]) -> ApiResult<PortalLinkIn> {
    let input: PortalLinkIn = if body.iter().all(u8::is_ascii_whitespace) {
        PortalLinkIn::default()
    } else {
        parse_json(body)?
    };
    if input
        .expires_in
        .is_some_and(|s| !(MIN_EXPIRES_IN..=MAX_EXPIRES_IN).contains(&s))
    {
        return Err(ApiError::Validation(format!(
            "expiresIn must be between {MIN_EXPIRES_IN} and {MAX_EXPIRES_IN} seconds"
        )));
    }
    if input.accent_color.as_deref().is_some_and(|c| !is_colour(c)) {
        return Err(ApiError::Validation(
            "accentColor must be #rgb or #rrggbb".into(),
        ));
    }
    if let Some(name) = &input.org_name {
        validation::name(name)?;
    }
    Ok(input)
}

/// `POST .../portal-link`: 201 with the link, shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/portal-link",
    operation_id = "createPortalLink",
    tag = "Applications",
    summary = "Create a customer portal link",
    description = "Makes a token scoped to the application (read-only with `readOnly`), expiring \
        after `expiresIn` seconds, and answers the URL of the portal page with it: give it to \
        your customer, who sees and manages only this application's endpoints and sees its \
        messages, attempts and stats. The token is listed with the organisation's tokens and \
        can be revoked early. Organisation tokens only. The body is optional.",
    params(("application_id" = String, Path, description = "The application's id or uid.")),
    request_body(content = PortalLinkIn, description = "Optional."),
    responses(
        (status = 201, description = "The link.", body = PortalLinkOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
        (status = 422, description = "`validation_error`: `expiresIn`, `accentColor` or \
            `orgName` out of bounds (or `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    // A customer's token must not mint itself a longer life.
    if org.1 != Access::Organisation {
        return Err(ApiError::Forbidden(
            "only organisation tokens make portal links",
        ));
    }
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input = validated(&body)?;
        let app = state.store.find_application(&org.0, &path).await?;
        let lifetime = input
            .expires_in
            .map_or(state.config.dashboard.portal_link_ttl, |s| {
                Duration::from_secs(u64::from(s))
            });
        let expires_at = now_ms() + lifetime.as_millis() as i64;
        let new = NewToken {
            name: format!("portal link: {}", app.name),
            scope: Some(TokenScope {
                application: app.id,
                read_only: input.read_only,
            }),
            expires_at: Some(expires_at),
        };
        let (token, record) = state.store.mint_token(&org.0, &new).await?;
        let info = req.connection_info();
        let mut url = format!(
            "{}://{}/portal#token={}&app={}&org={}",
            info.scheme(),
            info.host(),
            encode(&token),
            app.id,
            encode(input.org_name.as_deref().unwrap_or(&org.0)),
        );
        if input.read_only {
            url.push_str("&readOnly=1");
        }
        if let Some(colour) = &input.accent_color {
            url.push_str(&format!("&accent={}", encode(colour)));
        }
        let link = PortalLinkOut {
            url: Some(url),
            token_id: record.id,
            expires_at,
        };
        let replay = PortalLinkOut {
            url: None,
            ..link.clone()
        };
        Reply::json(StatusCode::CREATED, &link)?.replayed_as(&replay)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_and_bounds() {
        for ok in ["#abc", "#A0b1C2"] {
            assert!(is_colour(ok), "{ok}");
        }
        for bad in ["abc", "#abcd", "#ggg", "#", "red", "#abc;x"] {
            assert!(!is_colour(bad), "{bad}");
        }
        assert!(validated(b"").is_ok());
        assert!(validated(br#"{"expiresIn": 59}"#).is_err());
        assert!(validated(br#"{"expiresIn": 604801}"#).is_err());
        assert!(validated(br#"{"accentColor": "red"}"#).is_err());
        let input =
            validated(br##"{"expiresIn": 600, "readOnly": true, "accentColor": "#e11d48"}"##)
                .expect("valid");
        assert!(input.read_only);
    }
}
