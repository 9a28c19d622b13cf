//! Failures of the data layer: Redis errors, and the domain outcomes scripts report
//! (`NotFound`, `Conflict`, `Limit`). Mapped to HTTP once, in `api::error`.

/// Everything a store or queue operation can fail with.
#[derive(Debug, thiserror::Error)]
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
}
