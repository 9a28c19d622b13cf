//! Messages: partition-scoped hashes (expiring after the retention period), a newest-first
//! list per application and a uid reservation per uid. Accepting a message writes its hash,
//! uid, list entry and the partition stream entry in one script, so an accepted message is
//! always queued; a message of an application without endpoints is stored and listed but not
//! queued (no worker has anything to do with it).

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::ordered::{self, member_id};
use super::{field, id_field, int_field, json_field, opt_field, Fields, Page, Store};
use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::{Db, StoreError};
use crate::domain::Message;
use crate::queue::stream::{self, TASK_FIELD};
use crate::queue::Task;

static CREATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/message_create.lua")));

/// Members scanned at most by one filtered list request, so a rare filter cannot make a
/// request walk millions of messages; the cursor lets the client go on.
const MAX_FILTER_SCAN: usize = 5_000;

/// Payload bytes one page of messages holds at most (the page ends early beyond it, with a
/// cursor), so no list request makes Redis or the API hold more than a few MB for it.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Messages read per round trip while filling a page.
const FETCH_CHUNK: usize = 16;

/// One message insert in this many trims the application's message list.
const TRIM_EVERY: u32 = 32;

/// A validated message to accept.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub event_type: &'a str,
    pub channels: &'a [String],
    pub payload: &'a RawValue,
    pub uid: Option<&'a str>,
    /// The request's Idempotency-Key (hashed), and how long it is kept.
    pub idempotency: Option<(&'a str, std::time::Duration)>,
    /// The FIFO lane key of the message.
    pub ordering_key: Option<&'a str>,
    /// Deliver it to this endpoint only (an example), not to every subscribed one.
    pub only_to: Option<Uuid>,
}

/// What accepting a message did.
#[derive(Debug)]
pub enum Accepted {
    /// The message was created.
    Created(Message),
    /// An earlier request with the same Idempotency-Key created this message.
    Earlier(Uuid),
}

/// Filters of the message list.
#[derive(Debug, Default)]
pub struct MessageFilter {
    pub event_type: Option<String>,
    pub channel: Option<String>,
    /// Creation-time window (read as a range of the list, not filtered afterwards).
    pub window: ordered::TimeWindow,
}

impl MessageFilter {
    fn matches(&self, event_type: &str, channels: &[String]) -> bool {
        self.event_type.as_ref().is_none_or(|t| t == event_type)
            && self.channel.as_ref().is_none_or(|c| channels.contains(c))
    }

    fn is_empty(&self) -> bool {
        self.event_type.is_none() && self.channel.is_none()
    }
}

