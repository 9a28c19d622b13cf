//! Bounded log volume for failures that repeat on every tick while Redis is down: the first
//! one is logged, then at most one line per period, saying how many were skipped.

use std::time::{Duration, Instant};

/// Decides whether a repeating failure may be logged now.
#[derive(Debug)]
pub struct LogThrottle {
    every: Duration,
    last: Option<Instant>,
    skipped: u64,
}

impl LogThrottle {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        LogThrottle {
            every,
            last: None,
            skipped: 0,
        }
    }

    /// `Some(lines skipped since the last one)` when a line may be written at `now`.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.skipped += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.skipped))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_counting_the_rest() {
        let t0 = Instant::now();
        let mut throttle = LogThrottle::new(Duration::from_secs(10));
        assert_eq!(throttle.allow(t0), Some(0));
        assert_eq!(throttle.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(throttle.allow(t0 + Duration::from_secs(9)), None);
        assert_eq!(throttle.allow(t0 + Duration::from_secs(10)), Some(2));
    }
}
