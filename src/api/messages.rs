//! `/api/v1/applications/{application_id}/messages`: accept messages, and see what became of
//! them.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::auth::Org;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::event_types::payload_errors;
use super::idempotency::{self, idempotent};
use super::reply::{page_response, Reply};
use super::request::{parse_json, read_body, PageQuery};
use super::types::{AttemptOut, MessageIn, MessageOut, ResendAccepted};
use super::{schema, validation, ApiState};
use crate::store::messages::{Accepted, MessageFilter, NewMessage};
use crate::store::ordered::TimeWindow;
use crate::telemetry::metrics;

/// The message uid that would be read as `.../messages/erase`.
const RESERVED_UID: &str = "erase";

fn validated(body: &[u8]) -> ApiResult<MessageIn> {
    let input: MessageIn = parse_json(body)?;
    validation::identifier("eventType", &input.event_type)?;
    validation::opt_uid(input.uid.as_deref())?;
    if input.uid.as_deref() == Some(RESERVED_UID) {
        return Err(ApiError::Validation(format!(
            "uid {RESERVED_UID:?} is reserved (it names the erasure routes)"
        )));
    }
    validation::ordering_key(input.ordering_key.as_deref())?;
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
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/messages",
    operation_id = "createMessage",
    tag = "Messages",
    summary = "Create a message",
    description = "Accepts a message and delivers it to every enabled endpoint of the application \
        subscribed to its `eventType` (and sharing a channel with it, when the endpoint has \
        channels). Answers 202 once the message is durably queued.",
    params(("application_id" = String, Path, description = "The application's id or uid.")),
    request_body = MessageIn,
    responses(
        (status = 202, description = "The accepted message.", body = MessageOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
        (status = 409, description = "`conflict`: the application already has a message with this \
            uid; it is not delivered again (or `idempotency_key_in_progress`).", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the payload is larger than 350 KB, or \
            the body larger than the body limit.", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema, or \
            with `validate`, the payload does not match its event type's schema (the first errors \
            are listed; or `idempotency_key_reused`).",
            body = ErrorBody),
    )
)]
pub async fn create(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state.config.server, &req, payload).await?;
    let key = idempotency::key_hash(&req)?;
    idempotent(&state, &org.0, &req, &body, || async {
        let input = validated(&body)?;
        if input.validate == Some(true) {
            let payload = input.payload.get();
            let errors = payload_errors(&state, &org.0, &input.event_type, payload).await?;
            if !errors.is_empty() {
                return Err(ApiError::Validation(format!(
                    "payload does not match the schema of event type {:?}: {}",
                    input.event_type,
                    errors.join("; ")
                )));
            }
        }
        let app = state.store.resolve_application(&org.0, &path).await?;
        let channels = input.channels.unwrap_or_default();
        let accepted = state
            .store
            .create_message(
                &org.0,
                app,
                &NewMessage {
                    event_type: &input.event_type,
                    channels: &channels,
                    payload: &input.payload,
                    uid: input.uid.as_deref(),
                    idempotency: key.as_deref().map(|k| (k, state.config.idempotency.ttl)),
                    ordering_key: input.ordering_key.as_deref(),
                    only_to: None,
                },
            )
            .await?;
        let message = match accepted {
            Accepted::Created(message) => {
                metrics::MESSAGES_ACCEPTED.inc();
                message
            }
            // The same request ran before (its answer was lost): answer with its message.
            Accepted::Earlier(id) => state.store.find_message(app, &id.to_string()).await?,
        };
        Reply::json(StatusCode::ACCEPTED, &MessageOut::from(message))
    })
    .await
}

/// Query of the message list: paging plus optional filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Page size (bounds in the schema: `api.max_page_size`, default `api.default_page_size`).
    pub limit: Option<usize>,
    /// Where the page starts: the `x-next-iterator` of the previous page; absent or empty for
    /// the first page.
    #[param(schema_with = schema::iterator)]
    pub iterator: Option<String>,
    /// Only messages of this event type.
    pub event_type: Option<String>,
    /// Only messages with this channel.
    pub channel: Option<String>,
    /// Only messages created at or after this time (epoch ms).
    pub after: Option<i64>,
    /// Only messages created before this time (epoch ms).
    pub before: Option<i64>,
}

/// `GET .../messages`: newest first.
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/messages",
    operation_id = "listMessages",
    tag = "Messages",
    summary = "List messages",
    description = "The application's messages, newest first, optionally only those of one event \
        type or channel, or created in a time window (`after` inclusive, `before` exclusive, \
        epoch ms).",
    params(("application_id" = String, Path, description = "The application's id or uid."), MessageQuery),
    responses(
        (status = 200, description = "A page of messages.", body = Vec<MessageOut>,
            headers((
                "x-next-iterator" = String,
                description = "Present when more items follow: the `iterator` of the next page."
            ))),
        (status = 404, description = "`not_found`: no such application.", body = ErrorBody),
        (status = 422, description = "`validation_error`: invalid `limit` or `iterator`.",
            body = ErrorBody),
    )
)]
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
        window: TimeWindow {
            after: query.after,
            before: query.before,
        },
    };
    let page = state
        .store
        .list_messages(app.id, paging.iterator()?, limit, &filter)
        .await?;
    page_response(page.map(MessageOut::from))
}

