//! Endpoints: partition-scoped hashes of an application, with a uid index, a creation-ordered
//! list, and a per-application version that every change bumps (workers cache endpoint lists
//! keyed by it, so a change applies to the next message read).

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde_json::Value;
use uuid::Uuid;

use super::health::health_from_fields;
use super::ordered::{self, member_id};
use super::{
    field, id_field, int_field, json_field, opt_field, opt_int, script_fields, Connection, Fields,
    Page, Store,
};
use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::StoreError;
use crate::domain::{Endpoint, EndpointHealth, Ordering, RetiringSecret};
use crate::queue::outbox::{DisableReason, OpsEvent, OutboxEvent, EVENT_FIELD};
use crate::queue::stream::TASK_FIELD;
use crate::queue::{park, Task};

static UPSERT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/endpoint_upsert.lua")));
static DELETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/endpoint_delete.lua")));
static DISABLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/endpoint_disable.lua")));
static PATCH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/endpoint_patch.lua")));

/// Tries of a patch that found the endpoint changed since it was read.
const PATCH_TRIES: usize = 5;

/// A validated endpoint write (create or full update).
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    pub name: String,
    pub url: String,
    pub uid: Option<String>,
    pub channels: Vec<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// `None` on update keeps the current secrets (and rotated-out ones); new secrets
    /// replace both.
    pub secrets: Option<Vec<String>>,
    pub rate_limit: Option<u32>,
    /// Extra delivery headers, already checked.
    pub headers: Vec<(String, String)>,
    /// Payload filter document, already checked.
    pub filter: Option<Value>,
    pub ordering: Ordering,
}

/// An endpoint with its health, as reads of the API return it.
#[derive(Debug, Clone)]
pub struct EndpointWithHealth {
    pub endpoint: Endpoint,
    pub health: EndpointHealth,
}

fn from_fields(fields: &Fields) -> Result<Endpoint, StoreError> {
    Ok(Endpoint {
        id: id_field(fields, "id")?,
        app: id_field(fields, "app")?,
        name: field(fields, "name")?.to_string(),
        url: field(fields, "url")?.to_string(),
        uid: opt_field(fields, "uid"),
        event_types: json_field(fields, "eventTypes")?,
        channels: json_field(fields, "channels")?,
        enabled: field(fields, "enabled")? == "1",
        secrets: json_field(fields, "secrets")?,
        retiring: opt_field(fields, "retiring")
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default(),
        headers: opt_field(fields, "headers")
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default(),
        filter: opt_field(fields, "filter").and_then(|v| serde_json::from_str(&v).ok()),
        ordering: opt_field(fields, "ordering")
            .and_then(|v| Ordering::parse(&v))
            .unwrap_or_default(),
        paused: opt_field(fields, "paused").as_deref() == Some("1"),
        rate_limit: opt_field(fields, "rateLimit").and_then(|v| v.parse().ok()),
        created: int_field(fields, "created")?,
        updated: int_field(fields, "updated")?,
        health_epoch: opt_int(fields, "healthEpoch").unwrap_or(0) as u64,
    })
}

fn json(value: &[String]) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

/// Field/value pairs of a spec as stored.
fn spec_fields(spec: &EndpointSpec, now: i64) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("name", spec.name.clone()),
        ("url", spec.url.clone()),
        ("enabled", if spec.enabled { "1" } else { "0" }.to_string()),
        ("eventTypes", json(&spec.event_types)),
        ("channels", json(&spec.channels)),
        (
            "rateLimit",
            spec.rate_limit.map(|r| r.to_string()).unwrap_or_default(),
        ),
        ("updated", now.to_string()),
        (
            "headers",
            serde_json::to_string(&spec.headers).unwrap_or_else(|_| "[]".into()),
        ),
        (
            "filter",
            spec.filter
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default(),
        ),
        ("ordering", spec.ordering.as_str().to_string()),
    ];
    if let Some(secrets) = &spec.secrets {
        out.push(("secrets", json(secrets)));
        out.push(("retiring", "[]".to_string()));
    }
    out
}

/// What pausing, resuming or rotating changes.
enum Patch<'a> {
    Pause(bool),
    Rotate(&'a [String], &'a [RetiringSecret]),
}

