//! Idempotency records: one per organisation and key, claimed by the first request, then
//! holding its 2xx answer for the configured time.

use std::time::Duration;

use std::sync::LazyLock;

use redis::Script;

use super::Store;
use crate::db::script::ScriptCall;
use crate::db::StoreError;

static BEGIN: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/idempotency_begin.lua")));
static FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/idempotency_finish.lua")));
static EXTEND: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/idempotency_extend.lua")));

/// What the store knows of an Idempotency-Key when a request arrives.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key and must run.
    Claimed,
    /// Another request with the key is running; its fingerprint is given.
    Pending { fingerprint: String },
    /// A finished request left this answer.
    Done {
        fingerprint: String,
        status: u16,
        body: Vec<u8>,
    },
}

/// How a claimed key is finished.
#[derive(Debug)]
pub enum Finish<'a> {
    /// Keep this 2xx answer for replay.
    Store { status: u16, body: &'a [u8] },
    /// Forget the key (the request did not succeed; a retry may run again).
    Release,
}

impl Store {
    /// Claims `key` for a request with `fingerprint`, or reports the earlier request.
    pub async fn idempotency_claim(
        &self,
        org: &str,
        key_hash: &str,
        fingerprint: &str,
        owner: &str,
        claim_ttl: Duration,
    ) -> Result<Claim, StoreError> {
        let mut conn = self.conn().await?;
        let answer: Vec<Vec<u8>> =
            ScriptCall::new(&BEGIN, &[self.db.keys.idempotency(org, key_hash)])
                .arg(fingerprint)
                .arg(owner)
                .arg(claim_ttl.as_millis() as u64)
                .invoke(&mut conn)
                .await?;
        let text =
            |i: usize| String::from_utf8_lossy(answer.get(i).map_or(&[][..], |v| v)).into_owned();
        Ok(match text(0).as_str() {
            "claimed" => Claim::Claimed,
            "done" => Claim::Done {
                fingerprint: text(1),
                status: text(2).parse().unwrap_or(200),
                body: answer.get(3).cloned().unwrap_or_default(),
            },
            _ => Claim::Pending {
                fingerprint: text(1),
            },
        })
    }

    /// Stores the answer of a claimed key, or releases it.
    pub async fn idempotency_finish(
        &self,
        org: &str,
        key_hash: &str,
        owner: &str,
        finish: Finish<'_>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let mut call = ScriptCall::new(&FINISH, &[self.db.keys.idempotency(org, key_hash)]);
        call.arg(owner);
        match finish {
            Finish::Store { status, body } => call.arg("store").arg(status).arg(body),
            Finish::Release => call.arg("release").arg(0).arg(""),
        };
        let _: i64 = call.arg(ttl.as_millis() as u64).invoke(&mut conn).await?;
        Ok(())
    }

    /// Extends a claim this owner holds on a running request.
    pub async fn idempotency_extend(
        &self,
        org: &str,
        key_hash: &str,
        owner: &str,
        claim_ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: i64 = ScriptCall::new(&EXTEND, &[self.db.keys.idempotency(org, key_hash)])
            .arg(owner)
            .arg(claim_ttl.as_millis() as u64)
            .invoke(&mut conn)
            .await?;
        Ok(())
    }
}
