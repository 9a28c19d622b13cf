//! Applications: organisation-scoped hashes with a uid index and a creation-ordered list,
//! plus a partition-side marker that endpoints and messages hang off (it holds the
//! application's organisation and the version of its endpoint set).

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use uuid::Uuid;

use super::ordered::{self, member_id};
use super::{field, id_field, int_field, opt_field, script_fields, Fields, Page, Store};
use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::StoreError;
use crate::domain::Application;

static UPSERT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/app_upsert.lua")));
static DELETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/app_delete.lua")));

fn from_fields(fields: &Fields) -> Result<Application, StoreError> {
    Ok(Application {
        id: id_field(fields, "id")?,
        name: field(fields, "name")?.to_string(),
        uid: opt_field(fields, "uid"),
        created: int_field(fields, "created")?,
        updated: int_field(fields, "updated")?,
    })
}

fn uid_taken(uid: &str) -> StoreError {
    StoreError::Conflict(format!("an application with uid {uid:?} already exists"))
}

impl Store {
    /// Creates an application; the uid (if any) is reserved atomically.
    pub async fn create_application(
        &self,
        org: &str,
        name: &str,
        uid: Option<&str>,
    ) -> Result<Application, StoreError> {
        let keys = &self.db.keys;
        let id = Uuid::new_v4();
        let now = now_ms();
        let mut conn = self.conn().await?;
        // The marker goes first: an orphan marker is harmless, an application without one
        // could not take endpoints or messages.
        let marker = keys.app_marker(id);
        let _: () = conn
            .hset_multiple(&marker, &[("org", org), ("ep_ver", "0")])
            .await?;
        let answer = ScriptCall::new(
            &UPSERT,
            &[keys.app(org, id), keys.apps(org), keys.app_uids(org)],
        )
        .arg("create")
        .arg(id.to_string())
        .arg(ordered::member(now, id))
        .arg(uid.unwrap_or(""))
        .arg("id")
        .arg(id.to_string())
        .arg("name")
        .arg(name)
        .arg("created")
        .arg(now)
        .arg("updated")
        .arg(now)
        .invoke(&mut conn)
        .await?;
        match script_fields(answer)? {
            Ok(fields) => from_fields(&fields),
            Err(_) => {
                let _: () = conn.del(&marker).await?;
                Err(uid_taken(uid.unwrap_or_default()))
            }
        }
    }

    /// The id an application id or uid names, without reading the application: callers whose
    /// own script checks existence and ownership save a round trip.
    pub async fn resolve_application(
        &self,
        org: &str,
        id_or_uid: &str,
    ) -> Result<Uuid, StoreError> {
        if let Ok(id) = Uuid::parse_str(id_or_uid) {
            return Ok(id);
        }
        let mut conn = self.conn().await?;
        let id: Option<String> = conn.hget(self.db.keys.app_uids(org), id_or_uid).await?;
        id.and_then(|id| Uuid::parse_str(&id).ok())
            .ok_or(StoreError::NotFound("application"))
    }

    /// Whether the application still exists in its organisation.
    pub async fn application_exists(&self, org: &str, app: Uuid) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        Ok(conn.exists(self.db.keys.app(org, app)).await?)
    }

    /// Resolves an application id or uid within the organisation.
    pub async fn find_application(
        &self,
        org: &str,
        id_or_uid: &str,
    ) -> Result<Application, StoreError> {
        let id = self.resolve_application(org, id_or_uid).await?;
        let mut conn = self.conn().await?;
        let fields: Fields = conn.hgetall(self.db.keys.app(org, id)).await?;
        if fields.is_empty() {
            return Err(StoreError::NotFound("application"));
        }
        from_fields(&fields)
    }

    /// A page of the organisation's applications in creation order.
    pub async fn list_applications(
        &self,
        org: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Application>, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let (members, more) =
            ordered::page(&mut conn, &keys.apps(org), cursor, limit, false).await?;
        let ids: Vec<Uuid> = members.iter().filter_map(|m| member_id(m)).collect();
        if ids.is_empty() {
            // An empty pipeline is not a valid request: answer without one.
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(keys.app(org, *id));
        }
        let rows: Vec<Fields> = pipe.query_async(&mut conn).await?;
        let items = rows
            .iter()
            .filter(|f| !f.is_empty())
            .map(from_fields)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            next: if more { members.last().cloned() } else { None },
        })
    }

    /// Replaces an application's name and, when given, its uid.
    pub async fn update_application(
        &self,
        org: &str,
        id: Uuid,
        name: &str,
        uid: Option<&str>,
    ) -> Result<Application, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let answer = ScriptCall::new(
            &UPSERT,
            &[keys.app(org, id), keys.apps(org), keys.app_uids(org)],
        )
        .arg("update")
        .arg(id.to_string())
        .arg("")
        .arg(uid.unwrap_or(""))
        .arg("name")
        .arg(name)
        .arg("updated")
        .arg(now_ms())
        .invoke(&mut conn)
        .await?;
        match script_fields(answer)? {
            Ok(fields) => from_fields(&fields),
            Err(-1) => Err(uid_taken(uid.unwrap_or_default())),
            Err(_) => Err(StoreError::NotFound("application")),
        }
    }

    /// Deletes an application from its organisation, atomically (it answers 404 at once) and
    /// records the purge of everything it owns (endpoints, messages, attempts, retries), which
    /// runs in the background (`purge.rs`): first the purge request, so that no failure or
    /// hang-up in between can leave the data behind for ever.
    pub async fn delete_application(
        &self,
        org: &str,
        app: &Application,
    ) -> Result<Application, StoreError> {
        let keys = &self.db.keys;
        self.request_purge(org, app.id).await?;
        let mut conn = self.conn().await?;
        let answer = ScriptCall::new(
            &DELETE,
            &[keys.app(org, app.id), keys.apps(org), keys.app_uids(org)],
        )
        .arg(ordered::member(app.created, app.id))
        .invoke(&mut conn)
        .await?;
        match script_fields(answer)? {
            Ok(fields) => from_fields(&fields),
            Err(_) => Err(StoreError::NotFound("application")),
        }
    }
}
