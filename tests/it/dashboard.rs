//! The dashboard's pages and its sign-in: the pages are served from the binary with a strict
//! Content-Security-Policy; a session cookie (HttpOnly, SameSite=Strict, Secure over https,
//! expiring) acts as the token it was opened with, but changes through it need the session's
//! CSRF header and this site's origin; sign-out, expiry and revoking the token end it.
//! A portal link gives a customer a short-lived token for one application. (The browser
//! tests, `tests/browser/`, drive the same through the pages.)

use std::time::Duration;

use octohooks::api::session::SESSION_PATH;
use octohooks_client::models::{EndpointIn, PortalLinkIn};
use octohooks_client::{Client, PostOptions, Session};
use serde_json::json;

use crate::support::api::{assert_error_body, raw, Raw};
use crate::support::server::TestServer;
use crate::support::wait::{eventually, WAIT};

const APPS: &str = "/api/v1/applications";
const CSRF: &str = "x-octohooks-csrf";

fn client(server: &TestServer, token: &str) -> Client {
    Client::new(server.base.clone(), token)
}

/// Signs in as a browser on this site would, with any extra headers.
async fn sign_in(server: &TestServer, token: &str, extra: &[(&str, &str)]) -> Raw {
    let body = serde_json::to_vec(&json!({ "token": token })).expect("json");
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra);
    raw(server, "POST", SESSION_PATH, &headers, Some(body)).await
}

/// The `octohooks_session` Set-Cookie header of an answer.
fn set_cookie(answer: &Raw) -> String {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("octohooks_session="))
        .unwrap_or_else(|| panic!("no session cookie in {:?}", answer.headers))
        .to_string()
}

