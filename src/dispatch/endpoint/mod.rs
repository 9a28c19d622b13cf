//! One actor per endpoint: the only place deliveries to that endpoint are started, so its
//! rate limit, concurrency cap and circuit breaker hold for the whole cluster (one node owns
//! the endpoint's partition). The decisions are the [`gate`]'s; the actor carries them out:
//! it starts attempts ([`attempt`]), reschedules spilled jobs (retry set) and jobs held by an
//! open circuit (the endpoint's parked backlog), publishes circuit changes, and reports every
//! job's end to its partition.
//!
//! On start it restores the breaker the endpoint's previous actor published (possibly on
//! another node): an open circuit stays open across a hand-over. While its partition's lease
//! is not surely held ([`Fence`]), it starts nothing.

pub mod attempt;
pub mod gate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;
use uuid::Uuid;

use super::fence::Fence;
use super::messages::{Completion, Enqueue, Job, JobEnd, Refresh, Stop, StopIfIdle};
use super::recorder::Recorder;
use super::WorkerContext;
use crate::clock::now_ms;
use crate::domain::{CircuitState, EndpointHealth};
use crate::queue::{
    self,
    record::{self, Reschedule},
};
use crate::retry::CircuitBreaker;
use crate::telemetry::metrics;
use gate::{Admit, Gate, Limits, Next};

/// How often an actor whose lease is in doubt looks again.
const FENCE_RECHECK: Duration = Duration::from_millis(200);
/// When a held lane (paused or disabled endpoint) is looked at again, at the latest: its
/// resume or re-enabling makes it due at once.
const HELD_LANE_RECHECK: Duration = Duration::from_secs(60);
/// Longest pause between two tries of publishing a circuit change.
const PUBLISH_PAUSE_MAX: Duration = Duration::from_secs(5);

/// Where the actor lives and what it reports to.
pub struct Placement {
    pub partition: u16,
    pub app: Uuid,
    pub endpoint: Uuid,
    /// The partition's lease.
    pub fence: Arc<Fence>,
    /// Where successes are recorded (the thread's group commit).
    pub recorder: Recorder,
    /// Where job ends are reported to the partition.
    pub completions: UnboundedSender<Completion>,
    /// The partition's queue slots, shared by its endpoint actors (see [`gate`]).
    pub slots: Arc<Semaphore>,
    /// Health epoch of the route the actor starts with.
    pub health_epoch: u64,
}

/// The per-endpoint actor.
pub struct EndpointActor {
    /// Node-wide services (store, client, policy, config).
    context: Arc<WorkerContext>,
    placement: Placement,
    /// Queue, caps, limiter and breaker.
    gate: Gate<Job, OwnedSemaphorePermit>,
    /// Health epoch of the newest route seen (re-enabling the endpoint bumps it).
    health_epoch: u64,
    /// A pump is already scheduled (rate-limit wait, lease in doubt).
    wake_scheduled: bool,
}

impl EndpointActor {
    pub fn new(context: Arc<WorkerContext>, placement: Placement) -> Self {
        let config = &context.config;
        let limits = Limits {
            queue_capacity: config.endpoint.queue_capacity,
            max_in_flight: config.endpoint.max_in_flight,
            default_rate: Some(config.endpoint.default_rate_limit).filter(|r| *r > 0),
        };
        let gate = Gate::new(limits, CircuitBreaker::new(&config.circuit), Instant::now());
        EndpointActor {
            health_epoch: placement.health_epoch,
            context,
            placement,
            gate,
            wake_scheduled: false,
        }
    }

    /// Runs `pump` again after `wait`, once.
    fn wake_after(&mut self, ctx: &mut Context<Self>, wait: Duration) {
        if !self.wake_scheduled {
            self.wake_scheduled = true;
            ctx.run_later(wait, |act, ctx| {
                act.wake_scheduled = false;
                act.pump(ctx);
            });
        }
    }

