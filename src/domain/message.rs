//! Messages: the webhooks a platform sends to an application.

use serde_json::value::RawValue;
use uuid::Uuid;

/// A message, delivered verbatim to every matching endpoint of its application.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: Uuid,
    /// The client's own unique name for it within the application.
    pub uid: Option<String>,
    /// What happened; endpoints subscribe to event types.
    pub event_type: String,
    /// Further routing labels; endpoints with channels only get messages sharing one.
    pub channels: Vec<String>,
    /// The payload exactly as the client sent it (bytes preserved); `None` once erased.
    pub payload: Option<Box<RawValue>>,
    /// For FIFO endpoints: messages with the same key keep their order.
    pub ordering_key: Option<String>,
    /// Creation time, epoch ms.
    pub created: i64,
}
