//! Per-endpoint circuit breaker: closed → open after `threshold` consecutive failures → one
//! half-open probe after a cooldown (doubling on every consecutive trip, capped) → closed on
//! the probe's success, open again on its failure.
//!
//! Consecutive failures (not a ratio) is the trigger: a webhook receiver that fails five
//! deliveries in a row is down for practical purposes, and the rule needs no window state.

use std::time::{Duration, Instant};

use crate::config::CircuitConfig;

pub use crate::domain::CircuitState;

/// What the breaker says about sending one more request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it.
    Allow,
    /// Send it as the single half-open probe.
    Probe,
    /// Do not send; the receiver may be tried again at this instant.
    WaitUntil(Instant),
}

/// The state machine; time is always passed in, so tests need no clock.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    /// Consecutive failures that open the circuit.
    threshold: u32,
    /// First open period.
    cooldown: Duration,
    /// Longest open period.
    max_cooldown: Duration,
    /// Failures since the last success.
    consecutive_failures: u32,
    /// Consecutive trips without a success (grows the cooldown).
    trips: u32,
    /// Current state; `open_until` is meaningful while open.
    state: CircuitState,
    open_until: Option<Instant>,
    /// Whether the half-open probe is in flight.
    probing: bool,
}

impl CircuitBreaker {
    pub fn new(config: &CircuitConfig) -> Self {
        CircuitBreaker {
            threshold: config.failure_threshold,
            cooldown: config.cooldown,
            max_cooldown: config.max_cooldown,
            consecutive_failures: 0,
            trips: 0,
            state: CircuitState::Closed,
            open_until: None,
            probing: false,
        }
    }

    /// The breaker as a previous owner of the endpoint left it (its published health): an
    /// open circuit stays open until the same probe time, and the next trip keeps doubling.
    pub fn restore(
        config: &CircuitConfig,
        state: CircuitState,
        open_until: Option<Instant>,
        consecutive_failures: u32,
        trips: u32,
        now: Instant,
    ) -> Self {
        let mut breaker = CircuitBreaker::new(config);
        breaker.consecutive_failures = consecutive_failures;
        breaker.trips = trips;
        if state != CircuitState::Closed {
            breaker.state = CircuitState::Open;
            breaker.open_until = Some(open_until.unwrap_or(now));
        }
        breaker
    }

    /// Consecutive trips without a success (published, so a new owner keeps doubling).
    pub fn trips(&self) -> u32 {
        self.trips
    }

    /// The state at `now` (an expired open period reads as half-open).
    pub fn state(&self, now: Instant) -> CircuitState {
        match (self.state, self.open_until) {
            (CircuitState::Open, Some(until)) if now >= until => CircuitState::HalfOpen,
            (state, _) => state,
        }
    }

    /// Failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// When the next probe may go, while open.
    pub fn open_until(&self) -> Option<Instant> {
        (self.state == CircuitState::Open)
            .then_some(self.open_until)
            .flatten()
    }

