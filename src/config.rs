//! Layered configuration: the commented defaults in `config/default.toml` (embedded in the
//! binary), then an optional file, then `OCTOHOOKS__SECTION__KEY` environment variables.
//! Everything is validated once at start, so a bad value fails fast with a clear message
//! instead of surfacing later as odd behaviour.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The defaults, embedded so the binary runs with no file next to it.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
}

/// The whole configuration of a node, one struct per section of `default.toml`.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub server: ServerConfig,
    pub redis: RedisConfig,
    pub auth: AuthConfig,
    pub dashboard: DashboardConfig,
    pub idempotency: IdempotencyConfig,
    pub api: ApiConfig,
    pub queue: QueueConfig,
    pub worker: WorkerConfig,
    pub delivery: DeliveryConfig,
    pub retry: RetryConfig,
    pub endpoint: EndpointConfig,
    pub circuit: CircuitConfig,
    pub ops: OpsConfig,
    pub retention: RetentionConfig,
    pub shutdown: ShutdownConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    /// Where the HTTP API listens.
    pub bind: SocketAddr,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
    /// Largest accepted request body in bytes.
    pub body_limit: usize,
    /// Longest a client may take to send a request's head.
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's body.
    #[serde(deserialize_with = "duration")]
    pub body_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisConfig {
    /// Connection URL of the shared Redis; with `cluster`, comma-separated seed nodes.
    pub url: String,
    /// Talk to a Redis Cluster.
    pub cluster: bool,
    /// Replicas that must acknowledge an accepted message before the API answers 202 (WAIT).
    pub min_replicas_ack: u32,
    /// Longest the API waits for those acknowledgements.
    #[serde(deserialize_with = "duration")]
    pub replicas_timeout: Duration,
    /// Prefix of every key this deployment writes.
    pub prefix: String,
    /// Multiplexed connections per thread.
    pub pool_size: usize,
}

