//! Live deliveries checked the way a receiver checks them: Standard Webhooks signatures
//! re-verified in the test with hmac/sha2/base64 from the secrets the API returned, and by
//! the reference library, the `standardwebhooks` Python package (`scripts/test.sh` installs
//! it; without python3 and the package the reference check fails rather than skips).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use octohooks::clock::now_ms;

use crate::support::api::id_of;
use crate::support::queue::retries_of_endpoint;
use crate::support::receiver::{Hit, Receiver, Reply};
use crate::support::server::TestServer;
use crate::support::wait::{eventually, wait_quiet, WAIT};
use crate::support::webhooks::{
    assert_signed, expected_signature, random_secret, secret_key, secrets_of, signature_valid,
};

/// Verifies a delivery with the reference Python library. Panics when python3 or the
/// `standardwebhooks` package is missing: the reference check is part of the suite.
pub(crate) fn python_verifies(secret: &str, hit: &Hit, body: &[u8]) -> bool {
    const SCRIPT: &str = r#"
import os, sys
try:
    from standardwebhooks import Webhook
except ImportError:
    sys.exit(3)
headers = {name: os.environ["WH_" + name.replace("-", "_").upper()]
           for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
Webhook(os.environ["WH_SECRET"]).verify(sys.stdin.buffer.read(), headers)
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .env("WH_SECRET", secret)
        .env("WH_WEBHOOK_ID", &hit.headers["webhook-id"])
        .env("WH_WEBHOOK_TIMESTAMP", &hit.headers["webhook-timestamp"])
        .env("WH_WEBHOOK_SIGNATURE", &hit.headers["webhook-signature"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("python3 is needed for the standardwebhooks reference check: {e}")
        });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(body)
        .expect("write the body to python3");
    match child.wait().expect("python3 ran").code() {
        Some(0) => true,
        Some(3) => panic!(
            "the standardwebhooks Python package is missing \
             (pip install standardwebhooks; scripts/test.sh installs it)"
        ),
        _ => false,
    }
}

#[test]
fn the_test_verifier_matches_the_spec_test_vector() {
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    let (id, ts) = ("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", "1649367553");
    let want = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    assert_eq!(expected_signature(secret, id, ts, body), want);
    assert!(signature_valid(secret, id, ts, body, want));
    assert!(!signature_valid(secret, id, "1649367554", body, want));
    assert!(!signature_valid(secret, id, ts, b"{}", want));
    assert!(!signature_valid(&random_secret(24), id, ts, body, want));
    assert!(!signature_valid(
        secret,
        id,
        ts,
        body,
        &want.replace("v1,", "v2,")
    ));
}

#[actix_rt::test]
async fn live_deliveries_verify_with_every_secret() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let (app, generated) = server
        .app_with_endpoint("signing", &format!("{}/generated", receiver.url))
        .await;
    let two = vec![random_secret(24), random_secret(64)];
    let rotated = server
        .create_endpoint(
            &app,
            &format!("{}/two", receiver.url),
            json!({"secrets": two}),
        )
        .await;
    assert_eq!(
        secrets_of(&rotated),
        two,
        "the API returns the secrets given"
    );
    let generated_secrets = secrets_of(&generated);
    assert_eq!(generated_secrets.len(), 1);
    assert_eq!(secret_key(&generated_secrets[0]).len(), 24);

    // A payload with odd spacing, escapes and non-ASCII text: delivered byte for byte.
    let payload = r#"{ "b" : [1, 2.50, "é\u00e9 \"q\""],  "a":null,
        "nested": {"x": "y"} }"#;
    let before = now_ms() / 1000;
    let message = server.send_raw_payload(&app, "sig.test", payload).await;
    eventually(WAIT, "both deliveries", || async {
        receiver.hits_on("/generated").len() == 1 && receiver.hits_on("/two").len() == 1
    })
    .await;
    let after = now_ms() / 1000;

    for (path, secrets) in [("/generated", &generated_secrets), ("/two", &two)] {
        let hit = &receiver.hits_on(path)[0];
        assert_eq!(hit.body, payload.as_bytes(), "body byte-exact on {path}");
        assert_eq!(hit.headers["webhook-id"], message);
        let timestamp: i64 = hit.headers["webhook-timestamp"]
            .parse()
            .expect("unix seconds");
        assert!(
            (before - 1..=after + 1).contains(&timestamp),
            "timestamp {timestamp} not within [{before}, {after}]"
        );
        assert_eq!(hit.headers["content-type"], "application/json");
        assert!(
            hit.headers["user-agent"].contains("Octohooks"),
            "{:?}",
            hit.headers["user-agent"]
        );
        assert_signed(hit, secrets);
        // The verifier is not vacuous: another body, id or secret fails.
        let header = &hit.headers["webhook-signature"];
        let first = header.split(' ').next().expect("a signature");
        let ts = &hit.headers["webhook-timestamp"];
        assert!(!signature_valid(&secrets[0], &message, ts, b"{}", first));
        assert!(!signature_valid(&secrets[0], "other", ts, &hit.body, first));
        assert!(!signature_valid(
            &random_secret(24),
            &message,
            ts,
            &hit.body,
            first
        ));

        for secret in secrets {
            assert!(
                python_verifies(secret, hit, &hit.body),
                "standardwebhooks rejects the delivery on {path}"
            );
            assert!(
                !python_verifies(secret, hit, b"{\"tampered\":true}"),
                "reference check must be able to fail"
            );
        }
    }
    // With two secrets the signatures differ (each is keyed by its own secret).
    let header = &receiver.hits_on("/two")[0].headers["webhook-signature"];
    let parts: Vec<&str> = header.split(' ').collect();
    assert_ne!(parts[0], parts[1]);
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn rotated_secrets_sign_later_deliveries() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let app = server.create_app("rotation").await;
    let old = random_secret(32);
    let new = random_secret(32);
    let url = format!("{}/hook", receiver.url);
    let endpoint = server
        .create_endpoint(&app, &url, json!({"secrets": [old]}))
        .await;
    let path = format!("/api/v1/applications/{app}/endpoints/{}", id_of(&endpoint));
    let mut expected_secrets = Vec::new();
    for secrets in [
        vec![old.clone()],
        vec![old.clone(), new.clone()],
        vec![new.clone()],
    ] {
        if expected_secrets.is_empty() {
            expected_secrets.push(secrets.clone());
        } else {
            let answer = server
                .call(
                    "PUT",
                    &path,
                    Some(json!({"name": "endpoint", "url": url, "secrets": secrets})),
                )
                .await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            assert_eq!(secrets_of(&answer.body), secrets);
            expected_secrets.push(secrets.clone());
        }
        let n = expected_secrets.len();
        server
            .send_message(&app, json!({"eventType": "x", "payload": {"n": n}}))
            .await;
        eventually(WAIT, "delivery", || async {
            receiver.hits_on("/hook").len() == n
        })
        .await;
    }
    let hits = receiver.hits_on("/hook");
    for (hit, secrets) in hits.iter().zip(&expected_secrets) {
        assert_signed(hit, secrets);
    }
    // Once the old secret is retired, it no longer verifies anything.
    let last = hits.last().expect("hit");
    assert!(!signature_valid(
        &old,
        &last.headers["webhook-id"],
        &last.headers["webhook-timestamp"],
        &last.body,
        &last.headers["webhook-signature"],
    ));
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn retries_keep_the_id_and_sign_a_fresh_timestamp() {
    // One retry after 1.1 s without jitter, so the two attempts fall in different seconds.
    let server = TestServer::start_with(|c| {
        c.retry.schedule = vec![Duration::from_millis(1100)];
        c.retry.jitter = 0.0;
    })
    .await;
    let receiver = Receiver::with(Arc::new(|nth, _| {
        Reply::status(if nth == 0 { 500 } else { 204 })
    }));
    let (app, endpoint) = server
        .app_with_endpoint("retry-signing", &format!("{}/hook", receiver.url))
        .await;
    let secrets = secrets_of(&endpoint);
    let message = server
        .send_message(&app, json!({"eventType": "x", "payload": {"retry": true}}))
        .await;
    eventually(WAIT, "two attempts", || async {
        receiver.hits_on("/hook").len() == 2
    })
    .await;
    // The success is handled once the node is quiet; with no retry of the endpoint left, no
    // third attempt can come.
    wait_quiet(&server).await;
    let retries = retries_of_endpoint(&server.store, &id_of(&endpoint)).await;
    assert!(retries.is_empty(), "a retry after a 204: {retries:?}");
    let hits = receiver.hits_on("/hook");
    assert_eq!(hits.len(), 2, "204 is a success: no third attempt");
    for hit in &hits {
        assert_eq!(hit.headers["webhook-id"], message, "stable across retries");
        assert_eq!(hit.body, br#"{"retry":true}"#);
        assert_signed(hit, &secrets);
    }
    let ts: Vec<i64> = hits
        .iter()
        .map(|h| h.headers["webhook-timestamp"].parse().expect("seconds"))
        .collect();
    assert!(
        ts[1] > ts[0],
        "each attempt is signed with its own timestamp: {ts:?}"
    );
    assert_ne!(
        hits[0].headers["webhook-signature"], hits[1].headers["webhook-signature"],
        "a fresh timestamp gives a fresh signature"
    );
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn a_large_payload_is_delivered_and_signed_byte_for_byte() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let (app, endpoint) = server
        .app_with_endpoint("large", &format!("{}/hook", receiver.url))
        .await;
    // ~200 KB (the test receiver accepts up to 256 KB), with escapes and non-ASCII text.
    let text: String = "ünïcødé \\\"quoted\\\" ".repeat(9_000);
    let payload = format!(r#"{{"blob": "{text}", "n": 1}}"#);
    assert!(payload.len() > 190_000, "{}", payload.len());
    server.send_raw_payload(&app, "big", &payload).await;
    eventually(WAIT, "delivery", || async {
        receiver.hits_on("/hook").len() == 1
    })
    .await;
    let hit = &receiver.hits_on("/hook")[0];
    assert_eq!(hit.body.len(), payload.len());
    assert!(
        hit.body == payload.as_bytes(),
        "body differs from the payload sent"
    );
    assert_signed(hit, &secrets_of(&endpoint));
    server.shutdown().await;
    receiver.stop().await;
}
