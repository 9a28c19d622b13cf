//! Input rules of the API, as pure functions: each returns the message a client sees in a
//! 422 `validation_error` answer.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use super::error::ApiError;
use crate::domain::filter::Filter;
use crate::domain::{headers, secret, Ordering};

/// Longest uid, name, eventType and channel.
pub const MAX_TEXT: usize = 256;
/// Longest endpoint URL.
pub const MAX_URL: usize = 2048;
/// Most eventTypes one endpoint may subscribe to.
pub const MAX_EVENT_TYPES: usize = 50;
/// Most channels of an endpoint or a message.
pub const MAX_CHANNELS: usize = 10;
/// Most secrets of one endpoint (rotation needs two or three).
pub const MAX_SECRETS: usize = 5;
/// Largest message payload, serialized.
pub const MAX_PAYLOAD: usize = 350 * 1024;
/// Longest event-type description, in characters.
pub const MAX_DESCRIPTION: usize = 4096;
/// Largest event-type schema, serialized.
pub const MAX_SCHEMA: usize = 64 * 1024;
/// Longest accepted Idempotency-Key.
pub const MAX_IDEMPOTENCY_KEY: usize = 256;

// The rules below as the OpenAPI document states them (ECMA-262 patterns; the tests check
// that they accept exactly what the functions of this module accept).

/// An identifier (uid, eventType, channel).
pub const IDENTIFIER_PATTERN: &str = "^[a-zA-Z0-9._-]{1,256}$";
/// A name: anything with a character that is not white space (length is checked apart).
/// White space as `str::trim` sees it, which is not ECMA-262's `\s` (U+0085, U+FEFF).
pub const NAME_PATTERN: &str =
    r"[^\t\n\u000b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