    /// Starts what the gate allows; schedules a wake-up for the rate limit; parks the queue
    /// when the circuit is open.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if !self.placement.fence.is_valid(Instant::now()) {
            // The lease may have passed to another node: start nothing until it is renewed
            // (or the partition is stopped).
            self.wake_after(ctx, FENCE_RECHECK);
            return;
        }
        loop {
            match self.gate.next(Instant::now()) {
                Next::Start { job, probe } => self.start(ctx, job, probe),
                Next::WaitFor(wait) => {
                    if !self.wake_scheduled {
                        metrics::RATE_LIMIT_WAITS.inc();
                    }
                    self.wake_after(ctx, wait);
                    return;
                }
                Next::Postpone { jobs, until } => {
                    let now = now_ms();
                    let probe_at = now
                        + until.saturating_duration_since(Instant::now()).as_millis() as i64
                        + 1;
                    for job in jobs {
                        self.reschedule(ctx, job, Reschedule::Park { now, probe_at });
                    }
                    return;
                }
                Next::Nothing => return,
            }
        }
    }

    /// Runs one attempt (the half-open probe when `probe`) and feeds its end back.
    fn start(&mut self, ctx: &mut Context<Self>, job: Job, probe: bool) {
        let context = self.context.clone();
        let fence = self.placement.fence.clone();
        let recorder = self.placement.recorder.clone();
        let partition = self.placement.partition;
        let completions = self.placement.completions.clone();
        // One span per delivery: ids only, never the payload or secrets.
        let span = tracing::info_span!(
            "delivery",
            app = %job.task.app,
            endpoint = %job.route.id,
            message = %job.task.message,
            attempt = job.attempts_made() + 1,
        );
        let attempt = async move {
            let end = attempt::run(&context, &recorder, partition, &fence, &job).await;
            report(&completions, &job, end.job, end.lane_continues);
            end
        }
        .instrument(span);
        ctx.spawn(attempt.into_actor(self).map(move |end, act, ctx| {
            let finished = act.gate.finished(Instant::now(), end.result, probe);
            for (job, delay) in finished.shed {
                let due = now_ms() + delay.as_millis() as i64;
                act.reschedule(ctx, job, Reschedule::RetryAt(due));
            }
            if let Some(state) = finished.transition {
                act.publish_circuit(ctx, state);
            }
            if let Some(rate) = finished.adaptive {
                act.publish_rate(ctx, rate);
            }
            if end.disabled {
                // Re-enabling the endpoint resets its health; the breaker starts afresh with
                // it instead of holding the re-enabled endpoint's deliveries back.
                act.gate
                    .reset_breaker(CircuitBreaker::new(&act.context.config.circuit));
            }
            act.pump(ctx);
        }));
    }

    /// Writes the breaker's state into the endpoint's health hash (shown by the API, read by
    /// the next owner, and followed by the release of the parked backlog), retrying while
    /// Redis cannot serve.
    fn publish_circuit(&self, ctx: &mut Context<Self>, state: CircuitState) {
        metrics::circuit_transition(state.as_str());
        // Rounded up, so the mover never releases the probe before the breaker lets it through.
        let next_probe = self
            .gate
            .open_until()
            .map(|t| now_ms() + t.saturating_duration_since(Instant::now()).as_millis() as i64 + 1);
        let trips = self.gate.trips();
        let context = self.context.clone();
        let fence = self.placement.fence.clone();
        let (app, endpoint) = (self.placement.app, self.placement.endpoint);
        let ticket = self.context.activity.write();
        let write = async move {
            let _ticket = ticket;
            let mut pause = Duration::from_millis(100);
            loop {
                let published = context
                    .store
                    .publish_circuit(app, endpoint, state, next_probe, trips)
                    .await;
                match published {
                    Ok(()) => return,
                    Err(e) if e.is_unavailable() && fence.is_valid(Instant::now()) => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(PUBLISH_PAUSE_MAX);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not publish circuit state");
                        return;
                    }
                }
            }
        };
        ctx.spawn(write.into_actor(self));
    }

    /// Publishes the rate a throttling receiver brought the endpoint to (shown in its health).
    fn publish_rate(&self, ctx: &mut Context<Self>, per_second: Option<u32>) {
        let context = self.context.clone();
        let (app, endpoint) = (self.placement.app, self.placement.endpoint);
        let ticket = self.context.activity.write();
        let write = async move {
            let _ticket = ticket;
            if let Err(e) = context.store.publish_rate(app, endpoint, per_second).await {
                tracing::warn!(error = %e, "could not publish the endpoint's lowered rate");
            }
        };
        ctx.spawn(write.into_actor(self));
    }

    /// Reschedules a job without counting an attempt: into the retry set (full queue, slow
    /// endpoint) or the endpoint's parked backlog (open circuit).
    fn reschedule(&mut self, ctx: &mut Context<Self>, job: Job, to: Reschedule) {
        let context = self.context.clone();
        let fence = self.placement.fence.clone();
        let partition = self.placement.partition;
        let completions = self.placement.completions.clone();
        match to {
            Reschedule::RetryAt(_) => metrics::POSTPONED.inc(),
            Reschedule::Park { .. } => metrics::PARKED.inc(),
        }
        let write = async move {
            let db = &context.store.db;
            let written = match &job.lane {
                // A lane's head stays in place: the lane is due again then.
                Some(lane) => {
                    let due = match to {
                        Reschedule::RetryAt(due) => due,
                        Reschedule::Park { probe_at, .. } => probe_at,
                    };
                    attempt::retrying(&fence, &job, || {
                        queue::lane::defer(db, partition, fence.token(), &lane.lane, due)
                    })
                    .await
                }
                None => {
                    let task = job.next_task(job.attempts_made());
                    let job_ref = attempt::job_ref(&context, partition, &fence, &job);
                    attempt::retrying(&fence, &job, || record::postpone(db, &job_ref, &task, to))
                        .await
                }
            };
            // A deferred lane is not due now: the partition learns nothing more.
            report(
                &completions,
                &job,
                attempt::job_end(&job, written.is_ok()),
                false,
            );
        };
        ctx.spawn(write.into_actor(self));
    }

    /// The breaker and the rate limiter as the endpoint's published health left them (the
    /// last attempt was recorded when it ended, so its start is no later).
    fn restore(&mut self, health: &EndpointHealth) {
        let now = Instant::now();
        let last_attempt = health.last_success.max(health.last_failure);
        self.gate
            .restore_previous_start(last_attempt.and_then(|ms| {
                now.checked_sub(Duration::from_millis(
                    now_ms().saturating_sub(ms).max(0) as u64
                ))
            }));
        let open_until = health
            .next_probe
            .map(|ms| now + Duration::from_millis(ms.saturating_sub(now_ms()).max(0) as u64));
        self.gate.reset_breaker(CircuitBreaker::restore(
            &self.context.config.circuit,
            health.circuit,
            open_until,
            health.consecutive_failures,
            health.circuit_trips,
            now,
        ));
    }
}

