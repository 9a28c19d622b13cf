//! One delivery attempt with its bookkeeping: send the webhook, decide what follows, and
//! record the attempt, the endpoint's health, the retry and the job's end for its stream
//! entry in one fenced script call (a success of a job from the stream in its thread's next
//! group commit, `dispatch::recorder`). A write that fails because Redis cannot serve is retried
//! for as long as the lease is surely ours (the outcome is known: recording it later beats
//! delivering again); one refused by the fence is abandoned at once.

use std::time::{Duration, Instant};

use crate::clock::now_ms;
use crate::db::StoreError;
use crate::delivery::Webhook;
use crate::dispatch::fence::Fence;
use crate::dispatch::messages::{Job, JobEnd};
use crate::dispatch::recorder::Recorder;
use crate::dispatch::WorkerContext;
use crate::domain::{Attempt, AttemptStatus, Outcome};
use crate::queue::outbox::{DisableReason, OpsEvent, OutboxEvent};
use crate::queue::record::{
    self, AttemptEvents, AttemptRecord, HealthUpdate, JobRef, LaneHead, RecordReply, Recorded,
    Success,
};
use crate::retry::{decide, Decision};
use crate::store::attempts;
use crate::telemetry::metrics;

use super::gate::AttemptResult;

/// Tries of a bookkeeping write that fails for another reason than Redis being unable to
/// serve (the job is then left pending, and reclaimed later).
const WRITE_TRIES: u32 = 3;
/// Longest pause between two tries of a bookkeeping write.
const WRITE_PAUSE_MAX: Duration = Duration::from_secs(1);

/// How an attempt ended, for the actor and the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptEnd {
    /// For the circuit breaker.
    pub result: AttemptResult,
    /// For the partition's acknowledgement ledger.
    pub job: JobEnd,
    /// The endpoint was disabled because of it (410 Gone, or failing too long).
    pub disabled: bool,
    /// For a lane's head: the lane has a next head, due now.
    pub lane_continues: bool,
}

/// The job's place in the queue, for the fenced scripts.
pub fn job_ref<'a>(
    context: &WorkerContext,
    partition: u16,
    fence: &'a Fence,
    job: &'a Job,
) -> JobRef<'a> {
    JobRef {
        partition,
        app: job.task.app,
        endpoint: job.route.id,
        entry: &job.entry,
        sole: job.sole,
        done_set: job.done_set,
        lease: fence.token(),
        done_ttl_secs: context.store.retention_secs(),
    }
}

/// Runs one attempt of `job` to its end.
pub async fn run(
    context: &WorkerContext,
    recorder: &Recorder,
    partition: u16,
    fence: &Fence,
    job: &Job,
) -> AttemptEnd {
    let message_id = job.task.message.to_string();
    // The node-wide cap: waits (without blocking the actor) when the node is saturated.
    let permit = context.node_permits.acquire().await;
    let request = context.activity.request();
    let signing_keys = job.route.keys_at(now_ms());
    let outcome = context
        .client
        .send(&Webhook {
            url: &job.route.url,
            message_id: &message_id,
            payload: job.payload.clone(),
            signing_keys: &signing_keys,
            headers: &job.route.headers,
        })
        .await;
    drop(request);
    drop(permit);
    observe(&outcome, job.task.created);
    let attempts_made = job.attempts_made() + 1;
    let decision = decide(
        &outcome,
        attempts_made,
        &context.policy,
        rand::random::<f64>(),
    );
    let retry_at = match decision {
        Decision::RetryIn(delay) => {
            metrics::RETRIES_SCHEDULED.inc();
            Some(now_ms() + delay.as_millis() as i64)
        }
        _ => None,
    };
    let status = match decision {
        Decision::Delivered => AttemptStatus::Success,
        Decision::RetryIn(_) => AttemptStatus::Pending,
        Decision::Exhausted | Decision::Gone => AttemptStatus::Failed,
    };
    let stored = attempts::encode(&attempt(job, &outcome, attempts_made, status, retry_at));
    // What the attempt says if this failure turns out to disable the endpoint (the record
    // script decides): final, since a disabled endpoint gets no retry.
    let stored_if_disabled = (status == AttemptStatus::Pending).then(|| {
        attempts::encode(&attempt(
            job,
            &outcome,
            attempts_made,
            AttemptStatus::Failed,
            None,
        ))
    });
    let next_task = job.next_task(attempts_made);
    let retried_head = next_task.encode();
    let lane = job.lane.as_ref().map(|l| LaneHead {
        lane: &l.lane,
        head: &l.head,
        retried: &retried_head,
    });
    let now = now_ms();
    let events = ops_events(context, job, &outcome, decision, attempts_made, now);
    let record = AttemptRecord {
        job: job_ref(context, partition, fence, job),
        message: job.task.message,
        started: outcome.started_ms,
        status,
        attempt: &stored,
        attempt_if_disabled: stored_if_disabled.as_deref(),
        health: if decision.is_success() {
            HealthUpdate::Success
        } else {
            HealthUpdate::Failure
        },
        retry: retry_at.map(|due| (&next_task, due)),
        now,
        retention_secs: context.store.retention_secs(),
        disable_after_ms: context.config.endpoint.disable_after.as_millis() as u64,
        lane,
        events: AttemptEvents {
            exhausted: events.exhausted.as_deref(),
            failing: events.failing.as_deref(),
            disabling: &events.disabling,
            warn_after_ms: events.warn_after_ms,
        },
    };
    let recorded = if record.health == HealthUpdate::Success && record.lane.is_none() {
        let success = Success::new(&record.job, record.message, record.started, stored.clone());
        retrying(fence, job, || recorder.record(success.clone()))
            .await
            .map(|()| RecordReply {
                recorded: Recorded::Recorded,
                lane_continues: false,
            })
    } else {
        retrying(fence, job, || {
            record::record_attempt(&context.store.db, &record)
        })
        .await
    };
    let disable = decision == Decision::Gone
        || recorded.is_ok_and(|reply| reply.recorded == Recorded::Disable);
    let mut disabled = false;
    if disable {
        tracing::info!(endpoint = %job.route.id, gone = decision == Decision::Gone, "disabling endpoint");
        let reason = if decision == Decision::Gone {
            DisableReason::Gone
        } else {
            DisableReason::Failing
        };
        match context
            .store
            .disable_endpoint(job.task.app, job.route.id, reason)
            .await
        {
            Ok(()) => disabled = true,
            Err(e) => tracing::warn!(error = %e, "could not disable endpoint"),
        }
    }
    let result = match (&recorded, decision.is_success()) {
        (Err(_), _) => AttemptResult::Unrecorded,
        (Ok(_), true) => AttemptResult::Succeeded,
        (Ok(_), false) if outcome.is_throttled() => AttemptResult::Throttled,
        (Ok(_), false) => AttemptResult::Failed,
    };
    AttemptEnd {
        result,
        job: job_end(job, recorded.is_ok()),
        disabled,
        lane_continues: recorded.is_ok_and(|reply| reply.lane_continues),
    }
}

