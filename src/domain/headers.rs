//! Custom delivery headers an endpoint may set: what a receiver needs (an auth token, a
//! routing key), never what the delivery itself defines (the signature, the body's framing,
//! the connection).

/// Most custom headers one endpoint may set.
pub const MAX_HEADERS: usize = 20;
/// Longest header value.
pub const MAX_VALUE: usize = 4096;
/// Longest header name.
pub const MAX_NAME: usize = 256;

/// Names a custom header may not take (compared case-insensitively): the Standard Webhooks
/// headers and hop-by-hop or framing headers that would break the request.
const RESERVED: &[&str] = &[
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

/// Prefixes of names a custom header may not take (compared case-insensitively).
const RESERVED_PREFIXES: &[&str] = &["webhook-", "content-"];

/// The characters of an HTTP token (RFC 9110), as a character class's contents.
const TOKEN_CLASS: &str = "A-Za-z0-9!#$%&'*+.^_`|~-";

/// What an allowed header value looks like (ECMA-262 and `regex`).
pub const VALUE_PATTERN: &str = "^[\\t -~]*$";

/// What an allowed header name looks like, for the API's schema (ECMA-262): an HTTP token
/// that is none of the delivery's own headers in any spelling. The `(?!…)` look-ahead is built
/// from [`reserved_names_pattern`], which a unit test checks against [`problem`].
pub fn name_pattern() -> String {
    format!(
        "^(?!{})[{TOKEN_CLASS}]{{1,{MAX_NAME}}}$",
        reserved_names_pattern()
    )
}

/// The reserved names and prefixes, case-insensitively, as a pattern of a name's start.
fn reserved_names_pattern() -> String {
    let any_case = |word: &str| -> String {
        word.chars()
            .map(|c| match c.is_ascii_alphabetic() {
                true => format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()),
                false => c.to_string(),
            })
            .collect()
    };
    let names = RESERVED.iter().map(|name| format!("{}$", any_case(name)));
    let prefixes = RESERVED_PREFIXES.iter().map(|prefix| any_case(prefix));
    format!(
        "(?:{})",
        names.chain(prefixes).collect::<Vec<_>>().join("|")
    )
}

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
    fn the_schema_patterns_accept_exactly_what_problem_accepts() {
        // `regex` has no look-ahead: check the two halves `name_pattern` joins.
        let token = regex::Regex::new(&format!("^[{TOKEN_CLASS}]{{1,{MAX_NAME}}}$")).expect("re");
        let reserved = regex::Regex::new(&format!("^{}", reserved_names_pattern())).expect("re");
        let value = regex::Regex::new(VALUE_PATTERN).expect("re");
        assert!(name_pattern().starts_with(&format!("^(?!{})", reserved_names_pattern())));
        let long = "x".repeat(MAX_NAME + 1);
        for name in [
            "X-Api-Key",
            "x",
            "HOST",
            "Host",
            "te",
            "TE",
            "tea",
            "Webhook-Id",
            "webhook-x",
            "Content-Type",
            "contentx",
            "a b",
            "",
            "é",
            "x:y",
            &long,
            "Transfer-Encoding",
        ] {
            let schema_says = token.is_match(name) && !reserved.is_match(name);
            assert_eq!(schema_says, problem(name, "v").is_none(), "{name:?}");
        }
        for v in ["", "a b\tc", "é", "a\nb", "\u{7f}", "~"] {
            assert_eq!(value.is_match(v), problem("X-A", v).is_none(), "{v:?}");
        }
    }

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
