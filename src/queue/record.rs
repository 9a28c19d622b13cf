//! Typed calls of the delivery path's bookkeeping scripts: recording an attempt
//! (`scripts/record_attempt.lua`) and postponing a delivery (`scripts/postpone.lua`).

use std::sync::LazyLock;

use redis::Script;
use uuid::Uuid;

use super::stream::GROUP;
use super::task::Task;
use crate::db::{Db, StoreError};

static RECORD_ATTEMPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/record_attempt.lua")));
static POSTPONE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/postpone.lua")));

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

/// One attempt's bookkeeping, for [`record_attempt`].
#[derive(Debug)]
pub struct AttemptRecord<'a> {
    pub partition: u16,
    pub app: Uuid,
    pub message: Uuid,
    pub endpoint: Uuid,
    /// The attempt as stored (JSON).
    pub attempt: &'a str,
    /// The attempt as stored if this failure disables the endpoint (final, no retry).
    pub attempt_if_disabled: Option<&'a str>,
    pub health: HealthUpdate,
    /// The retry to schedule and its due time (ms).
    pub retry: Option<(&'a Task, i64)>,
    /// The stream entry to acknowledge in the same step (entries with this one job).
    pub ack: Option<&'a str>,
    /// Now, epoch ms.
    pub now: i64,
    /// How long attempts are kept.
    pub retention_secs: u64,
    /// Failing for this long disables the endpoint.
    pub disable_after_ms: u64,
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

/// Records an attempt, its health, its retry and its acknowledgement atomically.
pub async fn record_attempt(db: &Db, r: &AttemptRecord<'_>) -> Result<Recorded, StoreError> {
    let keys = &db.keys;
    let member = r.retry.map(|(task, _)| task.retry_member());
    let mut conn = db.conn().await?;
    let code: i64 = RECORD_ATTEMPT
        .key(keys.attempts(r.app, r.message))
        .key(keys.message(r.app, r.message))
        .key(keys.endpoint_health(r.app, r.endpoint))
        .key(keys.retry(r.partition))
        .key(keys.stream(r.partition))
        .key(keys.endpoint(r.app, r.endpoint))
        .arg(r.attempt)
        .arg(r.retention_secs.max(1))
        .arg(r.health.as_arg())
        .arg(r.now)
        .arg(member.as_deref().unwrap_or(""))
        .arg(r.retry.map_or(0, |(_, due)| due))
        .arg(r.ack.unwrap_or(""))
        .arg(r.disable_after_ms)
        .arg(r.attempt_if_disabled.unwrap_or(""))
        .arg(GROUP)
        .invoke_async(&mut conn)
        .await?;
    match code {
        1 => Ok(Recorded::Recorded),
        2 => Ok(Recorded::Disable),
        other => Err(StoreError::Corrupt(format!(
            "record_attempt answered {other}"
        ))),
    }
}

/// Sends `task` to the retry set, due at `due_ms`, without counting an attempt; acknowledges
/// `ack` in the same step.
pub async fn postpone(
    db: &Db,
    partition: u16,
    task: &Task,
    due_ms: i64,
    ack: Option<&str>,
) -> Result<(), StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let _: i64 = POSTPONE
        .key(keys.retry(partition))
        .key(keys.stream(partition))
        .arg(task.retry_member())
        .arg(due_ms)
        .arg(ack.unwrap_or(""))
        .arg(GROUP)
        .invoke_async(&mut conn)
        .await?;
    Ok(())
}
