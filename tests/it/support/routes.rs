//! The API's routes as the router serves them (`octohooks::api::routes::served()`, the route
//! table), and a fixture that turns each route template into real requests: entities to
//! point at, every way to name them, and a valid body with the success it must answer. Tests
//! that must cover every route (authentication, organisation isolation, the OpenAPI document)
//! iterate over this instead of a hand-kept list, so a new route is covered the day it is
//! added (or the fixture panics, asking for a probe).

use std::collections::BTreeSet;

use octohooks::api::openapi::DOCUMENT_PATH;
use octohooks::api::session::SESSION_PATH;
use serde_json::{json, Value};

use super::receiver::Receiver;
use super::server::TestServer;

/// Routes that take no token: open ones, and the dashboard's session (signing in takes the
/// token in its body, the others the session cookie; `tests/it/dashboard.rs` covers them).
pub const PUBLIC: &[&str] = &["/health", "/metrics", DOCUMENT_PATH, SESSION_PATH];

/// Every (METHOD, path template) the router serves, from the route table itself.
pub fn served() -> BTreeSet<(String, String)> {
    octohooks::api::routes::served()
        .into_iter()
        .map(|(m, p)| (m, p.to_string()))
        .collect()
}

/// The served routes that require a token.
pub fn protected() -> BTreeSet<(String, String)> {
    served()
        .into_iter()
        .filter(|(_, path)| !PUBLIC.contains(&path.as_str()))
        .collect()
}

/// Entities the route probes work on (each with a uid, so routes can name it both ways).
pub struct Fixture {
    pub app: String,
    pub app_uid: String,
    pub endpoint: String,
    pub endpoint_uid: String,
    pub message: String,
    pub message_uid: String,
    pub job: String,
    /// An organisation token (not the server's own) that probes may revoke.
    pub token: String,
    /// An event type of the catalogue, with a schema and an example.
    pub event_type: String,
    /// An erasure job of the application (that erased nothing).
    pub erasure: String,
    /// An operational endpoint of the organisation.
    pub ops_endpoint: String,
    pub receiver: Receiver,
}

