//! The endpoint actor's decisions, as a pure state machine of the time passed in: which job
//! starts next, what waits, what spills to the retry set. The actor only carries them out.
//!
//! A job starts when the endpoint's in-flight cap, its rate limit (governor, burst of one:
//! requests spread evenly over each second) and its circuit breaker allow. Otherwise it waits
//! in a bounded queue, or spills (sent to the retry set, not counted as an attempt):
//! - when the queue is full;
//! - when it must wait and holds none of the partition's queue slots. A queued job keeps its
//!   stream entry unacknowledged, and the partition reads only so many entries ahead, so
//!   waiting jobs must hold a slot (half of the read-ahead window, shared by the partition's
//!   endpoints) — unless the endpoint has shown it drains that much within [`DRAIN_HORIZON`].
//!   A fast endpoint working through a backlog keeps it queued (no retry-set churn); a slow,
//!   hanging or rate-limited one can never pin the window and stall its neighbours;
//! - when the circuit is open: every queued job waits in the retry set until the probe time.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::clock::{Clock, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::retry::{Admission, CircuitBreaker, CircuitState};

/// Shortest delay before a spilled job is offered again.
pub const SPILL_DELAY: Duration = Duration::from_secs(1);
/// How far ahead an endpoint may queue work beyond the partition's slots, in seconds of its
/// measured throughput.
pub const DRAIN_HORIZON: Duration = Duration::from_secs(10);
/// Successes in a row that raise a lowered rate one step.
pub const ADAPTIVE_STEP_EVERY: u32 = 10;
/// Factor of one raising step.
pub const ADAPTIVE_STEP: f64 = 1.25;
/// Lowest rate a throttling receiver brings an endpoint to, per second.
pub const ADAPTIVE_FLOOR: f64 = 1.0;

/// The bounds of one endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Jobs held in the queue at most (`endpoint.queue_capacity`).
    pub queue_capacity: usize,
    /// Requests in flight at most (`endpoint.max_in_flight`).
    pub max_in_flight: usize,
    /// Deliveries per second of endpoints with no rate of their own (`None`: unlimited).
    pub default_rate: Option<u32>,
}

/// What became of an offered job.
#[derive(Debug, PartialEq)]
pub enum Admit<J> {
    /// It waits in the queue (or starts at the next [`Gate::next`]).
    Queued,
    /// The queue is full: send it to the retry set, due after `delay`.
    Spill { job: J, delay: Duration },
}

/// What the actor should do now.
#[derive(Debug, PartialEq)]
pub enum Next<J> {
    /// Start this attempt; `probe` is the half-open circuit's single probe.
    Start { job: J, probe: bool },
    /// The rate limit allows the next start after this wait.
    WaitFor(Duration),
    /// The circuit is open until `until`: every queued job goes to the retry set, due then.
    Postpone { jobs: Vec<J>, until: Instant },
    /// Nothing can start now (queue empty, or the in-flight cap reached).
    Nothing,
}

/// How an attempt ended, as the breaker and the adaptive rate need to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Succeeded,
    Failed,
    /// Failed with 429 or 503 and no Retry-After: the receiver asks for less.
    Throttled,
    /// The outcome could not be recorded (the job stays pending and comes back).
    Unrecorded,
}

/// What ending an attempt changed.
#[derive(Debug, PartialEq)]
pub struct Finished<J> {
    /// The circuit's new state, when it changed.
    pub transition: Option<CircuitState>,
    /// The adaptive rate limit changed: its new value, per second (`None`: lifted).
    pub adaptive: Option<Option<u32>>,
    /// Queued jobs without a slot that the endpoint, now slower, can no longer drain in
    /// time: send them to the retry set, due after their delay.
    pub shed: Vec<(J, Duration)>,
}

/// A job waiting in the queue, with the partition slot it holds while it waits (`None` until
/// it is known to have to wait).
struct Waiting<J, S> {
    job: J,
    slot: Option<S>,
}