/// `GET .../messages/{message_id}`
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/messages/{message_id}",
    operation_id = "getMessage",
    tag = "Messages",
    summary = "Get a message",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("message_id" = String, Path, description = "The message's id or uid."),
    ),
    responses(
        (status = 200, description = "The message.", body = MessageOut),
        (status = 404, description = "`not_found`: no such application or message.",
            body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, message) = path.into_inner();
    let app = state.store.find_application(&org.0, &app).await?;
    let message = state.store.find_message(app.id, &message).await?;
    Ok(HttpResponse::Ok().json(MessageOut::from(message)))
}

/// Query of the attempt list: paging by position in the message's attempt log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptQuery {
    /// Page size (bounds in the schema: `api.max_page_size`, default `api.default_page_size`).
    pub limit: Option<usize>,
    /// Where the page starts: the `x-next-iterator` of the previous page; absent or empty for
    /// the first page.
    #[param(schema_with = schema::position_iterator)]
    pub iterator: Option<String>,
}

/// `GET .../messages/{message_id}/attempts`: the delivery attempts, oldest first, a page at
/// a time.
#[utoipa::path(
    get,
    path = "/api/v1/applications/{application_id}/messages/{message_id}/attempts",
    operation_id = "listAttempts",
    tag = "Messages",
    summary = "List a message's delivery attempts",
    description = "The delivery attempts of the message to any endpoint, oldest first.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("message_id" = String, Path, description = "The message's id or uid."),
        AttemptQuery,
    ),
    responses(
        (status = 200, description = "A page of attempts.", body = Vec<AttemptOut>,
            headers((
                "x-next-iterator" = String,
                description = "Present when more items follow: the `iterator` of the next page."
            ))),
        (status = 404, description = "`not_found`: no such application or message.",
            body = ErrorBody),
        (status = 422, description = "`validation_error`: invalid `limit` or `iterator`.",
            body = ErrorBody),
    )
)]
pub async fn attempts(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String)>,
    query: web::Query<AttemptQuery>,
) -> ApiResult<HttpResponse> {
    let (app, message) = path.into_inner();
    let query = query.into_inner();
    let limit = PageQuery {
        limit: query.limit,
        iterator: None,
    }
    .limit(&state.config)?;
    let start = match query.iterator.as_deref() {
        None | Some("") => 0,
        Some(position) => validation::position(position)?,
    };
    let app = state.store.find_application(&org.0, &app).await?;
    let message = state.store.find_message(app.id, &message).await?;
    let page = state
        .store
        .attempts_page(app.id, message.id, start, limit)
        .await?;
    page_response(page.map(|attempt| AttemptOut::from((message.id, attempt))))
}

/// `POST .../messages/{message_id}/endpoints/{endpoint_id}/resend`: one more delivery chain of
/// the message to that endpoint, whatever happened before. 202 once queued.
#[utoipa::path(
    post,
    path = "/api/v1/applications/{application_id}/messages/{message_id}/endpoints/{endpoint_id}/resend",
    operation_id = "resendMessage",
    tag = "Messages",
    summary = "Resend a message to an endpoint",
    description = "Queues one more delivery chain (first attempt and retries) of the message to \
        the endpoint, whatever happened before. The request body, if any, is ignored.",
    params(
        ("application_id" = String, Path, description = "The application's id or uid."),
        ("message_id" = String, Path, description = "The message's id or uid."),
        ("endpoint_id" = String, Path, description = "The endpoint's id or uid."),
    ),
    responses(
        (status = 202, description = "The delivery is queued.", body = ResendAccepted),
        (status = 404, description = "`not_found`: no such application, message or endpoint.",
            body = ErrorBody),
        (status = 422, description = "`validation_error`: the endpoint is disabled, or the \
            message's payload was erased (or `idempotency_key_reused`).", body = ErrorBody),
    )
)]
pub async fn resend(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let (app, message, endpoint) = path.into_inner();
    let body = read_body(&state.config.server, &req, payload).await?;
    idempotent(&state, &org.0, &req, &body, || async {
        let app = state.store.find_application(&org.0, &app).await?;
        let message = state.store.find_message(app.id, &message).await?;
        let endpoint = state.store.find_endpoint(app.id, &endpoint).await?;
        let endpoint = endpoint.endpoint;
        if message.payload.is_none() {
            return Err(ApiError::Validation(
                "the message's payload was erased; it cannot be sent again".into(),
            ));
        }
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
            &ResendAccepted {
                message_id: message.id,
                endpoint_id: endpoint.id,
            },
        )
    })
    .await
}