impl Store {
    /// Writes an endpoint through the upsert script; `create` carries the new id.
    async fn upsert_endpoint(
        &self,
        app: Uuid,
        id: Uuid,
        create: bool,
        spec: &EndpointSpec,
        max_endpoints: usize,
    ) -> Result<EndpointWithHealth, StoreError> {
        let keys = &self.db.keys;
        let now = now_ms();
        let mut conn = self.conn().await?;
        let mut call = ScriptCall::new(
            &UPSERT,
            &[
                keys.app_marker(app),
                keys.endpoint(app, id),
                keys.endpoints(app),
                keys.endpoint_uids(app),
                keys.endpoint_health(app, id),
                keys.stream(keys.partition_of(app)),
                keys.outbox(keys.partition_of(app)),
            ],
        );
        call.arg(if create { "create" } else { "update" })
            .arg(id.to_string())
            .arg(ordered::member(now, id))
            .arg(spec.uid.as_deref().unwrap_or(""))
            .arg(max_endpoints)
            .arg(if spec.enabled { "1" } else { "0" })
            .arg(TASK_FIELD)
            .arg(Task::refresh(app, id).encode())
            .arg(EVENT_FIELD)
            .arg(
                OutboxEvent::new(OpsEvent::EndpointDisabled, app, id, now)
                    .with("reason", DisableReason::Manual.as_str())
                    .encode(),
            );
        for (name, value) in spec_fields(spec, now) {
            call.arg(name).arg(value);
        }
        if create {
            call.arg("id")
                .arg(id.to_string())
                .arg("app")
                .arg(app.to_string())
                .arg("created")
                .arg(now);
        }
        let answer = call.invoke(&mut conn).await?;
        match script_fields(answer)? {
            Ok(fields) => {
                let endpoint = from_fields(&fields)?;
                // A new endpoint has no health yet; an updated one shows its current health.
                let health = if create {
                    EndpointHealth::default()
                } else {
                    let health: Fields = conn.hgetall(keys.endpoint_health(app, id)).await?;
                    health_from_fields(&health)
                };
                Ok(EndpointWithHealth { endpoint, health })
            }
            Err(-1) => Err(StoreError::Conflict(format!(
                "an endpoint with uid {:?} already exists in this application",
                spec.uid.as_deref().unwrap_or_default()
            ))),
            Err(-2) => Err(StoreError::NotFound("application")),
            Err(-4) => Err(StoreError::Limit(format!(
                "an application may have at most {max_endpoints} endpoints"
            ))),
            Err(_) => Err(StoreError::NotFound("endpoint")),
        }
    }

    /// Creates an endpoint of `app`; the spec must carry its secrets.
    pub async fn create_endpoint(
        &self,
        app: Uuid,
        spec: &EndpointSpec,
        max_endpoints: usize,
    ) -> Result<EndpointWithHealth, StoreError> {
        self.upsert_endpoint(app, Uuid::new_v4(), true, spec, max_endpoints)
            .await
    }

    /// Replaces an endpoint's attributes.
    pub async fn update_endpoint(
        &self,
        app: Uuid,
        id: Uuid,
        spec: &EndpointSpec,
    ) -> Result<EndpointWithHealth, StoreError> {
        self.upsert_endpoint(app, id, false, spec, usize::MAX).await
    }