/// The per-endpoint state machine.
pub struct Gate<J, S> {
    limits: Limits,
    queue: VecDeque<Waiting<J, S>>,
    in_flight: usize,
    /// Deliveries per second of the endpoint as last routed (its own or the default).
    rate: Option<u32>,
    /// The rate lowered after a receiver throttled it without saying for how long.
    adaptive: Option<Adaptive>,
    limiter: Option<Limiter>,
    /// When the endpoint's previous request started (maybe on another node, as its published
    /// health says): a new limiter counts it, so neither a hand-over nor a rate change allows
    /// an extra request.
    previous_start: Option<Instant>,
    breaker: CircuitBreaker,
    throughput: Throughput,
    last_activity: Instant,
}

impl<J, S> Gate<J, S> {
    pub fn new(limits: Limits, breaker: CircuitBreaker, now: Instant) -> Self {
        Gate {
            limits,
            queue: VecDeque::new(),
            in_flight: 0,
            rate: limits.default_rate,
            adaptive: None,
            limiter: None,
            previous_start: None,
            breaker,
            throughput: Throughput::new(now),
            last_activity: now,
        }
    }

    /// A job arrives, routed with the endpoint's own rate limit (`None`: the default).
    pub fn offer(&mut self, job: J, rate: Option<u32>, now: Instant) -> Admit<J> {
        self.last_activity = now;
        self.rate = rate.or(self.limits.default_rate).filter(|r| *r > 0);
        if self.queue.len() >= self.limits.queue_capacity {
            let delay = self.spill_delay();
            return Admit::Spill { job, delay };
        }
        self.queue.push_back(Waiting { job, slot: None });
        Admit::Queued
    }

    /// The next thing to do; call until it answers [`Next::Start`] no more.
    pub fn next(&mut self, now: Instant) -> Next<J> {
        if self.in_flight >= self.limits.max_in_flight || self.queue.is_empty() {
            return Next::Nothing;
        }
        if let Some(wait) = self.rate_wait(now) {
            return Next::WaitFor(wait);
        }
        let admission = self.breaker.admit(now);
        if let Admission::WaitUntil(until) = admission {
            let jobs = self.queue.drain(..).map(|w| w.job).collect();
            return Next::Postpone { jobs, until };
        }
        match self.queue.pop_front() {
            Some(waiting) => {
                self.in_flight += 1;
                self.previous_start = Some(now);
                Next::Start {
                    job: waiting.job,
                    probe: admission == Admission::Probe,
                }
            }
            None => Next::Nothing,
        }
    }

    /// After the starts: the newest queued job has to wait, so it takes one of the
    /// partition's slots (`slot` tries to get one), keeps its place without one when the
    /// endpoint drains fast enough, or spills (the job and its delay are returned).
    pub fn settle_newest(
        &mut self,
        now: Instant,
        slot: impl FnOnce() -> Option<S>,
    ) -> Option<(J, Duration)> {
        let allowance = self.slotless_allowance(now);
        let len = self.queue.len();
        let newest = self.queue.back_mut().filter(|w| w.slot.is_none())?;
        match slot() {
            Some(slot) => {
                newest.slot = Some(slot);
                None
            }
            None if len <= allowance => None,
            None => {
                let delay = self.spill_delay();
                self.queue.pop_back().map(|w| (w.job, delay))
            }
        }
    }

    /// An attempt started by [`Next::Start`] ended.
    pub fn finished(&mut self, now: Instant, result: AttemptResult, probe: bool) -> Finished<J> {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.last_activity = now;
        self.throughput.count(now);
        let shed = self.shed_excess(now);
        let before = self.breaker.state(now);
        let adaptive_before = self.adaptive_rate();
        match result {
            AttemptResult::Succeeded => {
                self.breaker.on_success();
                self.adaptive_success();
            }
            AttemptResult::Failed => {
                self.breaker.on_failure(now);
            }
            AttemptResult::Throttled => {
                self.breaker.on_failure(now);
                self.throttled(now);
            }
            // A probe with no known outcome must not hold the half-open circuit forever.
            AttemptResult::Unrecorded if probe => self.breaker.probe_abandoned(),
            AttemptResult::Unrecorded => {}
        }
        let after = self.breaker.state(now);
        let adaptive_after = self.adaptive_rate();
        Finished {
            transition: (before != after).then_some(after),
            adaptive: (adaptive_before != adaptive_after).then_some(adaptive_after),
            shed,
        }
    }

