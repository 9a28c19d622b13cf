//! Attempts: one JSON document per attempt in a list per message, expiring with the message.
//! Written by the delivery path's record script (`queue::record`), read by the API and by
//! recovery jobs.

use redis::AsyncCommands;
use uuid::Uuid;

use super::{Page, Store};
use crate::clock::now_ms;
use crate::db::StoreError;
use crate::domain::{Attempt, AttemptStatus};
use crate::queue::log;

/// The stored form of an attempt.
pub fn encode(attempt: &Attempt) -> String {
    // Serializing plain data into a String cannot fail.
    serde_json::to_string(attempt).unwrap_or_default()
}

/// An attempt read back.
pub fn decode(text: &str) -> Result<Attempt, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("attempt: {e}")))
}

impl Store {
    /// A page of a message's attempts, oldest first, from position `start`.
    pub async fn attempts_page(
        &self,
        app: Uuid,
        message: Uuid,
        start: usize,
        limit: usize,
    ) -> Result<Page<Attempt>, StoreError> {
        let mut conn = self.conn().await?;
        let stop = (start + limit) as isize;
        let mut rows: Vec<String> = conn
            .lrange(self.db.keys.attempts(app, message), start as isize, stop)
            .await?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        Ok(Page {
            items: rows
                .iter()
                .map(|row| decode(row))
                .collect::<Result<_, _>>()?,
            next: more.then(|| (start + limit).to_string()),
        })
    }

    /// Every attempt of a message, oldest first.
    pub async fn attempts(&self, app: Uuid, message: Uuid) -> Result<Vec<Attempt>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<String> = conn
            .lrange(self.db.keys.attempts(app, message), 0, -1)
            .await?;
        rows.iter().map(|row| decode(row)).collect()
    }
}

/// Which attempts of an endpoint's log a page shows.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    pub status: Option<AttemptStatus>,
    /// Attempts started at or after (epoch ms).
    pub since: Option<i64>,
    /// Attempts started at or before (epoch ms).
    pub until: Option<i64>,
}

/// An endpoint's attempts looked at per round trip while filling a page.
const LOG_CHUNK: usize = 100;
/// Log entries examined at most by one page (the cursor lets the client go on).
const MAX_LOG_SCAN: usize = 5_000;

/// A log cursor: the score and member of the last entry shown.
fn log_cursor(score: i64, member: &str) -> String {
    format!("{score}|{member}")
}

/// Reads a cursor back (`None` when malformed: clients send them).
pub fn parse_log_cursor(cursor: &str) -> Option<(i64, String)> {
    let (score, member) = cursor.split_once('|')?;
    log::parse_member(member)?;
    Some((score.parse().ok()?, member.to_string()))
}

impl Store {
    /// A page of an endpoint's attempts, newest first, with the message of each.
    pub async fn endpoint_attempts(
        &self,
        app: Uuid,
        endpoint: Uuid,
        cursor: Option<(i64, String)>,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<Page<(Uuid, Attempt)>, StoreError> {
        let keys = &self.db.keys;
        let log = keys.endpoint_log(app, endpoint);
        let mut conn = self.conn().await?;
        let mut max = cursor
            .as_ref()
            .map(|(score, _)| *score)
            .unwrap_or(i64::MAX)
            .min(filter.until.unwrap_or(i64::MAX));
        let min = filter.since.unwrap_or(i64::MIN);
        let mut after = cursor.map(|(_, member)| member);
        let mut items = Vec::new();
        let mut scanned = 0;
        loop {
            // Entries scored `max` and beyond the cursor's member are read again: skip them.
            let found: Vec<(String, i64)> = redis::cmd("ZREVRANGEBYSCORE")
                .arg(&log)
                .arg(max)
                .arg(min)
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(0)
                .arg(LOG_CHUNK)
                .query_async(&mut conn)
                .await?;
            let exhausted = found.len() < LOG_CHUNK;
            let fresh: Vec<(String, i64)> = found
                .into_iter()
                .filter(|(member, score)| {
                    !(*score == max
                        && after
                            .as_ref()
                            .is_some_and(|a| member.as_str() >= a.as_str()))
                })
                .collect();
            scanned += fresh.len();
            let wanted: Vec<(&String, i64, log::LogEntry)> = fresh
                .iter()
                .filter_map(|(member, score)| {
                    let entry = log::parse_member(member)?;
                    filter
                        .status
                        .is_none_or(|s| s == entry.status)
                        .then_some((member, *score, entry))
                })
                .collect();
            if !wanted.is_empty() {
                let mut pipe = redis::pipe();
                for (_, _, entry) in &wanted {
                    pipe.lindex(keys.attempts(app, entry.message), entry.position as isize);
                }
                let rows: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
                for ((member, score, entry), row) in wanted.iter().zip(rows) {
                    // An attempt whose message expired is gone from the log's point of view.
                    let Some(row) = row else { continue };
                    items.push((entry.message, decode(&row)?));
                    if items.len() == limit {
                        return Ok(Page {
                            items,
                            next: Some(log_cursor(*score, member)),
                        });
                    }
                }
            }
            match fresh.last() {
                Some((member, score)) if !exhausted => {
                    if scanned >= MAX_LOG_SCAN {
                        return Ok(Page {
                            items,
                            next: Some(log_cursor(*score, member)),
                        });
                    }
                    max = *score;
                    after = Some(member.clone());
                }
                _ if !exhausted => {
                    // A whole chunk of one score, all seen: step below it.
                    max -= 1;
                    after = None;
                }
                _ => return Ok(Page { items, next: None }),
            }
        }
    }

    /// An endpoint's success and failure counts: the last 24 hours and 30 days, oldest first.
    pub async fn endpoint_stats(
        &self,
        app: Uuid,
        endpoint: Uuid,
    ) -> Result<(Vec<log::Bucket>, Vec<log::Bucket>), StoreError> {
        let mut conn = self.conn().await?;
        let fields: super::Fields = conn
            .hgetall(self.db.keys.endpoint_stats(app, endpoint))
            .await?;
        Ok(log::read_stats(&fields, now_ms()))
    }
}
