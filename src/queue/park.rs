//! Parked backlogs: the deliveries of an endpoint whose circuit is open wait in a sorted set
//! of their own (arrival order) instead of cycling through the stream at every probe. A
//! per-partition index lists the endpoints with parked work, scored by when to look at them
//! next; the partition's mover releases them with `scripts/release.lua` as the endpoint's
//! published circuit state allows (see that script).

use std::sync::LazyLock;

use redis::Script;
use uuid::Uuid;

use super::stream::TASK_FIELD;
use crate::db::script::ScriptCall;
use crate::db::{Db, StoreError};

/// How often the mover looks again at the backlog of a paused endpoint (its resume makes the
/// backlog due at once; this is only a backstop).
const PAUSED_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

static RELEASE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/release.lua")));

/// The parked index's member of an endpoint: `<app>|<endpoint>`.
pub fn index_member(app: Uuid, endpoint: Uuid) -> String {
    format!("{app}|{endpoint}")
}

fn parse_member(member: &str) -> Option<(Uuid, Uuid)> {
    let (app, endpoint) = member.split_once('|')?;
    Some((Uuid::parse_str(app).ok()?, Uuid::parse_str(endpoint).ok()?))
}

/// Endpoints of `partition` whose parked work is due for a look at `now_ms` (at most `max`).
pub async fn due(
    db: &Db,
    partition: u16,
    now_ms: i64,
    max: usize,
) -> Result<Vec<(Uuid, Uuid)>, StoreError> {
    let mut conn = db.conn().await?;
    let members: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(db.keys.parked_index(partition))
        .arg("-inf")
        .arg(now_ms)
        .arg("LIMIT")
        .arg(0)
        .arg(max)
        .query_async(&mut conn)
        .await?;
    Ok(members.iter().filter_map(|m| parse_member(m)).collect())
}

/// Releases what the endpoint's circuit allows of its parked work into the stream; returns
/// how many deliveries were released.
pub async fn release(
    db: &Db,
    partition: u16,
    lease: &str,
    (app, endpoint): (Uuid, Uuid),
    now_ms: i64,
    batch: usize,
    probe_pause_ms: u64,
) -> Result<usize, StoreError> {
    let keys = &db.keys;
    let mut conn = db.conn().await?;
    let released: i64 = ScriptCall::new(
        &RELEASE,
        &[
            keys.parked(app, endpoint),
            keys.parked_index(partition),
            keys.stream(partition),
            keys.lease(partition),
            keys.endpoint_health(app, endpoint),
            keys.endpoint(app, endpoint),
        ],
    )
    .arg(lease)
    .arg(now_ms)
    .arg(index_member(app, endpoint))
    .arg(TASK_FIELD)
    .arg(batch)
    .arg(probe_pause_ms)
    .arg(PAUSED_RECHECK.as_millis() as u64)
    .invoke(&mut conn)
    .await?;
    usize::try_from(released).map_err(|_| StoreError::LeaseLost)
}

/// Deliveries parked for one endpoint.
pub async fn parked_count(db: &Db, app: Uuid, endpoint: Uuid) -> Result<u64, StoreError> {
    let mut conn = db.conn().await?;
    Ok(redis::cmd("ZCARD")
        .arg(db.keys.parked(app, endpoint))
        .query_async(&mut conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_members_name_app_and_endpoint() {
        let (app, endpoint) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(
            parse_member(&index_member(app, endpoint)),
            Some((app, endpoint))
        );
        assert_eq!(parse_member("nope"), None);
    }
}
