//! Applications: organisation-scoped records, plus the partition-side marker that endpoints
//! and messages are attached to.

use redis::AsyncCommands;
use uuid::Uuid;

use super::keys::{member_id, ordered_member};
use super::{field, int_field, opt_field, page_members, script_fields, Fields, Page, Store};
use crate::error::StoreError;
use crate::model::{now_ms, Application};

/// Entities deleted per purge batch when an application goes away.
const PURGE_BATCH: usize = 500;

fn from_fields(fields: &Fields) -> Result<Application, StoreError> {
    Ok(Application {
        name: field(fields, "name")?.to_string(),
        uid: opt_field(fields, "uid"),
        id: Uuid::parse_str(field(fields, "id")?)
            .map_err(|_| StoreError::Corrupt("application id".into()))?,
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
        let id = Uuid::new_v4();
        let now = now_ms();
        let mut conn = self.conn().await?;
        // The marker goes first: an orphan marker is harmless, an application without one
        // could not take endpoints or messages.
        let marker = self.keys.app_marker(id);
        let _: () = conn
            .hset_multiple(&marker, &[("org", org), ("ep_ver", "0")])
            .await?;
        let answer = self
            .scripts
            .app_upsert
            .key(self.keys.app(org, id))
            .key(self.keys.apps(org))
            .key(self.keys.app_uids(org))
            .arg("create")
            .arg(id.to_string())
            .arg(ordered_member(now, id))
            .arg(uid.unwrap_or(""))
            .arg("id")
            .arg(id.to_string())
            .arg("name")
            .arg(name)
            .arg("created")
            .arg(now)
            .arg("updated")
            .arg(now)
            .invoke_async(&mut conn)
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
        let id: Option<String> = conn.hget(self.keys.app_uids(org), id_or_uid).await?;
        id.and_then(|id| Uuid::parse_str(&id).ok())
            .ok_or(StoreError::NotFound("application"))
    }

    /// Resolves an application id or uid within the organisation.
    pub async fn find_application(
        &self,
        org: &str,
        id_or_uid: &str,
    ) -> Result<Application, StoreError> {
        let id = self.resolve_application(org, id_or_uid).await?;
        let mut conn = self.conn().await?;
        let fields: Fields = conn.hgetall(self.keys.app(org, id)).await?;
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
        let mut conn = self.conn().await?;
        let (members, more) =
            page_members(&mut conn, &self.keys.apps(org), cursor, limit, false).await?;
        if members.is_empty() {
            // An empty pipeline is not a valid request: answer without one.
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let mut pipe = redis::pipe();
        for member in &members {
            if let Some(id) = member_id(member) {
                pipe.hgetall(self.keys.app(org, id));
            }
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
        let mut conn = self.conn().await?;
        let answer = self
            .scripts
            .app_upsert
            .key(self.keys.app(org, id))
            .key(self.keys.apps(org))
            .key(self.keys.app_uids(org))
            .arg("update")
            .arg(id.to_string())
            .arg("")
            .arg(uid.unwrap_or(""))
            .arg("name")
            .arg(name)
            .arg("updated")
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await?;
        match script_fields(answer)? {
            Ok(fields) => from_fields(&fields),
            Err(-1) => Err(uid_taken(uid.unwrap_or_default())),
            Err(_) => Err(StoreError::NotFound("application")),
        }
    }

    /// Deletes an application with everything it owns: endpoints, messages, attempts and
    /// scheduled retries. The application disappears atomically first; the rest is purged in
    /// bounded batches.
    pub async fn delete_application(&self, org: &str, id: Uuid) -> Result<Application, StoreError> {
        let mut conn = self.conn().await?;
        let answer = self
            .scripts
            .app_delete
            .key(self.keys.app(org, id))
            .key(self.keys.apps(org))
            .key(self.keys.app_uids(org))
            .arg(id.to_string())
            .invoke_async(&mut conn)
            .await?;
        let app = match script_fields(answer)? {
            Ok(fields) => from_fields(&fields)?,
            Err(_) => return Err(StoreError::NotFound("application")),
        };
        loop {
            let deleted: usize = self
                .scripts
                .app_purge
                .key(self.keys.app_marker(id))
                .key(self.keys.endpoints(id))
                .key(self.keys.endpoint_uids(id))
                .key(self.keys.messages(id))
                .arg(self.keys.partition_prefix(id))
                .arg(self.keys.message_uid_prefix(id))
                .arg(PURGE_BATCH)
                .invoke_async(&mut conn)
                .await?;
            if deleted == 0 {
                break;
            }
        }
        self.purge_retries(&mut conn, id).await?;
        Ok(app)
    }

    /// Removes an application's scheduled retries from its partition's retry set.
    async fn purge_retries(
        &self,
        conn: &mut super::Connection,
        app: Uuid,
    ) -> Result<(), StoreError> {
        let key = self.keys.retry(self.keys.partition_of(app));
        let pattern = format!("{app}|*");
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("ZSCAN")
                .arg(&key)
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            // ZSCAN returns member, score pairs.
            let members: Vec<&String> = batch.iter().step_by(2).collect();
            if !members.is_empty() {
                let _: () = conn.zrem(&key, members).await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}
