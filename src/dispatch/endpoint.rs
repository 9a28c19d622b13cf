//! One actor per endpoint: the only place deliveries to that endpoint are started, so its
//! rate limit, concurrency cap and circuit breaker hold for the whole cluster (one node owns
//! the endpoint's partition).
//!
//! The actor keeps a bounded queue. Each pump starts jobs while the concurrency cap, the
//! governor limiter and the breaker allow; a full queue or an open circuit sends jobs to the
//! retry set (not counted as attempts) instead of blocking anyone.
//!
//! A queued job keeps its stream entry unacknowledged, and the partition reads only so many
//! entries ahead. So a job that has to wait also holds one of the partition's queue slots
//! (half of its read-ahead window, shared by its endpoints); with none left it spills. Slow
//! or rate-limited endpoints can therefore never pin the whole window and stall the
//! partition's other endpoints.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;
use uuid::Uuid;

use super::messages::{Completion, Deliver, Job, Stop, StopIfIdle};
use super::Shared;
use crate::delivery::{Delivery, Outcome};
use crate::model::{now_ms, Attempt, AttemptStatus};
use crate::queue::retry_member;
use crate::retry::{Admission, CircuitBreaker, CircuitState};

/// Delay before a job spilled from a full queue is offered again.
const SPILL_DELAY: Duration = Duration::from_secs(1);
/// How far ahead a fast endpoint may queue work beyond the partition's shared queue slots.
const DRAIN_HORIZON: Duration = Duration::from_secs(10);
/// Tries of the record script before the job is left pending for redelivery.
const RECORD_TRIES: u32 = 5;

/// A job waiting in the actor's queue, with the partition queue slot it holds while it waits
/// (`None` only until the handler that queued it has seen it cannot start at once).
struct Queued {
    job: Job,
    slot: Option<OwnedSemaphorePermit>,
}

/// The per-endpoint actor.
pub struct EndpointActor {
    /// Node-wide services (store, client, policy, config).
    shared: Arc<Shared>,
    /// Partition the endpoint's application lives in.
    partition: u16,
    /// The endpoint's application.
    app: Uuid,
    /// The endpoint.
    endpoint: Uuid,
    /// Where finished jobs are reported to the partition.
    completions: UnboundedSender<Completion>,
    /// Jobs accepted but not started, bounded by `endpoint.queue_capacity` and by the
    /// partition's free queue slots.
    queue: VecDeque<Queued>,
    /// The partition's queue slots, shared by its endpoint actors.
    slots: Arc<Semaphore>,
    /// Requests in flight, bounded by `endpoint.max_in_flight`.
    in_flight: usize,
    /// The governor limiter and the rate it was built for.
    limiter: Option<(u32, DefaultDirectRateLimiter)>,
    /// Circuit breaker state of this endpoint.
    breaker: CircuitBreaker,
    /// Health epoch of the newest route seen (re-enabling the endpoint bumps it).
    health_epoch: u64,
    /// A pump is already scheduled (rate-limit wait).
    wake_scheduled: bool,
    /// Last time work arrived or finished, for idle stop.
    last_activity: Instant,
    /// Attempts finished since `window_start` (throughput estimate).
    done_in_window: u32,
    /// Start of the current one-second throughput window.
    window_start: Instant,
    /// Attempts per second over the last full window.
    throughput: f64,
}

impl EndpointActor {
    pub fn new(
        shared: Arc<Shared>,
        partition: u16,
        app: Uuid,
        endpoint: Uuid,
        completions: UnboundedSender<Completion>,
        slots: Arc<Semaphore>,
    ) -> Self {
        let breaker = CircuitBreaker::new(&shared.config.circuit);
        EndpointActor {
            shared,
            partition,
            app,
            endpoint,
            completions,
            queue: VecDeque::new(),
            slots,
            in_flight: 0,
            limiter: None,
            breaker,
            health_epoch: 0,
            wake_scheduled: false,
            last_activity: Instant::now(),
            done_in_window: 0,
            window_start: Instant::now(),
            throughput: 0.0,
        }
    }