/// A request with the session's cookie (and its CSRF header when `csrf` is given).
async fn with_session(
    server: &TestServer,
    session: &Session,
    method: &str,
    path: &str,
    csrf: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<serde_json::Value>,
) -> Raw {
    let cookie = format!("octohooks_session={}", session.cookie);
    let mut headers = vec![
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    if let Some(csrf) = csrf {
        headers.push((CSRF, csrf));
    }
    headers.extend_from_slice(extra);
    let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
    raw(server, method, path, &headers, body).await
}

#[actix_rt::test]
async fn the_pages_are_served_from_the_binary_with_a_strict_policy() {
    let server = TestServer::start().await;
    for path in ["/", "/portal"] {
        let page = raw(&server, "GET", path, &[], None).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let body = String::from_utf8_lossy(&page.body);
        assert!(body.contains(r#"<script type="module" src="/assets/app.js">"#));
        let policy = page.header("content-security-policy").expect("CSP");
        for rule in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "default-src 'none'",
        ] {
            assert!(policy.contains(rule), "{policy}");
        }
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    }
    let script = raw(&server, "GET", "/assets/pages/endpoint.js", &[], None).await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(script.header("x-content-type-options"), Some("nosniff"));
    let missing = raw(&server, "GET", "/assets/../Cargo.toml", &[], None).await;
    assert_eq!(missing.status, 404);
    let missing = raw(&server, "GET", "/assets/nope.js", &[], None).await;
    assert_error_body(missing.status, &missing.json(), 404, "not_found");
    server.shutdown().await;

    let off = TestServer::start_with(|c| c.dashboard.enabled = false).await;
    for path in ["/", "/portal", "/assets/app.js"] {
        assert_eq!(
            raw(&off, "GET", path, &[], None).await.status,
            404,
            "{path}"
        );
    }
    assert_eq!(
        off.get(APPS).await.status,
        200,
        "the API works without the pages"
    );
    off.shutdown().await;
}

#[actix_rt::test]
async fn a_session_cookie_acts_as_its_token_and_changes_need_the_csrf_header() {
    let server = TestServer::start().await;
    let answer = sign_in(&server, &server.token, &[(CSRF, "1")]).await;
    assert_eq!(answer.status, 201, "{:?}", answer.json());
    let cookie = set_cookie(&answer);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure over plain http: {cookie}"
    );
    let info = answer.json();
    assert_eq!(info["org"], server.org.as_str());
    let session = Session {
        cookie: cookie["octohooks_session=".len()..]
            .split(';')
            .next()
            .expect("value")
            .to_string(),
        info: serde_json::from_value(info).expect("session shape"),
    };
    let csrf = session.info.csrf_token.clone();
    // The session is stored under the hash of the cookie, never the cookie itself.
    assert!(server
        .keys()
        .await
        .iter()
        .all(|k| !k.contains(&session.cookie)));

    // Reads need only the cookie; the session says who it is.
    let me = client(&server, "unused")
        .get_session(&session)
        .await
        .expect("session");
    assert_eq!(me.org, server.org);
    let list = with_session(&server, &session, "GET", APPS, None, &[], None).await;
    assert_eq!(list.status, 200);

    // Changes need the session's CSRF secret, from this site.
    let body = || Some(json!({"name": "via the dashboard"}));
    let host = server.base.clone();
    for (csrf, extra, why) in [
        (None, vec![], "no CSRF header"),
        (Some("wrong"), vec![], "another session's secret"),
        (
            Some(csrf.as_str()),
            vec![("origin", "https://evil.example")],
            "another origin",
        ),
        (
            Some(csrf.as_str()),
            vec![("origin", "null")],
            "an opaque origin",
        ),
        (
            Some(csrf.as_str()),
            vec![("sec-fetch-site", "cross-site")],
            "a cross-site fetch",
        ),
        (
            Some(csrf.as_str()),
            vec![("referer", "https://evil.example/page")],
            "another site's page",
        ),
    ] {
        let answer = with_session(&server, &session, "POST", APPS, csrf, &extra, body()).await;
        assert_eq!(answer.status, 403, "{why}: {:?}", answer.json());
        assert_error_body(answer.status, &answer.json(), 403, "csrf_failed");
    }
    assert_eq!(
        server.get(APPS).await.body,
        json!([]),
        "nothing was created"
    );
    let same_site = [("origin", host.as_str()), ("sec-fetch-site", "same-origin")];
    let created = with_session(
        &server,
        &session,
        "POST",
        APPS,
        Some(&csrf),
        &same_site,
        body(),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let app = created.json()["id"].as_str().expect("id").to_string();
    let renamed = with_session(
        &server,
        &session,
        "PUT",
        &format!("{APPS}/{app}"),
        Some(&csrf),
        &[],
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.json());
    let deleted = with_session(
        &server,
        &session,
        "DELETE",
        &format!("{APPS}/{app}"),
        None,
        &[],
        None,
    )
    .await;
    assert_error_body(deleted.status, &deleted.json(), 403, "csrf_failed");

    // A bearer token needs none of it, and wins over a cookie sent along.
    let cookie = format!("octohooks_session={}", session.cookie);
    let bearer = format!("Bearer {}", server.token);
    let answer = raw(
        &server,
        "DELETE",
        &format!("{APPS}/{app}"),
        &[
            ("authorization", bearer.as_str()),
            ("cookie", cookie.as_str()),
        ],
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    server.shutdown().await;
}

#[actix_rt::test]
async fn sign_out_ends_the_session_everywhere_at_once() {
    let server = TestServer::start().await;
    let dashboard = client(&server, &server.token);
    let session = dashboard.create_session().await.expect("signed in");
    let other = dashboard.create_session().await.expect("a second session");
    assert_ne!(session.cookie, other.cookie);
    // Signing out needs the CSRF header like any change.
    let refused = with_session(&server, &session, "DELETE", SESSION_PATH, None, &[], None).await;
    assert_error_body(refused.status, &refused.json(), 403, "csrf_failed");
    let out = with_session(
        &server,
        &session,
        "DELETE",
        SESSION_PATH,
        Some(&session.info.csrf_token),
        &[],
        None,
    )
    .await;
    assert_eq!(out.status, 204);
    let cleared = set_cookie(&out);
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie, replayed, no longer works: not for reading, not for the session.
    for path in [APPS, SESSION_PATH] {
        let answer = with_session(&server, &session, "GET", path, None, &[], None).await;
        assert_error_body(answer.status, &answer.json(), 401, "unauthorized");
    }
    let again = dashboard.delete_session(&session).await.expect_err("gone");
    assert_eq!(again.code(), Some("unauthorized"));
    // The other session is its own.
    assert_eq!(
        dashboard.get_session(&other).await.expect("alive").org,
        server.org
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn wrong_tokens_cross_site_sign_ins_and_portal_tokens_are_refused() {
    let server = TestServer::start().await;
    for token in ["oh_not-a-token", "", &"x".repeat(300)] {
        let answer = sign_in(&server, token, &[(CSRF, "1")]).await;
        assert_error_body(answer.status, &answer.json(), 401, "unauthorized");
        assert!(answer.headers.get("set-cookie").is_none());
    }
    // A page of another site cannot sign its visitor in (login CSRF), nor can a form.
    for extra in [
        vec![],
        vec![(CSRF, "1"), ("origin", "https://evil.example")],
        vec![(CSRF, "1"), ("sec-fetch-site", "cross-site")],
    ] {
        let answer = sign_in(&server, &server.token, &extra).await;
        assert_error_body(answer.status, &answer.json(), 403, "csrf_failed");
        assert!(answer.headers.get("set-cookie").is_none());
    }
    // Application-scoped tokens are for portal links, not for the dashboard.
    let app = server.create_app("portal").await;
    let scoped = server
        .post(
            "/api/v1/tokens",
            json!({"name": "portal", "scope": {"application": app}}),
        )
        .await;
    let scoped = scoped.body["token"].as_str().expect("token").to_string();
    let answer = sign_in(&server, &scoped, &[(CSRF, "1")]).await;
    assert_error_body(answer.status, &answer.json(), 403, "forbidden");
    let bad = raw(
        &server,
        "POST",
        SESSION_PATH,
        &[(CSRF, "1"), ("content-type", "application/json")],
        Some(br#"{"token": "t", "extra": 1}"#.to_vec()),
    )
    .await;
    assert_error_body(bad.status, &bad.json(), 422, "validation_error");
    server.shutdown().await;
}

#[actix_rt::test]
async fn sessions_expire_and_die_with_their_token() {
    let server = TestServer::start_with(|c| c.dashboard.session_ttl = Duration::from_secs(1)).await;
    let session = client(&server, &server.token)
        .create_session()
        .await
        .expect("signed in");
    assert!(session.info.expires_at <= octohooks::clock::now_ms() + 1000);
    let list = with_session(&server, &session, "GET", APPS, None, &[], None).await;
    assert_eq!(list.status, 200);
    eventually(WAIT, "the session expired", || async {
        with_session(&server, &session, "GET", APPS, None, &[], None)
            .await
            .status
            == 401
    })
    .await;
    server.shutdown().await;

    // A session opened with a token that is then revoked stops working with it.
    let server = TestServer::start().await;
    let made = server
        .post("/api/v1/tokens", json!({"name": "laptop"}))
        .await;
    let token = made.body["token"].as_str().expect("token").to_string();
    let id = made.body["id"].as_str().expect("id").to_string();
    let session = client(&server, &token)
        .create_session()
        .await
        .expect("signed in");
    let list = with_session(&server, &session, "GET", APPS, None, &[], None).await;
    assert_eq!(list.status, 200);
    let revoked = server
        .call("DELETE", &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(revoked.status, 200, "{:?}", revoked.body);
    eventually(WAIT, "the session died with its token", || async {
        with_session(&server, &session, "GET", APPS, None, &[], None)
            .await
            .status
            == 401
    })
    .await;
    server.shutdown().await;
}

#[actix_rt::test]
async fn the_cookie_is_secure_behind_an_https_proxy() {
    let server = TestServer::start().await;
    let answer = sign_in(
        &server,
        &server.token,
        &[(CSRF, "1"), ("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(answer.status, 201);
    assert!(set_cookie(&answer).contains("Secure"));
    server.shutdown().await;
}

/// The fragment parameters of a portal URL.
fn fragment(url: &str) -> std::collections::BTreeMap<String, String> {
    let (_, fragment) = url.split_once('#').expect("a fragment");
    url::form_urlencoded::parse(fragment.as_bytes())
        .into_owned()
        .collect()
}

#[actix_rt::test]
async fn a_portal_link_reaches_its_application_only_for_a_short_time() {
    let server = TestServer::start().await;
    let platform = client(&server, &server.token);
    let app = server.create_app("customer").await;
    let other = server.create_app("someone else").await;
    let link = PortalLinkIn {
        expires_in: Some(600),
        read_only: false,
        accent_color: Some("#e11d48".into()),
        org_name: Some("Acme Platform".into()),
    };
    let key = || Some(PostOptions::idempotency_key("portal-1"));
    let made = platform
        .create_portal_link(&app, &link, key())
        .await
        .expect("portal link");
    let url = made.url.clone().expect("shown once");
    assert!(
        url.starts_with(&format!("{}/portal#", server.base)),
        "{url}"
    );
    let params = fragment(&url);
    assert_eq!(params["app"], app);
    assert_eq!(params["org"], "Acme Platform");
    assert_eq!(params["accent"], "#e11d48");
    let now = octohooks::clock::now_ms();
    assert!((now + 590_000..=now + 600_000).contains(&made.expires_at));
    // A replay does not show the token again.
    let replay = platform
        .create_portal_link(&app, &link, key())
        .await
        .expect("replay");
    assert_eq!((replay.url, replay.token_id), (None, made.token_id.clone()));

    // The link's token: its application's endpoints, nothing else.
    let customer = client(&server, &params["token"]);
    let endpoint = customer
        .create_endpoint(
            &app,
            &EndpointIn::new("mine", "http://127.0.0.1:9/hook"),
            None,
        )
        .await
        .expect("a customer manages its endpoints");
    assert_eq!(
        customer
            .list_endpoints(&app, &Default::default())
            .await
            .expect("list")
            .data,
        [endpoint]
    );
    let hidden = customer
        .list_endpoints(&other, &Default::default())
        .await
        .expect_err("404");
    assert_eq!(hidden.code(), Some("not_found"));
    let refused = customer
        .list_applications(&Default::default())
        .await
        .expect_err("403");
    assert_eq!(refused.code(), Some("forbidden"));
    // It cannot mint itself a longer life.
    let again = customer
        .create_portal_link(&app, &PortalLinkIn::default(), None)
        .await;
    assert_eq!(again.expect_err("403").code(), Some("forbidden"));
    // It is one of the organisation's tokens, and can be revoked early.
    let tokens = platform
        .list_tokens(&Default::default())
        .await
        .expect("tokens")
        .data;
    let listed = tokens
        .iter()
        .find(|t| t.id == made.token_id)
        .expect("listed");
    assert_eq!(listed.expires_at, Some(made.expires_at));
    platform.revoke_token(&made.token_id).await.expect("revoke");
    eventually(WAIT, "the revoked link refused", || async {
        customer
            .list_endpoints(&app, &Default::default())
            .await
            .is_err()
    })
    .await;

    // Read-only links only read; bad requests are 422.
    let read_only = platform
        .create_portal_link(
            &app,
            &PortalLinkIn {
                read_only: true,
                ..Default::default()
            },
            None,
        )
        .await
        .expect("read-only link");
    let viewer = client(&server, &fragment(&read_only.url.expect("url"))["token"]);
    assert!(viewer
        .list_endpoints(&app, &Default::default())
        .await
        .is_ok());
    let change = viewer
        .create_endpoint(&app, &EndpointIn::new("x", "http://127.0.0.1:9/x"), None)
        .await;
    assert_eq!(change.expect_err("403").code(), Some("forbidden"));
    for bad in [
        json!({"expiresIn": 10}),
        json!({"accentColor": "red; background: url(x)"}),
        json!({"unknown": true}),
    ] {
        let answer = server.post(&format!("{APPS}/{app}/portal-link"), bad).await;
        assert_eq!(answer.status, 422, "{:?}", answer.body);
    }
    let missing = server
        .post(&format!("{APPS}/missing/portal-link"), json!({}))
        .await;
    assert_eq!(missing.status, 404);
    server.shutdown().await;
}

#[actix_rt::test]
async fn an_organisation_without_listed_tokens_lists_none() {
    // The bootstrap organisation has no token records: its tokens page must still load.
    let bootstrap = "bootstrap-token-for-the-tokens-page";
    let server = TestServer::start_with(|c| c.auth.bootstrap_token = bootstrap.into()).await;
    let answer = server
        .call_as(bootstrap, "GET", "/api/v1/tokens", None, &[])
        .await;
    assert_eq!((answer.status, answer.body), (200, json!([])));
    server.shutdown().await;
}
