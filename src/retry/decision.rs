//! The decision after an attempt, as data: what the delivery chain does next.

use std::time::Duration;

use super::RetryPolicy;
use crate::domain::Outcome;

/// What an attempt's outcome means for its delivery chain.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// The receiver answered 2xx: done.
    Delivered,
    /// It failed; try again after this delay.
    RetryIn(Duration),
    /// It failed and the schedule is exhausted: record it as failed.
    Exhausted,
    /// 410 Gone: the receiver asks us to stop; the endpoint is disabled, nothing is retried.
    Gone,
}

impl Decision {
    /// Whether the attempt succeeded (for the circuit breaker and the health hash).
    pub fn is_success(self) -> bool {
        self == Decision::Delivered
    }
}

/// Decides after attempt number `attempts_made` of a chain ended with `outcome`. `unit` is a
/// uniform random number in [0, 1) for the jitter.
pub fn decide(outcome: &Outcome, attempts_made: u32, policy: &RetryPolicy, unit: f64) -> Decision {
    if outcome.is_success() {
        return Decision::Delivered;
    }
    if outcome.is_gone() {
        return Decision::Gone;
    }
    match policy.next_delay(attempts_made, outcome.retry_after, unit) {
        Some(delay) => Decision::RetryIn(delay),
        None => Decision::Exhausted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RetryConfig;
    use crate::domain::FailureKind;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(&RetryConfig {
            schedule: vec![Duration::from_secs(5), Duration::from_secs(60)],
            jitter: 0.0,
            retry_after_max: Duration::from_secs(3600),
        })
    }

    fn outcome(status: Option<u16>, failure: Option<FailureKind>) -> Outcome {
        Outcome {
            started_ms: 0,
            duration: Duration::ZERO,
            status,
            body: None,
            failure,
            retry_after: None,
        }
    }

    #[test]
    fn success_gone_retry_and_exhaustion() {
        let p = policy();
        let ok = outcome(Some(204), None);
        assert_eq!(decide(&ok, 1, &p, 0.5), Decision::Delivered);
        let gone = outcome(Some(410), Some(FailureKind::HttpStatus));
        assert_eq!(decide(&gone, 1, &p, 0.5), Decision::Gone);
        let down = outcome(None, Some(FailureKind::ConnectionRefused));
        assert_eq!(
            decide(&down, 1, &p, 0.5),
            Decision::RetryIn(Duration::from_secs(5))
        );
        assert_eq!(
            decide(&down, 2, &p, 0.5),
            Decision::RetryIn(Duration::from_secs(60))
        );
        assert_eq!(decide(&down, 3, &p, 0.5), Decision::Exhausted);
    }

    #[test]
    fn retry_after_lengthens_the_wait() {
        let mut busy = outcome(Some(429), Some(FailureKind::HttpStatus));
        busy.retry_after = Some(Duration::from_secs(30));
        assert_eq!(
            decide(&busy, 1, &policy(), 0.5),
            Decision::RetryIn(Duration::from_secs(30))
        );
    }
}
