//! Time, the one leaf every layer may use.
//!
//! Records carry wall-clock epoch milliseconds ([`now_ms`]); decisions that depend on elapsed
//! time (the endpoint gate, the circuit breaker, lease planning) take a monotonic `Instant`
//! from a [`Clock`], so their tests move time by hand instead of sleeping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Milliseconds since the Unix epoch, the unit of every stored time and API timestamp.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where the time-dependent parts get "now" from: the system in production, a
/// [`ManualClock`] in tests.
pub trait Clock: Send + Sync {
    /// The monotonic now.
    fn now(&self) -> Instant;
    /// The wall-clock now, epoch ms.
    fn now_ms(&self) -> i64;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that only moves when told to, shared by clones (tests of time-dependent logic).
#[derive(Debug, Clone)]
pub struct ManualClock {
    /// (monotonic now, wall-clock now in ms), moved together.
    now: Arc<Mutex<(Instant, i64)>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            now: Arc::new(Mutex::new((Instant::now(), 1_700_000_000_000))),
        }
    }
}

impl ManualClock {
    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            now.0 += by;
            now.1 += by.as_millis() as i64;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.now
            .lock()
            .map(|n| n.0)
            .unwrap_or_else(|_| Instant::now())
    }

    fn now_ms(&self) -> i64 {
        self.now.lock().map(|n| n.1).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_both_clocks_together_and_only_when_told() {
        let clock = ManualClock::default();
        let (t0, ms0) = (clock.now(), clock.now_ms());
        assert_eq!(clock.now(), t0);
        clock.clone().advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - t0, Duration::from_millis(1500));
        assert_eq!(clock.now_ms() - ms0, 1500);
    }
}