/// Tells the partition a job ended (when it is gone, the entry stays pending for the next
/// owner); a lane's head also says whether the lane's next head is due now.
fn report(completions: &UnboundedSender<Completion>, job: &Job, end: JobEnd, lane_continues: bool) {
    let _ = completions.send(Completion {
        entry: job.entry.clone(),
        end,
        lane: job.lane.as_ref().map(|l| (l.lane.clone(), lane_continues)),
    });
}

impl Actor for EndpointActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        metrics::ACTIVE_ENDPOINTS.inc();
        self.context.activity.actor_started();
        // Jobs wait in the mailbox until the breaker is restored.
        let context = self.context.clone();
        let (app, endpoint) = (self.placement.app, self.placement.endpoint);
        let load = async move { context.store.endpoint_health(app, endpoint).await };
        ctx.wait(load.into_actor(self).map(|health, act, _| match health {
            Ok(health) => act.restore(&health),
            Err(e) => {
                tracing::warn!(error = %e, "could not read endpoint health; circuit starts closed")
            }
        }));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::ACTIVE_ENDPOINTS.dec();
        self.context.activity.actor_stopped();
    }
}

impl EndpointActor {
    /// A route newer than the one the actor knew: re-enabling the endpoint reset its health,
    /// so the breaker starts afresh too.
    fn follow(&mut self, route: &crate::dispatch::routing::Route) {
        if route.health_epoch > self.health_epoch {
            self.health_epoch = route.health_epoch;
            self.gate
                .reset_breaker(CircuitBreaker::new(&self.context.config.circuit));
        }
    }

    /// Holds a job of a paused endpoint in its parked backlog, released on resume (a lane's
    /// head stays in its lane, which the resume makes due again).
    fn hold(&mut self, ctx: &mut Context<Self>, job: Job) {
        let now = now_ms();
        let probe_at = match job.lane {
            Some(_) => now + HELD_LANE_RECHECK.as_millis() as i64,
            None => now,
        };
        self.reschedule(ctx, job, Reschedule::Park { now, probe_at });
    }
}

impl Handler<Enqueue> for EndpointActor {
    type Result = ();

    fn handle(&mut self, Enqueue(job): Enqueue, ctx: &mut Self::Context) {
        let now = Instant::now();
        self.follow(&job.route);
        if job.route.paused {
            self.hold(ctx, job);
            return;
        }
        let rate = job.route.rate_limit;
        if let Admit::Spill { job, delay } = self.gate.offer(job, rate, now) {
            let due = now_ms() + delay.as_millis() as i64;
            self.reschedule(ctx, job, Reschedule::RetryAt(due));
            return;
        }
        self.pump(ctx);
        let slots = self.placement.slots.clone();
        if let Some((job, delay)) = self
            .gate
            .settle_newest(now, || slots.try_acquire_owned().ok())
        {
            let due = now_ms() + delay.as_millis() as i64;
            self.reschedule(ctx, job, Reschedule::RetryAt(due));
        }
    }
}

impl Handler<Refresh> for EndpointActor {
    type Result = ();

    fn handle(&mut self, Refresh(route): Refresh, ctx: &mut Self::Context) {
        match route {
            // Disabled or deleted: queued deliveries are dropped, as a fan-out would drop them;
            // a lane keeps its order and waits (a deleted endpoint's lanes are purged).
            None => {
                for job in self.gate.take_queued() {
                    if job.lane.is_some() {
                        self.hold(ctx, job);
                    } else {
                        report(&self.placement.completions, &job, JobEnd::Recorded, false);
                    }
                }
            }
            Some(route) if route.paused => {
                for job in self.gate.take_queued() {
                    self.hold(ctx, job);
                }
            }
            Some(route) => {
                self.follow(&route);
                for job in self.gate.queued_mut() {
                    job.route = route.clone();
                }
                self.pump(ctx);
            }
        }
    }
}

impl Handler<StopIfIdle> for EndpointActor {
    type Result = bool;

    fn handle(&mut self, _: StopIfIdle, ctx: &mut Self::Context) -> bool {
        let idle_timeout = self.context.config.endpoint.idle_timeout;
        let idle = !self.wake_scheduled && self.gate.is_idle(Instant::now(), idle_timeout);
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
