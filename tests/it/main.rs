//! The one integration-test binary: every test talks to a real redis-server and, where
//! deliveries matter, to real HTTP receivers on 127.0.0.1. Shared helpers live in
//! [`support`], one module per concern.

mod support;

mod api_applications;
mod api_auth;
mod api_endpoints;
mod api_http;
mod api_idempotency;
mod api_messages;
mod chaos;
mod client;
mod cluster;
mod dashboard;
mod delivery_crash;
mod delivery_failures;
mod delivery_isolation;
mod delivery_messages;
mod delivery_retries;
mod delivery_routing;
mod delivery_signing;
mod erasure;
mod event_types;
mod fifo;
mod listen;
mod openapi;
mod ops_webhooks;
mod protection_circuit;
mod protection_concurrency;
mod protection_isolation;
mod protection_rate_limit;
mod receiver_features;
mod recording;
mod recovery;
mod redis_cluster;
mod smoke;
mod tokens;