    /// Resolves an endpoint id or uid within the application.
    pub async fn find_endpoint(
        &self,
        app: Uuid,
        id_or_uid: &str,
    ) -> Result<EndpointWithHealth, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let id = match Uuid::parse_str(id_or_uid) {
            Ok(id) => id,
            Err(_) => {
                let id: Option<String> = conn.hget(keys.endpoint_uids(app), id_or_uid).await?;
                id.and_then(|id| Uuid::parse_str(&id).ok())
                    .ok_or(StoreError::NotFound("endpoint"))?
            }
        };
        let (fields, health): (Fields, Fields) = redis::pipe()
            .hgetall(keys.endpoint(app, id))
            .hgetall(keys.endpoint_health(app, id))
            .query_async(&mut conn)
            .await?;
        // An endpoint id of another application must not resolve through this one.
        if fields.is_empty() || fields.get("app").map(String::as_str) != Some(&app.to_string()) {
            return Err(StoreError::NotFound("endpoint"));
        }
        Ok(EndpointWithHealth {
            endpoint: from_fields(&fields)?,
            health: health_from_fields(&health),
        })
    }

    /// A page of an application's endpoints in creation order.
    pub async fn list_endpoints(
        &self,
        app: Uuid,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<EndpointWithHealth>, StoreError> {
        let mut conn = self.conn().await?;
        let (members, more) = ordered::page(
            &mut conn,
            &self.db.keys.endpoints(app),
            cursor,
            limit,
            false,
        )
        .await?;
        let items = self.endpoints_by_member(&mut conn, app, &members).await?;
        Ok(Page {
            items,
            next: if more { members.last().cloned() } else { None },
        })
    }

    /// Every endpoint of an application and the version they were read at (for routing).
    pub async fn all_endpoints(&self, app: Uuid) -> Result<(u64, Vec<Endpoint>), StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let (version, members): (Option<u64>, Vec<String>) = redis::pipe()
            .hget(keys.app_marker(app), "ep_ver")
            .zrange(keys.endpoints(app), 0, -1)
            .query_async(&mut conn)
            .await?;
        let items = self.endpoints_by_member(&mut conn, app, &members).await?;
        Ok((
            version.unwrap_or(0),
            items.into_iter().map(|e| e.endpoint).collect(),
        ))
    }

    async fn endpoints_by_member(
        &self,
        conn: &mut Connection,
        app: Uuid,
        members: &[String],
    ) -> Result<Vec<EndpointWithHealth>, StoreError> {
        let keys = &self.db.keys;
        let ids: Vec<Uuid> = members.iter().filter_map(|m| member_id(m)).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(keys.endpoint(app, *id));
            pipe.hgetall(keys.endpoint_health(app, *id));
        }
        let rows: Vec<Fields> = pipe.query_async(conn).await?;
        rows.chunks(2)
            .filter(|pair| !pair[0].is_empty())
            .map(|pair| {
                Ok(EndpointWithHealth {
                    endpoint: from_fields(&pair[0])?,
                    health: health_from_fields(pair.get(1).unwrap_or(&Fields::new())),
                })
            })
            .collect()
    }

    /// Deletes an endpoint.
    pub async fn delete_endpoint(&self, endpoint: &Endpoint) -> Result<Endpoint, StoreError> {
        let keys = &self.db.keys;
        let (app, id) = (endpoint.app, endpoint.id);
        let mut conn = self.conn().await?;
        let answer = ScriptCall::new(
            &DELETE,
            &[
                keys.app_marker(app),
                keys.endpoint(app, id),
                keys.endpoints(app),
                keys.endpoint_uids(app),
                keys.endpoint_health(app, id),
                keys.parked(app, id),
                keys.parked_index(keys.partition_of(app)),
                keys.stream(keys.partition_of(app)),
                keys.endpoint_log(app, id),
                keys.endpoint_stats(app, id),
            ],
        )
        .arg(ordered::member(endpoint.created, id))
        .arg(park::index_member(app, id))
        .arg(TASK_FIELD)
        .arg(Task::refresh(app, id).encode())
        .invoke(&mut conn)
        .await?;
        match script_fields(answer)? {
            Ok(fields) => from_fields(&fields),
            Err(_) => Err(StoreError::NotFound("endpoint")),
        }
    }

    /// Disables an endpoint (410 Gone, or failing for too long) and bumps the version so
    /// routing stops at once; when it was enabled, its `endpoint.disabled` event goes into
    /// the outbox in the same step.
    pub async fn disable_endpoint(
        &self,
        app: Uuid,
        id: Uuid,
        reason: DisableReason,
    ) -> Result<(), StoreError> {
        let keys = &self.db.keys;
        let now = now_ms();
        let event = OutboxEvent::new(OpsEvent::EndpointDisabled, app, id, now)
            .with("reason", reason.as_str());
        let mut conn = self.conn().await?;
        let _: i64 = ScriptCall::new(
            &DISABLE,
            &[
                keys.app_marker(app),
                keys.endpoint(app, id),
                keys.stream(keys.partition_of(app)),
                keys.outbox(keys.partition_of(app)),
            ],
        )
        .arg(now)
        .arg(TASK_FIELD)
        .arg(Task::refresh(app, id).encode())
        .arg(EVENT_FIELD)
        .arg(event.encode())
        .invoke(&mut conn)
        .await?;
        Ok(())
    }

    /// Pauses (`true`) or resumes an endpoint. While paused nothing is sent: its deliveries
    /// are held in its parked backlog, released when it is resumed.
    pub async fn set_paused(
        &self,
        endpoint: &Endpoint,
        paused: bool,
    ) -> Result<EndpointWithHealth, StoreError> {
        self.patch(endpoint, None, Patch::Pause(paused)).await
    }

    /// Makes `new` the endpoint's only current secret; every previous secret keeps signing
    /// for `grace` at most (its own grace period may end sooner; all are dropped at once when
    /// it is zero), and at most `max_secrets` sign at a time (the oldest go first).
    pub async fn rotate_secret(
        &self,
        endpoint: &Endpoint,
        new: String,
        grace: std::time::Duration,
        max_secrets: usize,
    ) -> Result<EndpointWithHealth, StoreError> {
        let mut current = endpoint.clone();
        for _ in 0..PATCH_TRIES {
            let now = now_ms();
            let until = now + grace.as_millis() as i64;
            // Every previous secret signs until the new grace period ends at the latest.
            let mut retiring: Vec<RetiringSecret> = current
                .secrets
                .iter()
                .map(|key| RetiringSecret {
                    key: key.clone(),
                    until,
                })
                .chain(current.retiring.iter().map(|r| RetiringSecret {
                    key: r.key.clone(),
                    until: r.until.min(until),
                }))
                .filter(|r| r.until > now && r.key != new)
                .collect();
            retiring.truncate(max_secrets.saturating_sub(1));
            let secrets = [new.clone()];
            match self
                .patch(
                    &current,
                    Some(current.updated),
                    Patch::Rotate(&secrets, &retiring),
                )
                .await
            {
                Err(StoreError::Conflict(_)) => {
                    current = self
                        .find_endpoint(current.app, &current.id.to_string())
                        .await?
                        .endpoint;
                }
                other => return other,
            }
        }
        Err(StoreError::Conflict(
            "the endpoint kept changing; try again".into(),
        ))
    }

    /// Applies a patch if the endpoint has not changed since `expected_updated`.
    async fn patch(
        &self,
        endpoint: &Endpoint,
        expected_updated: Option<i64>,
        patch: Patch<'_>,
    ) -> Result<EndpointWithHealth, StoreError> {
        let keys = &self.db.keys;
        let (app, id) = (endpoint.app, endpoint.id);
        let partition = keys.partition_of(app);
        let now = now_ms();
        let mut fields: Vec<(&str, String)> =
            vec![("updated", now.max(endpoint.updated + 1).to_string())];
        let mut release = String::new();
        match patch {
            Patch::Pause(paused) => {
                fields.push(("paused", if paused { "1" } else { "0" }.to_string()));
                if !paused {
                    release = park::index_member(app, id);
                }
            }
            Patch::Rotate(secrets, retiring) => {
                fields.push(("secrets", json(secrets)));
                fields.push((
                    "retiring",
                    serde_json::to_string(retiring).unwrap_or_else(|_| "[]".into()),
                ));
            }
        }
        let mut call = ScriptCall::new(
            &PATCH,
            &[
                keys.app_marker(app),
                keys.endpoint(app, id),
                keys.stream(partition),
                keys.parked_index(partition),
            ],
        );
        call.arg(expected_updated.map(|u| u.to_string()).unwrap_or_default())
            .arg(TASK_FIELD)
            .arg(Task::refresh(app, id).encode())
            .arg(release)
            .arg(now);
        for (name, value) in &fields {
            call.arg(*name).arg(value);
        }
        let mut conn = self.conn().await?;
        let answer = call.invoke(&mut conn).await?;
        match script_fields(answer)? {
            Ok(fields) => {
                let health: Fields = conn.hgetall(keys.endpoint_health(app, id)).await?;
                Ok(EndpointWithHealth {
                    endpoint: from_fields(&fields)?,
                    health: health_from_fields(&health),
                })
            }
            Err(-5) => Err(StoreError::Conflict(
                "the endpoint changed meanwhile".into(),
            )),
            Err(_) => Err(StoreError::NotFound("endpoint")),
        }
    }
}
