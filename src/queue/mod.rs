//! The durable queue between the API and the delivery workers: partition streams, retry
//! sets, leases, and the one format of a unit of work ([`task`]). Every script of the
//! delivery path has a typed wrapper here, beside its `.lua` file.
//!
//! Layout per partition `n` (see `db::keys`): a stream `{p.n}:stream` read by the consumer
//! group [`stream::GROUP`] with the consumer name [`stream::CONSUMER`] (the same whichever
//! node owns the partition, so a new owner re-reads the pending entries of a dead owner by
//! reading from id `0`);
//! a sorted set `{p.n}:retry` of scheduled deliveries scored by due time (ms); a lease
//! `{p.n}:lease` naming the owning node and its fencing epoch.

pub mod assignment;
pub mod lane;
pub mod lease;
pub mod log;
pub mod outbox;
pub mod park;
pub mod record;
pub mod retry;
pub mod status;
pub mod stream;
pub mod task;

pub use task::{Target, Task};
