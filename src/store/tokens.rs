//! API tokens. A token is shown once, when it is made; only its SHA-256 is stored.
//!
//! Two keys per token: the organisation's record (`{o.<org>}:tok:<id>`, listed in creation
//! order in `{o.<org>}:toks`: name, scope, times) and the lookup by hash (`token:<hash>`,
//! what the token may do, read by every authenticated request). They live in different slots
//! (a request names only its token), so they are written in an order that never grants more
//! than the record says: the record first and the lookup last on creation, the lookup first
//! on revocation. A crash in between leaves a listed token that does not work, and that can
//! be revoked again.
//!
//! A token may be scoped to one application (a customer portal's token), read-only or not,
//! and may expire: its lookup then expires with it, and its record [`EXPIRED_KEPT`] later
//! (an expired token stays listed, and can be revoked, for a while: a client that just made
//! one, even with a time already past, finds it).

use std::sync::LazyLock;

use rand::RngCore;
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::ordered::{self, member_id};
use super::{field, id_field, int_field, opt_int, Fields, Page, Store};
use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::StoreError;

static CREATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/token_create.lua")));
static DELETE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/token_delete.lua")));
static TOUCH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/token_touch.lua")));

/// How long the record of an expired token is kept after it expired (or was made, when made
/// expired).
pub const EXPIRED_KEPT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Prefix of every token, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "oh_";

/// Hex SHA-256 of a token: the only form in which tokens are stored or compared.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    crate::domain::digest::hex(&digest)
}

/// What an application-scoped token may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenScope {
    /// The one application it sees and changes.
    pub application: Uuid,
    /// It may only read.
    pub read_only: bool,
}

/// A token to make.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Shown in lists, so people know which token is which.
    pub name: String,
    /// `None`: the whole organisation.
    pub scope: Option<TokenScope>,
    /// When it stops working, epoch ms (`None`: never).
    pub expires_at: Option<i64>,
}

/// A token's record: everything but the token itself.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRecord {
    pub id: Uuid,
    pub name: String,
    pub scope: Option<TokenScope>,
    pub expires_at: Option<i64>,
    pub created: i64,
    /// Last request made with it, to the minute (epoch ms).
    pub last_used: Option<i64>,
}

/// What a token may do, as every request reads it (the lookup's value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenGrant {
    /// The organisation it acts for.
    pub org: String,
    /// Its record (`None` for tokens made before tokens had records).
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(default)]
    pub scope: Option<TokenScope>,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

impl TokenGrant {
    /// Reads a lookup value: JSON, or the bare organisation name older tokens map to.
    fn parse(value: &str) -> Result<TokenGrant, StoreError> {
        if !value.starts_with('{') {
            return Ok(TokenGrant {
                org: value.to_string(),
                id: None,
                scope: None,
                expires_at: None,
            });
        }
        serde_json::from_str(value).map_err(|e| StoreError::Corrupt(format!("token: {e}")))
    }

    /// Whether it has expired at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }
}

fn record_from_fields(fields: &Fields) -> Result<TokenRecord, StoreError> {
    let scope = match fields.get("app").filter(|a| !a.is_empty()) {
        Some(app) => Some(TokenScope {
            application: Uuid::parse_str(app)
                .map_err(|_| StoreError::Corrupt("token scope".into()))?,
            read_only: fields.get("readOnly").map(String::as_str) == Some("1"),
        }),
        None => None,
    };
    Ok(TokenRecord {
        id: id_field(fields, "id")?,
        name: field(fields, "name")?.to_string(),
        scope,
        expires_at: opt_int(fields, "expiresAt"),
        created: int_field(fields, "created")?,
        last_used: opt_int(fields, "lastUsed"),
    })
}

/// A new random token.
/// 32 random bytes, URL-safe base64: unguessable secrets (tokens, session ids) that fit in
/// headers, cookies and URLs as they are.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
}

fn generate() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret())
}

impl Store {
    /// Makes a token of `org` and returns it with its record; the token itself cannot be
    /// recovered later. What the API's `POST /tokens` and the customer portal's links use
    /// (a portal link: a scope and an `expires_at` a few hours ahead).
    pub async fn mint_token(
        &self,
        org: &str,
        new: &NewToken,
    ) -> Result<(String, TokenRecord), StoreError> {
        let keys = &self.db.keys;
        let token = generate();
        let hash = token_hash(&token);
        let id = Uuid::new_v4();
        let now = now_ms();
        let scope = new.scope;
        let mut conn = self.conn().await?;
        let _: () = ScriptCall::new(&CREATE, &[keys.org_token(org, id), keys.org_tokens(org)])
            .arg(ordered::member(now, id))
            .arg(
                new.expires_at
                    .map(|at| {
                        let kept = EXPIRED_KEPT.as_millis() as i64;
                        at.max(now).saturating_add(kept).to_string()
                    })
                    .unwrap_or_default(),
            )
            .arg("id")
            .arg(id.to_string())
            .arg("name")
            .arg(&new.name)
            .arg("hash")
            .arg(&hash)
            .arg("app")
            .arg(scope.map(|s| s.application.to_string()).unwrap_or_default())
            .arg("readOnly")
            .arg(if scope.is_some_and(|s| s.read_only) {
                "1"
            } else {
                "0"
            })
            .arg("expiresAt")
            .arg(new.expires_at.map(|at| at.to_string()).unwrap_or_default())
            .arg("created")
            .arg(now)
            .invoke(&mut conn)
            .await?;
        let grant = TokenGrant {
            org: org.to_string(),
            id: Some(id),
            scope,
            expires_at: new.expires_at,
        };
        let value =
            serde_json::to_string(&grant).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // A token that has expired already gets no lookup: it never works.
        if new.expires_at.is_none_or(|at| at > now) {
            let mut set = redis::cmd("SET");
            set.arg(keys.token(&hash)).arg(value);
            if let Some(at) = new.expires_at {
                set.arg("PXAT").arg(at);
            }
            let _: () = set.query_async(&mut conn).await?;
        }
        let record = TokenRecord {
            id,
            name: new.name.clone(),
            scope,
            expires_at: new.expires_at,
            created: now,
            last_used: None,
        };
        Ok((token, record))
    }