    /// The lowered rate, per second, while one applies.
    pub fn adaptive_rate(&self) -> Option<u32> {
        self.adaptive.map(|a| a.per_second.floor() as u32)
    }

    /// A throttling answer halves the rate the endpoint gets now, never below 1/s.
    fn throttled(&mut self, now: Instant) {
        let current = match (self.adaptive, self.rate) {
            (Some(a), _) => a.per_second,
            (None, Some(rate)) => f64::from(rate),
            (None, None) => self.throughput.per_second(now).max(2.0),
        };
        let ceiling = self
            .adaptive
            .map(|a| a.ceiling)
            .or(self.rate.map(f64::from))
            .unwrap_or(current * 2.0);
        self.adaptive = Some(Adaptive {
            per_second: (current / 2.0).max(ADAPTIVE_FLOOR),
            ceiling,
            successes: 0,
        });
    }

    /// Successes raise a lowered rate step by step, and lift it once back at its ceiling.
    fn adaptive_success(&mut self) {
        let Some(adaptive) = self.adaptive.as_mut() else {
            return;
        };
        adaptive.successes += 1;
        if adaptive.successes >= ADAPTIVE_STEP_EVERY {
            adaptive.successes = 0;
            adaptive.per_second *= ADAPTIVE_STEP;
            if adaptive.per_second >= adaptive.ceiling {
                self.adaptive = None;
            }
        }
    }

    /// The endpoint's previous request started at `at` (restored from its health).
    pub fn restore_previous_start(&mut self, at: Option<Instant>) {
        self.previous_start = at;
        self.limiter = None;
    }

    /// Re-enabling the endpoint reset its health: the breaker starts afresh too.
    pub fn reset_breaker(&mut self, breaker: CircuitBreaker) {
        self.breaker = breaker;
    }

    /// The circuit's state at `now`.
    pub fn circuit(&self, now: Instant) -> CircuitState {
        self.breaker.state(now)
    }

    /// When an open circuit lets its probe through.
    pub fn open_until(&self) -> Option<Instant> {
        self.breaker.open_until()
    }

    /// Consecutive circuit trips without a success.
    pub fn trips(&self) -> u32 {
        self.breaker.trips()
    }

    /// Nothing queued or in flight, no activity for `idle_timeout`, and a closed circuit (an
    /// open one must remember when to probe).
    pub fn is_idle(&self, now: Instant, idle_timeout: Duration) -> bool {
        self.queue.is_empty()
            && self.in_flight == 0
            && now.saturating_duration_since(self.last_activity) >= idle_timeout
            && self.breaker.state(now) == CircuitState::Closed
    }

    /// Jobs queued.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Takes every queued job out (the endpoint was paused, disabled or deleted).
    pub fn take_queued(&mut self) -> Vec<J> {
        self.queue.drain(..).map(|w| w.job).collect()
    }