// Pieces of the URL pattern, named after RFC 3986's grammar (`concat!` needs literals).
macro_rules! dec_octet {
    () => {
        "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    };
}
macro_rules! ipv4 {
    () => {
        concat!("(?:", dec_octet!(), "\\.){3}", dec_octet!())
    };
}
macro_rules! h16 {
    () => {
        "[0-9a-fA-F]{1,4}"
    };
}
macro_rules! ls32 {
    () => {
        concat!("(?:", h16!(), ":", h16!(), "|", ipv4!(), ")")
    };
}
/// `[h16 *(":" h16)]` with at most `$n` colons, before a `::`.
macro_rules! h16_run {
    ($n:literal) => {
        concat!("(?:(?:", h16!(), ":){0,", $n, "}", h16!(), ")?")
    };
}
#[rustfmt::skip]
macro_rules! ipv6 {
    () => {
        concat!(
            "\\[(?:",
            "(?:", h16!(), ":){6}", ls32!(),
            "|::(?:", h16!(), ":){5}", ls32!(),
            "|", h16_run!(0), "::(?:", h16!(), ":){4}", ls32!(),
            "|", h16_run!(1), "::(?:", h16!(), ":){3}", ls32!(),
            "|", h16_run!(2), "::(?:", h16!(), ":){2}", ls32!(),
            "|", h16_run!(3), "::", h16!(), ":", ls32!(),
            "|", h16_run!(4), "::", ls32!(),
            "|", h16_run!(5), "::", h16!(),
            "|", h16_run!(6), "::",
            ")\\]"
        )
    };
}

/// An endpoint URL: http(s) in any case; a host name (letters, digits, `-` and `_`, which
/// Docker Compose service names may have) whose last label starts with a letter, an IPv4
/// address or a bracketed IPv6 address (no zone); an optional port (0 to 65535); and a path,
/// query and fragment (never sent) of characters that need no encoding.
pub const URL_PATTERN: &str = concat!(
    "^[hH][tT][tT][pP][sS]?://(?:(?:[a-zA-Z0-9_-]+\\.)*[a-zA-Z][a-zA-Z0-9_-]*|",
    ipv4!(),
    "|",
    ipv6!(),
    ")(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    "(?:/[a-zA-Z0-9._~!$&'()*+,;=:@%/-]*)?(?:\\?[a-zA-Z0-9._~!$&'()*+,;=:@%/?-]*)?",
    "(?:#[a-zA-Z0-9._~!$&'()*+,;=:@%/?-]*)?$"
);
/// An endpoint secret: `whsec_` and the padded standard base64 of 24 to 64 bytes.
pub const SECRET_PATTERN: &str = "^whsec_(?:(?:[A-Za-z0-9+/]{4}){8,21}|(?:[A-Za-z0-9+/]{4}){8,21}[A-Za-z0-9+/][AQgw]==|(?:[A-Za-z0-9+/]{4}){8,20}[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)$";
/// An Idempotency-Key: 1 to 256 visible ASCII characters or inner spaces. HTTP drops the
/// spaces and tabs around a header value, so the raw value may have some.
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[\\t ]*[!-~](?:[ -~]{0,254}[!-~])?[\\t ]*$";
/// A cursor of an endpoint's attempt log, as its `x-next-iterator` hands them out (or empty).
pub const LOG_ITERATOR_PATTERN: &str = "^(?:-?[0-9]{1,19}\\|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}:[0-9]{1,9}:[spf])?$";
/// A cursor of a list in name order (the event-type catalogue), or empty.
pub const NAME_ITERATOR_PATTERN: &str = "^[a-zA-Z0-9._-]{0,256}$";
/// A position cursor, as the attempt list's `x-next-iterator` hands them out (or empty).
pub const POSITION_PATTERN: &str = "^[0-9]{0,9}$";
/// A custom header's value: visible ASCII, spaces and tabs (`domain::headers`).
pub const HEADER_VALUE_PATTERN: &str = "^[\\t -~]*$";
/// A payload filter's field path: 1 to 32 dot-separated segments, not empty, not starting
/// with `$` (operators do).
pub const FILTER_PATH_PATTERN: &str = "^[^.$][^.]*(?:\\.[^.]+){0,31}$";
/// Longest filter path, in characters.
pub const MAX_FILTER_PATH: usize = crate::domain::filter::MAX_PATH;

/// `[Xx]` for every letter of `text`: ECMA-262 patterns have no inline case-insensitive flag.
fn any_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A custom header's name: an HTTP token that is not one of the delivery's own headers (in
/// any case; a negative lookahead).
pub fn header_name_pattern() -> String {
    let alternatives = |names: &[&str]| -> String {
        names
            .iter()
            .map(|n| any_case(n))
            .collect::<Vec<_>>()
            .join("|")
    };
    format!(
        "^(?!(?:{})|(?:{})$)[A-Za-z0-9!#$%&'*+.^_`|~-]{{1,{}}}$",
        alternatives(headers::RESERVED_PREFIXES),
        alternatives(headers::RESERVED),
        headers::MAX_NAME
    )
}

/// A list cursor, as `x-next-iterator` hands them out (or empty: the first page).
pub const ITERATOR_PATTERN: &str = "^(?:[0-9]{13,19}:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$";

fn invalid(message: String) -> ApiError {
    ApiError::Validation(message)
}

fn identifier_chars(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A `[a-zA-Z0-9._-]{1,256}` identifier (uid, eventType, channel) named `what` in errors.
pub fn identifier(what: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > MAX_TEXT || !identifier_chars(value) {
        return Err(invalid(format!(
            "{what} must be 1 to {MAX_TEXT} characters of a-z, A-Z, 0-9, '.', '_' or '-'"
        )));
    }
    Ok(())
}

/// A uid: an identifier that is never a valid UUID, so id and uid lookups cannot collide.
pub fn uid(value: &str) -> Result<(), ApiError> {
    identifier("uid", value)?;
    if uuid::Uuid::parse_str(value).is_ok() {
        return Err(invalid("uid must not be a UUID (ids are UUIDs)".into()));
    }
    Ok(())
}

/// An optional uid.
pub fn opt_uid(value: Option<&str>) -> Result<(), ApiError> {
    value.map_or(Ok(()), uid)
}

/// A display name: non-blank, at most 256 characters.
pub fn name(value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > MAX_TEXT {
        return Err(invalid(format!("name must be 1 to {MAX_TEXT} characters")));
    }
    Ok(())
}

/// An absolute http(s) URL with a host, at most 2048 characters.
pub fn url(value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_URL {
        return Err(invalid(format!("url must be at most {MAX_URL} characters")));
    }
    let parsed =
        url::Url::parse(value).map_err(|e| invalid(format!("url is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            "url must be an absolute http:// or https:// URL".into(),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("url must not contain credentials".into()));
    }
    // Deliveries send to the URL as stored, parsed as a request target (hyper::Uri). url::Url is
    // more lenient (it strips or percent-encodes spaces, controls, non-ASCII, quotes...), so a
    // URL only it accepts would be stored verbatim and could never be delivered to (hyper lets
    // raw non-ASCII through, which HTTP/1.1 does not allow in a request target either).
    if !value.bytes().all(|b| b.is_ascii_graphic()) || value.parse::<hyper::Uri>().is_err() {
        return Err(invalid(
            "url must not contain spaces, control, non-ASCII or other characters that need \
             percent-encoding"
                .into(),
        ));
    }
    // The documented pattern is the contract: nothing url::Url and hyper tolerate beyond it
    // (a host with `*`, a numeric last label, `{` in a path...).
    if !URL_RE.is_match(value) {
        return Err(invalid(
            "url must have a host that is a domain name (letters, digits, hyphens and \
             underscores, its last label starting with a letter), an IPv4 address or a \
             bracketed IPv6 address, and a path, query and fragment of letters, digits and \
             -._~!$&'()*+,;=:@%/?"
                .into(),
        ));
    }
    Ok(())
}

/// URL_PATTERN, compiled once.
static URL_RE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(URL_PATTERN).expect("URL_PATTERN is a valid regex"));

/// A list of identifiers with a maximum length and no duplicates.
pub fn identifier_list(what: &str, values: &[String], max: usize) -> Result<(), ApiError> {
    if values.len() > max {
        return Err(invalid(format!("{what} may have at most {max} entries")));
    }
    for value in values {
        identifier(what, value)?;
    }
    let mut sorted: Vec<&String> = values.iter().collect();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != values.len() {
        return Err(invalid(format!("{what} must not repeat an entry")));
    }
    Ok(())
}

/// Endpoint secrets: 1 to 5 `whsec_` secrets of 24 to 64 bytes.
pub fn secrets(values: &[String]) -> Result<(), ApiError> {
    if values.is_empty() || values.len() > MAX_SECRETS {
        return Err(invalid(format!(
            "secrets must have 1 to {MAX_SECRETS} entries (omit it to get one generated)"
        )));
    }
    for value in values {
        secret::decode(value).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}

/// An Idempotency-Key header value (as received: without surrounding white space).
pub fn idempotency_key(value: &[u8]) -> Result<&str, ApiError> {
    match std::str::from_utf8(value) {
        Ok(key)
            if (1..=MAX_IDEMPOTENCY_KEY).contains(&key.len())
                && key.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) =>
        {
            Ok(key)
        }
        _ => Err(invalid(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))),
    }
}

/// Custom delivery headers: at most 20, each allowed (see `domain::headers`); names are
/// unique regardless of case.
pub fn headers(given: BTreeMap<String, String>) -> Result<Vec<(String, String)>, ApiError> {
    if given.len() > headers::MAX_HEADERS {
        return Err(invalid(format!(
            "headers may have at most {} entries",
            headers::MAX_HEADERS
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (name, value) in &given {
        if let Some(problem) = headers::problem(name, value) {
            return Err(invalid(problem));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(invalid(format!("header {name:?} is given twice")));
        }
    }
    Ok(given.into_iter().collect())
}

/// A payload filter document.
pub fn filter(document: &serde_json::Value) -> Result<Filter, ApiError> {
    Filter::parse(document).map_err(|e| invalid(e.to_string()))
}

/// An endpoint's ordering (absent: none).
pub fn ordering(given: Option<&str>) -> Result<Ordering, ApiError> {
    match given {
        None => Ok(Ordering::None),
        Some(name) => Ordering::parse(name)
            .ok_or_else(|| invalid("ordering must be \"fifo\" or \"none\"".into())),
    }
}

/// A message's ordering key: 1 to 256 characters.
pub fn ordering_key(given: Option<&str>) -> Result<(), ApiError> {
    match given {
        Some(key) if key.is_empty() || key.chars().count() > MAX_TEXT => Err(invalid(format!(
            "orderingKey must be 1 to {MAX_TEXT} characters"
        ))),
        _ => Ok(()),
    }
}

/// A position cursor (the attempt list's `iterator`): a small decimal index.
pub fn position(value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) if value.len() <= 9 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(invalid("iterator is not a valid cursor".into())),
    }
}

/// A rate limit in deliveries per second.
pub fn rate_limit(value: Option<u32>) -> Result<(), ApiError> {
    if value == Some(0) {
        return Err(invalid(
            "rateLimit must be at least 1 (null means the default)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids() {
        assert!(uid("my-app.v2_x").is_ok());
        assert!(uid("").is_err());
        assert!(uid("has space").is_err());
        assert!(uid(&"a".repeat(257)).is_err());
        assert!(uid(&"a".repeat(256)).is_ok());
        assert!(uid("ada4692e-96a4-45c9-8a58-2d389f95454a").is_err());
    }

    #[test]
    fn urls() {
        let accepted = [
            "https://example.com/hook",
            "http://127.0.0.1:9000/x",
            "https://example.com/a%20b?c=%C3%A9",
            "http://[::1]:8080/v6",
            "http://[::ffff:127.0.0.1]/mapped",
            "http://hook_receiver:8000/in", // a Compose service name
            "HTTPS://example.com/hook#part",
        ];
        let too_long = format!("https://e.com/{}", "a".repeat(MAX_URL));
        let refused = [
            "ftp://example.com",
            "/relative",
            "https://user:pw@example.com",
            &too_long,
            " https://example.com",
            "https://example.com/a b",
            "https://example.com/\u{e9}",
            // Hosts url::Url and hyper take but the documented pattern does not.
            "http://BtlLHRx3oHpzX.Z.8o.xeITTsQDK.DglpXQevks*",
            "http://example._a",
            "http://a.1",
            "http://0x7f.1/",
            "http://[fe80::1%25eth0]/",
            "https://example.com/hook#a#b",
        ];
        for value in accepted {
            assert!(url(value).is_ok(), "{value:?}");
        }
        for value in refused {
            assert!(url(value).is_err(), "{value:?}");
        }
    }

    /// The IPv6 part of the pattern is RFC 4291's text form, as the standard library reads it.
    #[test]
    fn the_url_pattern_reads_ipv6_as_the_standard_library_does() {
        use std::net::Ipv6Addr;
        let re = regex::Regex::new(URL_PATTERN).expect("pattern");
        let mut candidates = Vec::new();
        // Group counts: 0 to 9 groups, a `::` at any place or none, ending in IPv4 or not.
        for n in 0..=9 {
            for last in ["1", "127.0.0.1"] {
                let mut groups = vec!["fFfF"; n];
                if let Some(end) = groups.last_mut() {
                    *end = last;
                }
                candidates.push(groups.join(":"));
                for at in 0..=n {
                    let (head, tail) = groups.split_at(at);
                    candidates.push(format!("{}::{}", head.join(":"), tail.join(":")));
                }
            }
        }
        // Group shapes: every run of up to three of these, with and without a `::`.
        let shapes = ["0", "ab", "12345", "g", "", "1.2.3", "256.0.0.1", "::", ":"];
        for a in shapes {
            for b in shapes {
                for c in shapes {
                    candidates.push(format!("{a}:{b}:{c}"));
                    candidates.push(format!("1:{a}::{b}:{c}"));
                }
            }
        }
        let mut valid = 0;
        for candidate in &candidates {
            let expected = candidate.parse::<Ipv6Addr>().is_ok();
            let url = format!("http://[{candidate}]/");
            assert_eq!(re.is_match(&url), expected, "{candidate:?}");
            assert_eq!(super::url(&url).is_ok(), expected, "{candidate:?}");
            valid += usize::from(expected);
        }
        assert!(valid > 50, "only {valid} of {} are valid", candidates.len());
    }

    /// The patterns the OpenAPI document states accept what the functions accept.
    #[test]
    fn documented_patterns_agree_with_the_rules() {
        let re = |p: &str| regex::Regex::new(p).expect("pattern");
        let identifier_re = re(IDENTIFIER_PATTERN);
        for value in [
            "a",
            "my-app.v2_x",
            "",
            "has space",
            "é",
            "a/b",
            &"a".repeat(256),
        ] {
            assert_eq!(
                identifier_re.is_match(value),
                identifier("x", value).is_ok(),
                "{value:?}"
            );
        }
        let name_re = re(NAME_PATTERN);
        for value in ["a", " a ", "   ", "\t\n", "é"] {
            assert_eq!(name_re.is_match(value), name(value).is_ok(), "{value:?}");
        }
        for c in (0..=0xffff).filter_map(char::from_u32) {
            let value = c.to_string();
            assert_eq!(name_re.is_match(&value), name(&value).is_ok(), "{c:?}");
        }
        let url_re = re(URL_PATTERN);
        for value in [
            "https://example.com/hook",
            "http://127.0.0.1:9000/x?y=1&z=%20",
            "http://a",
            "http://A/",
            "https://x-y.z9.example/a/b;c=d/@:!$'()*+,~",
            "http://localhost:8080",
            "http://127.0.0.1:34057/ok",
            "http://h:65535",
            "http://[::1]:65535/x",
            "http://[2001:DB8::a:1]",
        ] {
            assert!(url_re.is_match(value), "{value:?}");
            assert!(url(value).is_ok(), "{value:?}");
        }
        for value in [
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/a b",
            "http://a.1",
            "http://999.1.1.1",
            "/relative",
            "http://h:65536",
            "http://a*",
            "http://[::1",
            "http://[1::2::3]/",
            "http://a/#f#g",
        ] {
            assert!(!url_re.is_match(value), "{value:?}");
            assert!(url(value).is_err(), "{value:?}");
        }
        let secret_re = re(SECRET_PATTERN);
        use base64::Engine;
        for len in 20..70 {
            let encoded = base64::engine::general_purpose::STANDARD.encode(vec![0xa5u8; len]);
            let secret = format!("whsec_{encoded}");
            assert_eq!(
                secret_re.is_match(&secret),
                secrets(std::slice::from_ref(&secret)).is_ok(),
                "{len} bytes"
            );
        }
        for value in [
            "whsec_",
            "whsec_AAAA",
            "nope",
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB===",
        ] {
            assert!(!secret_re.is_match(value), "{value:?}");
        }
        // The pattern describes the raw header value; the server sees it trimmed.
        let key_re = re(IDEMPOTENCY_KEY_PATTERN);
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY);
        let too_long = "k".repeat(MAX_IDEMPOTENCY_KEY + 1);
        for value in [
            "k",
            "a b",
            " a\t",
            "550e8400-e29b-41d4-a716-446655440000",
            "~!",
            "",
            "  ",
            "a\tb",
            "a\u{7f}",
            "é",
            long.as_str(),
            &format!(" {long} "),
            too_long.as_str(),
        ] {
            let received = value.trim_matches([' ', '\t']);
            assert_eq!(
                key_re.is_match(value),
                idempotency_key(received.as_bytes()).is_ok(),
                "{value:?}"
            );
        }
        let iterator_re = re(ITERATOR_PATTERN);
        let cursor = crate::store::ordered::member(1_668_595_667_207, uuid::Uuid::new_v4());
        assert!(iterator_re.is_match(&cursor), "{cursor}");
        assert!(iterator_re.is_match(""));
        assert!(!iterator_re.is_match("nope"));
    }

    #[test]
    fn lists() {
        let many: Vec<String> = (0..11).map(|i| format!("c{i}")).collect();
        assert!(identifier_list("channels", &many, MAX_CHANNELS).is_err());
        assert!(identifier_list("channels", &many[..10], MAX_CHANNELS).is_ok());
        let dup = vec!["a".to_string(), "a".to_string()];
        assert!(identifier_list("channels", &dup, MAX_CHANNELS).is_err());
    }
}
