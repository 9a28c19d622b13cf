//! Attempts: one JSON document per attempt in a list per message, expiring with the message.
//! Written by the delivery path's record script (`queue::record`), read by the API and by
//! recovery jobs.

use redis::AsyncCommands;
use uuid::Uuid;

use super::{Page, Store};
use crate::db::StoreError;
use crate::domain::Attempt;

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
