//! Standard Webhooks signatures: `v1,<base64 HMAC-SHA256>` over `"{id}.{timestamp}.{body}"`,
//! keyed by the decoded part of a `whsec_` secret; one signature per secret so receivers can
//! rotate secrets without missing a delivery.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Prefix of every endpoint secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes of a generated secret.
pub const GENERATED_SECRET_BYTES: usize = 24;
/// Accepted decoded length of a secret, as the Standard Webhooks spec allows.
pub const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A new random endpoint secret.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_` secret, or why it is not one.
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or_else(|| format!("secrets must start with {SECRET_PREFIX:?}"))?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| "a secret must be whsec_ followed by standard base64".to_string())?;
    if !SECRET_BYTES.contains(&key.len()) {
        return Err(format!(
            "a secret must decode to {} to {} bytes, this one has {}",
            SECRET_BYTES.start(),
            SECRET_BYTES.end(),
            key.len()
        ));
    }
    Ok(key)
}

/// The `webhook-signature` header value for one delivery.
pub fn sign(keys: &[Vec<u8>], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let prefix = format!("{msg_id}.{timestamp}.");
    let mut header = String::with_capacity(keys.len() * 48);
    for key in keys {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        let key = decode_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let signature = sign(&[key], "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body);
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn one_signature_per_secret() {
        let keys = vec![vec![1u8; 24], vec![2u8; 32]];
        let header = sign(&keys, "id", 1, b"{}");
        let parts: Vec<_> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn generated_secrets_decode() {
        let secret = generate_secret();
        assert_eq!(
            decode_secret(&secret).unwrap().len(),
            GENERATED_SECRET_BYTES
        );
        assert!(decode_secret("whsec_short").is_err());
        assert!(decode_secret("nope").is_err());
    }
}
