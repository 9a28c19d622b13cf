//! OpenAPI schemas of the fields whose rules `#[schema(...)]` attributes cannot express,
//! written from the same constants the validation uses (`validation.rs`; a unit test there
//! checks that the patterns accept exactly what the rules accept).

use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;

use super::validation;
use crate::domain::{headers, CircuitState, FailureKind};
use crate::queue::outbox::OpsEvent;
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
             with every character that needs it percent-encoded. The host is a domain name, \
             an IPv4 address or a bracketed IPv6 address.",
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

fn headers_builder(nullable: bool, names: Option<ObjectBuilder>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(if nullable {
            SchemaType::from_iter([Type::Object, Type::Null])
        } else {
            SchemaType::new(Type::Object)
        })
        .max_properties(Some(headers::MAX_HEADERS))
        .property_names(names)
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(headers::MAX_VALUE))
                .pattern(Some(validation::HEADER_VALUE_PATTERN)),
        ))
}

/// An endpoint's custom headers.
pub fn headers() -> Schema {
    headers_builder(false, None)
        .description(Some("Extra headers of every delivery, name to value."))
        .into()
}

/// Custom headers on input (`null` or absent: none). Names are unique regardless of case,
/// which a schema cannot state (`scripts/fuzz-api-hooks.py` keeps generated names so).
pub fn opt_headers() -> Schema {
    let names = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(headers::MAX_NAME))
        .pattern(Some(validation::header_name_pattern()));
    headers_builder(true, Some(names))
        .description(Some(
            "Extra headers of every delivery, name to value (at most 20; names are HTTP tokens, \
             unique regardless of case; values at most 4096 visible ASCII characters, spaces and \
             tabs; `webhook-*`, `content-*`, `host` and hop-by-hop headers are refused). `null` \
             or absent: none.",
        ))
        .into()
}

/// The filter language, in words.
const FILTER_LANGUAGE: &str = "A JSON match document over the payload: `{\"dotted.path\": \
    value}` (equality) or `{\"path\": {\"$op\": value}}` with `$eq $ne $in $nin $gt $gte $lt \
    $lte $exists $not`, combined with `$and`, `$or`, `$not`. At most 8 levels, 256 conditions, \
    16 KB (limits a schema cannot state). The schema describes field conditions; `$and`, `$or` \
    and `$not` are accepted too.";

/// A payload filter as a schema can state it: fields (dotted paths) compared with a plain
/// value (anything but an object with `$` keys) or an object of operators. Exactly what the
/// server accepts for those, so that fuzzers find neither side wrong; the budgets (nodes,
/// bytes, depth) and the logical operators are only in the description.
fn filter_builder(nullable: bool) -> ObjectBuilder {
    let any = || ObjectBuilder::new().schema_type(SchemaType::AnyValue);
    let list = || {
        ArrayBuilder::new()
            .items(RefOr::T(any().into()))
            .max_items(Some(crate::domain::filter::MAX_LIST))
    };
    let compare =
        || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Number]));
    let operators = ObjectBuilder::new()
        .schema_type(Type::Object)
        .min_properties(Some(1))
        .property("$eq", any())
        .property("$ne", any())
        .property("$in", list())
        .property("$nin", list())
        .property("$gt", compare())
        .property("$gte", compare())
        .property("$lt", compare())
        .property("$lte", compare())
        .property("$exists", ObjectBuilder::new().schema_type(Type::Boolean))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    let plain_object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^(?:[^$]|$)")),
        ));
    let plain = ObjectBuilder::new().schema_type(SchemaType::from_iter([
        Type::String,
        Type::Number,
        Type::Boolean,
        Type::Null,
        Type::Array,
    ]));
    let condition = Schema::AnyOf(
        AnyOfBuilder::new()
            .item(plain)
            .item(plain_object)
            .item(operators)
            .build(),
    );
    let paths = ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(validation::MAX_FILTER_PATH))
        .pattern(Some(validation::FILTER_PATH_PATTERN));
    ObjectBuilder::new()
        .schema_type(if nullable {
            SchemaType::from_iter([Type::Object, Type::Null])
        } else {
            SchemaType::new(Type::Object)
        })
        .property_names(Some(paths))
        .additional_properties(Some(condition))
}

/// A payload filter document.
pub fn filter() -> Schema {
    filter_builder(false)
        .description(Some(FILTER_LANGUAGE))
        .into()
}

