//! The OpenAPI 3.1 document of the API, generated from the route table (`routes.rs`) so
//! that it cannot drift: every route is registered through a [`super::resource::Resource`]
//! together with its handler's `#[utoipa::path]` documentation.
//!
//! What every route of a kind shares is added here instead of being repeated on each handler:
//! the bearer security requirement and the 401/503 answers of every `/api/v1` route; the
//! `Idempotency-Key` request header, `Idempotent-Replayed` response header and idempotency
//! errors of every POST (they all go through [`super::idempotency::idempotent`]); the 413 of
//! every body; the page-size bounds of every list; and links from creates to the operations
//! on what they created.
//!
//! Adding a route: annotate the handler with `#[utoipa::path(post, path = "/api/v1/...",
//! operation_id = "...", tag = "...", params(...), responses(...))]` (its success and
//! route-specific errors; the shared ones are added here), add one line to `routes.rs`, and
//! a link in [`LINKS`] when it creates something others address.

use actix_web::{web, HttpResponse};
use bytes::Bytes;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, Required};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;

use super::error::ErrorBody;
use super::{validation, ApiState};
use crate::config::Config;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";
/// Name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";
/// Name of the session-cookie security scheme (the dashboard's sign-in) in the document.
pub const SESSION: &str = "session";
/// POSTs that do not take an Idempotency-Key: signing in opens a new session (and sets its
/// cookie) every time, which a replayed answer could not do.
const NOT_IDEMPOTENT: &[&str] = &["createSession"];
/// Request header of idempotent POSTs.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Response header of replayed POST answers, as documented.
pub const REPLAYED_HEADER_NAME: &str = "Idempotent-Replayed";

/// The parts of the document no handler carries.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Octohooks",
        description = "Webhook delivery service: applications, their endpoints, and the messages \
                       delivered to them (signed per Standard Webhooks, retried, rate-limited).\n\n\
                       Every `/api/v1` route but this document and the dashboard's sign-in \
                       needs `Authorization: Bearer <token>` (or the dashboard's session \
                       cookie). Every other POST accepts an `Idempotency-Key` header: its first \
                       successful answer is replayed, with `Idempotent-Replayed: true`, to later \
                       requests with the same key. Errors are `{\"code\", \"detail\"}` objects.",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "Applications", description = "Where messages are sent to: usually one per customer."),
        (name = "Endpoints", description = "The URLs an application's messages are delivered to."),
        (name = "Messages", description = "Webhooks, and what became of their deliveries."),
        (name = "Event types", description = "The organisation's catalogue of event types, with the JSON Schema and an example of their payloads."),
        (name = "Operational webhooks", description = "The organisation's own endpoints for events about its endpoints and jobs (disabled, circuit opened, attempts exhausted, ...)."),
        (name = "Tokens", description = "API tokens: organisation-wide, or scoped to one application (a customer portal's)."),
        (name = "Dashboard", description = "Sign-in of the web dashboard (a session cookie)."),
        (name = "Operations", description = "Health, metrics and this document."),
    )
)]
struct BaseDocument;

/// Links from the answer of a create to the operations on what it created (for clients and
/// stateful fuzzers): operation, success status, target operations, their parameters.
type LinkSpec = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);
const LINKS: &[LinkSpec] = &[
    (
        "createApplication",
        "201",
        &[
            "getApplication",
            "updateApplication",
            "deleteApplication",
            "listEndpoints",
            "createEndpoint",
            "listMessages",
            "createMessage",
        ],
        &[("application_id", "$response.body#/id")],
    ),
    (
        "createEndpoint",
        "201",
        &["getEndpoint", "updateEndpoint", "deleteEndpoint"],
        &[
            ("application_id", "$request.path.application_id"),
            ("endpoint_id", "$response.body#/id"),
        ],
    ),
    (
        "createEventType",
        "201",
        &["getEventType", "updateEventType", "deleteEventType"],
        &[("event_type_name", "$response.body#/name")],
    ),
    (
        "createOperationalEndpoint",
        "201",
        &[
            "getOperationalEndpoint",
            "updateOperationalEndpoint",
            "deleteOperationalEndpoint",
        ],
        &[("endpoint_id", "$response.body#/id")],
    ),
    (
        "createToken",
        "201",
        &["revokeToken"],
        &[("token_id", "$response.body#/id")],
    ),
    (
        "createMessage",
        "202",
        &["getMessage", "listAttempts"],
        &[
            ("application_id", "$request.path.application_id"),
            ("message_id", "$response.body#/id"),
        ],
    ),
];

