//! The event-type catalogue of an organisation: a hash per event type (`{o.<org>}:et:<name>`)
//! and the names in a sorted set ranged lexicographically (a name is its own list cursor).

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde_json::Value;

use super::{field, int_field, opt_field, script_fields, Fields, Page, Store};
use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::StoreError;
use crate::domain::EventType;

static UPSERT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/event_type_upsert.lua")));
static DELETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/event_type_delete.lua")));

/// An event type to store (checked by the caller: name, schema, example).
#[derive(Debug, Clone)]
pub struct EventTypeSpec {
    pub name: String,
    pub description: String,
    pub schema: Option<Value>,
    pub example: Option<Value>,
    pub archived: bool,
}

/// Where a name stands in the catalogue, for endpoint subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catalogued {
    Active,
    Archived,
    Unknown,
}

fn json_or_none(fields: &Fields, name: &str) -> Result<Option<Value>, StoreError> {
    opt_field(fields, name)
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
        })
        .transpose()
}

fn from_fields(fields: &Fields) -> Result<EventType, StoreError> {
    Ok(EventType {
        name: field(fields, "name")?.to_string(),
        description: fields.get("description").cloned().unwrap_or_default(),
        schema: json_or_none(fields, "schema")?,
        example: json_or_none(fields, "example")?,
        archived: fields.get("archived").map(String::as_str) == Some("1"),
        created: int_field(fields, "created")?,
        updated: int_field(fields, "updated")?,
    })
}

impl Store {
    /// Creates (`create`) or replaces an event type.
    pub async fn upsert_event_type(
        &self,
        org: &str,
        spec: &EventTypeSpec,
        create: bool,
    ) -> Result<EventType, StoreError> {
        let keys = &self.db.keys;
        let text = |value: &Option<Value>| value.as_ref().map(Value::to_string).unwrap_or_default();
        let mut conn = self.conn().await?;
        let answer = ScriptCall::new(
            &UPSERT,
            &[keys.event_type(org, &spec.name), keys.event_types(org)],
        )
        .arg(if create { "create" } else { "update" })
        .arg(&spec.name)
        .arg(now_ms())
        .arg("description")
        .arg(&spec.description)
        .arg("schema")
        .arg(text(&spec.schema))
        .arg("example")
        .arg(text(&spec.example))
        .arg("archived")
        .arg(if spec.archived { "1" } else { "0" })
        .invoke(&mut conn)
        .await?;
        match script_fields(answer)? {
            Ok(fields) => from_fields(&fields),
            Err(-1) => Err(StoreError::Conflict(format!(
                "event type {:?} already exists",
                spec.name
            ))),
            Err(_) => Err(StoreError::NotFound("event type")),
        }
    }

    /// One event type.
    pub async fn find_event_type(&self, org: &str, name: &str) -> Result<EventType, StoreError> {
        let mut conn = self.conn().await?;
        let fields: Fields = conn.hgetall(self.db.keys.event_type(org, name)).await?;
        if fields.is_empty() {
            return Err(StoreError::NotFound("event type"));
        }
        from_fields(&fields)
    }

    /// A page of the catalogue in name order.
    pub async fn list_event_types(
        &self,
        org: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<EventType>, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let mut names: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(keys.event_types(org))
            .arg(after.map_or("-".to_string(), |a| format!("({a}")))
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut conn)
            .await?;
        let more = names.len() > limit;
        names.truncate(limit);
        if names.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.hgetall(keys.event_type(org, name));
        }
        let rows: Vec<Fields> = pipe.query_async(&mut conn).await?;
        let items = rows
            .iter()
            .filter(|fields| !fields.is_empty())
            .map(from_fields)
            .collect::<Result<_, _>>()?;
        Ok(Page {
            items,
            next: if more { names.last().cloned() } else { None },
        })
    }

    /// Deletes an event type; returns it.
    pub async fn delete_event_type(&self, org: &str, name: &str) -> Result<EventType, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let answer = ScriptCall::new(
            &DELETE,
            &[keys.event_type(org, name), keys.event_types(org)],
        )
        .arg(name)
        .invoke(&mut conn)
        .await?;
        match script_fields(answer)? {
            Ok(fields) => from_fields(&fields),
            Err(_) => Err(StoreError::NotFound("event type")),
        }
    }

    /// Where each of `names` stands in the catalogue.
    pub async fn catalogued(
        &self,
        org: &str,
        names: &[String],
    ) -> Result<Vec<Catalogued>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for name in names {
            pipe.hget(self.db.keys.event_type(org, name), "archived");
        }
        let mut conn = self.conn().await?;
        let states: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        Ok(states
            .iter()
            .map(|state| match state.as_deref() {
                None => Catalogued::Unknown,
                Some("1") => Catalogued::Archived,
                Some(_) => Catalogued::Active,
            })
            .collect())
    }
}
