//! When to try again: the jittered retry schedule, the decision after an attempt, and the
//! per-endpoint circuit breaker. All plain data and functions of an injected time, tested
//! without actors or sleeping.

pub mod circuit;
pub mod decision;
pub mod policy;

pub use circuit::{Admission, CircuitBreaker, CircuitState};
pub use decision::{decide, Decision};
pub use policy::RetryPolicy;
