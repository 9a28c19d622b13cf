//! A Standard Webhooks verifier written from the spec (<https://www.standardwebhooks.com>),
//! so the tests check `src/delivery/signature.rs` instead of sharing its code: a secret is
//! `whsec_` and the standard base64 of its key; a signature is `v1,` and the base64 of
//! HMAC-SHA256 over `"{webhook-id}.{webhook-timestamp}.{body}"`; the header holds one
//! signature per secret, separated by spaces.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::receiver::Hit;

/// The `whsec_` secret of these key bytes.
pub fn secret_with_key(key: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

/// A fresh random `whsec_` secret of `bytes` key bytes.
pub fn random_secret(bytes: usize) -> String {
    let key: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    secret_with_key(&key)
}

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Vec<u8> {
    let encoded = secret
        .strip_prefix("whsec_")
        .unwrap_or_else(|| panic!("secret {secret:?} lacks the whsec_ prefix"));
    STANDARD.decode(encoded).expect("secret is standard base64")
}

fn mac(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret_key(secret)).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// The `v1,<base64>` signature a receiver expects for one secret.
pub fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = mac(secret, id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", STANDARD.encode(digest))
}

/// Whether one `v1,<base64>` entry of a `webhook-signature` header is valid for `secret`
/// (constant-time comparison, as a receiver library does).
pub fn signature_valid(secret: &str, id: &str, timestamp: &str, body: &[u8], entry: &str) -> bool {
    let Some(("v1", encoded)) = entry.split_once(',') else {
        return false;
    };
    let Ok(bytes) = STANDARD.decode(encoded) else {
        return false;
    };
    mac(secret, id, timestamp, body)
        .verify_slice(&bytes)
        .is_ok()
}

/// Checks a delivery the way a receiver would: the header has exactly one signature per
/// secret, in order, and each verifies with its secret.
pub fn assert_signed(hit: &Hit, secrets: &[String]) {
    let id = &hit.headers["webhook-id"];
    let timestamp = &hit.headers["webhook-timestamp"];
    let header = &hit.headers["webhook-signature"];
    let entries: Vec<&str> = header.split(' ').collect();
    assert_eq!(
        entries.len(),
        secrets.len(),
        "one signature per secret expected in {header:?}"
    );
    for (secret, entry) in secrets.iter().zip(&entries) {
        assert!(
            signature_valid(secret, id, timestamp, &hit.body, entry),
            "signature {entry:?} does not verify with {secret:?} (id {id}, timestamp {timestamp})"
        );
        assert_eq!(*entry, expected_signature(secret, id, timestamp, &hit.body));
    }
}

/// The secrets of an endpoint as the API returned it.
pub fn secrets_of(endpoint: &Value) -> Vec<String> {
    endpoint["secrets"]
        .as_array()
        .expect("secrets array")
        .iter()
        .map(|s| s.as_str().expect("secret string").to_string())
        .collect()
}
