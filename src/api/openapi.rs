//! The OpenAPI 3.1 document of the API, generated from the router so that it cannot drift.
//!
//! Every route is registered through [`resource`]: one actix resource per path (its wrong
//! methods answer the JSON 405) whose methods are added together with the `#[utoipa::path]`
//! documentation of their handler. `utoipa_actix_web` collects those into the document, so a
//! route cannot be served without being documented, and [`resource`] panics at start-up when a
//! handler's documented method or path is not the one it is registered under.
//!
//! What every route of a kind shares is added here, in [`document`], instead of being repeated
//! on each handler: the bearer security requirement and the 401/503 answers of every
//! `/api/v1` route, and the `Idempotency-Key` request header, `Idempotent-Replayed` response
//! header and idempotency errors of every POST (they all go through
//! [`super::idempotency::idempotent`]).
//!
//! Adding a route, e.g. `POST /api/v1/applications/{app}/endpoints/{endpoint}/recover`:
//! 1. annotate the handler with `#[utoipa::path(post, path = "/{app}/endpoints/{endpoint}/recover",
//!    operation_id = "...", tag = "...", params(...), responses(...))]` (the path relative to
//!    the scope it is registered in; document its success and route-specific errors, the
//!    shared ones are added here);
//! 2. register it in [`super::routes`]: `.service(resource("/{app}/endpoints/{endpoint}/recover")
//!    .post(endpoints::recover, endpoints::__path_recover))` (several methods of one path go
//!    on one `resource`);
//! 3. give it a label in `metrics::route_label`, a link in `LINKS` when it creates
//!    something others address, and list it in `ROUTES` (with a request in `probe`) in
//!    `tests/it/openapi.rs`.

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use bytes::Bytes;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{HttpMethod, Operation, ParameterBuilder, ParameterIn, Paths};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, RefOr, Required};
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, OpenApiFactory};

use super::{validation, ApiState};
use crate::config::Config;
use crate::error::ErrorBody;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";
/// Name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";
/// Request header of idempotent POSTs.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";
/// Response header of replayed POST answers, as documented.
pub const REPLAYED_HEADER_NAME: &str = "Idempotent-Replayed";

type Schemas = Vec<(String, RefOr<Schema>)>;

/// One path of the API: an actix resource whose unregistered methods answer the JSON 405 with
/// an `Allow` header (OPTIONS: the CORS preflight), and the documentation of each registered
/// method.
pub struct Resource {
    path: &'static str,
    resource: actix_web::Resource,
    allowed: Vec<String>,
    paths: Paths,
    schemas: Schemas,
}

/// Starts the resource of `path` (relative to the enclosing scope, as in `#[utoipa::path]`).
pub fn resource(path: &'static str) -> Resource {
    Resource {
        path,
        resource: web::resource(path),
        allowed: Vec::new(),
        paths: Paths::new(),
        schemas: Vec::new(),
    }
}

impl Resource {
    /// Serves GET with `handler`, documented by `doc` (the handler's `__path_*` struct).
    pub fn get<F, Args, D>(self, handler: F, doc: D) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        self.method(Method::GET, HttpMethod::Get, handler, doc)
    }

    /// Serves POST with `handler`, documented by `doc`.
    pub fn post<F, Args, D>(self, handler: F, doc: D) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        self.method(Method::POST, HttpMethod::Post, handler, doc)
    }

    /// Serves PUT with `handler`, documented by `doc`.
    pub fn put<F, Args, D>(self, handler: F, doc: D) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        self.method(Method::PUT, HttpMethod::Put, handler, doc)
    }

    /// Serves DELETE with `handler`, documented by `doc`.
    pub fn delete<F, Args, D>(self, handler: F, doc: D) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        self.method(Method::DELETE, HttpMethod::Delete, handler, doc)
    }

    fn method<F, Args, D>(
        mut self,
        method: Method,
        documented: HttpMethod,
        handler: F,
        doc: D,
    ) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        assert!(
            D::path() == self.path && D::methods() == [documented],
            "the #[utoipa::path] of the {method} {} handler documents another route: {}",
            self.path,
            D::path()
        );
        self.paths.merge(doc.paths());
        doc.schemas(&mut self.schemas);
        self.allowed.push(method.to_string());
        self.resource = self.resource.route(web::method(method).to(handler));
        self
    }
}

