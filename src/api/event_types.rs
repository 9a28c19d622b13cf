//! `/api/v1/event-types`: the organisation's catalogue of event types (name, description,
//! JSON Schema of the payloads, example, archived), and its two uses elsewhere: checking a
//! message's payload against its type's schema when the message asks for it
//! ([`payload_errors`]), and warning about endpoints that subscribe to unknown or archived
//! types ([`subscription_warning`]).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use super::auth::Org;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::idempotency::idempotent;
use super::reply::{page_response, Reply};
use super::request::{parse_json, read_body, PageQuery};
use super::types::{EventTypeIn, EventTypeOut, EventTypeUpdateIn};
use super::{schema, validation, ApiState};
use crate::db::StoreError;
use crate::domain::event_type::PayloadSchema;
use crate::store::event_types::{Catalogued, EventTypeSpec};

/// Checks an event type's attributes: description length, schema (valid draft 2020-12,
/// local references only, at most 64 KB), example (an object matching the schema).
fn spec(
    name: String,
    description: Option<String>,
    schema: Option<Value>,
    example: Option<Value>,
    archived: Option<bool>,
) -> ApiResult<EventTypeSpec> {
    validation::identifier("name", &name)?;
    let description = description.unwrap_or_default();
    if description.chars().count() > validation::MAX_DESCRIPTION {
        return Err(ApiError::Validation(format!(
            "description may have at most {} characters",
            validation::MAX_DESCRIPTION
        )));
    }
    let schema = schema.filter(|s| !s.is_null());
    let example = example.filter(|e| !e.is_null());
    let compiled = match &schema {
        Some(schema) if schema.to_string().len() > validation::MAX_SCHEMA => {
            return Err(ApiError::Validation(format!(
                "schema may be at most {} bytes",
                validation::MAX_SCHEMA
            )))
        }
        Some(schema) => Some(PayloadSchema::compile(schema).map_err(ApiError::Validation)?),
        None => None,
    };
    if let Some(example) = &example {
        if !example.is_object() {
            return Err(ApiError::Validation(
                "example must be a JSON object (a payload)".into(),
            ));
        }
        if example.to_string().len() > validation::MAX_PAYLOAD {
            return Err(ApiError::PayloadTooLarge(validation::MAX_PAYLOAD));
        }
        let errors = compiled
            .as_ref()
            .map(|c| c.errors(example))
            .unwrap_or_default();
        if !errors.is_empty() {
            return Err(ApiError::Validation(format!(
                "example does not match the schema: {}",
                errors.join("; ")
            )));
        }
    }
    Ok(EventTypeSpec {
        name,
        description,
        schema,
        example,
        archived: archived.unwrap_or(false),
    })
}

/// Why a message's payload does not match its event type's schema (empty when it does, or
/// when the type has no schema or is missing from the catalogue: nothing to check).
pub async fn payload_errors(
    state: &ApiState,
    org: &str,
    event_type: &str,
    payload: &str,
) -> ApiResult<Vec<String>> {
    let found = match state.store.find_event_type(org, event_type).await {
        Ok(found) => found,
        Err(StoreError::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let Some(schema) = &found.schema else {
        return Ok(Vec::new());
    };
    let compiled = PayloadSchema::compile(schema)
        .map_err(|e| ApiError::Internal(format!("a stored schema does not compile: {e}")))?;
    let payload: Value = serde_json::from_str(payload)
        .map_err(|e| ApiError::InvalidJson(format!("payload: {e}")))?;
    Ok(compiled.errors(&payload))
}

/// The warning for an endpoint subscribing to event types that are not in the catalogue or
/// are archived (`None` when all are fine); with `api.strict_event_types`, a 422 instead.
pub async fn subscription_warning(
    state: &ApiState,
    org: &str,
    event_types: &[String],
) -> ApiResult<Option<String>> {
    let states = state.store.catalogued(org, event_types).await?;
    let named = |wanted: Catalogued| -> Vec<&str> {
        event_types
            .iter()
            .zip(&states)
            .filter(|(_, state)| **state == wanted)
            .map(|(name, _)| name.as_str())
            .collect()
    };
    let mut problems = Vec::new();
    for (wanted, what) in [
        (Catalogued::Unknown, "not in the event-type catalogue"),
        (Catalogued::Archived, "archived"),
    ] {
        let names = named(wanted);
        if !names.is_empty() {
            problems.push(format!("eventTypes {} {what}", names.join(", ")));
        }
    }
    if problems.is_empty() {
        return Ok(None);
    }
    let text = problems.join("; ");
    if state.config.api.strict_event_types {
        return Err(ApiError::Validation(text));
    }
    Ok(Some(text))
}

/// Query of the catalogue: paging by name.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventTypeQuery {
    /// Page size (bounds in the schema: `api.max_page_size`, default `api.default_page_size`).
    pub limit: Option<usize>,
    /// Where the page starts: the `x-next-iterator` of the previous page (a name); absent or
    /// empty for the first page.
    #[param(schema_with = schema::name_iterator)]
    pub iterator: Option<String>,
}

/// `GET /event-types`: in name order.
#[utoipa::path(
    get,
    path = "/api/v1/event-types",
    operation_id = "listEventTypes",
    tag = "Event types",
    summary = "List event types",
    description = "The organisation's event-type catalogue, in name order, archived types \
        included.",
    params(EventTypeQuery),
    responses(
        (status = 200, description = "A page of event types.", body = Vec<EventTypeOut>,
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
    query: web::Query<EventTypeQuery>,
) -> ApiResult<HttpResponse> {
    let query = query.into_inner();
    let limit = PageQuery {
        limit: query.limit,
        iterator: None,
    }
    .limit(&state.config)?;
    let after = match query.iterator.as_deref() {
        None | Some("") => None,
        Some(name) => {
            validation::identifier("iterator", name)?;
            Some(name)
        }
    };
    let page = state.store.list_event_types(&org.0, after, limit).await?;
    page_response(page.map(EventTypeOut::from))
}

/// `POST /event-types`
#[utoipa::path(
    post,
    path = "/api/v1/event-types",
    operation_id = "createEventType",
    tag = "Event types",
    summary = "Create an event type",
    description = "Adds an event type to the catalogue. A `schema` must be valid JSON Schema \
        (draft 2020-12) whose references stay inside it; an `example` must match it.",
    request_body = EventTypeIn,
    responses(
        (status = 201, description = "The new event type.", body = EventTypeOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken (or \
            `idempotency_key_in_progress`).", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema, \
            the schema is not valid, or the example does not match it (or \
            `idempotency_key_reused`).", body = ErrorBody),
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
        let input: EventTypeIn = parse_json(&body)?;
        let spec = spec(
            input.name,
            input.description,
            input.schema,
            input.example,
            input.archived,
        )?;
        let created = state.store.upsert_event_type(&org.0, &spec, true).await?;
        Reply::json(StatusCode::CREATED, &EventTypeOut::from(created))
    })
    .await
}

