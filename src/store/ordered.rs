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
    let (command, from, to) = if newest_first {
        let max = cursor.map_or("+".to_string(), |c| format!("({c}"));
        ("ZREVRANGEBYLEX", max, "-".to_string())
    } else {
        let min = cursor.map_or("-".to_string(), |c| format!("({c}"));
        ("ZRANGEBYLEX", min, "+".to_string())
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
