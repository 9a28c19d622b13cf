//! Test support, one module per concern:
//!
//! - [`redis_server`]: the run's one `redis-server` (free port, stopped with the run) and a
//!   SCAN-based key listing;
//! - [`server`]: the service in-process ([`server::TestServer`]) and its API calls;
//! - [`api`]: raw requests, error-shape and JSON helpers, paging;
//! - [`routes`]: the route table and a fixture turning each route into a real request;
//! - [`receiver`]: programmable HTTP receivers ([`receiver::Receiver`], `Reply`, `Gauge`);
//! - [`process`]: the real binary as worker and API subprocesses;
//! - [`deployment`]: API and worker subprocesses around one prefix, with a recording
//!   receiver, the cluster view and a backlog poster;
//! - [`redis_cluster`]: a real three-master, three-replica Redis Cluster, and its faults;
//! - [`ledger`]: deliveries per `webhook-id`, a backlog poster, lost/duplicate counts;
//! - [`webhooks`]: a Standard Webhooks verifier written from the spec;
//! - [`queue`]: stream, pending and retry-set probes with the production codecs;
//! - [`own_redis`]: a redis-server of a test's own (AOF) to stop, restart or fill;
//! - [`proxy`]: a TCP proxy between the service and Redis that cuts connections;
//! - [`load`]: a steady poster retrying with idempotency keys through faults;
//! - [`wait`]: waits on events (`eventually`, `wait_quiet`) instead of sleeps;
//! - [`measure`]: busiest windows, percentiles, clock mapping.
//!
//! Each test module uses a subset, hence the `dead_code` allowance.

#![allow(dead_code)]

pub mod api;
pub mod deployment;
pub mod ledger;
pub mod load;
pub mod measure;
pub mod own_redis;
pub mod process;
pub mod proxy;
pub mod queue;
pub mod receiver;
pub mod redis_cluster;
pub mod redis_server;
pub mod routes;
pub mod server;
pub mod wait;
pub mod webhooks;
