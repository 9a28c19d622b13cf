//! One actor per endpoint: the only place deliveries to that endpoint are started, so its
//! rate limit, concurrency cap and circuit breaker hold for the whole cluster (one node owns
//! the endpoint's partition). The decisions are the [`gate`]'s; the actor carries them out:
//! it starts attempts ([`attempt`]), sends spilled and postponed jobs to the retry set,
//! publishes circuit changes, and reports every job's end to its partition.

pub mod attempt;
pub mod gate;

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;
use uuid::Uuid;

use super::messages::{Completion, Enqueue, Job, JobEnd, Stop, StopIfIdle};
use super::WorkerContext;
use crate::clock::now_ms;
use crate::domain::CircuitState;
use crate::queue::record;
use crate::retry::CircuitBreaker;
use crate::telemetry::metrics;
use gate::{Admit, Gate, Limits, Next};

/// The per-endpoint actor.
pub struct EndpointActor {
    /// Node-wide services (store, client, policy, config).
    context: Arc<WorkerContext>,
    /// Partition the endpoint's application lives in.
    partition: u16,
    /// The endpoint's application, and the endpoint.
    app: Uuid,
    endpoint: Uuid,
    /// Where job ends are reported to the partition.
    completions: UnboundedSender<Completion>,
    /// The partition's queue slots, shared by its endpoint actors (see [`gate`]).
    slots: Arc<Semaphore>,
    /// Queue, caps, limiter and breaker.
    gate: Gate<Job, OwnedSemaphorePermit>,
    /// Health epoch of the newest route seen (re-enabling the endpoint bumps it).
    health_epoch: u64,
    /// A pump is already scheduled (rate-limit wait).
    wake_scheduled: bool,
}

impl EndpointActor {
    pub fn new(
        context: Arc<WorkerContext>,
        partition: u16,
        app: Uuid,
        endpoint: Uuid,
        completions: UnboundedSender<Completion>,
        slots: Arc<Semaphore>,
    ) -> Self {
        let config = &context.config;
        let limits = Limits {
            queue_capacity: config.endpoint.queue_capacity,
            max_in_flight: config.endpoint.max_in_flight,
            default_rate: Some(config.endpoint.default_rate_limit).filter(|r| *r > 0),
        };
        let gate = Gate::new(limits, CircuitBreaker::new(&config.circuit), Instant::now());
        EndpointActor {
            context,
            partition,
            app,
            endpoint,
            completions,
            slots,
            gate,
            health_epoch: 0,
            wake_scheduled: false,
        }
    }

    /// Starts what the gate allows; schedules a wake-up for the rate limit; sends the queue
    /// to the retry set when the circuit is open.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        loop {
            match self.gate.next(Instant::now()) {
                Next::Start { job, probe } => self.start(ctx, job, probe),
                Next::WaitFor(wait) => {
                    if !self.wake_scheduled {
                        self.wake_scheduled = true;
                        metrics::RATE_LIMIT_WAITS.inc();
                        ctx.run_later(wait, |act, ctx| {
                            act.wake_scheduled = false;
                            act.pump(ctx);
                        });
                    }
                    return;
                }
                Next::Postpone { jobs, until } => {
                    let due = now_ms()
                        + until.saturating_duration_since(Instant::now()).as_millis() as i64;
                    for job in jobs {
                        self.postpone(ctx, job, due);
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
        let partition = self.partition;
        let completions = self.completions.clone();
        // One span per delivery: ids only, never the payload or secrets.
        let span = tracing::info_span!(
            "delivery",
            app = %job.task.app,
            endpoint = %job.route.id,
            message = %job.task.message,
            attempt = job.attempts_made() + 1,
        );
        let attempt = async move {
            let end = attempt::run(&context, partition, &job).await;
            report(&completions, &job, end.job);
            end
        }
        .instrument(span);
        ctx.spawn(attempt.into_actor(self).map(move |end, act, ctx| {
            let finished = act.gate.finished(Instant::now(), end.result, probe);
            for (job, delay) in finished.shed {
                act.postpone(ctx, job, now_ms() + delay.as_millis() as i64);
            }
            if let Some(state) = finished.transition {
                act.publish_circuit(ctx, state);
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

    /// Writes the breaker's state into the endpoint's health hash (shown by the API).
    fn publish_circuit(&self, ctx: &mut Context<Self>, state: CircuitState) {
        metrics::circuit_transition(state.as_str());
        let next_probe = self
            .gate
            .open_until()
            .map(|t| now_ms() + t.saturating_duration_since(Instant::now()).as_millis() as i64);
        let context = self.context.clone();
        let (app, endpoint) = (self.app, self.endpoint);
        let write = async move {
            if let Err(e) = context
                .store
                .publish_circuit(app, endpoint, state, next_probe)
                .await
            {
                tracing::warn!(error = %e, "could not publish circuit state");
            }
        };
        ctx.spawn(write.into_actor(self));
    }

    /// Sends a job to the retry set without counting an attempt (full queue, open circuit).
    fn postpone(&mut self, ctx: &mut Context<Self>, job: Job, due_ms: i64) {
        let context = self.context.clone();
        let partition = self.partition;
        let completions = self.completions.clone();
        metrics::POSTPONED.inc();
        let write = async move {
            let task = job.next_task(job.attempts_made());
            let written = attempt::retrying(&job, || {
                record::postpone(
                    &context.store.db,
                    partition,
                    &task,
                    due_ms,
                    job.ack_in_script(),
                )
            })
            .await;
            report(&completions, &job, attempt::job_end(&job, written.is_ok()));
        };
        ctx.spawn(write.into_actor(self));
    }
}

/// Tells the partition a job ended (when it is gone, the entry stays pending for the next
/// owner).
fn report(completions: &UnboundedSender<Completion>, job: &Job, end: JobEnd) {
    let _ = completions.send(Completion {
        entry: job.entry.clone(),
        end,
    });
}

impl Actor for EndpointActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        metrics::ACTIVE_ENDPOINTS.inc();
        self.context.activity.actor_started();
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::ACTIVE_ENDPOINTS.dec();
        self.context.activity.actor_stopped();
    }
}

impl Handler<Enqueue> for EndpointActor {
    type Result = ();

    fn handle(&mut self, Enqueue(job): Enqueue, ctx: &mut Self::Context) {
        let now = Instant::now();
        if job.route.health_epoch > self.health_epoch {
            // The endpoint was re-enabled, which reset its health: the breaker starts afresh.
            self.health_epoch = job.route.health_epoch;
            self.gate
                .reset_breaker(CircuitBreaker::new(&self.context.config.circuit));
        }
        let rate = job.route.rate_limit;
        if let Admit::Spill { job, delay } = self.gate.offer(job, rate, now) {
            self.postpone(ctx, job, now_ms() + delay.as_millis() as i64);
            return;
        }
        self.pump(ctx);
        let slots = self.slots.clone();
        if let Some((job, delay)) = self
            .gate
            .settle_newest(now, || slots.try_acquire_owned().ok())
        {
            self.postpone(ctx, job, now_ms() + delay.as_millis() as i64);
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
