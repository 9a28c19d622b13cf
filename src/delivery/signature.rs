//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256>` over `"{id}.{timestamp}.{body}"`,
//! keyed by the decoded part of a `whsec_` secret; one signature per secret so receivers can
//! rotate secrets without missing a delivery.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `webhook-signature` header value for one delivery.
pub fn sign(signing_keys: &[&[u8]], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let prefix = format!("{msg_id}.{timestamp}.");
    let mut header = String::with_capacity(signing_keys.len() * 48);
    for key in signing_keys {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            continue;
        };
        mac.update(prefix.as_bytes());
        mac.update(body);
        if !header.is_empty() {
            header.push(' ');
        }
        header.push_str("v1,");
        header.push_str(&STANDARD.encode(mac.finalize().into_bytes()));
    }
    header
}

/// Whether `header` (a `webhook-signature` value: space-separated `v1,<base64>` entries)
/// holds the signature `signing_key` makes for this delivery: what a receiver checks.
pub fn verify(signing_key: &[u8], msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let expected = sign(&[signing_key], msg_id, timestamp, body);
    header
        .split(' ')
        .any(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

/// Compares secrets (signatures, CSRF tokens) in a time that does not depend on where they
/// differ, so an attacker cannot find one byte by byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret;

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let key = secret::decode("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let signature = sign(&[&key], "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body);
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
        assert!(verify(&key, id, 1649367553, body, &signature));
        assert!(verify(
            &key,
            id,
            1649367553,
            body,
            &format!("v1,b3RoZXI= {signature}")
        ));
        assert!(!verify(&key, id, 1649367554, body, &signature));
        assert!(!verify(&key, id, 1649367553, b"{}", &signature));
        assert!(!verify(&key, id, 1649367553, body, ""));
    }

    #[test]
    fn one_signature_per_secret() {
        let keys: [&[u8]; 2] = [&[1u8; 24], &[2u8; 32]];
        let header = sign(&keys, "id", 1, b"{}");
        let parts: Vec<_> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }
}