/// Rebuilds a message from its hash.
pub(crate) fn message_from_fields(fields: &Fields) -> Result<Message, StoreError> {
    // An erased message keeps everything but its payload.
    let payload = fields
        .get("payload")
        .map(|text| {
            RawValue::from_string(text.clone())
                .map_err(|e| StoreError::Corrupt(format!("payload: {e}")))
        })
        .transpose()?;
    Ok(Message {
        id: id_field(fields, "id")?,
        uid: opt_field(fields, "uid"),
        event_type: field(fields, "eventType")?.to_string(),
        channels: json_field(fields, "channels")?,
        payload,
        ordering_key: opt_field(fields, "orderingKey"),
        created: int_field(fields, "created")?,
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
    ) -> Result<Accepted, StoreError> {
        let keys = &self.db.keys;
        let id = Uuid::new_v4();
        let now = now_ms();
        let retention = self.retention_secs();
        // Trimming the list of expired messages on one insert in TRIM_EVERY is enough to keep
        // it bounded, and saves the range deletion on the others.
        let oldest = if rand::random_ratio(1, TRIM_EVERY) {
            ordered::member(now - retention as i64 * 1000, Uuid::nil())
        } else {
            String::new()
        };
        let channels = serde_json::to_string(input.channels).unwrap_or_else(|_| "[]".into());
        let uid_key = match input.uid {
            Some(uid) => keys.message_uid(app, uid),
            None => keys.message(app, id),
        };
        let (reservation, reservation_ttl, reservation_name) = match input.idempotency {
            Some((key_hash, ttl)) => (
                keys.message_idempotency(app, org, key_hash),
                ttl.as_secs().max(1).to_string(),
                format!("{org}:{key_hash}"),
            ),
            None => (keys.message(app, id), String::new(), String::new()),
        };
        let mut task = Task::fanout(app, id, now);
        if let Some(endpoint) = input.only_to {
            task.target = crate::queue::Target::Endpoint {
                id: endpoint,
                attempts: 0,
            };
        }
        let mut conn = self.conn().await?;
        let mut call = ScriptCall::new(
            &CREATE,
            &[
                keys.app_marker(app),
                keys.message(app, id),
                keys.messages(app),
                uid_key,
                keys.stream(keys.partition_of(app)),
                reservation,
                keys.endpoints(app),
            ],
        );
        call.arg(id.to_string())
            .arg(ordered::member(now, id))
            .arg(retention)
            .arg(oldest)
            .arg(input.uid.unwrap_or(""))
            .arg(TASK_FIELD)
            .arg(task.encode())
            .arg(org)
            .arg(reservation_ttl)
            .arg(if input.only_to.is_none() { "1" } else { "" })
            .arg("id")
            .arg(id.to_string())
            .arg("app")
            .arg(app.to_string())
            .arg("eventType")
            .arg(input.event_type)
            .arg("channels")
            .arg(&channels)
            .arg("payload")
            .arg(input.payload.get())
            .arg("created")
            .arg(now);
        // Optional fields are stored only when set: every reader takes a missing field as unset,
        // and each empty one cost a hash entry and two script arguments per message.
        for (field, value) in [
            ("uid", input.uid.unwrap_or("")),
            ("idem", reservation_name.as_str()),
            ("orderingKey", input.ordering_key.unwrap_or("")),
        ] {
            if !value.is_empty() {
                call.arg(field).arg(value);
            }
        }
        let answer: redis::Value = call.invoke(&mut conn).await?;
        let (replicas, timeout) = self.replicas;
        let refused = matches!(answer, redis::Value::Int(code) if code < 0);
        if replicas > 0 && !refused {
            let acked =
                Db::wait_replicas(&mut conn, &keys.app_marker(app), replicas, timeout).await?;
            if acked < replicas {
                return Err(StoreError::NotReplicated {
                    acked,
                    wanted: replicas,
                });
            }
        }
        match answer {
            redis::Value::Int(1) => Ok(Accepted::Created(Message {
                id,
                uid: input.uid.map(str::to_string),
                event_type: input.event_type.to_string(),
                channels: input.channels.to_vec(),
                payload: Some(input.payload.to_owned()),
                ordering_key: input.ordering_key.map(str::to_string),
                created: now,
            })),
            redis::Value::Int(-1) => Err(StoreError::Conflict(format!(
                "a message with uid {:?} already exists in this application",
                input.uid.unwrap_or_default()
            ))),
            redis::Value::Int(_) => Err(StoreError::NotFound("application")),
            other => {
                let earlier: String = redis::from_redis_value(other)?;
                Uuid::parse_str(&earlier)
                    .map(Accepted::Earlier)
                    .map_err(|_| StoreError::Corrupt("idempotency reservation".into()))
            }
        }
    }

    /// Resolves a message id or uid within the application.
    pub async fn find_message(&self, app: Uuid, id_or_uid: &str) -> Result<Message, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let id = match Uuid::parse_str(id_or_uid) {
            Ok(id) => id,
            Err(_) => {
                let id: Option<String> = conn.get(keys.message_uid(app, id_or_uid)).await?;
                id.and_then(|id| Uuid::parse_str(&id).ok())
                    .ok_or(StoreError::NotFound("message"))?
            }
        };
        let fields: Fields = conn.hgetall(keys.message(app, id)).await?;
        if fields.is_empty() || fields.get("app").map(String::as_str) != Some(&app.to_string()) {
            return Err(StoreError::NotFound("message"));
        }
        message_from_fields(&fields)
    }

    /// A page of an application's messages, newest first, optionally filtered. A filtered
    /// page reads the routing fields of candidates first and whole messages only for matches,
    /// and scans at most [`MAX_FILTER_SCAN`] members; a page ends early once it holds
    /// [`MAX_PAGE_BYTES`] of payloads (the cursor lets the client go on).
    pub async fn list_messages(
        &self,
        app: Uuid,
        cursor: Option<&str>,
        limit: usize,
        filter: &MessageFilter,
    ) -> Result<Page<Message>, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let list = keys.messages(app);
        let chunk = if filter.is_empty() { limit } else { limit * 4 };
        let mut cursor = cursor.map(str::to_string);
        let mut items = Vec::new();
        let mut scanned = 0;
        let mut bytes = 0;
        loop {
            let (members, more) = ordered::page_within(
                &mut conn,
                &list,
                cursor.as_deref(),
                filter.window,
                chunk,
                true,
            )
            .await?;
            let listed: Vec<(&String, Uuid)> = members
                .iter()
                .filter_map(|m| member_id(m).map(|id| (m, id)))
                .collect();
            let wanted: Vec<(&String, Uuid)> = if filter.is_empty() || listed.is_empty() {
                listed
            } else {
                let mut pipe = redis::pipe();
                for (_, id) in &listed {
                    pipe.cmd("HMGET")
                        .arg(keys.message(app, *id))
                        .arg("eventType")
                        .arg("channels");
                }
                let routing: Vec<(Option<String>, Option<String>)> =
                    pipe.query_async(&mut conn).await?;
                listed
                    .into_iter()
                    .zip(routing)
                    .filter(|(_, (event_type, channels))| {
                        let channels: Vec<String> = channels
                            .as_deref()
                            .and_then(|c| serde_json::from_str(c).ok())
                            .unwrap_or_default();
                        event_type
                            .as_deref()
                            .is_some_and(|t| filter.matches(t, &channels))
                    })
                    .map(|(listed, _)| listed)
                    .collect()
            };
            // Whole messages, a few at a time, up to the page size or the byte budget.
            let mut stopped_at = None;
            'fetch: for chunk in wanted.chunks(FETCH_CHUNK) {
                let mut pipe = redis::pipe();
                for (_, id) in chunk {
                    pipe.hgetall(keys.message(app, *id));
                }
                let rows: Vec<Fields> = pipe.query_async(&mut conn).await?;
                for ((member, _), fields) in chunk.iter().zip(&rows) {
                    if fields.is_empty() {
                        continue; // expired between the list read and the hash read
                    }
                    let message = message_from_fields(fields)?;
                    bytes += message.payload.as_ref().map_or(0, |p| p.get().len());
                    items.push(message);
                    if items.len() == limit || bytes >= MAX_PAGE_BYTES {
                        stopped_at = Some(*member);
                        break 'fetch;
                    }
                }
            }
            if let Some(last) = stopped_at {
                let rest = more || members.last() != Some(last);
                return Ok(Page {
                    items,
                    next: rest.then(|| last.clone()),
                });
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

    /// Queues one more delivery chain of a message to one endpoint (manual resend).
    pub async fn enqueue_resend(
        &self,
        app: Uuid,
        message: Uuid,
        endpoint: Uuid,
    ) -> Result<(), StoreError> {
        let keys = &self.db.keys;
        let task = Task {
            app,
            message,
            created: Some(now_ms()),
            target: crate::queue::Target::Endpoint {
                id: endpoint,
                attempts: 0,
            },
        };
        let mut conn = self.conn().await?;
        stream::append(&mut conn, &keys.stream(keys.partition_of(app)), &task).await
    }
}
