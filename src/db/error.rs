//! Failures of the data layer: Redis errors, and the domain outcomes scripts report
//! (`NotFound`, `Conflict`, `Limit`, `LeaseLost`). Mapped to HTTP once, in `api::error`.

/// Everything a store or queue operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected redis reply: {0}")]
    Parse(#[from] redis::ParsingError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Limit(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A fenced write was refused: the partition's lease is no longer the caller's.
    #[error("the partition's lease is held by another owner")]
    LeaseLost,
    /// Fewer replicas than required acknowledged a write in time (it stays on the master).
    #[error("{acked} of {wanted} replicas acknowledged the write in time")]
    NotReplicated { acked: u32, wanted: u32 },
}

/// Error codes of a Redis that is up but cannot serve now: loading its data, out of memory
/// (noeviction), a replica or a master without its replicas, a cluster reconfiguring, a slow
/// script running.
const UNAVAILABLE_CODES: &[&str] = &[
    "LOADING",
    "OOM",
    "READONLY",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "BUSY",
    "NOREPLICAS",
];

impl StoreError {
    /// Redis cannot serve right now (unreachable, or one of [`UNAVAILABLE_CODES`]): the
    /// request may succeed later, so clients get 503 with Retry-After and workers back off.
    pub fn is_unavailable(&self) -> bool {
        if let StoreError::NotReplicated { .. } = self {
            return true;
        }
        let StoreError::Redis(e) = self else {
            return false;
        };
        e.is_io_error()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.kind() == redis::ErrorKind::ClusterConnectionNotFound
            || e.code().is_some_and(|code| UNAVAILABLE_CODES.contains(&code))
            // A script that hit one of these reports it inside its own error text.
            || UNAVAILABLE_CODES
                .iter()
                .any(|code| e.detail().is_some_and(|d| d.starts_with(code)))
    }
}
