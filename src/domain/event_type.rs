//! Event types: the organisation's catalogue of what its messages mean, optionally with a
//! JSON Schema (draft 2020-12) of their payloads and an example payload.
//!
//! Schemas are compiled with references to other documents switched off (the `jsonschema`
//! crate without its default features: no network, no files), so storing or using a schema
//! never reaches outside the process.

use serde_json::Value;

/// An entry of an organisation's event-type catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    /// Dotted name, as messages' `eventType` carry it.
    pub name: String,
    /// What it means, for the people who subscribe to it.
    pub description: String,
    /// JSON Schema of its payloads.
    pub schema: Option<Value>,
    /// An example payload (matching the schema), sent by `send-example`.
    pub example: Option<Value>,
    /// Kept for old messages, no longer offered: endpoints naming it get a warning.
    pub archived: bool,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms.
    pub updated: i64,
}

/// Most errors listed when a payload does not match its schema.
pub const MAX_REPORTED_ERRORS: usize = 5;

/// A compiled schema.
pub struct PayloadSchema(jsonschema::Validator);

impl PayloadSchema {
    /// Compiles a draft 2020-12 schema, refusing one that is not valid against the draft's
    /// meta-schema or whose references cannot be resolved locally.
    pub fn compile(schema: &Value) -> Result<PayloadSchema, String> {
        if !schema.is_object() {
            return Err("schema must be a JSON object".into());
        }
        if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
            return Err(format!(
                "schema is not valid JSON Schema (draft 2020-12): {e}"
            ));
        }
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(schema)
            .map(PayloadSchema)
            .map_err(|e| format!("schema cannot be used: {e}"))
    }

    /// The first few ways `payload` breaks the schema (empty when it matches), each as
    /// `<JSON pointer>: <what is wrong>`.
    pub fn errors(&self, payload: &Value) -> Vec<String> {
        self.0
            .iter_errors(payload)
            .take(MAX_REPORTED_ERRORS)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_string() } else { at };
                format!("{at}: {e}")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> PayloadSchema {
        PayloadSchema::compile(&json!({
            "type": "object",
            "required": ["id", "email"],
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "email": {"type": "string", "pattern": "^[^@]+@[^@]+$"},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "plan": {"enum": ["free", "pro"]},
                "address": {"$ref": "#/$defs/address"}
            },
            "$defs": {"address": {"type": "object", "required": ["city"]}},
            "additionalProperties": false
        }))
        .expect("schema")
    }

    #[test]
    fn payloads_are_accepted_or_refused_by_the_schema() {
        let schema = schema();
        let accepted = [
            json!({"id": 1, "email": "a@b"}),
            json!({"id": 7, "email": "x@y.z", "tags": ["a", "b"], "plan": "pro"}),
            json!({"id": 2, "email": "a@b", "address": {"city": "Oslo"}}),
        ];
        for payload in &accepted {
            assert_eq!(schema.errors(payload), Vec::<String>::new(), "{payload}");
        }
        let refused = [
            (json!({"email": "a@b"}), "id"),
            (json!({"id": "1", "email": "a@b"}), "/id"),
            (json!({"id": 0, "email": "a@b"}), "/id"),
            (json!({"id": 1, "email": "nope"}), "/email"),
            (
                json!({"id": 1, "email": "a@b", "tags": ["a", "b", "c"]}),
                "/tags",
            ),
            (json!({"id": 1, "email": "a@b", "tags": [1]}), "/tags/0"),
            (json!({"id": 1, "email": "a@b", "plan": "gold"}), "/plan"),
            (json!({"id": 1, "email": "a@b", "extra": true}), "extra"),
            (json!({"id": 1, "email": "a@b", "address": {}}), "/address"),
            (json!([1, 2]), "/"),
        ];
        for (payload, mentions) in &refused {
            let errors = schema.errors(payload);
            assert!(!errors.is_empty(), "{payload} was accepted");
            assert!(
                errors.iter().any(|e| e.contains(mentions)),
                "{payload}: {errors:?} does not mention {mentions}"
            );
        }
        let many = json!({"id": "x", "email": 1, "tags": "y", "plan": 3, "a": 1, "b": 2});
        assert_eq!(schema.errors(&many).len(), MAX_REPORTED_ERRORS);
    }

    #[test]
    fn invalid_and_remote_schemas_are_refused() {
        for bad in [
            json!("string"),
            json!({"type": "nope"}),
            json!({"minimum": "zero"}),
            json!({"$ref": "https://example.com/schema.json"}),
            json!({"$ref": "#/$defs/missing"}),
        ] {
            assert!(PayloadSchema::compile(&bad).is_err(), "{bad}");
        }
        assert!(PayloadSchema::compile(&json!({})).is_ok());
    }
}