    /// The queued jobs, to update in place (the endpoint changed).
    pub fn queued_mut(&mut self) -> impl Iterator<Item = &mut J> {
        self.queue.iter_mut().map(|w| &mut w.job)
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// When spilled work should come back: not before the queue ahead of it can have drained
    /// at the endpoint's rate, so a slow endpoint's backlog does not cycle through the retry
    /// set every second.
    fn spill_delay(&self) -> Duration {
        match self.period() {
            Some(period) => SPILL_DELAY.max(period.mul_f64(self.queue.len() as f64)),
            None => SPILL_DELAY,
        }
    }

    /// The time between two starts under the effective rate (its own or the lowered one,
    /// whichever is slower); `None`: unlimited.
    fn period(&self) -> Option<Duration> {
        let configured = self.rate.map(f64::from);
        let lowered = self.adaptive.map(|a| a.per_second);
        let rate = match (configured, lowered) {
            (Some(c), Some(l)) => c.min(l),
            (c, l) => c.or(l)?,
        };
        Some(Duration::from_secs_f64(
            1.0 / rate.max(ADAPTIVE_FLOOR / 2.0),
        ))
    }

    /// Jobs the endpoint may keep queued without a partition slot: what it has shown it
    /// drains within [`DRAIN_HORIZON`].
    fn slotless_allowance(&self, now: Instant) -> usize {
        (self.throughput.per_second(now) * DRAIN_HORIZON.as_secs_f64()) as usize
    }

    /// Spills queued jobs that hold no slot beyond what the endpoint now drains in time (its
    /// throughput fell: it became slow).
    fn shed_excess(&mut self, now: Instant) -> Vec<(J, Duration)> {
        let allowance = self.slotless_allowance(now);
        let mut shed = Vec::new();
        while self.queue.len() > allowance && self.queue.back().is_some_and(|w| w.slot.is_none()) {
            let delay = self.spill_delay();
            if let Some(waiting) = self.queue.pop_back() {
                shed.push((waiting.job, delay));
            }
        }
        shed
    }

    /// How long to wait before the next start under the rate limit (`None`: go now; the
    /// start is counted).
    fn rate_wait(&mut self, now: Instant) -> Option<Duration> {
        let Some(period) = self.period() else {
            self.limiter = None;
            return None;
        };
        if self.limiter.as_ref().map(|l| l.period) != Some(period) {
            self.limiter = Some(Limiter::new(period, now, self.previous_start));
        }
        self.limiter.as_mut()?.check(now)
    }
}

/// A rate lowered by throttling answers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Adaptive {
    per_second: f64,
    /// Where it is lifted: the endpoint's own rate, or twice what it had when first throttled.
    ceiling: f64,
    /// Successes since the last step.
    successes: u32,
}

/// A governor limiter (burst of one) driven by the time passed in rather than a global clock.
struct Limiter {
    /// Time between two starts.
    period: Duration,
    /// Governor's clock, moved forward to each `now` passed in.
    clock: FakeRelativeClock,
    /// The instant the clock's zero stands for, and how far it has been moved.
    origin: Instant,
    moved: Duration,
    limiter: RateLimiter<NotKeyed, InMemoryState, FakeRelativeClock, NoOpMiddleware<Nanos>>,
}

impl Limiter {
    /// A limiter at `now`, which has already let through a request at `previous`.
    fn new(period: Duration, now: Instant, previous: Option<Instant>) -> Self {
        let clock = FakeRelativeClock::default();
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let origin = previous.map_or(now, |at| at.min(now));
        let mut limiter = Limiter {
            period,
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
            origin,
            moved: Duration::ZERO,
        };
        if previous.is_some() {
            let _ = limiter.check(origin);
        }
        limiter
    }

    fn check(&mut self, now: Instant) -> Option<Duration> {
        let target = now.saturating_duration_since(self.origin);
        if target > self.moved {
            self.clock.advance(target - self.moved);
            self.moved = target;
        }
        match self.limiter.check() {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
        }
    }
}

/// Attempts finished per second, over windows of about a second. Before the first window
/// closes (a fresh actor, often the first second of a backlog) the rate is what it finished
/// since it started, over at least [`EARLY_SPAN`]: read as zero instead, every job the window
/// read beyond the partition's slots spilled to the retry set and came back a second later
/// (48 % of the jobs of a 100,000-message drain on the local receiver).
struct Throughput {
    done: u32,
    window_start: Instant,
    /// The rate over the last closed window; `None` until one closes.
    last: Option<f64>,
}

/// Shortest time a fresh actor's early rate is taken over: a first lucky answer is not a
/// thousand per second.
const EARLY_SPAN: Duration = Duration::from_millis(100);

impl Throughput {
    fn new(now: Instant) -> Self {
        Throughput {
            done: 0,
            window_start: now,
            last: None,
        }
    }

    fn count(&mut self, now: Instant) {
        self.done += 1;
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.last = Some(f64::from(self.done) / elapsed.as_secs_f64());
            self.done = 0;
            self.window_start = now;
        }
    }

    fn per_second(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.window_start);
        match self.last {
            // A window that has run long without closing means few completions: count it in.
            _ if elapsed >= Duration::from_secs(2) => f64::from(self.done) / elapsed.as_secs_f64(),
            Some(last) => last,
            None => f64::from(self.done) / elapsed.max(EARLY_SPAN).as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests;
