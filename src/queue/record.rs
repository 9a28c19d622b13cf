//! Typed calls of the delivery path's bookkeeping scripts: recording an attempt
//! (`scripts/record_attempt.lua`) and rescheduling a delivery without an attempt
//! (`scripts/postpone.lua`: into the retry set, or into the endpoint's parked backlog). Every
//! one is fenced by the partition's lease and ends the job for its stream entry in the same
//! atomic step.

use std::sync::LazyLock;

use redis::Script;
use uuid::Uuid;

use super::lane::Lane;
use super::log;
use super::outbox::EVENT_FIELD;
use super::park::index_member;
use super::stream::GROUP;
use super::task::Task;
use crate::db::script::ScriptCall;
use crate::db::{Db, StoreError};
use crate::domain::AttemptStatus;

static RECORD_ATTEMPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/record_attempt.lua")));
static POSTPONE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/postpone.lua")));

/// One record in this many trims the endpoint's attempt log.
const LOG_TRIM_EVERY: u32 = 16;

/// A job's place in the queue: which stream entry it came from and under which lease.
#[derive(Debug, Clone, Copy)]
pub struct JobRef<'a> {
    pub partition: u16,
    pub app: Uuid,
    pub endpoint: Uuid,
    /// The stream entry the job came from.
    pub entry: &'a str,
    /// The entry has this one job only: its end acknowledges the entry; otherwise it marks
    /// the endpoint done in the entry's done set.
    pub sole: bool,
    /// The entry may have a done set, which its acknowledgement deletes.
    pub done_set: bool,
    /// The caller's lease token (fencing).
    pub lease: &'a str,
    /// Lifetime of the entry's done set, seconds.
    pub done_ttl_secs: u64,
}

impl JobRef<'_> {
    fn end_arg(&self) -> &'static str {
        match (self.sole, self.done_set) {
            (true, false) => "ack",
            (true, true) => "ack_done",
            (false, _) => "mark",
        }
    }
}

/// The head of a FIFO lane whose attempt is recorded.
#[derive(Debug, Clone, Copy)]
pub struct LaneHead<'a> {
    pub lane: &'a Lane,
    /// The head as it was taken (encoded task).
    pub head: &'a str,
    /// The head one attempt older, left in place when a retry is scheduled.
    pub retried: &'a str,
}

/// What an attempt did to the endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthUpdate {
    /// The receiver answered 2xx: the failure streak ends.
    Success,
    /// It failed: the streak grows (and may disable the endpoint).
    Failure,
}

impl HealthUpdate {
    fn as_arg(self) -> &'static str {
        match self {
            HealthUpdate::Success => "success",
            HealthUpdate::Failure => "failure",
        }
    }
}

/// How much of the record script's keys and arguments a call passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tier {
    /// A success of a job from the stream: the attempt, health, log, stats and the job's end.
    Success,
    /// A failure adds the retry, the disabling and the operational events.
    Failure,
    /// The head of a FIFO lane adds the lane.
    Lane,
}

/// One attempt's bookkeeping, for [`record_attempt`].
#[derive(Debug)]
pub struct AttemptRecord<'a> {
    pub job: JobRef<'a>,
    pub message: Uuid,
    /// When the attempt started, epoch ms (its place in the endpoint's log).
    pub started: i64,
    /// Its status, and its status if this failure disables the endpoint.
    pub status: AttemptStatus,
    /// The attempt as stored (JSON).
    pub attempt: &'a str,
    /// The attempt as stored if this failure disables the endpoint (final, no retry).
    pub attempt_if_disabled: Option<&'a str>,
    pub health: HealthUpdate,
    /// The retry to schedule and its due time (ms).
    pub retry: Option<(&'a Task, i64)>,
    /// Now, epoch ms.
    pub now: i64,
    /// How long attempts are kept.
    pub retention_secs: u64,
    /// Failing for this long disables the endpoint.
    pub disable_after_ms: u64,
    /// The attempt was of a FIFO lane's head.
    pub lane: Option<LaneHead<'a>>,
    /// The operational events the attempt may cause (`queue::outbox`).
    pub events: AttemptEvents<'a>,
}

/// Operational events an attempt's record writes into the outbox, encoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttemptEvents<'a> {
    /// `message.attempt.exhausted`: the attempt ends its schedule.
    pub exhausted: Option<&'a str>,
    /// `message.attempt.failing`: the attempt is the message's `ops.failing_after`-th failure.
    pub failing: Option<&'a str>,
    /// `endpoint.disabling` (without `disableAt`), written when the endpoint has been failing
    /// for `warn_after_ms`, once per failure streak.
    pub disabling: &'a str,
    pub warn_after_ms: u64,
}

/// What the record script decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded as asked.
    Recorded,
    /// Recorded as final: the endpoint has failed for longer than the auto-disable period, so
    /// the caller must disable it (no retry was scheduled).
    Disable,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordReply {
    pub recorded: Recorded,
    /// For a lane's head: the lane has a next head, due now.
    pub lane_continues: bool,
}