    /// Spills queued jobs that hold no partition slot beyond what the endpoint is now known
    /// to drain in time (its estimate fell: it became slow).
    fn shed_excess(&mut self, ctx: &mut Context<Self>) {
        let allowance = self.slotless_allowance();
        while self.queue.len() > allowance && self.queue.back().is_some_and(|q| q.slot.is_none()) {
            if let Some(queued) = self.queue.pop_back() {
                let due = now_ms() + self.spill_delay(&queued.job).as_millis() as i64;
                self.postpone(ctx, queued.job, due);
            }
        }
    }

    /// Counts a finished attempt into the throughput estimate.
    fn count_done(&mut self) {
        self.done_in_window += 1;
        let elapsed = self.window_start.elapsed();
        if elapsed >= Duration::from_secs(1) {
            self.throughput = f64::from(self.done_in_window) / elapsed.as_secs_f64();
            self.done_in_window = 0;
            self.window_start = Instant::now();
        }
    }

    /// Jobs this endpoint may keep queued without a partition queue slot: what it has shown
    /// it drains within a few seconds. A fast endpoint working through a backlog keeps its
    /// queue (no retry-set churn); a slow, hanging or rate-limited one gets ~0 and spills
    /// when the slots run out, so it can never pin the partition's read-ahead window.
    fn slotless_allowance(&self) -> usize {
        let elapsed = self.window_start.elapsed().as_secs_f64();
        // A window that has run long without closing means few completions: count it in.
        let current = if elapsed >= 2.0 {
            f64::from(self.done_in_window) / elapsed
        } else {
            self.throughput
        };
        (current * DRAIN_HORIZON.as_secs_f64()) as usize
    }

    /// Deliveries per second the job's endpoint allows now (`None` = unlimited).
    fn rate_for(&self, job: &Job) -> Option<u32> {
        job.route
            .rate_limit
            .or(match self.shared.config.endpoint.default_rate_limit {
                0 => None,
                n => Some(n),
            })
    }

    /// When spilled work should come back: not before the queue ahead of it can have drained
    /// at the endpoint's rate, so a slow endpoint's backlog does not cycle through the retry
    /// set every second.
    fn spill_delay(&self, job: &Job) -> Duration {
        match self.rate_for(job) {
            Some(rate) if rate > 0 => SPILL_DELAY.max(Duration::from_secs_f64(
                self.queue.len() as f64 / f64::from(rate),
            )),
            _ => SPILL_DELAY,
        }
    }

