//! API tokens: only a SHA-256 of each token is stored, mapped to its organisation.

use rand::RngCore;
use redis::AsyncCommands;
use sha2::{Digest, Sha256};

use super::Store;
use crate::db::StoreError;

/// Prefix of every token, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "oh_";

/// Hex SHA-256 of a token: the only form in which tokens are stored or compared.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 random bytes, URL-safe base64: unguessable secrets (tokens, session ids) that fit in
/// headers, cookies and URLs as they are.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

impl Store {
    /// Creates a token for `org` and returns it; it cannot be recovered later.
    pub async fn create_token(&self, org: &str) -> Result<String, StoreError> {
        let token = format!("{TOKEN_PREFIX}{}", random_secret());
        let mut conn = self.conn().await?;
        let _: () = conn
            .set(self.db.keys.token(&token_hash(&token)), org)
            .await?;
        Ok(token)
    }

    /// The organisation a token (given by its hash) acts for, if the token exists.
    pub async fn token_org_by_hash(&self, hash: &str) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn().await?;
        Ok(conn.get(self.db.keys.token(hash)).await?)
    }
}