/// The operational events an attempt may cause, encoded for its record.
struct OpsEvents {
    exhausted: Option<String>,
    failing: Option<String>,
    disabling: String,
    warn_after_ms: u64,
}

fn ops_events(
    context: &WorkerContext,
    job: &Job,
    outcome: &Outcome,
    decision: Decision,
    attempts_made: u32,
    now: i64,
) -> OpsEvents {
    let (app, endpoint) = (job.task.app, job.route.id);
    let about_message = |kind| {
        OutboxEvent::new(kind, app, endpoint, now)
            .with("messageId", job.task.message.to_string())
            .with("attempts", attempts_made)
            .with("lastStatusCode", outcome.status)
            .encode()
    };
    let failed = !decision.is_success();
    let config = &context.config;
    OpsEvents {
        exhausted: (decision == Decision::Exhausted)
            .then(|| about_message(OpsEvent::AttemptExhausted)),
        failing: (failed && attempts_made == config.ops.failing_after)
            .then(|| about_message(OpsEvent::AttemptFailing)),
        // Read by the record script on failures only.
        disabling: if failed {
            OutboxEvent::new(OpsEvent::EndpointDisabling, app, endpoint, now).encode()
        } else {
            String::new()
        },
        warn_after_ms: config
            .endpoint
            .disable_after
            .saturating_sub(config.ops.failing_warning_before)
            .as_millis() as u64,
    }
}

/// How a job that was recorded (or not) ends for its stream entry.
pub fn job_end(job: &Job, recorded: bool) -> JobEnd {
    match (recorded, job.sole) {
        (false, _) => JobEnd::Unrecorded,
        (true, true) => JobEnd::Acknowledged,
        (true, false) => JobEnd::Recorded,
    }
}

/// Metrics and the log line of one attempt (ids only: never the payload or secrets).
fn observe(outcome: &Outcome, created: Option<i64>) {
    let lag = created.filter(|_| outcome.is_success()).map(|created| {
        let ms = outcome.started_ms + outcome.duration.as_millis() as i64 - created;
        Duration::from_millis(ms.max(0) as u64)
    });
    metrics::delivery(outcome.label(), outcome.duration, lag);
    let ms = outcome.duration.as_millis() as u64;
    match outcome.failure {
        None => tracing::debug!(status = outcome.status, ms, "delivered"),
        Some(kind) => tracing::info!(
            status = outcome.status,
            error = kind.as_str(),
            ms,
            "delivery failed"
        ),
    }
}

fn attempt(
    job: &Job,
    outcome: &Outcome,
    attempts_made: u32,
    status: AttemptStatus,
    next_attempt: Option<i64>,
) -> Attempt {
    Attempt {
        endpoint_id: job.route.id,
        attempt: attempts_made,
        timestamp: outcome.started_ms,
        status,
        response_status_code: outcome.status,
        error: outcome.failure,
        duration_ms: outcome.duration.as_millis() as u64,
        response_body: outcome.body.clone(),
        next_attempt,
    }
}

/// Runs a bookkeeping write of `job` until it succeeds: while Redis cannot serve and the
/// lease is surely ours, with a growing pause; a few times for any other error; never again
/// once the fence refused it.
pub async fn retrying<T, F, Fut>(fence: &Fence, job: &Job, mut write: F) -> Result<T, ()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut pause = Duration::from_millis(50);
    let mut tries = 0;
    loop {
        tries += 1;
        let error = match write().await {
            Ok(value) => return Ok(value),
            Err(StoreError::LeaseLost) => {
                metrics::FENCED_WRITES.inc();
                tracing::warn!(entry = %job.entry, "write refused: the lease has passed to another node");
                return Err(());
            }
            Err(e) => e,
        };
        let waiting_for_redis = error.is_unavailable() && fence.is_valid(Instant::now());
        if !waiting_for_redis && tries >= WRITE_TRIES {
            tracing::error!(error = %error, entry = %job.entry, "could not record; the entry stays pending and is reclaimed later");
            return Err(());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(WRITE_PAUSE_MAX);
    }
}
