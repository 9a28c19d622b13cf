//! Octohooks: a webhook delivery service.
//!
//! The modules follow a message through the system:
//! [`api`] (HTTP, validation) → [`store`] (Redis hashes, indexes, the accepted-message stream)
//! → [`queue`] (partition streams, leases, the retry set) → [`dispatch`] (partition readers,
//! fan-out, one actor per endpoint) → [`delivery`] (signed HTTP requests) → [`retry`] (when
//! to try again, circuit breaking). [`config`], [`error`], [`telemetry`] and [`runtime`]
//! (roles, start-up, graceful shutdown) sit beside them.

pub mod api;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod dispatch;
pub mod error;
pub mod model;
pub mod queue;
pub mod retry;
pub mod runtime;
pub mod store;
pub mod telemetry;
