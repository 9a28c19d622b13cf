//! The retry schedule: after the n-th failed attempt wait `schedule[n-1]` (± jitter), or give
//! up when the schedule is exhausted. A receiver's `Retry-After` (429/503) lengthens the wait,
//! capped so a hostile header cannot park a message for ever.

use std::time::Duration;

use crate::config::RetryConfig;

/// Decides whether and when a failed delivery is tried again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Delay before retry k (0-based) after attempt k+1 failed.
    schedule: Vec<Duration>,
    /// Fractional spread of every delay, so retries of many messages do not align.
    jitter: f64,
    /// Largest Retry-After we honour.
    retry_after_max: Duration,
}

impl RetryPolicy {
    pub fn new(config: &RetryConfig) -> Self {
        RetryPolicy {
            schedule: config.schedule.clone(),
            jitter: config.jitter,
            retry_after_max: config.retry_after_max,
        }
    }

    /// Attempts a delivery gets in total (the first plus one per schedule entry).
    pub fn max_attempts(&self) -> u32 {
        self.schedule.len() as u32 + 1
    }

    /// The wait before the next attempt after `attempts_made` attempts failed, or `None` when
    /// the schedule is exhausted. `unit` is a uniform random number in [0, 1).
    pub fn next_delay(
        &self,
        attempts_made: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Option<Duration> {
        let index = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
        let base = *self.schedule.get(index)?;
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        let delay = base.mul_f64(factor.max(0.0));
        Some(match retry_after {
            Some(wait) => delay.max(wait.min(self.retry_after_max)),
            None => delay,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(schedule: &[u64], jitter: f64) -> RetryPolicy {
        RetryPolicy {
            schedule: schedule.iter().map(|s| Duration::from_secs(*s)).collect(),
            jitter,
            retry_after_max: Duration::from_secs(3600),
        }
    }

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let p = policy(&[5, 300, 1800], 0.0);
        assert_eq!(p.max_attempts(), 4);
        assert_eq!(p.next_delay(1, None, 0.5), Some(Duration::from_secs(5)));
        assert_eq!(p.next_delay(2, None, 0.5), Some(Duration::from_secs(300)));
        assert_eq!(p.next_delay(3, None, 0.5), Some(Duration::from_secs(1800)));
        assert_eq!(p.next_delay(4, None, 0.5), None);
        assert_eq!(p.next_delay(0, None, 0.5), None);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let p = policy(&[100], 0.2);
        for i in 0..1000 {
            let unit = f64::from(i) / 1000.0;
            let d = p.next_delay(1, None, unit).unwrap();
            assert!(
                d >= Duration::from_secs(80) && d <= Duration::from_secs(120),
                "{d:?}"
            );
        }
        assert_eq!(p.next_delay(1, None, 0.0), Some(Duration::from_secs(80)));
    }

    #[test]
    fn retry_after_lengthens_but_is_capped() {
        let p = policy(&[5], 0.0);
        let long = Some(Duration::from_secs(60));
        assert_eq!(p.next_delay(1, long, 0.5), Some(Duration::from_secs(60)));
        let short = Some(Duration::from_secs(1));
        assert_eq!(p.next_delay(1, short, 0.5), Some(Duration::from_secs(5)));
        let huge = Some(Duration::from_secs(86400 * 10));
        assert_eq!(p.next_delay(1, huge, 0.5), Some(Duration::from_secs(3600)));
    }

    proptest::proptest! {
        /// Every delay stays within the jitter band of its schedule entry, a Retry-After
        /// only lengthens it and never past the cap, and the chain ends after the schedule.
        #[test]
        fn delays_stay_in_their_band(
            schedule in proptest::collection::vec(1u64..100_000, 1..10),
            jitter in 0.0f64..0.99,
            attempts_made in 0u32..15,
            retry_after in proptest::option::of(0u64..10_000_000),
            unit in 0.0f64..1.0,
        ) {
            let p = RetryPolicy {
                schedule: schedule.iter().map(|ms| Duration::from_millis(*ms)).collect(),
                jitter,
                retry_after_max: Duration::from_secs(3600),
            };
            let retry_after = retry_after.map(Duration::from_millis);
            let delay = p.next_delay(attempts_made, retry_after, unit);
            let index = attempts_made as usize;
            if attempts_made == 0 || index > schedule.len() {
                proptest::prop_assert_eq!(delay, None);
                return Ok(());
            }
            let delay = delay.expect("within the schedule");
            let base = Duration::from_millis(schedule[index - 1]);
            let low = base.mul_f64(1.0 - jitter);
            let high = base.mul_f64(1.0 + jitter);
            let capped = retry_after.map(|r| r.min(p.retry_after_max));
            proptest::prop_assert!(delay + Duration::from_micros(1) >= low);
            proptest::prop_assert!(delay <= high.max(capped.unwrap_or_default()) + Duration::from_micros(1));
            if let Some(wait) = capped {
                proptest::prop_assert!(delay >= wait);
            }
        }
    }
}