/// `GET /event-types/{event_type_name}`
#[utoipa::path(
    get,
    path = "/api/v1/event-types/{event_type_name}",
    operation_id = "getEventType",
    tag = "Event types",
    summary = "Get an event type",
    params(("event_type_name" = String, Path, description = "The event type's name.")),
    responses(
        (status = 200, description = "The event type.", body = EventTypeOut),
        (status = 404, description = "`not_found`: no such event type.", body = ErrorBody),
    )
)]
pub async fn get(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let found = state.store.find_event_type(&org.0, &path).await?;
    Ok(HttpResponse::Ok().json(EventTypeOut::from(found)))
}

/// `PUT /event-types/{event_type_name}`
#[utoipa::path(
    put,
    path = "/api/v1/event-types/{event_type_name}",
    operation_id = "updateEventType",
    tag = "Event types",
    summary = "Update an event type",
    description = "Replaces the description, schema, example and archived flag (absent: empty, \
        none, none, `false`).",
    params(("event_type_name" = String, Path, description = "The event type's name.")),
    request_body = EventTypeUpdateIn,
    responses(
        (status = 200, description = "The updated event type.", body = EventTypeOut),
        (status = 400, description = "`invalid_json`: the body is not JSON.", body = ErrorBody),
        (status = 404, description = "`not_found`: no such event type.", body = ErrorBody),
        (status = 422, description = "`validation_error`: the body breaks a rule of the schema, \
            the schema is not valid, or the example does not match it.", body = ErrorBody),
    )
)]
pub async fn update(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let body = read_body(&state.config.server, &req, payload).await?;
    let input: EventTypeUpdateIn = parse_json(&body)?;
    if validation::identifier("name", &path).is_err() {
        return Err(ApiError::NotFound("event type"));
    }
    let spec = spec(
        path.into_inner(),
        input.description,
        input.schema,
        input.example,
        input.archived,
    )?;
    let updated = state.store.upsert_event_type(&org.0, &spec, false).await?;
    Ok(HttpResponse::Ok().json(EventTypeOut::from(updated)))
}

/// `DELETE /event-types/{event_type_name}`
#[utoipa::path(
    delete,
    path = "/api/v1/event-types/{event_type_name}",
    operation_id = "deleteEventType",
    tag = "Event types",
    summary = "Delete an event type",
    description = "Removes it from the catalogue (messages of that type are still accepted; \
        endpoints subscribed to it get a warning when next changed). Archiving keeps it listed.",
    params(("event_type_name" = String, Path, description = "The event type's name.")),
    responses(
        (status = 200, description = "The deleted event type.", body = EventTypeOut),
        (status = 404, description = "`not_found`: no such event type.", body = ErrorBody),
    )
)]
pub async fn delete(
    state: web::Data<ApiState>,
    org: Org,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let deleted = state.store.delete_event_type(&org.0, &path).await?;
    Ok(HttpResponse::Ok().json(EventTypeOut::from(deleted)))
}
