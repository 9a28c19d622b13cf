//! The entities of Octohooks and their rules, as the engine stores and uses them: no I/O, no
//! HTTP. The API has its own shapes (`api::types`) converted from these, so a change to what
//! clients see is not a storage migration, and the store decides how these are laid out in
//! Redis.

pub mod application;
pub mod attempt;
pub mod digest;
pub mod endpoint;
pub mod event_type;
pub mod filter;
pub mod headers;
pub mod message;
pub mod secret;

pub use application::Application;
pub use attempt::{Attempt, AttemptStatus, FailureKind, Outcome};
pub use endpoint::{
    CircuitState, Endpoint, EndpointHealth, Ordering, RetiringSecret, Subscription,
};
pub use event_type::EventType;
pub use message::Message;
