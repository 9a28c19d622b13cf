//! Typed calls of the delivery path's bookkeeping scripts: recording an attempt
//! (`scripts/record_attempt.lua`), many successes at once (`scripts/record_successes.lua`)
//! and rescheduling a delivery without an attempt
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
use crate::db::{Db, Keys, StoreError};
use crate::domain::AttemptStatus;

/// The functions both record scripts use, put in front of each.
const RECORD_COMMON: &str = include_str!("scripts/record_common.lua");
static RECORD_ATTEMPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&[RECORD_COMMON, include_str!("scripts/record_attempt.lua")].concat())
});
static RECORD_SUCCESSES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&[RECORD_COMMON, include_str!("scripts/record_successes.lua")].concat())
});
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

/// The keys every record reads, in the order both record scripts take them: the lease, the
/// attempt's message and endpoint (application, endpoint, message), the job's stream entry.
fn first_tier_keys(
    keys: &Keys,
    partition: u16,
    (app, endpoint, message): (Uuid, Uuid, Uuid),
    entry: &str,
) -> [String; 9] {
    [
        keys.lease(partition),
        keys.attempts(app, message),
        keys.message(app, message),
        keys.endpoint(app, endpoint),
        keys.endpoint_health(app, endpoint),
        keys.endpoint_log(app, endpoint),
        keys.endpoint_stats(app, endpoint),
        keys.stream(partition),
        keys.done(partition, entry),
    ]
}

/// Records an attempt, its health, its retry and its job's end atomically.
pub async fn record_attempt(db: &Db, r: &AttemptRecord<'_>) -> Result<RecordReply, StoreError> {
    let keys = &db.keys;
    let job = &r.job;
    let (log_before, log_after) = log::member_parts(r.message, r.status);
    let oldest_kept = oldest_kept(r.now, r.retention_secs);
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
    key_list.extend(first_tier_keys(
        keys,
        job.partition,
        (job.app, job.endpoint, r.message),
        job.entry,
    ));
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

/// The record's trim of the endpoint's log: one record in [`LOG_TRIM_EVERY`] trims it by age
/// (the oldest score kept, ms), the others pass "" and do not. The log may hold a few attempts
/// past retention for a while, at a fraction of the writes.
fn oldest_kept(now: i64, retention_secs: u64) -> String {
    if rand::random_ratio(1, LOG_TRIM_EVERY) {
        (now - (retention_secs as i64) * 1000).to_string()
    } else {
        String::new()
    }
}

/// A successful attempt of a job from the stream (not a lane's head), the record nearly every
/// attempt makes, for [`record_successes`]. Owned: it waits in its thread's recorder for the
/// next call.
#[derive(Debug, Clone)]
pub struct Success {
    pub partition: u16,
    pub app: Uuid,
    pub endpoint: Uuid,
    pub message: Uuid,
    /// The stream entry the job came from.
    pub entry: String,
    /// How the job ends for its entry (see [`JobRef::sole`]).
    end: &'static str,
    /// The caller's lease token (fencing).
    pub lease: String,
    /// The attempt as stored (JSON).
    pub attempt: String,
    /// When the attempt started, epoch ms.
    pub started: i64,
}

impl Success {
    /// The success of `job`'s attempt of `message`.
    pub fn new(job: &JobRef<'_>, message: Uuid, started: i64, attempt: String) -> Self {
        Success {
            partition: job.partition,
            app: job.app,
            endpoint: job.endpoint,
            message,
            entry: job.entry.to_owned(),
            end: job.end_arg(),
            lease: job.lease.to_owned(),
            attempt,
            started,
        }
    }
}

/// Records `successes` in one atomic script call at `now`, as [`record_attempt`] records each
/// (attempts and their entries' done sets kept `retention_secs`). Each is fenced by its own
/// partition's lease; answers, in order, whether each was recorded (`false`: its lease has
/// passed to another owner). On a Redis Cluster all of them must be of one partition.
pub async fn record_successes(
    db: &Db,
    successes: &[Success],
    now: i64,
    retention_secs: u64,
) -> Result<Vec<bool>, StoreError> {
    if successes.is_empty() {
        return Ok(Vec::new());
    }
    let keys = &db.keys;
    let mut key_list = Vec::with_capacity(successes.len() * 9);
    for s in successes {
        key_list.extend(first_tier_keys(
            keys,
            s.partition,
            (s.app, s.endpoint, s.message),
            &s.entry,
        ));
    }
    let (_, log_after) = log::member_parts(Uuid::nil(), AttemptStatus::Success);
    let mut call = ScriptCall::new(&RECORD_SUCCESSES, &key_list);
    call.arg(now)
        .arg(retention_secs.max(1))
        .arg(&log::stats_args(now)[..])
        .arg(log_after)
        .arg(GROUP)
        .arg(retention_secs);
    for s in successes {
        let (log_before, _) = log::member_parts(s.message, AttemptStatus::Success);
        call.arg(&s.lease)
            .arg(&s.attempt)
            .arg(s.started)
            .arg(log_before)
            .arg(oldest_kept(now, retention_secs))
            .arg(s.end)
            .arg(&s.entry)
            .arg(s.endpoint.to_string());
    }
    let mut conn = db.conn().await?;
    let answers: Vec<i64> = call.invoke(&mut conn).await?;
    if answers.len() != successes.len() {
        return Err(StoreError::Corrupt(format!(
            "record_successes answered {} results for {} records",
            answers.len(),
            successes.len()
        )));
    }
    Ok(answers.into_iter().map(|a| a == 1).collect())
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
