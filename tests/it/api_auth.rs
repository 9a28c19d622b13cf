//! Bearer-token authentication and organisation isolation: a request without a valid token is
//! a 401 JSON on every API route, and another organisation's entities are indistinguishable
//! from nonexistent ones.

use serde_json::json;

use crate::api_support::{assert_error, assert_error_body, raw, without_health, Raw};
use crate::harness::TestServer;

const APPS: &str = "/api/v1/applications";

fn assert_unauthorized(answer: &Raw) {
    assert_error_body(answer.status, &answer.json(), 401, "unauthorized");
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert!(answer
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
}

/// Every API route, with a body for those that take one.
fn routes(
    app: &str,
    endpoint: &str,
    message: &str,
) -> Vec<(&'static str, String, Option<Vec<u8>>)> {
    let app_body = br#"{"name":"x"}"#.to_vec();
    let ep_body = br#"{"name":"x","url":"https://example.com"}"#.to_vec();
    let msg_body = br#"{"eventType":"e","payload":{}}"#.to_vec();
    vec![
        ("GET", APPS.to_string(), None),
        ("POST", APPS.to_string(), Some(app_body.clone())),
        ("GET", format!("{APPS}/{app}"), None),
        ("PUT", format!("{APPS}/{app}"), Some(app_body)),
        ("DELETE", format!("{APPS}/{app}"), None),
        ("GET", format!("{APPS}/{app}/endpoints"), None),
        (
            "POST",
            format!("{APPS}/{app}/endpoints"),
            Some(ep_body.clone()),
        ),
        ("GET", format!("{APPS}/{app}/endpoints/{endpoint}"), None),
        (
            "PUT",
            format!("{APPS}/{app}/endpoints/{endpoint}"),
            Some(ep_body),
        ),
        ("DELETE", format!("{APPS}/{app}/endpoints/{endpoint}"), None),
        ("GET", format!("{APPS}/{app}/messages"), None),
        ("POST", format!("{APPS}/{app}/messages"), Some(msg_body)),
        ("GET", format!("{APPS}/{app}/messages/{message}"), None),
        (
            "GET",
            format!("{APPS}/{app}/messages/{message}/attempts"),
            None,
        ),
        (
            "POST",
            format!("{APPS}/{app}/messages/{message}/endpoints/{endpoint}/resend"),
            Some(Vec::new()),
        ),
    ]
}

#[actix_rt::test]
async fn every_api_route_requires_a_valid_bearer_token() {
    let server = TestServer::start().await;
    let app = server.create_app("a").await;
    let endpoint = server
        .create_endpoint(&app, "https://example.com/x", json!({}))
        .await;
    let endpoint = endpoint["id"].as_str().unwrap().to_string();
    let message = server
        .send_message(&app, json!({"eventType": "e", "payload": {}}))
        .await;
    let unknown = format!("Bearer {}", server.token.replace("oh_", "oh_x"));
    let too_long = format!("Bearer {}", "a".repeat(300));
    let basic = format!("Basic {}", server.token);
    let bare = server.token.clone();
    let credentials: Vec<Option<&str>> = vec![
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some(&basic),
        Some(&bare),
        Some(&unknown),
        Some(&too_long),
        Some("Bearer oh_not-a-token"),
    ];
    for (method, path, body) in routes(&app, &endpoint, &message) {
        for credential in &credentials {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(value) = credential {
                headers.push(("authorization", value));
            }
            let answer = raw(&server, method, &path, &headers, body.clone()).await;
            assert!(
                answer.status == 401,
                "{method} {path} with {credential:?}: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
            assert_unauthorized(&answer);
        }
    }
    // Nothing was changed by the rejected requests.
    let apps = server.get(APPS).await;
    assert_eq!(apps.body.as_array().unwrap().len(), 1);
    let endpoints = server.get(&format!("{APPS}/{app}/endpoints")).await;
    assert_eq!(endpoints.body.as_array().unwrap().len(), 1);
    let messages = server.get(&format!("{APPS}/{app}/messages")).await;
    assert_eq!(messages.body.as_array().unwrap().len(), 1);
    server.shutdown().await;
}

#[actix_rt::test]
async fn the_bearer_scheme_is_case_insensitive_and_the_token_trimmed() {
    let server = TestServer::start().await;
    for value in [
        format!("Bearer {}", server.token),
        format!("bearer {}", server.token),
        format!("BEARER {}", server.token),
        format!("Bearer   {}  ", server.token),
    ] {
        let answer = raw(&server, "GET", APPS, &[("authorization", &value)], None).await;
        assert_eq!(answer.status, 200, "{value:?}: {:?}", answer.json());
    }
    server.shutdown().await;
}

#[actix_rt::test]
async fn a_token_acts_for_its_own_organisation_only() {
    let server = TestServer::start().await;
    let other = server.other_token().await;
    let mine = server
        .post(APPS, json!({"name": "mine", "uid": "mine"}))
        .await
        .body;
    let theirs = server
        .call_as(&other, "POST", APPS, Some(json!({"name": "theirs"})), &[])
        .await
        .body;
    assert_eq!(server.get(APPS).await.body, json!([mine]));
    let their_list = server.call_as(&other, "GET", APPS, None, &[]).await;
    assert_eq!(their_list.body, json!([theirs]));
    server.shutdown().await;
}

#[actix_rt::test]
async fn another_organisations_application_looks_exactly_like_a_missing_one() {
    let server = TestServer::start().await;
    let app = server
        .post(APPS, json!({"name": "victim", "uid": "victim"}))
        .await
        .body;
    let app_id = app["id"].as_str().unwrap().to_string();
    let endpoint = server
        .create_endpoint(&app_id, "https://example.com/x", json!({"uid": "ep"}))
        .await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_string();
    let message = server
        .send_message(
            &app_id,
            json!({"eventType": "e", "uid": "msg", "payload": {}}),
        )
        .await;
    let intruder = server.other_token().await;
    let missing = uuid::Uuid::new_v4().to_string();

    let app_body = json!({"name": "pwned"});
    let ep_body = json!({"name": "pwned", "url": "https://evil.example/x"});
    let msg_body = json!({"eventType": "e", "payload": {}});
    for reference in [app_id.as_str(), "victim"] {
        let cases = [
            ("GET", format!("{APPS}/{{}}"), None),
            ("PUT", format!("{APPS}/{{}}"), Some(app_body.clone())),
            ("DELETE", format!("{APPS}/{{}}"), None),
            ("GET", format!("{APPS}/{{}}/endpoints"), None),
            (
                "POST",
                format!("{APPS}/{{}}/endpoints"),
                Some(ep_body.clone()),
            ),
            ("GET", format!("{APPS}/{{}}/endpoints/{endpoint_id}"), None),
            ("GET", format!("{APPS}/{{}}/endpoints/ep"), None),
            (
                "PUT",
                format!("{APPS}/{{}}/endpoints/{endpoint_id}"),
                Some(ep_body.clone()),
            ),
            (
                "DELETE",
                format!("{APPS}/{{}}/endpoints/{endpoint_id}"),
                None,
            ),
            ("GET", format!("{APPS}/{{}}/messages"), None),
            (
                "POST",
                format!("{APPS}/{{}}/messages"),
                Some(msg_body.clone()),
            ),
            ("GET", format!("{APPS}/{{}}/messages/{message}"), None),
            ("GET", format!("{APPS}/{{}}/messages/msg"), None),
            (
                "GET",
                format!("{APPS}/{{}}/messages/{message}/attempts"),
                None,
            ),
            (
                "POST",
                format!("{APPS}/{{}}/messages/{message}/endpoints/{endpoint_id}/resend"),
                None,
            ),
        ];
        for (method, template, body) in cases {
            let foreign = template.replace("{}", reference);
            let absent = template.replace("{}", &missing);
            let got = server
                .call_as(&intruder, method, &foreign, body.clone(), &[])
                .await;
            let expected = server
                .call_as(&intruder, method, &absent, body.clone(), &[])
                .await;
            assert_error(&got, 404, "not_found");
            assert_eq!(
                (got.status, &got.body),
                (expected.status, &expected.body),
                "{method} {foreign} differs from a missing application"
            );
        }
    }
    // The owner still sees everything unchanged.
    assert_eq!(server.get(&format!("{APPS}/victim")).await.body, app);
    let endpoints = server.get(&format!("{APPS}/victim/endpoints")).await;
    assert_eq!(
        without_health(&endpoints.body),
        without_health(&json!([endpoint]))
    );
    let messages = server.get(&format!("{APPS}/victim/messages")).await;
    assert_eq!(messages.body.as_array().unwrap().len(), 1);
    // And the intruder's organisation did not gain anything.
    let theirs = server.call_as(&intruder, "GET", APPS, None, &[]).await;
    assert_eq!(theirs.body, json!([]));
    server.shutdown().await;
}

#[actix_rt::test]
async fn the_bootstrap_token_acts_for_the_default_organisation() {
    let server =
        TestServer::start_with(|c| c.auth.bootstrap_token = "boot-strap-token".into()).await;
    let answer = server
        .call_as(
            "boot-strap-token",
            "POST",
            APPS,
            Some(json!({"name": "b"})),
            &[],
        )
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let list = server
        .call_as("boot-strap-token", "GET", APPS, None, &[])
        .await;
    assert_eq!(list.body, json!([answer.body]));
    // The per-organisation token does not see it, and vice versa.
    assert_eq!(server.get(APPS).await.body, json!([]));
    let wrong = server
        .call_as("boot-strap-tokeN", "GET", APPS, None, &[])
        .await;
    assert_error(&wrong, 401, "unauthorized");
    server.shutdown().await;
}