    /// Asks to send one request at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state(now) {
            CircuitState::Closed => Admission::Allow,
            CircuitState::Open => Admission::WaitUntil(self.open_until.unwrap_or(now)),
            CircuitState::HalfOpen if self.probing => {
                // One probe at a time; others wait a moment and ask again.
                Admission::WaitUntil(now + self.cooldown.min(Duration::from_secs(1)))
            }
            CircuitState::HalfOpen => {
                self.state = CircuitState::HalfOpen;
                self.probing = true;
                Admission::Probe
            }
        }
    }

    /// The half-open probe ended with no known outcome: another probe may go.
    pub fn probe_abandoned(&mut self) {
        self.probing = false;
    }

    /// Records a successful request: the circuit closes and every counter resets.
    pub fn on_success(&mut self) {
        self.consecutive_failures = 0;
        self.trips = 0;
        self.state = CircuitState::Closed;
        self.open_until = None;
        self.probing = false;
    }

    /// Records a failed request at `now`; returns true when this failure opened the circuit.
    pub fn on_failure(&mut self, now: Instant) -> bool {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let reopen = self.state == CircuitState::HalfOpen;
        if reopen
            || (self.state == CircuitState::Closed && self.consecutive_failures >= self.threshold)
        {
            let factor = 2u32.saturating_pow(self.trips.min(16));
            let period = self.cooldown.saturating_mul(factor).min(self.max_cooldown);
            self.trips = self.trips.saturating_add(1);
            self.state = CircuitState::Open;
            self.open_until = Some(now + period);
            self.probing = false;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(&CircuitConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(25),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = breaker();
        assert!(!b.on_failure(t0));
        assert!(!b.on_failure(t0));
        assert_eq!(b.admit(t0), Admission::Allow);
        assert!(b.on_failure(t0));
        assert_eq!(b.state(t0), CircuitState::Open);
        assert_eq!(
            b.admit(t0),
            Admission::WaitUntil(t0 + Duration::from_secs(10))
        );
    }

    #[test]
    fn success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = breaker();
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        assert!(!b.on_failure(t0));
        assert_eq!(b.state(t0), CircuitState::Closed);
    }

    #[test]
    fn half_open_lets_one_probe_and_closes_on_success() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.state(later), CircuitState::HalfOpen);
        assert_eq!(b.admit(later), Admission::Probe);
        assert!(matches!(b.admit(later), Admission::WaitUntil(_)));
        b.on_success();
        assert_eq!(b.state(later), CircuitState::Closed);
        assert_eq!(b.admit(later), Admission::Allow);
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_one_go() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(later), Admission::Probe);
        assert!(matches!(b.admit(later), Admission::WaitUntil(_)));
        b.probe_abandoned();
        assert_eq!(b.state(later), CircuitState::HalfOpen);
        assert_eq!(b.admit(later), Admission::Probe);
    }

    #[test]
    fn a_restored_open_circuit_stays_open_until_its_probe_time() {
        let t0 = Instant::now();
        let until = t0 + Duration::from_secs(7);
        let config = CircuitConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(25),
        };
        let mut b = CircuitBreaker::restore(&config, CircuitState::Open, Some(until), 4, 1, t0);
        assert_eq!(b.admit(t0), Admission::WaitUntil(until));
        assert_eq!(b.admit(until), Admission::Probe);
        assert!(b.on_failure(until));
        assert_eq!(
            b.open_until(),
            Some(until + Duration::from_secs(20)),
            "trips kept"
        );
        let closed = CircuitBreaker::restore(&config, CircuitState::Closed, None, 2, 0, t0);
        assert_eq!(closed.consecutive_failures(), 2);
        assert_eq!(closed.state(t0), CircuitState::Closed);
    }

    #[test]
    fn failed_probe_reopens_with_a_longer_capped_cooldown() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Admission::Probe);
        assert!(b.on_failure(t1));
        assert_eq!(b.open_until(), Some(t1 + Duration::from_secs(20)));
        let t2 = t1 + Duration::from_secs(20);
        assert_eq!(b.admit(t2), Admission::Probe);
        assert!(b.on_failure(t2));
        assert_eq!(b.open_until(), Some(t2 + Duration::from_secs(25)), "capped");
    }

    #[derive(Debug, Clone)]
    enum Step {
        Admit,
        Success,
        Failure,
        Abandon,
        Wait(u64),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Step::Admit),
            Just(Step::Success),
            Just(Step::Failure),
            Just(Step::Abandon),
            (1u64..40_000).prop_map(Step::Wait),
        ]
    }

    proptest::proptest! {
        /// Whatever the sequence: nothing is let through while the circuit is open, one probe
        /// at a time while half-open, open periods stay within [cooldown, max_cooldown], and
        /// a success always closes it.
        #[test]
        fn the_breaker_keeps_its_promises(steps in proptest::collection::vec(step(), 1..200)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut b = breaker();
            let mut probe_in_flight = false;
            for step in steps {
                match step {
                    Step::Admit => {
                        let state = b.state(now);
                        match b.admit(now) {
                            Admission::Allow => proptest::prop_assert_eq!(state, CircuitState::Closed),
                            Admission::Probe => {
                                proptest::prop_assert_eq!(state, CircuitState::HalfOpen);
                                proptest::prop_assert!(!probe_in_flight);
                                probe_in_flight = true;
                            }
                            Admission::WaitUntil(until) => {
                                proptest::prop_assert!(state != CircuitState::Closed);
                                proptest::prop_assert!(until >= now);
                            }
                        }
                    }
                    Step::Success => {
                        b.on_success();
                        probe_in_flight = false;
                        proptest::prop_assert_eq!(b.state(now), CircuitState::Closed);
                    }
                    Step::Failure => {
                        if b.on_failure(now) {
                            probe_in_flight = false;
                            let open = b.open_until().expect("opened") - now;
                            proptest::prop_assert!(open >= Duration::from_secs(10));
                            proptest::prop_assert!(open <= Duration::from_secs(25));
                        }
                    }
                    Step::Abandon => {
                        b.probe_abandoned();
                        probe_in_flight = false;
                    }
                    Step::Wait(ms) => now += Duration::from_millis(ms),
                }
            }
        }
    }
}
