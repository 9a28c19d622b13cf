//! `octohooks listen`: a webhook receiver for developers. It prints every request it gets
//! (headers, the payload pretty-printed, whether the Standard Webhooks signature verifies
//! with `--secret`) and answers with `--status`, so a newcomer sees a webhook arrive, and
//! can make deliveries fail on purpose to watch the retries.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::clock::now_ms;
use crate::delivery::signature;
use crate::domain::secret;

/// Largest timestamp skew receivers accept (Standard Webhooks libraries: 5 minutes).
const TOLERANCE_SECS: i64 = 300;
/// Largest request body read.
const BODY_LIMIT: usize = 1 << 20;

/// What `listen` was asked to do.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Address to listen on (port 0: a free port, printed at start).
    pub addr: SocketAddr,
    /// Decoded key of the `whsec_` secret to verify signatures with, if given.
    pub key: Option<Vec<u8>>,
    /// Status every request is answered with.
    pub status: StatusCode,
}

/// The verdict on one delivery's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed with the secret, at a fresh timestamp.
    Verified,
    /// Signed with the secret, but the timestamp is too far from now: a receiver refuses it.
    Stale(i64),
    /// Not signed with the secret (or the headers are missing or malformed).
    Invalid(&'static str),
    /// No `--secret` given.
    Unchecked,
}

impl Verdict {
    /// Checks a delivery the way a receiver must.
    pub fn of(
        key: Option<&[u8]>,
        headers: &[(String, String)],
        body: &[u8],
        now_secs: i64,
    ) -> Self {
        let Some(key) = key else {
            return Verdict::Unchecked;
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let (Some(id), Some(timestamp), Some(signatures)) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) else {
            return Verdict::Invalid("webhook-id, webhook-timestamp or webhook-signature missing");
        };
        let Ok(timestamp) = timestamp.trim().parse::<i64>() else {
            return Verdict::Invalid("webhook-timestamp is not a number");
        };
        if !signature::verify(key, id, timestamp, body, signatures) {
            return Verdict::Invalid("no signature matches this secret");
        }
        let skew = now_secs - timestamp;
        if skew.abs() > TOLERANCE_SECS {
            return Verdict::Stale(skew);
        }
        Verdict::Verified
    }

    fn describe(&self) -> String {
        match self {
            Verdict::Verified => "signature: verified ✓".into(),
            Verdict::Stale(skew) => {
                format!(
                    "signature: valid, but the timestamp is {skew} s off (receivers refuse it) ✗"
                )
            }
            Verdict::Invalid(why) => format!("signature: INVALID ✗ ({why})"),
            Verdict::Unchecked => "signature: not checked (pass --secret whsec_...)".into(),
        }
    }
}

/// The printed report of delivery number `n`.
pub fn report(
    n: u64,
    request_line: &str,
    headers: &[(String, String)],
    body: &[u8],
    verdict: &Verdict,
) -> String {
    let mut out = format!("──── delivery #{n} ────\n{request_line}\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\n"));
    }
    out.push_str(&verdict.describe());
    out.push('\n');
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(json) => out.push_str(&serde_json::to_string_pretty(&json).unwrap_or_default()),
        Err(_) if body.is_empty() => out.push_str("(empty body)"),
        Err(_) => out.push_str(&String::from_utf8_lossy(body)),
    }
    out.push('\n');
    out
}

/// Parses `--secret` into its key, with the reason when it is not a `whsec_` secret.
pub fn secret_key(text: &str) -> Result<Vec<u8>, String> {
    secret::decode(text.trim()).map_err(|e| e.to_string())
}

struct Shared {
    listen: Listen,
    count: AtomicU64,
}

async fn receive(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let n = shared.count.fetch_add(1, Ordering::Relaxed) + 1;
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    headers.sort();
    let verdict = Verdict::of(
        shared.listen.key.as_deref(),
        &headers,
        &body,
        now_ms() / 1000,
    );
    let line = format!("{} {}", req.method(), req.uri());
    let text = report(n, &line, &headers, &body, &verdict);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
    HttpResponse::build(shared.listen.status)
        .content_type("application/json")
        .body(format!("{{\"received\":{n}}}"))
}

/// Runs the receiver until Ctrl-C (or SIGTERM).
pub fn run(listen: Listen) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen.addr)?;
    let addr = listener.local_addr()?;
    println!(
        "octohooks listen: receiving webhooks on http://{addr}/ (any path), answering {}",
        listen.status.as_u16()
    );
    if listen.key.is_none() {
        println!(
            "octohooks listen: signatures are not checked; pass --secret whsec_... to verify them"
        );
    }
    let shared = web::Data::new(Shared {
        listen,
        count: AtomicU64::new(0),
    });
    actix_rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(BODY_LIMIT))
                .default_service(web::to(receive))
        })
        .workers(1)
        .listen(listener)?
        .run()
        .await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

    fn headers(timestamp: &str, signature: &str) -> Vec<(String, String)> {
        vec![
            (
                "webhook-id".into(),
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".into(),
            ),
            ("webhook-signature".into(), signature.into()),
            ("webhook-timestamp".into(), timestamp.into()),
        ]
    }

    #[test]
    fn verdicts_follow_the_standard_webhooks_rules() {
        let key = secret_key(SECRET).unwrap();
        let good = headers(
            "1649367553",
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        );
        let at = 1_649_367_553;
        assert_eq!(
            Verdict::of(Some(&key), &good, BODY, at + 10),
            Verdict::Verified
        );
        assert_eq!(
            Verdict::of(Some(&key), &good, BODY, at + 400),
            Verdict::Stale(400)
        );
        assert!(matches!(
            Verdict::of(Some(&key), &good, b"{}", at),
            Verdict::Invalid(_)
        ));
        assert!(matches!(
            Verdict::of(Some(&key), &headers("x", "v1,a"), BODY, at),
            Verdict::Invalid(_)
        ));
        assert!(matches!(
            Verdict::of(Some(&key), &[], BODY, at),
            Verdict::Invalid(_)
        ));
        assert_eq!(Verdict::of(None, &good, BODY, at), Verdict::Unchecked);
        assert!(secret_key("nope").is_err());
    }

    #[test]
    fn the_report_shows_headers_the_verdict_and_the_pretty_payload() {
        let text = report(
            3,
            "POST /hook",
            &headers("1", "v1,x"),
            BODY,
            &Verdict::Verified,
        );
        assert!(
            text.starts_with("──── delivery #3 ────\nPOST /hook\n"),
            "{text}"
        );
        assert!(text.contains("webhook-id: msg_27UH4WbU6Z5A5EzD8u03UvzRbpk\n"));
        assert!(text.contains("signature: verified ✓"));
        assert!(
            text.contains("{\n  \"email\": \"test@example.com\",\n"),
            "{text}"
        );
        let raw = report(1, "POST /", &[], b"not json", &Verdict::Unchecked);
        assert!(raw.contains("not json") && raw.contains("not checked"));
    }
}
