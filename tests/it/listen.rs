//! `octohooks listen`, the developer's receiver: the real binary receives real deliveries of
//! the service and prints each one with its headers, its pretty payload and whether its
//! signature verifies with the given secret.

use std::process::Command;

use serde_json::json;

use crate::support::process::ListenProcess;
use crate::support::server::TestServer;
use crate::support::wait::{eventually, WAIT};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[actix_rt::test]
async fn listen_prints_each_delivery_and_checks_its_signature() {
    let server = TestServer::start().await;
    let right = ListenProcess::start(&["--secret", SECRET]);
    let wrong = ListenProcess::start(&["--secret", OTHER_SECRET]);
    let unchecked = ListenProcess::start(&[]);
    let app = server.create_app("listen").await;
    for (name, listener) in [("right", &right), ("wrong", &wrong), ("none", &unchecked)] {
        server
            .create_endpoint(
                &app,
                &format!("{}/hooks/{name}", listener.url),
                json!({"name": name, "secrets": [SECRET]}),
            )
            .await;
    }
    let message = server
        .send_message(
            &app,
            json!({"eventType": "user.created", "payload": {"user": {"id": 42, "email": "a@b.c"}}}),
        )
        .await;
    for (listener, verdict) in [
        (&right, "signature: verified ✓"),
        (&wrong, "signature: INVALID ✗"),
        (&unchecked, "signature: not checked"),
    ] {
        eventually(WAIT, "the delivery printed", || async {
            listener.output().contains("──── delivery #1 ────")
        })
        .await;
        let output = listener.output();
        assert!(output.contains(verdict), "{output}");
        assert!(output.contains("POST /hooks/"), "{output}");
        assert!(
            output.contains(&format!("webhook-id: {message}")),
            "{output}"
        );
        assert!(output.contains("webhook-signature: v1,"), "{output}");
        // The payload, pretty-printed.
        assert!(
            output.contains("{\n  \"user\": {\n    \"email\": \"a@b.c\",\n    \"id\": 42\n  }\n}")
                || output.contains(
                    "{\n  \"user\": {\n    \"id\": 42,\n    \"email\": \"a@b.c\"\n  }\n}"
                ),
            "{output}"
        );
    }
    // Its answer is what the service recorded.
    eventually(WAIT, "three successful attempts", || async {
        let attempts = server.attempts(&app, &message).await;
        attempts.len() == 3 && attempts.iter().all(|a| a["responseStatusCode"] == 200)
    })
    .await;
    server.shutdown().await;
}

#[actix_rt::test]
async fn listen_answers_the_status_it_is_given_so_retries_can_be_watched() {
    let server = TestServer::start().await;
    let failing = ListenProcess::start(&["--status", "503", "--secret", SECRET]);
    let (app, _) = server
        .app_with_endpoint("failing", &format!("{}/", failing.url))
        .await;
    let message = server.send_event(&app, "t").await;
    // The first attempt and its retries (the test schedule has two) each get printed.
    eventually(WAIT, "three deliveries printed", || async {
        failing.output().contains("──── delivery #3 ────")
    })
    .await;
    eventually(WAIT, "three attempts answered 503", || async {
        let attempts = server.attempts(&app, &message).await;
        attempts.len() == 3 && attempts.iter().all(|a| a["responseStatusCode"] == 503)
    })
    .await;
    server.shutdown().await;
}

#[test]
fn listen_refuses_a_secret_that_is_not_one() {
    let output = Command::new(env!("CARGO_BIN_EXE_octohooks"))
        .args(["listen", "--port", "0", "--secret", "not-a-secret"])
        .output()
        .expect("run octohooks listen");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--secret"), "{stderr}");
}