    /// How long to wait before the next request may start under the rate limit.
    fn rate_wait(&mut self, rate: Option<u32>) -> Option<Duration> {
        let Some(rate) = rate.and_then(NonZeroU32::new) else {
            self.limiter = None;
            return None;
        };
        if self.limiter.as_ref().map(|(r, _)| *r) != Some(rate.get()) {
            // Burst of one: requests are spread evenly over each second.
            let quota = Quota::per_second(rate).allow_burst(NonZeroU32::MIN);
            self.limiter = Some((rate.get(), RateLimiter::direct(quota)));
        }
        let (_, limiter) = self.limiter.as_ref()?;
        match limiter.check() {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(DefaultClock::default().now())),
        }
    }

    /// Starts as many queued jobs as the cap, the limiter and the breaker allow.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        while self.in_flight < self.shared.config.endpoint.max_in_flight {
            let Some(front) = self.queue.front() else {
                return;
            };
            let rate = self.rate_for(&front.job);
            if let Some(wait) = self.rate_wait(rate) {
                if !self.wake_scheduled {
                    self.wake_scheduled = true;
                    crate::telemetry::metrics::RATE_LIMIT_WAITS.inc();
                    ctx.run_later(wait, |act, ctx| {
                        act.wake_scheduled = false;
                        act.pump(ctx);
                    });
                }
                return;
            }
            let admission = self.breaker.admit(Instant::now());
            if let Admission::WaitUntil(until) = admission {
                let due =
                    now_ms() + until.saturating_duration_since(Instant::now()).as_millis() as i64;
                for queued in std::mem::take(&mut self.queue) {
                    self.postpone(ctx, queued.job, due);
                }
                return;
            }
            if let Some(queued) = self.queue.pop_front() {
                self.start(ctx, queued.job, admission == Admission::Probe);
            }
        }
    }

    /// Runs one attempt (the half-open probe when `probe`) and feeds its result back into
    /// the breaker.
    fn start(&mut self, ctx: &mut Context<Self>, job: Job, probe: bool) {
        self.in_flight += 1;
        let shared = self.shared.clone();
        let partition = self.partition;
        let completions = self.completions.clone();
        // One span per delivery: ids only, never the payload or secrets.
        let span = tracing::info_span!(
            "delivery",
            app = %job.task.app,
            endpoint = %job.route.id,
            message = %job.task.message,
            attempt = job.task.attempts + 1,
        );
        let attempt =
            async move { attempt(&shared, &completions, partition, job).await }.instrument(span);
        ctx.spawn(
            attempt
                .into_actor(self)
                .map(move |(success, disabled), act, ctx| {
                    act.in_flight -= 1;
                    act.count_done();
                    act.shed_excess(ctx);
                    act.last_activity = Instant::now();
                    let before = act.breaker.state(Instant::now());
                    match success {
                        Some(true) => act.breaker.on_success(),
                        Some(false) => {
                            act.breaker.on_failure(Instant::now());
                        }
                        // Not recorded: the job stays pending for redelivery, and a probe with no
                        // known outcome must not hold the half-open circuit forever.
                        None if probe => act.breaker.probe_abandoned(),
                        None => {}
                    }
                    let after = act.breaker.state(Instant::now());
                    if before != after {
                        act.publish_circuit(ctx, after);
                    }
                    if disabled {
                        // Re-enabling the endpoint resets its health; the breaker starts afresh with
                        // it instead of holding the re-enabled endpoint's deliveries back.
                        act.breaker = CircuitBreaker::new(&act.shared.config.circuit);
                    }
                    act.pump(ctx);
                }),
        );
    }

    /// Writes the breaker's state into the endpoint's health hash (shown by the API).
    fn publish_circuit(&self, ctx: &mut Context<Self>, state: CircuitState) {
        crate::telemetry::metrics::circuit_transition(state);
        let next_probe = self
            .breaker
            .open_until()
            .map(|t| now_ms() + t.saturating_duration_since(Instant::now()).as_millis() as i64)
            .map(|ms| ms.to_string())
            .unwrap_or_default();
        let shared = self.shared.clone();
        let (app, endpoint) = (self.app, self.endpoint);
        let write = async move {
            let store = &shared.store;
            let Ok(mut conn) = store.conn().await else {
                return;
            };
            // Not written when the endpoint was deleted meanwhile (no hash is recreated).
            let result: Result<i64, redis::RedisError> = shared
                .scripts
                .circuit_publish
                .key(store.keys.endpoint(app, endpoint))
                .key(store.keys.endpoint_health(app, endpoint))
                .arg(state.as_str())
                .arg(next_probe)
                .invoke_async(&mut conn)
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not publish circuit state");
            }
        };
        ctx.spawn(write.into_actor(self));
    }

    /// Sends a job to the retry set without counting an attempt (full queue, open circuit).
    fn postpone(&mut self, ctx: &mut Context<Self>, job: Job, due_ms: i64) {
        let shared = self.shared.clone();
        let partition = self.partition;
        let completions = self.completions.clone();
        crate::telemetry::metrics::POSTPONED.inc();
        let write = async move {
            let member = retry_member(
                job.task.app,
                job.task.message,
                job.route.id,
                job.task.attempts,
            );
            let recorded = record(
                &shared,
                partition,
                &job,
                ("", ""),
                "none",
                Some((&member, due_ms)),
            )
            .await;
            report(&completions, &job, recorded.is_ok());
        };
        ctx.spawn(write.into_actor(self));
    }
}

impl Actor for EndpointActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        crate::telemetry::metrics::ACTIVE_ENDPOINTS.inc();
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        crate::telemetry::metrics::ACTIVE_ENDPOINTS.dec();
    }
}