/// The document of everything [`super::routes`] registers, for this configuration (page sizes
/// and body limits come from it).
pub fn document(config: &Config) -> Document {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(BaseDocument::openapi())
        .configure(super::routes::register_documented)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            BEARER,
            utoipa::openapi::security::SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`POST /api/v1/tokens`, `octohooks token create --org \
                         NAME`, or the bootstrap token), acting for one organisation, or for \
                         one of its applications when scoped.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SESSION,
            utoipa::openapi::security::SecurityScheme::ApiKey(
                utoipa::openapi::security::ApiKey::Cookie(
                    utoipa::openapi::security::ApiKeyValue::with_description(
                        crate::api::auth::SESSION_COOKIE,
                        "The dashboard's session cookie (`POST /api/v1/auth/session`), acting \
                         as the token it was opened with. Every POST, PUT and DELETE made with \
                         it needs the session's `csrfToken` in an `X-Octohooks-CSRF` header and \
                         must come from the dashboard's own origin.",
                    ),
                ),
            ),
        );
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let api = path.starts_with("/api/v1/") && path != DOCUMENT_PATH;
        for (method, operation) in [
            (HttpMethod::Get, item.get.as_mut()),
            (HttpMethod::Post, item.post.as_mut()),
            (HttpMethod::Put, item.put.as_mut()),
            (HttpMethod::Delete, item.delete.as_mut()),
        ] {
            let Some(operation) = operation else { continue };
            if api {
                authenticated(operation);
            }
            let replayable = !operation
                .operation_id
                .as_deref()
                .is_some_and(|id| NOT_IDEMPOTENT.contains(&id));
            if method == HttpMethod::Post && replayable {
                idempotent(operation);
            }
            if operation.request_body.is_some() {
                body_limit(operation, config);
            }
            page_limits(operation, config);
        }
    }
    add_links(&mut doc);
    doc
}

fn operations(doc: &mut Document) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.post.as_mut(),
            item.put.as_mut(),
            item.delete.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

fn add_links(doc: &mut Document) {
    let ids: Vec<String> = operations(doc)
        .filter_map(|operation| operation.operation_id.clone())
        .collect();
    for (from, status, targets, parameters) in LINKS {
        let operation = operations(doc)
            .find(|operation| operation.operation_id.as_deref() == Some(*from))
            .unwrap_or_else(|| panic!("link from unknown operation {from}"));
        let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else {
            panic!("link from {from}: no {status} answer");
        };
        for target in *targets {
            assert!(
                ids.iter().any(|id| id == target),
                "link to unknown operation {target}"
            );
            let link = parameters
                .iter()
                .fold(
                    LinkBuilder::new().operation_id(*target),
                    |link, (name, value)| link.parameter(*name, *value),
                )
                .build();
            response.links.insert(target.to_string(), link.into());
        }
    }
}

/// The document as served: built once per node.
pub fn document_json(state: &ApiState) -> Bytes {
    state
        .openapi
        .get_or_init(|| {
            Bytes::from(serde_json::to_vec(&document(&state.config)).unwrap_or_default())
        })
        .clone()
}

/// `GET /api/v1/openapi.json`
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "Operations",
    summary = "This OpenAPI document",
    description = "The OpenAPI 3.1 document of the API, generated from its router. No authentication.",
    security(()),
    responses((status = 200, description = "This OpenAPI 3.1 document.", body = Object))
)]
pub async fn serve(state: web::Data<ApiState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json(&state))
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::response::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