impl RedisConfig {
    /// The seed nodes of a cluster (`url`, split on commas).
    pub fn nodes(&self) -> Vec<String> {
        self.url
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthConfig {
    /// Token acting for organisation `default`; empty disables it.
    pub bootstrap_token: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DashboardConfig {
    /// Serve the dashboard and the portal pages (the API works either way).
    pub enabled: bool,
    /// Lifetime of a dashboard session (cookie and Redis record).
    #[serde(deserialize_with = "duration")]
    pub session_ttl: Duration,
    /// Lifetime of a portal link when its request names none.
    #[serde(deserialize_with = "duration")]
    pub portal_link_ttl: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdempotencyConfig {
    /// How long a successful answer is replayable.
    #[serde(deserialize_with = "duration")]
    pub ttl: Duration,
    /// How long a concurrent duplicate waits for the first request.
    #[serde(deserialize_with = "duration")]
    pub wait: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiConfig {
    /// Upper bound of `?limit=`.
    pub max_page_size: usize,
    /// Page size without `?limit=`.
    pub default_page_size: usize,
    /// Endpoints one application may have.
    pub max_endpoints_per_app: usize,
    /// Refuse (422) endpoints subscribing to event types missing from the catalogue or
    /// archived, instead of warning.
    pub strict_event_types: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QueueConfig {
    /// Partitions of the deployment (streams and retry sets).
    pub partitions: u16,
    /// Entries per stream read.
    pub batch_size: usize,
    /// Block time of one stream read.
    #[serde(deserialize_with = "duration")]
    pub block: Duration,
    /// Period of the due-retry mover.
    #[serde(deserialize_with = "duration")]
    pub retry_poll: Duration,
    /// Most due retries moved per tick.
    pub move_limit: usize,
    /// Parked deliveries released per tick and endpoint once its circuit closes.
    pub release_batch: usize,
    /// Period of the pending-entry reclaim.
    #[serde(deserialize_with = "duration")]
    pub reclaim_interval: Duration,
    /// Pending time after which an entry not in hand is reclaimed.
    #[serde(deserialize_with = "duration")]
    pub reclaim_idle: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerConfig {
    /// Lifetime of a partition lease without renewal.
    #[serde(deserialize_with = "duration")]
    pub lease_ttl: Duration,
    /// Lease renewal and rebalancing period.
    #[serde(deserialize_with = "duration")]
    pub heartbeat: Duration,
    /// Threads running partition readers and endpoint actors (0 = one per core).
    pub threads: usize,
    /// Delivery requests in flight on the node.
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryConfig {
    /// Whole-request timeout of one attempt.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Connect timeout.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// DNS resolution timeout.
    #[serde(deserialize_with = "duration")]
    pub dns_timeout: Duration,
    /// Whether private, loopback and link-local targets are allowed.
    pub allow_private_ips: bool,
    /// Bytes of response body kept per attempt.
    pub max_response_body: usize,
    /// User-Agent of deliveries.
    pub user_agent: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RetryConfig {
    /// Delays before each retry.
    #[serde(deserialize_with = "duration_list")]
    pub schedule: Vec<Duration>,
    /// Fractional jitter applied to each delay.
    pub jitter: f64,
    /// Cap on an honoured Retry-After.
    #[serde(deserialize_with = "duration")]
    pub retry_after_max: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EndpointConfig {
    /// Idle time after which an endpoint actor stops.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// Deliveries held in memory per endpoint.
    pub queue_capacity: usize,
    /// Concurrent requests per endpoint.
    pub max_in_flight: usize,
    /// Default deliveries per second (0 = unlimited).
    pub default_rate_limit: u32,
    /// Failing period after which an endpoint is disabled.
    #[serde(deserialize_with = "duration")]
    pub disable_after: Duration,
    /// Lanes of a FIFO endpoint that ordering keys are spread over.
    pub max_lanes: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CircuitConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// First open period.
    #[serde(deserialize_with = "duration")]
    pub cooldown: Duration,
    /// Longest open period.
    #[serde(deserialize_with = "duration")]
    pub max_cooldown: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OpsConfig {
    /// Failed attempts of one message to one endpoint that make a `message.attempt.failing`.
    pub failing_after: u32,
    /// How long before its automatic disabling an endpoint gets `endpoint.disabling`.
    #[serde(deserialize_with = "duration")]
    pub failing_warning_before: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RetentionConfig {
    /// Lifetime of messages and attempts.
    #[serde(deserialize_with = "duration")]
    pub messages: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShutdownConfig {
    /// Longest graceful drain.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetricsConfig {
    /// Separate address for /metrics; empty = the API's address.
    pub bind: String,
    /// Bearer token protecting /metrics; empty = open.
    pub token: String,
}

impl MetricsConfig {
    /// The separate metrics address, when one is configured.
    pub fn bind_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        match self.bind.trim() {
            "" => Ok(None),
            addr => addr.parse().map(Some).map_err(|_| {
                ConfigError::Invalid(format!("metrics.bind: invalid address {addr:?}"))
            }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogConfig {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// tracing filter directive.
    pub level: String,
}

/// Log output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Config {
    /// Defaults, then `file`, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(config::File::from(path));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("OCTOHOOKS")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    /// Only the embedded defaults (tests start from here and adjust fields).
    pub fn defaults() -> Self {
        let config: Config = config::Config::builder()
            .add_source(config::File::from_str(
                DEFAULT_TOML,
                config::FileFormat::Toml,
            ))
            .build()
            .and_then(|c| c.try_deserialize())
            .expect("embedded default.toml is valid");
        config
    }

    /// Cross-field checks the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |msg: &str| Err(ConfigError::Invalid(msg.to_string()));
        if self.redis.prefix.is_empty() || self.redis.prefix.contains(['{', '}', ' ']) {
            return fail("redis.prefix must be non-empty, without spaces or braces");
        }
        if self.redis.pool_size == 0 {
            return fail("redis.pool_size must be at least 1");
        }
        if !self.redis.cluster && self.redis.url.contains(',') {
            return fail("redis.url lists several nodes: set redis.cluster = true for a cluster");
        }
        if self.redis.nodes().is_empty() {
            return fail("redis.url must name a Redis server (or, with redis.cluster, seed nodes)");
        }
        if self.queue.partitions == 0 {
            return fail("queue.partitions must be at least 1");
        }
        if self.queue.batch_size == 0 {
            return fail("queue.batch_size must be at least 1");
        }
        if self.queue.move_limit == 0 || self.queue.release_batch == 0 {
            return fail("queue.move_limit and queue.release_batch must be at least 1");
        }
        if self.queue.reclaim_idle <= self.delivery.timeout {
            return fail("queue.reclaim_idle must be longer than delivery.timeout");
        }
        if self.worker.heartbeat * 2 > self.worker.lease_ttl {
            return fail("worker.heartbeat must be at most half of worker.lease_ttl");
        }
        if !(0.0..1.0).contains(&self.retry.jitter) {
            return fail("retry.jitter must be in [0, 1)");
        }
        if self.api.default_page_size == 0 || self.api.default_page_size > self.api.max_page_size {
            return fail("api.default_page_size must be between 1 and api.max_page_size");
        }
        if self.worker.max_in_flight == 0 {
            return fail("worker.max_in_flight must be at least 1");
        }
        if self.endpoint.queue_capacity == 0 || self.endpoint.max_in_flight == 0 {
            return fail("endpoint.queue_capacity and endpoint.max_in_flight must be at least 1");
        }
        if self.endpoint.max_lanes == 0 {
            return fail("endpoint.max_lanes must be at least 1");
        }
        if self.ops.failing_after == 0 {
            return fail("ops.failing_after must be at least 1");
        }
        if self.circuit.failure_threshold == 0 {
            return fail("circuit.failure_threshold must be at least 1");
        }
        self.metrics.bind_addr()?;
        if self.dashboard.session_ttl < Duration::from_secs(1) {
            return fail("dashboard.session_ttl must be at least 1s");
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(604_800))
            .contains(&self.dashboard.portal_link_ttl)
        {
            return fail("dashboard.portal_link_ttl must be between 1m and 7days");
        }
        if self.server.body_limit < 1024 {
            return fail("server.body_limit must be at least 1024 bytes");
        }
        Ok(())
    }
}

fn duration<'de, D: Deserializer<'de>>(de: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(de)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn duration_list<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_duration)
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

/// Parses "500ms", "15s", "2h", "30days"; a bare "0" is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text.trim()).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = Config::defaults();
        config.validate().unwrap();
        assert_eq!(config.retry.schedule.len(), 7);
        assert_eq!(config.retry.schedule[0], Duration::from_secs(5));
        assert_eq!(config.queue.partitions, 64);
        assert_eq!(config.redis.prefix, "octo");
    }

    /// The README's configuration table must name every key of default.toml.
    #[test]
    fn readme_documents_every_setting() {
        let readme = include_str!("../README.md");
        let mut section = "";
        for line in DEFAULT_TOML.lines() {
            let line = line.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name;
            } else if let Some((key, _)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
                let entry = format!("`{section}.{}`", key.trim());
                assert!(readme.contains(&entry), "README lacks {entry}");
            }
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(
            parse_duration("30days"),
            Ok(Duration::from_secs(30 * 86400))
        );
        assert!(parse_duration("soon").is_err());
    }
}
