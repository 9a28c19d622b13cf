//! The retry set of a partition: scheduled deliveries scored by due time (ms), moved back
//! into the stream when due by `scripts/move_due.lua`.

use std::sync::LazyLock;

use redis::Script;

use super::lease::Lease;
use super::stream::TASK_FIELD;
use crate::db::script::ScriptCall;
use crate::db::{Db, StoreError};

static MOVE_DUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/move_due.lua")));

/// What one call of the mover did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// This many due retries are now stream entries.
    Moved(usize),
    /// The lease is no longer ours: nothing was moved, the partition must stop.
    LeaseLost,
}

/// Moves up to `max` retries due at `now_ms` into the stream, under `lease`.
pub async fn move_due(
    db: &Db,
    partition: u16,
    lease: &Lease,
    now_ms: i64,
    max: usize,
) -> Result<Moved, StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let moved: i64 = ScriptCall::new(
        &MOVE_DUE,
        &[
            keys.retry(partition),
            keys.stream(partition),
            keys.lease(partition),
        ],
    )
    .arg(now_ms)
    .arg(max)
    .arg(lease.token())
    .arg(TASK_FIELD)
    .invoke(&mut conn)
    .await?;
    Ok(match usize::try_from(moved) {
        Ok(n) => Moved::Moved(n),
        Err(_) => Moved::LeaseLost,
    })
}
