//! Operational webhooks: events about an organisation's endpoints and jobs, delivered to
//! endpoints the organisation registers for itself.
//!
//! Decision: operational endpoints are the endpoints of a hidden application of the
//! organisation, its *operational application*, and every event is a message of that
//! application. The existing engine therefore delivers them, with the same retries, signatures,
//! circuit breaker, rate limits and attempt log; nothing about delivery is written twice. The
//! operational application has a partition-side marker (with `ops = 1`) but no organisation
//! record: it is not listed, and no `/applications/...` route can reach it. Its id is derived
//! from the organisation's name ([`ops_app`]), so finding it costs no lookup.
//!
//! An event is written by the script of the state change it reports, into the outbox of the
//! changed application's partition (`queue::outbox`): it exists exactly when its change
//! happened. The partition's owner relays outbox entries ([`Store::relay_outbox`]): it creates
//! the message (its uid derived from the entry's id) and then deletes the entry. A crash in
//! between makes the next owner relay the entry again, which the uid turns into a no-op: no
//! event is lost, none is sent twice. Events about the operational endpoints themselves are
//! dropped (they would report on their own delivery), as are those of an organisation without
//! operational endpoints.

use redis::AsyncCommands;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::messages::{Accepted, NewMessage};
use super::Store;
use crate::db::StoreError;
use crate::queue::outbox::{OutboxEvent, EVENT_FIELD};

/// The id of an organisation's operational application.
pub fn ops_app(org: &str) -> Uuid {
    let digest = Sha256::digest(format!("octohooks-operational:{org}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The body of an operational webhook, fields in this order.
#[derive(serde::Serialize)]
struct OpsPayload<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    /// When the change happened, epoch ms.
    timestamp: i64,
    data: &'a Map<String, Value>,
}

/// What one relay pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    /// Entries turned into messages (or found relayed already).
    pub delivered: usize,
    /// Entries dropped: nobody to tell, or unreadable.
    pub dropped: usize,
}

impl Store {
    /// Makes sure the organisation's operational application exists (its marker), and
    /// returns its id.
    pub async fn ensure_ops_app(&self, org: &str) -> Result<Uuid, StoreError> {
        let app = ops_app(org);
        let mut conn = self.conn().await?;
        let _: () = redis::pipe()
            .hset_nx(self.db.keys.app_marker(app), "org", org)
            .ignore()
            .hset_nx(self.db.keys.app_marker(app), "ep_ver", 0)
            .ignore()
            .hset(self.db.keys.app_marker(app), "ops", 1)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(app)
    }

    /// Relays up to `limit` entries of a partition's outbox into messages of their
    /// organisations' operational applications, oldest first.
    pub async fn relay_outbox(&self, partition: u16, limit: usize) -> Result<Relayed, StoreError> {
        let outbox = self.db.keys.outbox(partition);
        let mut conn = self.conn().await?;
        let entries: redis::streams::StreamRangeReply =
            conn.xrange_count(&outbox, "-", "+", limit).await?;
        let mut relayed = Relayed::default();
        for entry in entries.ids {
            let event = entry
                .get::<String>(EVENT_FIELD)
                .and_then(|text| OutboxEvent::decode(&text));
            let sent = match event {
                Some(event) => self.relay(&event).await?,
                None => false,
            };
            if sent {
                relayed.delivered += 1;
            } else {
                relayed.dropped += 1;
            }
            let _: () = conn.xdel(&outbox, &[&entry.id]).await?;
        }
        Ok(relayed)
    }

    /// Turns one event into a message of its organisation's operational application; false
    /// when there is nobody to tell.
    async fn relay(&self, event: &OutboxEvent) -> Result<bool, StoreError> {
        let keys = &self.db.keys;
        let mut conn = self.conn().await?;
        let (org, ops): (Option<String>, Option<String>) = redis::pipe()
            .hget(keys.app_marker(event.app), "org")
            .hget(keys.app_marker(event.app), "ops")
            .query_async(&mut conn)
            .await?;
        // A deleted application, or an event about an operational endpoint itself.
        let Some(org) = org.filter(|_| ops.is_none()) else {
            return Ok(false);
        };
        let target = ops_app(&org);
        let endpoint = event
            .data
            .get("endpointId")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok());
        let (ops_marker, app_uid, endpoint_uid): (bool, Option<String>, Option<String>) =
            match endpoint {
                Some(endpoint) => {
                    let (exists, endpoint_uid): (bool, Option<String>) = redis::pipe()
                        .exists(keys.app_marker(target))
                        .hget(keys.endpoint(event.app, endpoint), "uid")
                        .query_async(&mut conn)
                        .await?;
                    let app_uid: Option<String> =
                        conn.hget(keys.app(&org, event.app), "uid").await?;
                    (exists, app_uid, endpoint_uid)
                }
                None => (conn.exists(keys.app_marker(target)).await?, None, None),
            };
        if !ops_marker {
            return Ok(false);
        }
        let mut data = Map::new();
        data.insert("appId".into(), event.app.to_string().into());
        data.insert("appUid".into(), app_uid.filter(|u| !u.is_empty()).into());
        data.insert(
            "endpointUid".into(),
            endpoint_uid.filter(|u| !u.is_empty()).into(),
        );
        data.extend(event.data.clone());
        let body = OpsPayload {
            kind: event.kind.as_str(),
            timestamp: event.timestamp,
            data: &data,
        };
        let payload = serde_json::value::to_raw_value(&body)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let uid = event.message_uid();
        let message = NewMessage {
            event_type: event.kind.as_str(),
            channels: &[],
            payload: &payload,
            uid: Some(&uid),
            idempotency: None,
            ordering_key: None,
            only_to: None,
        };
        match self.create_message(&org, target, &message).await {
            Ok(Accepted::Created(_) | Accepted::Earlier(_)) => Ok(true),
            // Relayed before (the node died before deleting the entry).
            Err(StoreError::Conflict(_)) => Ok(true),
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_organisation_has_its_own_stable_operational_application() {
        assert_eq!(ops_app("acme"), ops_app("acme"));
        assert_ne!(ops_app("acme"), ops_app("acme2"));
        assert_eq!(ops_app("acme").get_version_num(), 4);
    }
}
