//! Octohooks: a webhook delivery service.
//!
//! The modules follow a message through the system, each using only those below it:
//!
//! ```text
//! cli ─ runtime                  roles, start-up, graceful shutdown
//!   api                          HTTP: routes, validation, idempotency, API shapes
//!   dispatch                     the worker: leases, partitions, one actor per endpoint
//!   store                        entities in Redis (and accepting a message onto its stream)
//!   queue · delivery · retry     work formats and scripts · signed HTTP · when to try again
//!   db                           Redis connections, the key catalogue, data-layer errors
//!   domain · telemetry           entities and their rules · logs and metrics
//!   clock · config               time · settings
//! ```
//!
//! A test (`layering` in this file) checks that no module imports one above it.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod delivery;
pub mod dispatch;
pub mod domain;
pub mod queue;
pub mod retry;
pub mod runtime;
pub mod store;
pub mod telemetry;