impl HttpServiceFactory for Resource {
    fn register(self, config: &mut AppService) {
        let allow = self.allowed.join(", ");
        self.resource
            .default_service(web::to(move |req: HttpRequest| {
                super::method_not_allowed(req, allow.clone())
            }))
            .register(config);
    }
}

impl OpenApiFactory for Resource {
    fn paths(&self) -> Paths {
        self.paths.clone()
    }

    fn schemas(&self, schemas: &mut Schemas) {
        schemas.extend(self.schemas.iter().cloned());
    }
}

/// The parts of the document no handler carries.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Octohooks",
        description = "Webhook delivery service: applications, their endpoints, and the messages \
                       delivered to them (signed per Standard Webhooks, retried, rate-limited).\n\n\
                       Every `/api/v1` route but this document needs `Authorization: Bearer \
                       <token>`. Every POST accepts an `Idempotency-Key` header: its first \
                       successful answer is replayed, with `Idempotent-Replayed: true`, to later \
                       requests with the same key. Errors are `{\"code\", \"detail\"}` objects.",
        license(name = "MIT", identifier = "MIT"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "Applications", description = "Where messages are sent to: usually one per customer."),
        (name = "Endpoints", description = "The URLs an application's messages are delivered to."),
        (name = "Messages", description = "Webhooks, and what became of their deliveries."),
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
        &[("app", "$response.body#/id")],
    ),
    (
        "createEndpoint",
        "201",
        &["getEndpoint", "updateEndpoint", "deleteEndpoint"],
        &[
            ("app", "$request.path.app"),
            ("endpoint", "$response.body#/id"),
        ],
    ),
    (
        "createMessage",
        "202",
        &["getMessage", "listAttempts"],
        &[
            ("app", "$request.path.app"),
            ("message", "$response.body#/id"),
        ],
    ),
];