    /// Makes an organisation-wide token that never expires (`octohooks token create`).
    pub async fn create_token(&self, org: &str) -> Result<String, StoreError> {
        let new = NewToken {
            name: "command line".into(),
            scope: None,
            expires_at: None,
        };
        Ok(self.mint_token(org, &new).await?.0)
    }

    /// What a token (given by its hash) may do, if it exists (expired ones may still be
    /// found here until Redis drops them: see [`TokenGrant::expired`]).
    pub async fn token_grant(&self, hash: &str) -> Result<Option<TokenGrant>, StoreError> {
        let mut conn = self.conn().await?;
        let value: Option<String> = conn.get(self.db.keys.token(hash)).await?;
        value.as_deref().map(TokenGrant::parse).transpose()
    }

    /// Notes that a token was used at `now_ms` (unless it was revoked meanwhile).
    pub async fn touch_token(&self, org: &str, id: Uuid, now_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: i64 = ScriptCall::new(&TOUCH, &[self.db.keys.org_token(org, id)])
            .arg(now_ms)
            .invoke(&mut conn)
            .await?;
        Ok(())
    }

    /// A page of an organisation's tokens in creation order (expired ones drop out
    /// [`EXPIRED_KEPT`] after they expired).
    pub async fn list_tokens(
        &self,
        org: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<TokenRecord>, StoreError> {
        let keys = &self.db.keys;
        let list = keys.org_tokens(org);
        let mut conn = self.conn().await?;
        let (members, more) = ordered::page(&mut conn, &list, cursor, limit, false).await?;
        let ids: Vec<(&String, Uuid)> = members
            .iter()
            .filter_map(|m| member_id(m).map(|id| (m, id)))
            .collect();
        if ids.is_empty() {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let mut pipe = redis::pipe();
        for (_, id) in &ids {
            pipe.hgetall(keys.org_token(org, *id));
        }
        // An empty pipeline is an error in redis-rs ("empty command").
        let rows: Vec<Fields> = if ids.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut conn).await?
        };
        let mut items = Vec::new();
        let mut gone = Vec::new();
        for ((member, _), fields) in ids.iter().zip(&rows) {
            if fields.is_empty() {
                gone.push(member.as_str()); // expired with its record
            } else {
                items.push(record_from_fields(fields)?);
            }
        }
        if !gone.is_empty() {
            let _: () = conn.zrem(&list, gone).await?;
        }
        Ok(Page {
            items,
            next: if more { members.last().cloned() } else { None },
        })
    }

    /// Revokes a token: it stops working at once (API nodes trust what they read for a
    /// moment at most: see `api::auth`). Returns its record.
    pub async fn revoke_token(&self, org: &str, id: Uuid) -> Result<TokenRecord, StoreError> {
        let keys = &self.db.keys;
        let record_key = keys.org_token(org, id);
        let mut conn = self.conn().await?;
        let fields: Fields = conn.hgetall(&record_key).await?;
        if fields.is_empty() {
            return Err(StoreError::NotFound("token"));
        }
        let record = record_from_fields(&fields)?;
        let _: () = conn.del(keys.token(field(&fields, "hash")?)).await?;
        let _: i64 = ScriptCall::new(&DELETE, &[record_key.clone(), keys.org_tokens(org)])
            .arg(ordered::member(record.created, id))
            .invoke(&mut conn)
            .await?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_read_both_forms() {
        let old = TokenGrant::parse("acme").unwrap();
        assert_eq!(old.org, "acme");
        assert_eq!((old.id, old.scope, old.expires_at), (None, None, None));
        let grant = TokenGrant {
            org: "acme".into(),
            id: Some(Uuid::new_v4()),
            scope: Some(TokenScope {
                application: Uuid::new_v4(),
                read_only: true,
            }),
            expires_at: Some(10),
        };
        let parsed = TokenGrant::parse(&serde_json::to_string(&grant).unwrap()).unwrap();
        assert_eq!(parsed, grant);
        assert!(parsed.expired(10));
        assert!(!parsed.expired(9));
    }

    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_eq!(token_hash(&a).len(), 64);
    }
}
