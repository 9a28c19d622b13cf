//! Messages and their attempts. Accepting a message writes its hash, uid, list entry and the
//! partition stream entry in one script, so an accepted message is always queued.

use redis::AsyncCommands;
use serde_json::value::RawValue;
use uuid::Uuid;

use super::keys::{member_id, ordered_member};
use super::{field, int_field, json_field, opt_field, page_members, Fields, Page, Store};
use crate::error::StoreError;
use crate::model::{now_ms, Attempt, Message};

/// Members scanned at most by one filtered list request, so a rare filter cannot make a
/// request walk millions of messages; the cursor lets the client go on.
const MAX_FILTER_SCAN: usize = 5_000;

/// One message insert in this many trims the application's message list.
const TRIM_EVERY: u32 = 32;

/// A validated message to accept.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub event_type: &'a str,
    pub channels: &'a [String],
    pub payload: &'a RawValue,
    pub uid: Option<&'a str>,
}

/// Filters of the message list.
#[derive(Debug, Default)]
pub struct MessageFilter {
    pub event_type: Option<String>,
    pub channel: Option<String>,
}

impl MessageFilter {
    fn matches(&self, message: &Message) -> bool {
        self.event_type
            .as_ref()
            .is_none_or(|t| *t == message.event_type)
            && self
                .channel
                .as_ref()
                .is_none_or(|c| message.channels.contains(c))
    }

    fn is_empty(&self) -> bool {
        self.event_type.is_none() && self.channel.is_none()
    }
}

/// Rebuilds a message from its hash.
pub(crate) fn message_from_fields(fields: &Fields) -> Result<Message, StoreError> {
    let payload = RawValue::from_string(field(fields, "payload")?.to_string())
        .map_err(|e| StoreError::Corrupt(format!("payload: {e}")))?;
    let created = int_field(fields, "created")?;
    Ok(Message {
        channels: json_field(fields, "channels")?,
        event_type: field(fields, "eventType")?.to_string(),
        payload,
        uid: opt_field(fields, "uid"),
        id: Uuid::parse_str(field(fields, "id")?)
            .map_err(|_| StoreError::Corrupt("message id".into()))?,
        created,
        updated: created,
    })
}

impl Store {
    /// Accepts a message: persisted and queued for delivery atomically. The script checks
    /// that `app` exists in `org`, so the hot path needs no separate lookup.
    pub async fn create_message(
        &self,
        org: &str,
        app: Uuid,
        input: &NewMessage<'_>,
    ) -> Result<Message, StoreError> {
        let id = Uuid::new_v4();
        let now = now_ms();
        let retention = self.retention.as_secs().max(1);
        // Trimming the list of expired messages on one insert in TRIM_EVERY is enough to keep
        // it bounded, and saves the range deletion on the others.
        let oldest = if rand::random_ratio(1, TRIM_EVERY) {
            ordered_member(now - retention as i64 * 1000, Uuid::nil())
        } else {
            String::new()
        };
        let channels = serde_json::to_string(input.channels).unwrap_or_else(|_| "[]".into());
        let uid_key = match input.uid {
            Some(uid) => format!("{}{uid}", self.keys.message_uid_prefix(app)),
            None => self.keys.message(app, id),
        };
        let mut conn = self.conn().await?;
        let code: i64 = self
            .scripts
            .message_create
            .key(self.keys.app_marker(app))
            .key(self.keys.message(app, id))
            .key(self.keys.messages(app))
            .key(uid_key)
            .key(self.keys.stream(self.keys.partition_of(app)))
            .arg(id.to_string())
            .arg(ordered_member(now, id))
            .arg(retention)
            .arg(oldest)
            .arg(input.uid.unwrap_or(""))
            .arg(app.to_string())
            .arg(now)
            .arg(org)
            .arg("id")
            .arg(id.to_string())
            .arg("app")
            .arg(app.to_string())
            .arg("uid")
            .arg(input.uid.unwrap_or(""))
            .arg("eventType")
            .arg(input.event_type)
            .arg("channels")
            .arg(&channels)
            .arg("payload")
            .arg(input.payload.get())
            .arg("created")
            .arg(now)
            .invoke_async(&mut conn)
            .await?;
        match code {
            1 => Ok(Message {
                channels: input.channels.to_vec(),
                event_type: input.event_type.to_string(),
                payload: input.payload.to_owned(),
                uid: input.uid.map(str::to_string),
                id,
                created: now,
                updated: now,
            }),
            -1 => Err(StoreError::Conflict(format!(
                "a message with uid {:?} already exists in this application",
                input.uid.unwrap_or_default()
            ))),
            _ => Err(StoreError::NotFound("application")),
        }
    }