/// The document of everything [`super::routes`] registers, for this configuration (page sizes
/// and body limits come from it).
pub fn document(config: &Config) -> Document {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(BaseDocument::openapi())
        .configure(super::routes)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme(
            BEARER,
            utoipa::openapi::security::SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`octohooks token create --org NAME`, or the bootstrap \
                         token), acting for one organisation.",
                    ))
                    .build(),
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
            if method == HttpMethod::Post {
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

fn authenticated(operation: &mut Operation) {
    operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    ensure_error(
        operation,
        401,
        "`unauthorized`: the bearer token is missing or unknown.",
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

/// Schemas of the fields whose rules `#[schema(...)]` attributes cannot express.
pub mod schema {
    use super::*;

    fn string(pattern: &str, max: usize) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(max))
            .pattern(Some(pattern))
    }

    /// A uid: `[a-zA-Z0-9._-]{1,256}`, never a UUID (ids are).
    pub fn uid() -> Schema {
        string(validation::IDENTIFIER_PATTERN, validation::MAX_TEXT)
            .description(Some(
                "Unique within its parent: 1 to 256 characters of `a-z A-Z 0-9 . _ -`, never a \
                 UUID. Usable instead of the id in paths.",
            ))
            .into()
    }

    /// An optional uid (`null` or absent: none, or keep the current one on PUT).
    pub fn opt_uid() -> Schema {
        string(validation::IDENTIFIER_PATTERN, validation::MAX_TEXT)
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some(
                "Unique within its parent: 1 to 256 characters of `a-z A-Z 0-9 . _ -`, never a \
                 UUID. Usable instead of the id in paths.",
            ))
            .into()
    }

    /// An event type or channel name.
    pub fn identifier() -> Schema {
        string(validation::IDENTIFIER_PATTERN, validation::MAX_TEXT).into()
    }

    /// A display name.
    pub fn name() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(validation::MAX_TEXT))
            .pattern(Some(validation::NAME_PATTERN))
            .description(Some("1 to 256 characters, not only white space."))
            .into()
    }

    fn identifier_list(max: usize, nullable: bool) -> Schema {
        let array = ArrayBuilder::new()
            .items(RefOr::T(identifier()))
            .max_items(Some(max))
            .unique_items(true);
        if nullable {
            array
                .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
                .into()
        } else {
            array.into()
        }
    }

    /// Channels of a message or an endpoint.
    pub fn channels() -> Schema {
        identifier_list(validation::MAX_CHANNELS, false)
    }

    /// Channels on input: `null` or absent means none.
    pub fn opt_channels() -> Schema {
        identifier_list(validation::MAX_CHANNELS, true)
    }

    /// Event types an endpoint subscribes to (empty: all).
    pub fn event_types() -> Schema {
        identifier_list(validation::MAX_EVENT_TYPES, false)
    }

    /// Event types on input: `null` or absent means all.
    pub fn opt_event_types() -> Schema {
        identifier_list(validation::MAX_EVENT_TYPES, true)
    }

    /// An endpoint URL.
    pub fn url() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(validation::MAX_URL))
            .pattern(Some(validation::URL_PATTERN))
            .description(Some(
                "Absolute http:// or https:// URL without credentials, at most 2048 characters, \
                 with every character that needs it percent-encoded.",
            ))
            .into()
    }

    fn secret() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(validation::SECRET_PATTERN))
            .description(Some(
                "`whsec_` followed by the standard base64 (with padding) of 24 to 64 bytes.",
            ))
    }

    /// The secrets of an endpoint.
    pub fn secrets() -> Schema {
        ArrayBuilder::new()
            .items(RefOr::T(secret().into()))
            .min_items(Some(1))
            .max_items(Some(validation::MAX_SECRETS))
            .description(Some(
                "Signing secrets: each delivery carries one signature per secret (rotation).",
            ))
            .into()
    }

    /// Secrets on input: `null`, absent or empty generates one on create and keeps the current
    /// ones on update.
    pub fn opt_secrets() -> Schema {
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(RefOr::T(secret().into()))
            .max_items(Some(validation::MAX_SECRETS))
            .description(Some(
                "1 to 5 signing secrets. `null`, absent or empty: one is generated on create, \
                 the current ones are kept on update.",
            ))
            .into()
    }

    /// A rate limit in deliveries per second.
    pub fn opt_rate_limit() -> Schema {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int32,
            )))
            .minimum(Some(1))
            .maximum(Some(u32::MAX))
            .description(Some(
                "Deliveries per second, at least 1; `null`: the configured default.",
            ))
            .into()
    }

    /// The state of an endpoint's circuit breaker.
    pub fn circuit() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["closed", "open", "half_open"]))
            .description(Some(
                "`closed` (delivering), `open` (paused until `nextProbe`) or `half_open` (one \
                 probe in flight).",
            ))
            .into()
    }

    /// A list cursor.
    pub fn iterator() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(63))
            .pattern(Some(validation::ITERATOR_PATTERN))
            .into()
    }

    /// A message payload: any JSON object.
    pub fn payload() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "The webhook body: any JSON object, at most 350 KB serialized, delivered byte \
                 for byte as sent.",
            ))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "documents another route")]
    fn a_handler_documented_for_another_path_is_refused() {
        let _ = resource("/elsewhere").get(
            crate::api::health::health,
            crate::api::health::__path_health,
        );
    }

    #[test]
    #[should_panic(expected = "documents another route")]
    fn a_handler_documented_for_another_method_is_refused() {
        let _ = resource("/health").post(
            crate::api::health::health,
            crate::api::health::__path_health,
        );
    }

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