impl Handler<Deliver> for EndpointActor {
    type Result = ();

    fn handle(&mut self, Deliver(job): Deliver, ctx: &mut Self::Context) {
        self.last_activity = Instant::now();
        if job.route.health_epoch > self.health_epoch {
            // The endpoint was re-enabled, which reset its health: the breaker starts afresh.
            self.health_epoch = job.route.health_epoch;
            self.breaker = CircuitBreaker::new(&self.shared.config.circuit);
        }
        if self.queue.len() >= self.shared.config.endpoint.queue_capacity {
            let due = now_ms() + self.spill_delay(&job).as_millis() as i64;
            self.postpone(ctx, job, due);
            return;
        }
        self.queue.push_back(Queued { job, slot: None });
        self.pump(ctx);
        // Still queued (every earlier job already holds a slot): it must wait, so it needs a
        // slot of the partition; when none is free it spills like on a full queue.
        if let Some(queued) = self.queue.back_mut().filter(|q| q.slot.is_none()) {
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => queued.slot = Some(slot),
                Err(_) if self.queue.len() <= self.slotless_allowance() => {}
                Err(_) => {
                    if let Some(queued) = self.queue.pop_back() {
                        let due = now_ms() + self.spill_delay(&queued.job).as_millis() as i64;
                        self.postpone(ctx, queued.job, due);
                    }
                }
            }
        }
    }
}

impl Handler<StopIfIdle> for EndpointActor {
    type Result = bool;

    fn handle(&mut self, _: StopIfIdle, ctx: &mut Self::Context) -> bool {
        let idle = self.queue.is_empty()
            && self.in_flight == 0
            && !self.wake_scheduled
            && self.last_activity.elapsed() >= self.shared.config.endpoint.idle_timeout
            && self.breaker.state(Instant::now()) == CircuitState::Closed;
        if idle {
            ctx.stop();
        }
        idle
    }
}

impl Handler<Stop> for EndpointActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Tells the partition a job is finished (or, when recording failed, stays pending).
fn report(completions: &UnboundedSender<Completion>, job: &Job, recorded: bool) {
    // The partition is gone when this fails; the entry then stays pending for the next owner.
    let _ = completions.send(Completion {
        entry_id: job.task.entry_id.clone(),
        acked: recorded && job.ack_in_script,
        failed: !recorded,
    });
}

/// One delivery attempt with its bookkeeping. Returns whether the receiver succeeded
/// (`None` when the attempt could not be recorded and stays pending), and whether the
/// endpoint was disabled because of it (410 Gone, or failing for `endpoint.disable_after`).
async fn attempt(
    shared: &Shared,
    completions: &UnboundedSender<Completion>,
    partition: u16,
    job: Job,
) -> (Option<bool>, bool) {
    let message_id = job.task.message.to_string();
    // The node-wide cap: waits (without blocking the actor) when the node is saturated.
    let permit = shared.node_permits.acquire().await;
    let outcome = shared
        .deliverer
        .deliver(&Delivery {
            url: &job.route.url,
            message_id: &message_id,
            payload: job.payload.clone(),
            keys: &job.route.keys,
        })
        .await;
    drop(permit);
    crate::telemetry::metrics::delivery(&outcome, job.task.created);
    match outcome.failure {
        None => tracing::debug!(
            status = outcome.status,
            ms = outcome.duration.as_millis() as u64,
            "delivered"
        ),
        Some(kind) => tracing::info!(
            status = outcome.status,
            error = kind.as_str(),
            ms = outcome.duration.as_millis() as u64,
            "delivery failed"
        ),
    }
    let attempts_made = job.task.attempts + 1;
    let retry_at = if outcome.is_success() || outcome.is_gone() {
        None
    } else {
        shared
            .policy
            .next_delay(attempts_made, outcome.retry_after, rand::random::<f64>())
            .map(|delay| now_ms() + delay.as_millis() as i64)
    };
    if retry_at.is_some() {
        crate::telemetry::metrics::RETRIES_SCHEDULED.inc();
    }
    let status = match (outcome.is_success(), retry_at) {
        (true, _) => AttemptStatus::Success,
        (false, Some(_)) => AttemptStatus::Pending,
        (false, None) => AttemptStatus::Failed,
    };
    let record_json = attempt_json(&job, &outcome, attempts_made, status, retry_at);
    // What the attempt says if this failure turns out to disable the endpoint (the record
    // script decides): final, since a disabled endpoint gets no retry.
    let final_json = match status {
        AttemptStatus::Pending => {
            attempt_json(&job, &outcome, attempts_made, AttemptStatus::Failed, None)
        }
        _ => String::new(),
    };
    let member =
        retry_at.map(|_| retry_member(job.task.app, job.task.message, job.route.id, attempts_made));
    let health = if outcome.is_success() {
        "success"
    } else {
        "failure"
    };
    let retry = member.as_deref().zip(retry_at);
    let recorded = record(
        shared,
        partition,
        &job,
        (&record_json, &final_json),
        health,
        retry,
    )
    .await;
    let mut disabled = false;
    if outcome.is_gone() || matches!(recorded, Ok(2)) {
        tracing::info!(endpoint = %job.route.id, gone = outcome.is_gone(), "disabling endpoint");
        match shared
            .store
            .disable_endpoint(job.task.app, job.route.id)
            .await
        {
            Ok(()) => disabled = true,
            Err(e) => tracing::warn!(error = %e, "could not disable endpoint"),
        }
    }
    report(completions, &job, recorded.is_ok());
    (recorded.ok().map(|_| outcome.is_success()), disabled)
}

