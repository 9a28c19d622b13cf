//! Bearer-token authentication and organisation isolation: a request without a valid token is
//! a 401 JSON on every API route, and another organisation's entities are indistinguishable
//! from nonexistent ones.

use serde_json::json;

use crate::support::api::{assert_error, assert_error_body, raw, without_health, Raw};
use crate::support::routes::{protected, served, Fixture};
use crate::support::server::TestServer;

const APPS: &str = "/api/v1/applications";

fn assert_unauthorized(answer: &Raw) {
    assert_error_body(answer.status, &answer.json(), 401, "unauthorized");
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    assert!(answer
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json")));
}

/// The body of a probe as raw bytes (an empty body where the route takes none).
fn body_bytes(body: Option<serde_json::Value>) -> Vec<u8> {
    body.map(|b| serde_json::to_vec(&b).expect("json"))
        .unwrap_or_default()
}

#[actix_rt::test]
async fn every_api_route_requires_a_valid_bearer_token() {
    let server = TestServer::start().await;
    let fixture = Fixture::new(&server).await;
    // Every route of the route table but the public ones.
    let routes = protected();
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
    for (method, template) in &routes {
        let path = fixture.path(template);
        let body = body_bytes(fixture.probe(method, template).0);
        for credential in &credentials {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(value) = credential {
                headers.push(("authorization", value));
            }
            let answer = raw(&server, method, &path, &headers, Some(body.clone())).await;
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
    let app = &fixture.app;
    let apps = server.get(APPS).await;
    assert_eq!(apps.body.as_array().unwrap().len(), 1);
    let endpoints = server.get(&format!("{APPS}/{app}/endpoints")).await;
    assert_eq!(endpoints.body.as_array().unwrap().len(), 1);
    let messages = server.get(&format!("{APPS}/{app}/messages")).await;
    assert_eq!(messages.body.as_array().unwrap().len(), 1);
    server.shutdown().await;
    fixture.receiver.stop().await;
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
    let victim = Fixture::new(&server).await;
    let app = server.get(&format!("{APPS}/{}", victim.app)).await.body;
    let endpoints = server
        .get(&format!("{APPS}/{}/endpoints", victim.app))
        .await
        .body;
    let intruder = server.other_token().await;
    let missing = uuid::Uuid::new_v4().to_string();
    // Every route of the route table that names an application, with the victim's
    // application named by id and by uid, and its endpoint and message by id and by uid.
    let routes: Vec<(String, String)> = served()
        .into_iter()
        .filter(|(_, template)| template.contains("{application_id}"))
        .collect();
    assert!(!routes.is_empty());
    for (method, template) in &routes {
        let (body, _) = victim.probe(method, template);
        for reference in [&victim.app, &victim.app_uid] {
            for foreign in victim.paths_naming_app(template, reference) {
                let absent = foreign.replacen(reference.as_str(), &missing, 1);
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
    }
    // The owner still sees everything unchanged.
    assert_eq!(
        server.get(&format!("{APPS}/{}", victim.app_uid)).await.body,
        app
    );
    let still = server
        .get(&format!("{APPS}/{}/endpoints", victim.app_uid))
        .await;
    assert_eq!(without_health(&still.body), without_health(&endpoints));
    let messages = server
        .get(&format!("{APPS}/{}/messages", victim.app_uid))
        .await;
    assert_eq!(messages.body.as_array().unwrap().len(), 1);
    // And the intruder's organisation did not gain anything.
    let theirs = server.call_as(&intruder, "GET", APPS, None, &[]).await;
    assert_eq!(theirs.body, json!([]));
    server.shutdown().await;
    victim.receiver.stop().await;
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
