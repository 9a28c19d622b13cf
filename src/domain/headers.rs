//! Custom delivery headers an endpoint may set: what a receiver needs (an auth token, a
//! routing key), never what the delivery itself defines (the signature, the body's framing,
//! the connection).

/// Most custom headers one endpoint may set.
pub const MAX_HEADERS: usize = 20;
/// Longest header value.
pub const MAX_VALUE: usize = 4096;
/// Longest header name.
pub const MAX_NAME: usize = 256;

/// Name prefixes a custom header may not take (compared case-insensitively): the Standard
/// Webhooks headers and the body's own.
pub const RESERVED_PREFIXES: &[&str] = &["webhook-", "content-"];

/// Names a custom header may not take (compared case-insensitively): hop-by-hop or framing
/// headers that would break the request.
pub const RESERVED: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
];

/// Why a header is refused (the text is what a client is told), or `None` when it may be set.
pub fn problem(name: &str, value: &str) -> Option<String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_NAME || !name.bytes().all(token) {
        return Some(format!(
            "header name {name:?} must be 1 to {MAX_NAME} characters of an HTTP token"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_PREFIXES.iter().any(|p| lower.starts_with(p)) || RESERVED.contains(&lower.as_str())
    {
        return Some(format!(
            "header {name:?} is set by the delivery itself and cannot be overridden"
        ));
    }
    if value.len() > MAX_VALUE {
        return Some(format!("header {name:?} is longer than {MAX_VALUE} bytes"));
    }
    // Visible ASCII, spaces and tabs; no line breaks (they would split the request).
    if !value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        return Some(format!(
            "header {name:?} may only hold visible ASCII characters, spaces and tabs"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_headers_pass_and_the_deliverys_own_are_refused() {
        assert_eq!(problem("X-Api-Key", "secret value"), None);
        assert_eq!(problem("Authorization", "Bearer abc"), None);
        for (name, value) in [
            ("", "x"),
            ("Bad Name", "x"),
            ("X:Colon", "x"),
            ("webhook-signature", "v1,x"),
            ("Webhook-Id", "x"),
            ("Content-Type", "text/plain"),
            ("content-length", "3"),
            ("Host", "evil.example"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "close"),
            ("X-Ok", "line\r\nInjected: yes"),
            ("X-Ok", "é"),
        ] {
            assert!(problem(name, value).is_some(), "{name}: {value:?}");
        }
        assert!(problem("X-Big", &"a".repeat(MAX_VALUE + 1)).is_some());
    }
}
