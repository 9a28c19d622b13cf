//! The outbox of operational events: what a state change of an endpoint or a job tells the
//! platform's operational webhooks, written into the partition of the application it concerns
//! (`{p.n}:outbox`, a stream) by the same script as the change itself, so an event exists if
//! and only if its change happened. The partition's owner relays each entry into a message of
//! the organisation's operational application (`store::ops`), which the ordinary engine
//! delivers; the entry's id becomes the message's uid, so relaying it again after a crash
//! creates nothing new.
//!
//! This module owns the entry's format (one field, [`EVENT_FIELD`], holding JSON): scripts get
//! it as an argument, and the one script that completes it (the auto-disable warning, whose
//! `disableAt` only the script knows) adds that field with `cjson`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The stream field holding an entry's JSON.
pub const EVENT_FIELD: &str = "event";

/// The kinds of operational events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpsEvent {
    /// Disabled: by a 410 Gone (`gone`), failing too long (`failing`) or by hand (`manual`).
    #[serde(rename = "endpoint.disabled")]
    EndpointDisabled,
    /// Failing for long enough that it will be disabled at `disableAt` unless it recovers.
    #[serde(rename = "endpoint.disabling")]
    EndpointDisabling,
    /// Its circuit breaker opened: deliveries wait until a probe succeeds.
    #[serde(rename = "endpoint.circuit_opened")]
    CircuitOpened,
    /// Its circuit closed again after a successful probe.
    #[serde(rename = "endpoint.circuit_closed")]
    CircuitClosed,
    /// A message's retry schedule to the endpoint is exhausted.
    #[serde(rename = "message.attempt.exhausted")]
    AttemptExhausted,
    /// A message has failed `ops.failing_after` attempts to the endpoint in a row.
    #[serde(rename = "message.attempt.failing")]
    AttemptFailing,
    /// A recovery job finished.
    #[serde(rename = "recovery.finished")]
    RecoveryFinished,
}

impl OpsEvent {
    /// Every kind, in documentation order.
    pub const ALL: [OpsEvent; 7] = [
        OpsEvent::EndpointDisabled,
        OpsEvent::EndpointDisabling,
        OpsEvent::CircuitOpened,
        OpsEvent::CircuitClosed,
        OpsEvent::AttemptExhausted,
        OpsEvent::AttemptFailing,
        OpsEvent::RecoveryFinished,
    ];

    /// The dotted name, as operational endpoints subscribe to it.
    pub fn as_str(self) -> &'static str {
        match self {
            OpsEvent::EndpointDisabled => "endpoint.disabled",
            OpsEvent::EndpointDisabling => "endpoint.disabling",
            OpsEvent::CircuitOpened => "endpoint.circuit_opened",
            OpsEvent::CircuitClosed => "endpoint.circuit_closed",
            OpsEvent::AttemptExhausted => "message.attempt.exhausted",
            OpsEvent::AttemptFailing => "message.attempt.failing",
            OpsEvent::RecoveryFinished => "recovery.finished",
        }
    }

    /// The kind a name stands for.
    pub fn parse(name: &str) -> Option<OpsEvent> {
        OpsEvent::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// Why an endpoint was disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// It answered 410 Gone.
    Gone,
    /// It failed for longer than `endpoint.disable_after`.
    Failing,
    /// Someone set `enabled: false`.
    Manual,
}

impl DisableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisableReason::Gone => "gone",
            DisableReason::Failing => "failing",
            DisableReason::Manual => "manual",
        }
    }
}

/// One outbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEvent {
    /// Unique per state change: the relayed message's uid is derived from it.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: OpsEvent,
    /// When the change happened, epoch ms.
    pub timestamp: i64,
    /// The application it concerns (the relay adds its id and uid to `data`).
    pub app: Uuid,
    /// What applies to this kind (`endpointId` always; `reason`, `messageId`, ...).
    pub data: Map<String, Value>,
}

impl OutboxEvent {
    /// An event about `endpoint` of `app` at `now_ms`.
    pub fn new(kind: OpsEvent, app: Uuid, endpoint: Uuid, now_ms: i64) -> OutboxEvent {
        let mut data = Map::new();
        data.insert("endpointId".into(), endpoint.to_string().into());
        OutboxEvent {
            id: Uuid::new_v4(),
            kind,
            timestamp: now_ms,
            app,
            data,
        }
    }

    /// The same event with one more data field.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> OutboxEvent {
        self.data.insert(name.to_string(), value.into());
        self
    }

    /// The stream form.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the stream form (`None`: a broken entry, dropped).
    pub fn decode(text: &str) -> Option<OutboxEvent> {
        serde_json::from_str(text).ok()
    }

    /// The uid of the message that carries it (never a UUID, as uids must not be).
    pub fn message_uid(&self) -> String {
        format!("evt_{}", self.id.simple())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_their_dotted_names() {
        for kind in OpsEvent::ALL {
            assert_eq!(OpsEvent::parse(kind.as_str()), Some(kind));
            let event = OutboxEvent::new(kind, Uuid::new_v4(), Uuid::new_v4(), 5).with("x", 1);
            let text = event.encode();
            assert!(
                text.contains(&format!("\"type\":\"{}\"", kind.as_str())),
                "{text}"
            );
            assert_eq!(OutboxEvent::decode(&text), Some(event.clone()));
            assert!(Uuid::parse_str(&event.message_uid()).is_err());
        }
        assert_eq!(OutboxEvent::decode("{}"), None);
    }
}
