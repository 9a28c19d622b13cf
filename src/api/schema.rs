//! OpenAPI schemas of the fields whose rules `#[schema(...)]` attributes cannot express,
//! written from the same constants the validation uses (`validation.rs`; a unit test there
//! checks that the patterns accept exactly what the rules accept).

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;

use super::validation;
use crate::domain::{filter, headers, CircuitState, FailureKind};
use crate::store::recovery::JobStatus;

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

/// An optional event type or channel name.
pub fn opt_identifier() -> Schema {
    string(validation::IDENTIFIER_PATTERN, validation::MAX_TEXT)
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .into()
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

/// A `whsec_` secret.
pub fn secret_schema() -> Schema {
    secret().into()
}

/// An optional `whsec_` secret.
pub fn opt_secret() -> Schema {
    secret()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .into()
}

fn headers_builder(nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(if nullable {
            SchemaType::from_iter([Type::Object, Type::Null])
        } else {
            SchemaType::new(Type::Object)
        })
        .max_properties(Some(headers::MAX_HEADERS))
        .property_names(Some(string(&headers::name_pattern(), headers::MAX_NAME)))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(headers::MAX_VALUE))
                .pattern(Some(headers::VALUE_PATTERN)),
        ))
        .description(Some(
            "Extra headers of every delivery, name to value (at most 20; names are HTTP tokens; \
             values at most 4096 visible ASCII characters; `webhook-*`, `content-*`, `host` and \
             hop-by-hop headers are refused).",
        ))
}

/// An endpoint's custom headers.
pub fn headers() -> Schema {
    headers_builder(false).into()
}

/// Custom headers on input (`null` or absent: none).
pub fn opt_headers() -> Schema {
    headers_builder(true).into()
}

/// Levels of `$and` / `$or` / `$not` the document spells out; below them a filter is shown as
/// field conditions only (the API accepts up to `filter::MAX_DEPTH` levels).
const FILTER_LEVELS: usize = 3;

/// A payload filter document.
pub fn filter() -> Schema {
    filter_document(1)
        .description(Some(
            "A JSON match document over the payload: `{\"dotted.path\": value}` (equality) or \
             `{\"path\": {\"$op\": value}}` with `$eq $ne $in $nin $gt $gte $lt $lte $exists \
             $not`, combined with `$and`, `$or`, `$not`. At most 8 levels, 256 conditions, 16 KB.",
        ))
        .into()
}

/// A payload filter, or `null`.
pub fn opt_filter() -> Schema {
    AnyOfBuilder::new()
        .item(filter())
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "A payload filter (see `filter/test`), or `null` for none.",
        ))
        .into()
}

/// A filter at nesting `level`: field conditions, and the logical operators above the cap.
fn filter_document(level: usize) -> ObjectBuilder {
    let document = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::RefOr(condition(level + 1))));
    if level >= FILTER_LEVELS {
        return document.property_names(Some(string(filter::PATH_PATTERN, filter::MAX_PATH)));
    }
    let list = || {
        ArrayBuilder::new()
            .min_items(Some(1))
            .items(filter_document(level + 1))
    };
    let key = format!(
        "^(?:\\$(?:and|or|not)|{})$",
        &filter::PATH_PATTERN[1..filter::PATH_PATTERN.len() - 1]
    );
    document
        .property_names(Some(string(&key, filter::MAX_PATH)))
        .property("$and", list())
        .property("$or", list())
        .property("$not", filter_document(level + 1))
}

/// A field's condition: a value it equals (no object key starting with `$`), or operators.
fn condition(level: usize) -> RefOr<Schema> {
    let plain_object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^(?:[^$]|$)")),
        ));
    AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::from_iter([
            Type::Null,
            Type::Boolean,
            Type::Number,
            Type::String,
            Type::Array,
        ])))
        .item(plain_object)
        .item(operators(level))
        .into()
}

/// An object of operators (at least one, nothing else).
fn operators(level: usize) -> ObjectBuilder {
    let any = || ObjectBuilder::new().schema_type(SchemaType::AnyValue);
    let list = || {
        ArrayBuilder::new()
            .items(any())
            .max_items(Some(filter::MAX_LIST))
    };
    let comparable =
        || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Number, Type::String]));
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .min_properties(Some(1))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .property("$eq", any())
        .property("$ne", any())
        .property("$in", list())
        .property("$nin", list())
        .property("$gt", comparable())
        .property("$gte", comparable())
        .property("$lt", comparable())
        .property("$lte", comparable())
        .property("$exists", ObjectBuilder::new().schema_type(Type::Boolean));
    if level < FILTER_LEVELS {
        object = object.property("$not", operators(level + 1));
    }
    object
}

/// An endpoint's ordering.
pub fn ordering() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["none", "fifo"]))
        .into()
}

/// The ordering on input.
pub fn opt_ordering() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([Some("none"), Some("fifo"), None]))
        .into()
}

/// A message's ordering key.
pub fn opt_ordering_key() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .min_length(Some(1))
        .max_length(Some(validation::MAX_TEXT))
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
        .enum_values(Some(CircuitState::ALL.map(CircuitState::as_str)))
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

/// A cursor of a list in name order: the last name of the previous page (or empty).
pub fn name_iterator() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(validation::MAX_TEXT))
        .pattern(Some(validation::NAME_ITERATOR_PATTERN))
        .into()
}

/// A cursor of an endpoint's attempt log.
pub fn log_iterator() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(96))
        .pattern(Some(validation::LOG_ITERATOR_PATTERN))
        .into()
}

/// An attempt status filter.
pub fn attempt_status() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["success", "pending", "failed"]))
        .into()
}

/// A position cursor (attempt lists).
pub fn position_iterator() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(9))
        .pattern(Some(validation::POSITION_PATTERN))
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

/// A stored message's payload: any JSON object, or `null` once erased.
pub fn erasable_payload() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "The webhook body exactly as sent (a JSON object), or `null` once its content was \
             erased.",
        ))
        .into()
}

/// Why an attempt had no usable response (`null` on success).
pub fn failure_kind() -> Schema {
    let mut names: Vec<Option<&str>> = FailureKind::ALL.iter().map(|k| Some(k.as_str())).collect();
    names.push(None);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(names))
        .description(Some(
            "Why there was no usable response: `http_status` (non-2xx, see the status code), \
             `redirect`, `timeout`, `connection_refused`, `dns`, `tls`, `blocked_address`, \
             `connection` or `invalid_url`; `null` on success.",
        ))
        .into()
}

/// Where a background job stands.
pub fn job_status() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            [JobStatus::Running, JobStatus::Done].map(JobStatus::as_str),
        ))
        .into()
}

/// An event type's description.
pub fn description() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(validation::MAX_DESCRIPTION))
        .description(Some("What the event means (`null` or absent: empty)."))
        .into()
}

/// An event type's JSON Schema, or `null`.
pub fn opt_json_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "A JSON Schema (draft 2020-12) of the event's payloads, at most 64 KB; references \
             to other documents are not resolved. `null`: none.",
        ))
        .into()
}

/// An event type's example payload, or `null`.
pub fn opt_example() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(
            "An example payload (a JSON object matching the schema), sent by \
             `send-example`. `null`: none (`{}` is sent).",
        ))
        .into()
}
