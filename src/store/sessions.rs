//! Dashboard sessions: a browser signs in once with a token and then holds only a random
//! session id in an HttpOnly cookie. The session remembers the token's hash (never the token),
//! so it acts exactly as that token does and dies with it; sign-out deletes it at once, and
//! Redis expires it at the end of its lifetime. Like tokens, sessions are stored under the
//! hash of their id: a copy of Redis holds no live cookie value.

use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use super::tokens::{random_secret, token_hash};
use super::Store;
use crate::clock::now_ms;
use crate::db::StoreError;

/// What a session holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// SHA-256 of the token the session was opened with: requests act as that token.
    pub token_hash: String,
    /// The secret every state-changing request of the session must echo in a header.
    pub csrf: String,
    /// End of the session, epoch ms.
    pub expires: i64,
}

impl Store {
    /// Opens a session acting as the token with hash `token`; returns the session id
    /// (the cookie value, not stored) and the session.
    pub async fn create_session(
        &self,
        token: &str,
        ttl: Duration,
    ) -> Result<(String, Session), StoreError> {
        let id = random_secret();
        let session = Session {
            token_hash: token.to_string(),
            csrf: random_secret(),
            expires: now_ms() + ttl.as_millis() as i64,
        };
        let json = serde_json::to_string(&session)
            .map_err(|e| StoreError::Corrupt(format!("session: {e}")))?;
        let mut conn = self.conn().await?;
        let _: () = conn
            .pset_ex(
                self.db.keys.session(&token_hash(&id)),
                json,
                ttl.as_millis() as u64,
            )
            .await?;
        Ok((id, session))
    }

    /// The live session with this id, if any.
    pub async fn session(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let mut conn = self.conn().await?;
        let json: Option<String> = conn.get(self.db.keys.session(&token_hash(id))).await?;
        let Some(json) = json else { return Ok(None) };
        let session: Session = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("session: {e}")))?;
        Ok((session.expires > now_ms()).then_some(session))
    }

    /// Ends a session (nothing happens when it is already gone).
    pub async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: () = conn.del(self.db.keys.session(&token_hash(id))).await?;
        Ok(())
    }
}
