//! When to try again: the jittered retry schedule and the per-endpoint circuit breaker.
//! Both are plain data and functions of an injected time, tested without actors or sleeping.

pub mod circuit;
pub mod policy;

pub use circuit::{Admission, CircuitBreaker, CircuitState};
pub use policy::RetryPolicy;
