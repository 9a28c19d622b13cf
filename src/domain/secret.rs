//! Endpoint signing secrets: `whsec_` followed by the standard base64 of 24 to 64 random
//! bytes, as the Standard Webhooks spec defines them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

/// Prefix of every endpoint secret.
pub const PREFIX: &str = "whsec_";
/// Random bytes of a generated secret.
pub const GENERATED_BYTES: usize = 24;
/// Accepted decoded length of a secret.
pub const BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// Why a string is not a usable secret (the text is what a client is told).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secrets must start with \"whsec_\"")]
    Prefix,
    #[error("a secret must be whsec_ followed by standard base64")]
    Encoding,
    #[error("a secret must decode to 24 to 64 bytes, this one has {0}")]
    Length(usize),
}

/// A new random endpoint secret.
pub fn generate() -> String {
    let mut bytes = [0u8; GENERATED_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The key bytes of a `whsec_` secret.
pub fn decode(secret: &str) -> Result<Vec<u8>, SecretError> {
    let encoded = secret.strip_prefix(PREFIX).ok_or(SecretError::Prefix)?;
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| SecretError::Encoding)?;
    if !BYTES.contains(&key.len()) {
        return Err(SecretError::Length(key.len()));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_decode() {
        let secret = generate();
        assert_eq!(decode(&secret).unwrap().len(), GENERATED_BYTES);
        assert_eq!(decode("whsec_short"), Err(SecretError::Encoding));
        assert_eq!(decode("whsec_AAAA"), Err(SecretError::Length(3)));
        assert_eq!(decode("nope"), Err(SecretError::Prefix));
    }
}
