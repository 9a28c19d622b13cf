//! The per-endpoint views the record script keeps of attempts: the attempt log (a sorted set
//! per endpoint, scored by the attempt's start, whose members point into the message's
//! attempt list) and the stats (success and failure counts in 24 hourly and 30 daily buckets,
//! constant memory per endpoint). This module owns both layouts; the script only fills in an
//! attempt's list position and counts into a bucket in the format [`read_stats`] parses.

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::AttemptStatus;

/// Hourly buckets kept.
pub const HOURS: i64 = 24;
/// Daily buckets kept.
pub const DAYS: i64 = 30;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn status_char(status: AttemptStatus) -> char {
    match status {
        AttemptStatus::Success => 's',
        AttemptStatus::Pending => 'p',
        AttemptStatus::Failed => 'f',
    }
}

/// One entry of an endpoint's attempt log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub message: Uuid,
    /// Position of the attempt in the message's attempt list.
    pub position: usize,
    pub status: AttemptStatus,
}

/// The log member of an attempt of `message` with `status`, around its list position (the
/// script puts the position between the two parts).
pub fn member_parts(message: Uuid, status: AttemptStatus) -> (String, String) {
    (format!("{message}:"), format!(":{}", status_char(status)))
}

/// Reads a log member back.
pub fn parse_member(member: &str) -> Option<LogEntry> {
    let mut parts = member.split(':');
    let message = Uuid::parse_str(parts.next()?).ok()?;
    let position = parts.next()?.parse().ok()?;
    let status = match parts.next()? {
        "s" => AttemptStatus::Success,
        "p" => AttemptStatus::Pending,
        "f" => AttemptStatus::Failed,
        _ => return None,
    };
    parts.next().is_none().then_some(LogEntry {
        message,
        position,
        status,
    })
}

/// The log member (as stored) and its status character, for filtering by status.
pub fn status_of(member: &str) -> Option<AttemptStatus> {
    parse_member(member).map(|e| e.status)
}

/// The four stats arguments of the record script at `now_ms`: the hour's bucket field and the
/// hour's id, the day's bucket field and the day's id. A bucket holds
/// `<period id>:<successes>:<failures>`, so the script reads and writes both with one call each.
pub fn stats_args(now_ms: i64) -> [String; 4] {
    let hour = now_ms.div_euclid(HOUR_MS);
    let day = now_ms.div_euclid(DAY_MS);
    let (h, d) = (hour.rem_euclid(HOURS), day.rem_euclid(DAYS));
    [
        format!("h{h}"),
        hour.to_string(),
        format!("d{d}"),
        day.to_string(),
    ]
}

/// Successes and failures in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the period, epoch ms.
    pub start: i64,
    pub success: u64,
    pub failure: u64,
}

/// The last 24 hours (hourly, oldest first) and 30 days (daily, oldest first) at `now_ms`,
/// from the stats hash; periods with no attempt count zero.
pub fn read_stats(fields: &HashMap<String, String>, now_ms: i64) -> (Vec<Bucket>, Vec<Bucket>) {
    let series = |prefix: char, period: i64, count: i64| -> Vec<Bucket> {
        let current = now_ms.div_euclid(period);
        (current - count + 1..=current)
            .map(|id| {
                let slot = id.rem_euclid(count);
                // A bucket of an older period (reused since) counts nothing for this one.
                let (success, failure) = fields
                    .get(&format!("{prefix}{slot}"))
                    .and_then(|bucket| parse_bucket(bucket))
                    .filter(|(period, _, _)| *period == id)
                    .map_or((0, 0), |(_, s, f)| (s, f));
                Bucket {
                    start: id * period,
                    success,
                    failure,
                }
            })
            .collect()
    };
    (series('h', HOUR_MS, HOURS), series('d', DAY_MS, DAYS))
}

/// A bucket's `<period id>:<successes>:<failures>`.
fn parse_bucket(bucket: &str) -> Option<(i64, u64, u64)> {
    let mut parts = bucket.split(':');
    let period = parts.next()?.parse().ok()?;
    let success = parts.next()?.parse().ok()?;
    let failure = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((period, success, failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_members_round_trip_once_the_position_is_in() {
        let message = Uuid::new_v4();
        let (before, after) = member_parts(message, AttemptStatus::Pending);
        let member = format!("{before}7{after}");
        assert_eq!(
            parse_member(&member),
            Some(LogEntry {
                message,
                position: 7,
                status: AttemptStatus::Pending
            })
        );
        assert_eq!(parse_member("x:1:s"), None);
        assert_eq!(parse_member(&format!("{message}:1:z")), None);
    }

    #[test]
    fn stats_buckets_read_back_and_go_stale_when_reused() {
        let now = 1_700_000_000_000;
        let args = stats_args(now);
        let mut fields = HashMap::new();
        // What the script leaves after two successes and a failure this hour (and day).
        fields.insert(args[0].clone(), format!("{}:2:1", args[1]));
        fields.insert(args[2].clone(), format!("{}:2:0", args[3]));
        // A malformed bucket counts nothing.
        fields.insert("h0".into(), "x:1".into());
        let (hours, days) = read_stats(&fields, now);
        assert_eq!(hours.len(), 24);
        assert_eq!(days.len(), 30);
        let last = hours.last().unwrap();
        assert_eq!((last.success, last.failure), (2, 1));
        assert!(last.start <= now && now < last.start + HOUR_MS);
        assert_eq!(days.last().unwrap().success, 2);
        assert!(hours[..23].iter().all(|b| b.success == 0 && b.failure == 0));
        // A day later the same hour slot belongs to a newer hour: the old counts are stale.
        let (hours, _) = read_stats(&fields, now + DAY_MS);
        assert!(hours.iter().all(|b| b.success == 0 && b.failure == 0));
    }
}
