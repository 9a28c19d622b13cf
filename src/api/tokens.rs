//! `/api/v1/tokens`: make, list and revoke API tokens, organisation-wide or scoped to one
//! application (what a platform hands its customer for a portal). Only organisation tokens
//! reach these routes (see [`super::auth`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use super::auth::Org;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::idempotency::idempotent;
use super::reply::{page_response, Reply};
use super::request::{parse_json, read_body, PageQuery};
use super::types::{TokenCreatedOut, TokenIn, TokenOut};
use super::{validation, ApiState};
use crate::store::tokens::{NewToken, TokenScope};

/// Parses and checks a token request, resolving its scope's application.
async fn validated(state: &ApiState, org: &str, body: &[u8]) -> ApiResult<NewToken> {
    let input: TokenIn = parse_json(body)?;
    validation::name(&input.name)?;
    if input.expires_at.is_some_and(|at| at < 0) {
        return Err(ApiError::Validation(
            "expiresAt is epoch milliseconds (0 or more)".into(),
        ));
    }
    let scope = match input.scope {
        None => None,
        Some(scope) => {
            // An unknown application answers 404, as anywhere else.
            let app = state
                .store
                .find_application(org, &scope.application)
                .await?;
            Some(TokenScope {
                application: app.id,
                read_only: scope.read_only,
            })
        }
    };
    Ok(NewToken {
        name: input.name,
        scope,
        expires_at: input.expires_at,
    })
}

/// `GET /tokens`
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    operation_id = "listTokens",
    tag = "Tokens",
    summary = "List API tokens",
    description = "The organisation's tokens, oldest first (never the tokens themselves). Expired \
        tokens stay listed (and revocable) for 7 days after they expired. Organisation tokens \
        only.",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tokens.", body = Vec<TokenOut>,
            headers((
                "x-next-iterator" = String,
                description = "Present when more items follow: the `iterator` of the next page."
            ))),
        (status = 422, description = "`validation_error`: invalid `limit` or `iterator`.",
            body = ErrorBody),
    )
)]
pub async fn list(
    state: web::Data<ApiState>,
    org: Org,
    query: web::Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let limit = query.limit(&state.config)?;
    let page = state
        .store
        .list_tokens(&org.0, query.iterator()?, limit)
        .await?;
    page_response(page.map(TokenOut::from))
}

/// `POST /tokens`: 201 with the token, shown this once.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    operation_id = "createToken",
    tag = "Tokens",
    summary = "Create an API token",
    description = "Makes a token and shows it this once (only its SHA-256 is stored). With \
        `scope`, the token reaches one application only: its endpoints, messages and attempts \
        (only reading them when `readOnly`) and reading the event-type catalogue; every other \
        route answers 403 and other applications 404. With `expiresAt`, it stops working then (a \
        time already past makes a token that never works; it is listed for 7 days). Organisation \
        tokens only.",
    request_body = TokenIn,
    responses(
        (status = 201, description = "The new token.", body = TokenCreatedOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: `scope.application` names no application.",
            body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema \
            (or `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<ApiState>,
    org: Org,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let new = validated(&state, &org.0, &body).await?;
        let (token, record) = state.store.mint_token(&org.0, &new).await?;
        let record = TokenOut::from(record);
        let created = TokenCreatedOut {
            record: record.clone(),
            token: Some(token),
        };
        Reply::json(StatusCode::CREATED, &created)?.replayed_as(&TokenCreatedOut {
            record,
            token: None,
        })
    })
    .await
}

/// `DELETE /tokens/{token_id}`: revoked on every API node within a second.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{token_id}",
    operation_id = "revokeToken",
    tag = "Tokens",
    summary = "Revoke an API token",
    description = "The token stops working at once (every API node re-reads a token at least \
        twice a second). Organisation tokens only.",
    params(("token_id" = String, Path, description = "The token's id.")),
    responses(
        (status = 200, description = "The revoked token.", body = TokenOut),
        (status = 404, description = "`not_found`: no such token.", body = ErrorBody),
    )
)]
pub async fn revoke(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = Uuid::parse_str(&path).map_err(|_| ApiError::NotFound("token"))?;
    let record = state.store.revoke_token(&org.0, id).await?;
    Ok(HttpResponse::Ok().json(TokenOut::from(record)))
}
