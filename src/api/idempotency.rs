//! Idempotency-Key support for every POST.
//!
//! The first request with a key claims it in Redis and runs; its 2xx answer is stored for the
//! configured time and replayed (with `Idempotent-Replayed: true`) to later requests with the
//! same key and the same request (method + path + body hash). The same key with a different
//! request is a 422. A request arriving while the first still runs waits for it (bounded) and
//! replays its answer, so the operation never executes twice, even across API nodes.
//!
//! The claim lives [`CLAIM_TTL`] and is extended while the request runs, so only a crashed
//! owner lets it expire. A crash between the operation and storing its answer is covered for
//! messages: the accept script reserves the key with the message it created, and a retry gets
//! that message back instead of a second one. For the other POSTs (all of which create or
//! queue one thing, or are safe to repeat), a retry after such a crash, once the claim has
//! expired, runs the operation again; uids (409 on a duplicate) guard creates that carry one.

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use super::reply::Reply;
use super::{ApiState, REPLAYED_HEADER};
use crate::store::idempotency::{Claim, Finish};

/// How long a claim survives a crashed owner before another request may run.
pub const CLAIM_TTL: Duration = Duration::from_secs(60);
/// Poll interval while waiting for a concurrent request with the same key.
const POLL: Duration = Duration::from_millis(25);

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    crate::domain::digest::hex(&hasher.finalize())
}

fn replay(status: u16, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .content_type("application/json")
        .insert_header((REPLAYED_HEADER, "true"))
        .body(body)
}

/// The hash of the request's Idempotency-Key, when it has a valid one.
pub fn key_hash(req: &HttpRequest) -> ApiResult<Option<String>> {
    let Some(key) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = super::validation::idempotency_key(key.as_bytes())?;
    Ok(Some(hex_sha256(&[key.as_bytes()])))
}

/// Runs `operation` at most once per Idempotency-Key (when the request has one).
pub async fn idempotent<F, Fut>(
    state: &ApiState,
    org: &str,
    req: &HttpRequest,
    body: &[u8],
    operation: F,
) -> ApiResult<HttpResponse>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Reply>>,
{
    let Some(key_hash) = key_hash(req)? else {
        return Ok(operation().await?.into_response());
    };
    let fingerprint = hex_sha256(&[
        req.method().as_str().as_bytes(),
        req.path().as_bytes(),
        body,
    ]);
    let owner = uuid::Uuid::new_v4().to_string();
    let store = &state.store;
    let deadline = Instant::now() + state.config.idempotency.wait;
    loop {
        match store
            .idempotency_claim(org, &key_hash, &fingerprint, &owner, CLAIM_TTL)
            .await?
        {
            Claim::Claimed => break,
            Claim::Done {
                fingerprint: fp, ..
            }
            | Claim::Pending { fingerprint: fp }
                if fp != fingerprint =>
            {
                return Err(ApiError::IdempotencyMismatch)
            }
            Claim::Done { status, body, .. } => return Ok(replay(status, body)),
            Claim::Pending { .. } if Instant::now() >= deadline => {
                return Err(ApiError::IdempotencyInProgress)
            }
            Claim::Pending { .. } => tokio::time::sleep(POLL).await,
        }
    }
    // The claim is extended while the operation runs.
    let operation = operation();
    tokio::pin!(operation);
    let every = CLAIM_TTL / 3;
    let mut keep = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let result = loop {
        tokio::select! {
            result = &mut operation => break result,
            _ = keep.tick() => {
                if let Err(e) = store.idempotency_extend(org, &key_hash, &owner, CLAIM_TTL).await {
                    tracing::warn!(error = %e, "could not extend an idempotency claim");
                }
            }
        }
    };
    let finish = match &result {
        Ok(reply) if reply.status.is_success() => Finish::Store {
            status: reply.status.as_u16(),
            body: reply.replay.as_deref().unwrap_or(&reply.body),
        },
        _ => Finish::Release,
    };
    let ttl = state.config.idempotency.ttl;
    if let Err(e) = store
        .idempotency_finish(org, &key_hash, &owner, finish, ttl)
        .await
    {
        // The operation happened; failing the answer now would invite a duplicate retry.
        tracing::warn!(error = %e, "could not record idempotency answer");
    }
    Ok(result?.into_response())
}