/// Adds the answer for `status` unless the handler documents one.
fn ensure_error(operation: &mut Operation, status: u16, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error_response(description));
}

/// A bearer token or a session cookie, unless the handler documents its own requirement.
fn authenticated(operation: &mut Operation) {
    operation.security.get_or_insert_with(|| {
        vec![
            SecurityRequirement::new(BEARER, Vec::<String>::new()),
            SecurityRequirement::new(SESSION, Vec::<String>::new()),
        ]
    });
    ensure_error(
        operation,
        401,
        "`unauthorized`: the bearer token (or session) is missing, unknown, revoked or \
         expired.",
    );
    ensure_error(
        operation,
        403,
        "`forbidden`: the token is scoped to one application (or read-only) and this route is \
         not for it; or `csrf_failed`: a change made with the session cookie lacks its \
         `X-Octohooks-CSRF` header or comes from another site.",
    );
    ensure_error(
        operation,
        503,
        "`unavailable`: the store (Redis) cannot be reached; retry later.",
    );
}

fn idempotent(operation: &mut Operation) {
    let key = ParameterBuilder::new()
        .name(IDEMPOTENCY_KEY_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes the request safe to retry: the first successful answer for this key is \
             stored and replayed (with `Idempotent-Replayed: true`) to later requests with the \
             same key and the same request. 1 to 256 visible ASCII characters (inner spaces \
             allowed), unique per operation, e.g. a UUID v4.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(validation::IDEMPOTENCY_KEY_PATTERN)),
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(key.into());
    for (status, response) in operation.responses.responses.iter_mut() {
        if !status.starts_with('2') {
            continue;
        }
        if let RefOr::T(response) = response {
            response.headers.insert(
                REPLAYED_HEADER_NAME.to_string(),
                HeaderBuilder::new()
                    .schema(Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(["true"])),
                    ))
                    .description(Some(
                        "`true` when this answer is the stored answer of an earlier request \
                         with the same Idempotency-Key.",
                    ))
                    .build()
                    .into(),
            );
        }
    }
    ensure_error(
        operation,
        409,
        "`idempotency_key_in_progress`: a request with this Idempotency-Key is still running; \
         retry later (or `conflict`, see the operation).",
    );
    ensure_error(
        operation,
        422,
        "`idempotency_key_reused`: this Idempotency-Key was used with another request (or \
         `validation_error`, e.g. an invalid key).",
    );
}

fn body_limit(operation: &mut Operation, config: &Config) {
    ensure_error(
        operation,
        413,
        &format!(
            "`payload_too_large`: the body is larger than {} bytes.",
            config.server.body_limit
        ),
    );
    if let Some(RefOr::T(RequestBody { description, .. })) = operation.request_body.as_mut() {
        let limit = format!("At most {} bytes.", config.server.body_limit);
        *description = Some(match description.take() {
            Some(text) => format!("{text} {limit}"),
            None => limit,
        });
    }
}

/// Sets the bounds of `?limit=` from the configuration.
fn page_limits(operation: &mut Operation, config: &Config) {
    for parameter in operation.parameters.iter_mut().flatten() {
        let RefOr::T(parameter) = parameter else {
            continue;
        };
        if parameter.name != "limit" || parameter.parameter_in != ParameterIn::Query {
            continue;
        }
        parameter.schema = Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(config.api.max_page_size as u64))
                .default(Some(config.api.default_page_size.into()))
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_follows_the_configuration() {
        let mut config = Config::defaults();
        config.api.max_page_size = 7;
        config.server.body_limit = 1234;
        let doc = serde_json::to_value(document(&config)).expect("json");
        let list = &doc["paths"]["/api/v1/applications"]["get"];
        let limit = list["parameters"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "limit"))
            .expect("limit");
        assert_eq!(limit["schema"]["maximum"], 7);
        let create = &doc["paths"]["/api/v1/applications"]["post"];
        assert!(create["responses"]["413"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("1234")));
    }
}