fn attempt_json(
    job: &Job,
    outcome: &Outcome,
    attempts_made: u32,
    status: AttemptStatus,
    next_attempt: Option<i64>,
) -> String {
    let attempt = Attempt {
        endpoint_id: job.route.id,
        attempt: attempts_made,
        timestamp: outcome.started_ms,
        status,
        response_status_code: outcome.status,
        error: outcome.failure.map(|k| k.as_str().to_string()),
        duration_ms: outcome.duration.as_millis() as u64,
        response_body: outcome.body.clone(),
        next_attempt,
    };
    serde_json::to_string(&attempt).unwrap_or_default()
}

/// Runs the record script (attempt, health, retry, ack) with a few tries. `attempt` is the
/// attempt JSON and its final version, used instead if this failure disables the endpoint.
async fn record(
    shared: &Shared,
    partition: u16,
    job: &Job,
    attempt: (&str, &str),
    health: &str,
    retry: Option<(&str, i64)>,
) -> Result<i64, crate::error::StoreError> {
    let keys = &shared.store.keys;
    let task = &job.task;
    let mut delay = Duration::from_millis(50);
    let mut tries = 0;
    loop {
        let result = async {
            let mut conn = shared.store.conn().await?;
            let code: i64 = shared
                .scripts
                .record_attempt
                .key(keys.attempts(task.app, task.message))
                .key(keys.message(task.app, task.message))
                .key(keys.endpoint_health(task.app, job.route.id))
                .key(keys.retry(partition))
                .key(keys.stream(partition))
                .key(keys.endpoint(task.app, job.route.id))
                .arg(attempt.0)
                .arg(shared.store.retention.as_secs().max(1))
                .arg(health)
                .arg(now_ms())
                .arg(retry.map_or("", |r| r.0))
                .arg(retry.map_or(0, |r| r.1))
                .arg(if job.ack_in_script {
                    task.entry_id.as_str()
                } else {
                    ""
                })
                .arg(shared.config.endpoint.disable_after.as_millis() as u64)
                .arg(attempt.1)
                .invoke_async(&mut conn)
                .await?;
            Ok::<i64, crate::error::StoreError>(code)
        }
        .await;
        tries += 1;
        match result {
            Ok(code) => return Ok(code),
            Err(e) if tries >= RECORD_TRIES => {
                tracing::error!(error = %e, entry = %task.entry_id, "could not record attempt; entry stays pending");
                return Err(e);
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}