impl Fixture {
    /// An application with one endpoint (at an in-process receiver), one message, one
    /// recovery job, an erasure job, a spare organisation token and an event type.
    pub async fn new(server: &TestServer) -> Fixture {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let (app_uid, endpoint_uid, message_uid) = (
            format!("app-{tag}"),
            format!("ep-{tag}"),
            format!("msg-{tag}"),
        );
        let receiver = Receiver::ok();
        let created = server
            .post(
                "/api/v1/applications",
                json!({"name": "probed", "uid": app_uid}),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let app = created.body["id"].as_str().expect("id").to_string();
        let endpoint = server
            .create_endpoint(
                &app,
                &format!("{}/hook", receiver.url),
                json!({"uid": endpoint_uid}),
            )
            .await["id"]
            .as_str()
            .expect("id")
            .to_string();
        let message = server
            .send_message(
                &app,
                json!({"eventType": "t", "uid": message_uid, "payload": {"a": 1}}),
            )
            .await;
        let job = server
            .post(
                &format!("/api/v1/applications/{app}/endpoints/{endpoint}/recover"),
                json!({"since": 0}),
            )
            .await
            .body["id"]
            .as_str()
            .expect("job id")
            .to_string();
        // One recovery per endpoint at a time: the probes start another once this one is done.
        let status = format!("/api/v1/applications/{app}/endpoints/{endpoint}/recover/{job}");
        super::wait::eventually(super::wait::WAIT, "the fixture's recovery done", || async {
            server.get(&status).await.body["status"] == "done"
        })
        .await;
        let token = server
            .post("/api/v1/tokens", json!({"name": "spare"}))
            .await
            .body["id"]
            .as_str()
            .expect("token id")
            .to_string();
        let event_type = format!("fixture.{tag}");
        let created = server
            .post(
                "/api/v1/event-types",
                json!({
                    "name": event_type,
                    "description": "probed",
                    "schema": {"type": "object", "properties": {"a": {"type": "integer"}}},
                    "example": {"a": 1},
                }),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        let erasure = server
            .post(
                &format!("/api/v1/applications/{app}/messages/erase"),
                json!({"uidPrefix": "no-such-"}),
            )
            .await
            .body["id"]
            .as_str()
            .expect("erasure job id")
            .to_string();
        let ops_endpoint = server
            .post(
                "/api/v1/operational-webhooks/endpoints",
                json!({"name": "ops", "url": format!("{}/ops", receiver.url)}),
            )
            .await
            .body["id"]
            .as_str()
            .expect("operational endpoint id")
            .to_string();
        Fixture {
            app,
            app_uid,
            endpoint,
            endpoint_uid,
            message,
            message_uid,
            job,
            token,
            event_type,
            erasure,
            ops_endpoint,
            receiver,
        }
    }

    /// The template with every entity named by id.
    pub fn path(&self, template: &str) -> String {
        self.path_with(template, &self.app, &self.endpoint, &self.message)
    }

    fn path_with(&self, template: &str, app: &str, endpoint: &str, message: &str) -> String {
        let endpoint = if template.starts_with("/api/v1/operational-webhooks/") {
            &self.ops_endpoint
        } else {
            endpoint
        };
        template
            .replace("{application_id}", app)
            .replace("{endpoint_id}", endpoint)
            .replace("{message_id}", message)
            .replace(
                "{job_id}",
                if template.contains("/messages/erase/") {
                    &self.erasure
                } else {
                    &self.job
                },
            )
            .replace("{token_id}", &self.token)
            .replace("{event_type_name}", &self.event_type)
    }

    /// Every way to write the template's path with the application named `app`: the
    /// endpoint and the message each by id and by uid.
    pub fn paths_naming_app(&self, template: &str, app: &str) -> BTreeSet<String> {
        let mut paths = BTreeSet::new();
        for endpoint in [&self.endpoint, &self.endpoint_uid] {
            for message in [&self.message, &self.message_uid] {
                paths.insert(self.path_with(template, app, endpoint, message));
            }
        }
        paths
    }

    /// A valid request body for a route, and the status it must answer.
    pub fn probe(&self, method: &str, template: &str) -> (Option<Value>, u16) {
        let url = format!("{}/probed", self.receiver.url);
        match (method, template) {
            ("POST", "/api/v1/applications") => (Some(json!({"name": "probe"})), 201),
            ("POST", "/api/v1/tokens") => (Some(json!({"name": "probe"})), 201),
            ("POST", "/api/v1/operational-webhooks/endpoints") => {
                (Some(json!({"name": "probe", "url": url})), 201)
            }
            ("PUT", "/api/v1/operational-webhooks/endpoints/{endpoint_id}") => {
                (Some(json!({"name": "renamed", "url": url})), 200)
            }
            ("POST", "/api/v1/event-types") => {
                let name = format!("probe.{}", uuid::Uuid::new_v4().simple());
                (Some(json!({"name": name})), 201)
            }
            ("PUT", "/api/v1/event-types/{event_type_name}") => (
                Some(json!({"description": "changed", "example": {"a": 2}})),
                200,
            ),
            // Without the browser's header (sign-in) or the cookie (the others): refused.
            ("POST", SESSION_PATH) => (Some(json!({"token": self.token})), 403),
            ("GET", SESSION_PATH) | ("DELETE", SESSION_PATH) => (None, 401),
            ("PUT", "/api/v1/applications/{application_id}") => {
                (Some(json!({"name": "renamed"})), 200)
            }
            ("POST", "/api/v1/applications/{application_id}/endpoints") => {
                (Some(json!({"name": "probe", "url": url})), 201)
            }
            ("PUT", "/api/v1/applications/{application_id}/endpoints/{endpoint_id}") => {
                (Some(json!({"name": "renamed", "url": url})), 200)
            }
            ("POST", "/api/v1/applications/{application_id}/messages") => (
                Some(json!({"eventType": "t", "payload": {"probe": true}})),
                202,
            ),
            ("POST", t) if t.ends_with("/resend") => (None, 202),
            ("POST", t) if t.ends_with("/portal-link") => (Some(json!({"readOnly": true})), 201),
            ("POST", t) if t.ends_with("/pause") || t.ends_with("/resume") => (None, 200),
            ("POST", t) if t.ends_with("/secret/rotate") => {
                (Some(json!({"gracePeriodSeconds": 60})), 200)
            }
            ("POST", t) if t.ends_with("/filter/test") => {
                (Some(json!({"filter": {"a": 1}, "payload": {"a": 1}})), 200)
            }
            ("POST", t) if t.ends_with("/recover") => (Some(json!({"since": 0})), 202),
            ("POST", t) if t.ends_with("/messages/erase") => {
                (Some(json!({"uidPrefix": "no-such-"})), 202)
            }
            ("POST", t) if t.ends_with("/send-example") => {
                (Some(json!({"eventType": self.event_type})), 202)
            }
            ("GET", _) | ("DELETE", _) => (None, 200),
            _ => panic!("no probe for {method} {template}: add one in tests/it/support/routes.rs"),
        }
    }
}
