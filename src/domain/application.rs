//! Applications: where messages are sent to, usually one per customer of the platform.

use uuid::Uuid;

/// An application of an organisation.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// The client's own unique name for it, usable instead of the id.
    pub uid: Option<String>,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms.
    pub updated: i64,
}