/// Records an attempt, its health, its retry and its job's end atomically.
pub async fn record_attempt(db: &Db, r: &AttemptRecord<'_>) -> Result<RecordReply, StoreError> {
    let keys = &db.keys;
    let job = &r.job;
    let (log_before, log_after) = log::member_parts(r.message, r.status);
    // One record in LOG_TRIM_EVERY trims the endpoint's log by age: it may hold a few attempts
    // past retention for a while, at a fraction of the writes.
    let oldest_kept = if rand::random_ratio(1, LOG_TRIM_EVERY) {
        (r.now - (r.retention_secs as i64) * 1000).to_string()
    } else {
        String::new()
    };
    let end = if r.lane.is_some() {
        "lane"
    } else {
        job.end_arg()
    };
    // The tiers of keys and arguments the script reads (see its header): a success of a job
    // from the stream passes the first only, a failure the first two, a lane's head all three.
    let tier = match (r.lane.is_some(), r.health) {
        (true, _) => Tier::Lane,
        (false, HealthUpdate::Failure) => Tier::Failure,
        (false, HealthUpdate::Success) => Tier::Success,
    };
    // Room for every tier: pushing never reallocates.
    let mut key_list = Vec::with_capacity(14);
    key_list.extend([
        keys.lease(job.partition),
        keys.attempts(job.app, r.message),
        keys.message(job.app, r.message),
        keys.endpoint(job.app, job.endpoint),
        keys.endpoint_health(job.app, job.endpoint),
        keys.endpoint_log(job.app, job.endpoint),
        keys.endpoint_stats(job.app, job.endpoint),
        keys.stream(job.partition),
        keys.done(job.partition, job.entry),
    ]);
    if tier >= Tier::Failure {
        key_list.push(keys.retry(job.partition));
        key_list.push(keys.outbox(job.partition));
    }
    if let Some(head) = r.lane {
        let lane = head.lane;
        key_list.push(keys.lane(lane.app, lane.endpoint, &lane.name));
        key_list.push(keys.lane_index(job.partition));
        key_list.push(keys.endpoint_lanes(lane.app, lane.endpoint));
    }
    let mut call = ScriptCall::new(&RECORD_ATTEMPT, &key_list);
    call.arg(job.lease)
        .arg(r.health.as_arg())
        .arg(r.now)
        .arg(r.retention_secs.max(1))
        .arg(r.attempt)
        .arg(r.started)
        .arg(log_before)
        .arg(log_after)
        .arg(oldest_kept)
        .arg(&log::stats_args(r.now)[..])
        .arg(end)
        .arg(job.entry)
        .arg(GROUP)
        .arg(job.endpoint.to_string())
        .arg(job.done_ttl_secs);
    if tier >= Tier::Failure {
        let (_, log_after_disabled) = log::member_parts(r.message, AttemptStatus::Failed);
        let member = r.retry.map(|(task, _)| task.retry_member());
        call.arg(member.as_deref().unwrap_or(""))
            .arg(r.retry.map_or(0, |(_, due)| due))
            .arg(r.disable_after_ms)
            .arg(r.attempt_if_disabled.unwrap_or(""))
            .arg(log_after_disabled)
            .arg(EVENT_FIELD)
            .arg(r.events.exhausted.unwrap_or(""))
            .arg(r.events.failing.unwrap_or(""))
            .arg(r.events.warn_after_ms)
            .arg(r.events.disabling);
    }
    if let Some(head) = r.lane {
        call.arg(head.lane.member())
            .arg(head.head)
            .arg(head.retried)
            .arg(&head.lane.name);
    }
    let mut conn = db.conn().await?;
    let answer: redis::Value = call.invoke(&mut conn).await?;
    if answer == redis::Value::Int(-1) {
        return Err(StoreError::LeaseLost);
    }
    let (code, continues): (i64, i64) = redis::from_redis_value(answer)?;
    let recorded = match code {
        1 => Recorded::Recorded,
        2 => Recorded::Disable,
        other => {
            return Err(StoreError::Corrupt(format!(
                "record_attempt answered {other}"
            )))
        }
    };
    Ok(RecordReply {
        recorded,
        lane_continues: continues == 1,
    })
}

/// Where a delivery goes when it is rescheduled without an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reschedule {
    /// Into the retry set, due at this time (ms): a full queue, a slow endpoint.
    RetryAt(i64),
    /// Into the endpoint's parked backlog (its circuit is open); the mover looks at it again
    /// at `probe_at` (ms).
    Park { now: i64, probe_at: i64 },
}

/// Reschedules `task` without counting an attempt, ending its job in the same step.
pub async fn postpone(
    db: &Db,
    job: &JobRef<'_>,
    task: &Task,
    to: Reschedule,
) -> Result<(), StoreError> {
    let keys = &db.keys;
    let (set, score, mode, look_at) = match to {
        Reschedule::RetryAt(due) => (keys.retry(job.partition), due, "retry", 0),
        Reschedule::Park { now, probe_at } => {
            (keys.parked(job.app, job.endpoint), now, "park", probe_at)
        }
    };
    let mut conn = db.conn().await?;
    let code: i64 = ScriptCall::new(
        &POSTPONE,
        &[
            set,
            keys.stream(job.partition),
            keys.lease(job.partition),
            keys.done(job.partition, job.entry),
            keys.parked_index(job.partition),
        ],
    )
    .arg(task.retry_member())
    .arg(score)
    .arg(job.entry)
    .arg(job.end_arg())
    .arg(GROUP)
    .arg(job.lease)
    .arg(job.endpoint.to_string())
    .arg(job.done_ttl_secs)
    .arg(mode)
    .arg(look_at)
    .arg(index_member(job.app, job.endpoint))
    .invoke(&mut conn)
    .await?;
    match code {
        1 => Ok(()),
        -1 => Err(StoreError::LeaseLost),
        other => Err(StoreError::Corrupt(format!("postpone answered {other}"))),
    }
}