    /// Resolves a message id or uid within the application.
    pub async fn find_message(&self, app: Uuid, id_or_uid: &str) -> Result<Message, StoreError> {
        let mut conn = self.conn().await?;
        let id = match Uuid::parse_str(id_or_uid) {
            Ok(id) => id,
            Err(_) => {
                let key = format!("{}{id_or_uid}", self.keys.message_uid_prefix(app));
                let id: Option<String> = conn.get(key).await?;
                id.and_then(|id| Uuid::parse_str(&id).ok())
                    .ok_or(StoreError::NotFound("message"))?
            }
        };
        let fields: Fields = conn.hgetall(self.keys.message(app, id)).await?;
        if fields.is_empty() || fields.get("app").map(String::as_str) != Some(&app.to_string()) {
            return Err(StoreError::NotFound("message"));
        }
        message_from_fields(&fields)
    }

    /// A page of an application's messages, newest first, optionally filtered.
    pub async fn list_messages(
        &self,
        app: Uuid,
        cursor: Option<&str>,
        limit: usize,
        filter: &MessageFilter,
    ) -> Result<Page<Message>, StoreError> {
        let mut conn = self.conn().await?;
        let key = self.keys.messages(app);
        let chunk = if filter.is_empty() { limit } else { limit * 4 };
        let mut cursor = cursor.map(str::to_string);
        let mut items = Vec::new();
        let mut scanned = 0;
        loop {
            let (members, more) =
                page_members(&mut conn, &key, cursor.as_deref(), chunk, true).await?;
            let mut pipe = redis::pipe();
            for id in members.iter().filter_map(|m| member_id(m)) {
                pipe.hgetall(self.keys.message(app, id));
            }
            let rows: Vec<Fields> = if members.is_empty() {
                Vec::new()
            } else {
                pipe.query_async(&mut conn).await?
            };
            for (i, (member, fields)) in members.iter().zip(&rows).enumerate() {
                if fields.is_empty() {
                    continue; // expired between the list read and the hash read
                }
                let message = message_from_fields(fields)?;
                if filter.matches(&message) {
                    items.push(message);
                    if items.len() == limit {
                        let rest = more || i + 1 < members.len();
                        return Ok(Page {
                            items,
                            next: rest.then(|| member.clone()),
                        });
                    }
                }
            }
            scanned += members.len();
            match members.last() {
                Some(last) if more => {
                    if scanned >= MAX_FILTER_SCAN {
                        return Ok(Page {
                            items,
                            next: Some(last.clone()),
                        });
                    }
                    cursor = Some(last.clone());
                }
                _ => return Ok(Page { items, next: None }),
            }
        }
    }

    /// Every attempt of a message, oldest first.
    pub async fn attempts(&self, app: Uuid, message: Uuid) -> Result<Vec<Attempt>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<String> = conn.lrange(self.keys.attempts(app, message), 0, -1).await?;
        rows.iter()
            .map(|row| {
                serde_json::from_str(row).map_err(|e| StoreError::Corrupt(format!("attempt: {e}")))
            })
            .collect()
    }

    /// Queues one more delivery of a message to one endpoint (manual resend).
    pub async fn enqueue_resend(
        &self,
        app: Uuid,
        message: Uuid,
        endpoint: Uuid,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("XADD")
            .arg(self.keys.stream(self.keys.partition_of(app)))
            .arg("*")
            .arg("a")
            .arg(app.to_string())
            .arg("m")
            .arg(message.to_string())
            .arg("c")
            .arg(now_ms())
            .arg("e")
            .arg(endpoint.to_string())
            .arg("n")
            .arg(0)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }
}
