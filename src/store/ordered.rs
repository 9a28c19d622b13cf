//! Creation-ordered lists: sorted sets whose members are `<created ms, 13 digits>:<id>` with
//! score 0, ranged lexicographically. Creation order with a stable tie-break (the id), and a
//! member is its own cursor. This module is the only owner of the member format; scripts get
//! members as arguments.

use uuid::Uuid;

use super::Connection;
use crate::db::StoreError;

/// The member of an entity created at `created_ms`.
pub fn member(created_ms: i64, id: Uuid) -> String {
    format!("{created_ms:013}:{id}")
}

/// The id a member names, when it is a well-formed member (list cursors come from clients).
pub fn member_id(member: &str) -> Option<Uuid> {
    let (time, id) = member.split_once(':')?;
    if !(13..=19).contains(&time.len()) || !time.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Uuid::parse_str(id).ok()
}

/// Reads `limit` members after `cursor` (exclusive), oldest or newest first, fetching one
/// extra to know whether more follow.
pub async fn page(
    conn: &mut Connection,
    key: &str,
    cursor: Option<&str>,
    limit: usize,
    newest_first: bool,
) -> Result<(Vec<String>, bool), StoreError> {
    page_within(
        conn,
        key,
        cursor,
        TimeWindow::default(),
        limit,
        newest_first,
    )
    .await
}

/// A creation-time window of a list, epoch ms: `after` inclusive, `before` exclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub after: Option<i64>,
    pub before: Option<i64>,
}

impl TimeWindow {
    /// The lowest member of the window (inclusive), as a ZRANGEBYLEX bound.
    fn floor(&self) -> Option<String> {
        self.after
            .map(|t| format!("[{}", member(t.max(0), Uuid::nil())))
    }

    /// The first member past the window (exclusive), as a ZRANGEBYLEX bound: members of the
    /// `before` millisecond sort after the nil id, so they are excluded.
    fn ceiling(&self) -> Option<String> {
        self.before
            .map(|t| format!("({}", member(t.max(0), Uuid::nil())))
    }
}

/// [`page`] restricted to the members created inside `window`.
pub async fn page_within(
    conn: &mut Connection,
    key: &str,
    cursor: Option<&str>,
    window: TimeWindow,
    limit: usize,
    newest_first: bool,
) -> Result<(Vec<String>, bool), StoreError> {
    let (floor, ceiling) = (window.floor(), window.ceiling());
    let cursor = cursor.map(|c| format!("({c}"));
    // The cursor and the window both bound the side the page starts from: the tighter wins
    // (bounds share one format, so they compare as strings once the `(`/`[` is skipped).
    let tighter = |a: Option<String>, b: Option<String>, newest: bool| match (a, b) {
        (Some(a), Some(b)) => Some(if (a[1..] < b[1..]) == newest { a } else { b }),
        (a, b) => a.or(b),
    };
    let (command, from, to) = if newest_first {
        let max = tighter(cursor, ceiling, true).unwrap_or_else(|| "+".to_string());
        (
            "ZREVRANGEBYLEX",
            max,
            floor.unwrap_or_else(|| "-".to_string()),
        )
    } else {
        let min = tighter(cursor, floor, false).unwrap_or_else(|| "-".to_string());
        (
            "ZRANGEBYLEX",
            min,
            ceiling.unwrap_or_else(|| "+".to_string()),
        )
    };
    let mut members: Vec<String> = redis::cmd(command)
        .arg(key)
        .arg(from)
        .arg(to)
        .arg("LIMIT")
        .arg(0)
        .arg(limit + 1)
        .query_async(conn)
        .await?;
    let more = members.len() > limit;
    members.truncate(limit);
    Ok((members, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sort_by_time_and_name_their_id() {
        let id = Uuid::new_v4();
        let a = member(5, Uuid::new_v4());
        let b = member(1_668_595_667_207, id);
        assert!(a < b);
        assert_eq!(member_id(&b), Some(id));
        assert_eq!(member_id("nope"), None);
        assert_eq!(member_id(&format!("12:{id}")), None);
    }
}
