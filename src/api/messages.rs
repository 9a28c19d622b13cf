//! `/api/v1/applications/{app}/messages`: accept messages, and see what became of them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::Org;
use super::idempotency::idempotent;
use super::{page_response, parse_json, read_body, validation, ApiState, PageQuery, Reply};
use crate::error::{ApiError, ApiResult};
use crate::model::MessageIn;
use crate::store::messages::{MessageFilter, NewMessage};

fn validated(body: &[u8]) -> ApiResult<MessageIn> {
    let input: MessageIn = parse_json(body)?;
    validation::identifier("eventType", &input.event_type)?;
    validation::opt_uid(input.uid.as_deref())?;
    if let Some(channels) = &input.channels {
        validation::identifier_list("channels", channels, validation::MAX_CHANNELS)?;
    }
    let payload = input.payload.get();
    if !payload.starts_with('{') {
        return Err(ApiError::Validation("payload must be a JSON object".into()));
    }
    if payload.len() > validation::MAX_PAYLOAD {
        return Err(ApiError::PayloadTooLarge(validation::MAX_PAYLOAD));
    }
    Ok(input)
}

/// `POST .../messages`: 202 once the message is durably queued.
pub async fn create(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&req, payload, state.config.server.body_limit).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input = validated(&body)?;
        let app = state.store.resolve_application(&org.0, &path).await?;
        let channels = input.channels.unwrap_or_default();
        let message = state
            .store
            .create_message(
                &org.0,
                app,
                &NewMessage {
                    event_type: &input.event_type,
                    channels: &channels,
                    payload: &input.payload,
                    uid: input.uid.as_deref(),
                },
            )
            .await?;
        crate::telemetry::metrics::MESSAGES_ACCEPTED.inc();
        Reply::json(StatusCode::ACCEPTED, &message)
    })
    .await
}

/// Query of the message list: paging plus optional filters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQuery {
    pub limit: Option<usize>,
    pub iterator: Option<String>,
    pub event_type: Option<String>,
    pub channel: Option<String>,
}

/// `GET .../messages`: newest first.
pub async fn list(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    query: web::Query<MessageQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let paging = PageQuery {
        limit: query.limit,
        iterator: query.iterator,
    };
    let limit = paging.limit(&state.config)?;
    let app = state.store.find_application(&org.0, &path).await?;
    let filter = MessageFilter {
        event_type: query.event_type,
        channel: query.channel,
    };
    let page = state
        .store
        .list_messages(app.id, paging.iterator()?, limit, &filter)
        .await?;
    page_response(page)
}

/// `GET .../messages/{message}`
pub async fn get(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, message) = path.into_inner();
    let app = state.store.find_application(&org.0, &app).await?;
    let message = state.store.find_message(app.id, &message).await?;
    Ok(HttpResponse::Ok().json(message))
}

/// `GET .../messages/{message}/attempts`: every delivery attempt, oldest first.
pub async fn attempts(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, message) = path.into_inner();
    let app = state.store.find_application(&org.0, &app).await?;
    let message = state.store.find_message(app.id, &message).await?;
    let attempts = state.store.attempts(app.id, message.id).await?;
    Ok(HttpResponse::Ok().json(attempts))
}

/// `POST .../messages/{message}/endpoints/{endpoint}/resend`: one more delivery chain of
/// the message to that endpoint, whatever happened before. 202 once queued.
pub async fn resend(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, message, endpoint) = path.into_inner();
    let body = read_body(&req, payload, state.config.server.body_limit).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let app = state.store.find_application(&org.0, &app).await?;
        let message = state.store.find_message(app.id, &message).await?;
        let endpoint = state.store.find_endpoint(app.id, &endpoint).await?;
        if !endpoint.enabled {
            return Err(ApiError::Validation(
                "the endpoint is disabled; enable it before resending".into(),
            ));
        }
        state
            .store
            .enqueue_resend(app.id, message.id, endpoint.id)
            .await?;
        Reply::json(
            StatusCode::ACCEPTED,
            &serde_json::json!({"messageId": message.id, "endpointId": endpoint.id}),
        )
    })
    .await
}