/// A payload filter on input, or `null` for none.
pub fn opt_filter() -> Schema {
    filter_builder(true)
        .description(Some(format!("{FILTER_LANGUAGE} `null` or absent: none.")))
        .into()
}

/// A stored payload filter (any document the language accepts), or `null`.
pub fn stored_filter() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .description(Some(format!("{FILTER_LANGUAGE} `null`: none.")))
        .into()
}

/// Operational event types an operational endpoint subscribes to (`null`, absent or empty:
/// all).
pub fn opt_ops_event_types() -> Schema {
    let names: Vec<&str> = OpsEvent::ALL.iter().map(|e| e.as_str()).collect();
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(RefOr::T(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names))
                .into(),
        ))
        .max_items(Some(OpsEvent::ALL.len()))
        .unique_items(true)
        .description(Some(
            "Operational events delivered to the endpoint (`null`, absent or empty: all).",
        ))
        .into()
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

/// A rate limit in deliveries per second (a u32: no `format`, `int32` would stop at 2^31 - 1
/// and a fuzzer would expect larger values refused).
pub fn opt_rate_limit() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::domain::filter::Filter;

    fn validator(schema: Schema) -> jsonschema::Validator {
        let document = serde_json::to_value(schema).expect("schema JSON");
        jsonschema::validator_for(&document).expect("a valid JSON Schema")
    }

    /// What the document calls valid, the API accepts, and the other way round (the fuzzer
    /// checks both).
    #[test]
    fn documented_headers_are_the_accepted_headers() {
        let documented = validator(opt_headers());
        let long = "n".repeat(headers::MAX_NAME);
        let cases = [
            ("Authorization", "Bearer abc"),
            ("x-api-key", "\tspaced value "),
            ("tea", ""),
            ("Hosts", "x"),
            ("webhook", "x"),
            (long.as_str(), "x"),
            ("!#$%&'*+.^_`|~-0", "x"),
            ("", "x"),
            ("a b", "x"),
            ("x:y", "x"),
            ("HOST", "x"),
            ("te", "x"),
            ("Webhook-Id", "x"),
            ("content-TYPE", "x"),
            ("Transfer-Encoding", "x"),
            ("x-ok", "line\r\nInjected: yes"),
            ("x-ok", "\u{e9}"),
        ];
        for (name, value) in cases {
            let body = json!({ name: value });
            let map = BTreeMap::from([(name.to_string(), value.to_string())]);
            assert_eq!(
                documented.is_valid(&body),
                validation::headers(map).is_ok(),
                "{name:?}: {value:?}"
            );
        }
        let too_long = json!({ format!("{long}n"): "x" });
        assert!(!documented.is_valid(&too_long));
        assert!(documented.is_valid(&Value::Null));
    }

    #[test]
    fn documented_filters_are_the_accepted_filters() {
        let documented = validator(filter());
        let deepest = vec!["s"; crate::domain::filter::MAX_SEGMENTS].join(".");
        let too_deep = format!("{deepest}.s");
        let longest = "\u{e9}".repeat(validation::MAX_FILTER_PATH);
        let too_long = format!("{longest}a");
        let cases = [
            json!({"type": "order.created", "data.amount": 3.5, "data.items.0.id": null}),
            json!({"a": {"$in": [1, "x"], "$exists": true}, "b-c_d": false}),
            json!({"a": [{"$x": 1}], "b": {"": 1, "c": {"$eq": 2}}}),
            json!({"a": {"$gt": "m", "$lte": 3}}),
            json!({ deepest.as_str(): 1 }),
            json!({ longest.as_str(): 1 }),
            json!({"caf\u{e9} au lait": 1}),
            json!({}),
            json!({"": 1}),
            json!({"a..b": 1}),
            json!({".a": 1}),
            json!({"a.": 1}),
            json!({ too_deep.as_str(): 1 }),
            json!({ too_long.as_str(): 1 }),
            json!({"a": {"$regex": "x"}}),
            json!({"a": {"$gt": true}}),
            json!({"a": {"$in": 1}}),
            json!({"a": {"$exists": 1}}),
            json!({"a": {"$eq": 1, "b": 2}}),
            json!({"a": {"$in": vec![1; crate::domain::filter::MAX_LIST + 1]}}),
            json!([]),
        ];
        for filter in &cases {
            assert_eq!(
                documented.is_valid(filter),
                Filter::parse(filter).is_ok(),
                "{filter}"
            );
        }
    }
}
