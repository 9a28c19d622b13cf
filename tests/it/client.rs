//! The Rust client (`clients/rust`): it implements exactly the operations of the served OpenAPI
//! document, each works against the live service, and its types read every field the service
//! answers (a type that dropped a field would not serialize back to the same JSON).

use std::collections::BTreeSet;

use octohooks_client::models::*;
use octohooks_client::{
    AttemptListOptions, Client, ListOptions, MessageListOptions, PostOptions, OPERATIONS,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::support::receiver::Receiver;
use crate::support::server::TestServer;
use crate::support::wait::{eventually, poll_until, WAIT};

/// Asserts that a client type holds exactly the JSON the API answers for it.
fn same_json<T: Serialize>(model: &T, live: &Value, what: &str) {
    let ours = serde_json::to_value(model).expect("serialize");
    assert_eq!(
        &ours, live,
        "{what}: the client's type differs from the API's answer"
    );
}

#[actix_rt::test]
async fn the_client_implements_exactly_the_documented_operations() {
    let server = TestServer::start().await;
    let doc = Client::new(server.base.clone(), &server.token)
        .get_open_api_document()
        .await
        .expect("document");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("item") {
            if let Some(id) = operation["operationId"].as_str() {
                documented.insert((id.to_string(), method.to_uppercase(), path.clone()));
            }
        }
    }
    let implemented: BTreeSet<(String, String, String)> = OPERATIONS
        .iter()
        .map(|op| {
            (
                op.id.to_string(),
                op.method.to_string(),
                op.path.to_string(),
            )
        })
        .collect();
    assert_eq!(
        implemented,
        documented,
        "missing from the client: {:?}; not in the document: {:?}",
        documented.difference(&implemented).collect::<Vec<_>>(),
        implemented.difference(&documented).collect::<Vec<_>>()
    );
    server.shutdown().await;
}

#[actix_rt::test]
async fn every_client_operation_works_against_the_live_service() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let client = Client::new(format!("{}/", server.base), &server.token);

    // Operations.
    assert_eq!(client.get_health().await.expect("health").status, "ok");
    assert!(client
        .get_metrics()
        .await
        .expect("metrics")
        .contains("# TYPE"));

    // Applications, with an idempotent create.
    let input = ApplicationIn::new("Acme").uid("acme");
    let key = || Some(PostOptions::idempotency_key("create-acme"));
    let app = client
        .create_application(&input, key())
        .await
        .expect("create");
    let replay = client
        .create_application(&input, key())
        .await
        .expect("replay");
    assert_eq!(replay, app);
    let other = client
        .create_application(&ApplicationIn::new("Globex"), None)
        .await
        .expect("create");
    same_json(
        &client.get_application("acme").await.expect("get"),
        &server.get("/api/v1/applications/acme").await.body,
        "ApplicationOut",
    );
    let renamed = client
        .update_application("acme", &ApplicationIn::new("Acme Inc").uid("acme"))
        .await
        .expect("update");
    assert_eq!(renamed.name, "Acme Inc");
    let first = client
        .list_applications(&ListOptions {
            limit: Some(1),
            iterator: None,
        })
        .await
        .expect("list");
    assert_eq!(first.data.len(), 1);
    let second = client
        .list_applications(&ListOptions {
            limit: Some(1),
            iterator: first.iterator.clone(),
        })
        .await
        .expect("next page");
    assert_eq!(second.data[0].id, other.id);
    assert_eq!(second.iterator, None);

    // Endpoints and what can be done to them.
    let mut input = EndpointIn::new("hooks", format!("{}/hooks", receiver.url));
    input.uid = Some("hooks".into());
    input.event_types = Some(vec!["user.created".into()]);
    let endpoint = client
        .create_endpoint(&app.id, &input, None)
        .await
        .expect("endpoint");
    let path = format!("/api/v1/applications/{}/endpoints/{}", app.id, endpoint.id);
    same_json(
        &client.get_endpoint("acme", "hooks").await.expect("get"),
        &server.get(&path).await.body,
        "EndpointOut",
    );
    let listed = client
        .list_endpoints("acme", &ListOptions::default())
        .await
        .expect("list");
    assert_eq!(listed.data.len(), 1);
    input.rate_limit = Some(50);
    let updated = client
        .update_endpoint("acme", "hooks", &input)
        .await
        .expect("update");
    assert_eq!(updated.rate_limit, Some(50));
    let secret = client
        .get_endpoint_secret("acme", "hooks")
        .await
        .expect("secret");
    assert!(secret.key.starts_with("whsec_"));
    let rotated = client
        .rotate_endpoint_secret(
            "acme",
            "hooks",
            &RotateIn {
                key: None,
                grace_period_seconds: Some(60),
            },
            None,
        )
        .await
        .expect("rotate");
    assert_eq!(rotated.secrets.len(), 2);
    let test = FilterTestIn {
        filter: json!({"plan": "pro"}),
        payload: json!({"plan": "pro"}),
    };
    assert!(
        client
            .test_endpoint_filter("acme", "hooks", &test, None)
            .await
            .expect("filter")
            .matches
    );
    assert!(
        client
            .pause_endpoint("acme", "hooks", None)
            .await
            .expect("pause")
            .paused
    );
    assert!(
        !client
            .resume_endpoint("acme", "hooks", None)
            .await
            .expect("resume")
            .paused
    );

    // Messages, their attempts, resending.
    let mut message = MessageIn::new("user.created", json!({"id": 7, "email": "a@b.c"}));
    message.uid = Some("evt-7".into());
    message.channels = Some(vec!["eu".into()]);
    let sent = client
        .create_message("acme", &message, None)
        .await
        .expect("message");
    same_json(
        &client.get_message("acme", "evt-7").await.expect("get"),
        &server
            .get(&format!("/api/v1/applications/{}/messages/evt-7", app.id))
            .await
            .body,
        "MessageOut",
    );
    let filtered = client
        .list_messages(
            "acme",
            &MessageListOptions {
                event_type: Some("user.created".into()),
                channel: Some("eu".into()),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(filtered.data.len(), 1);
    let attempts = poll_until(
        WAIT,
        "the delivery",
        || async {
            client
                .list_attempts("acme", "evt-7", &ListOptions::default())
                .await
                .expect("attempts")
                .data
        },
        |a: &Vec<AttemptOut>| a.iter().any(|a| a.status == AttemptStatus::Success),
    )
    .await;
    same_json(
        &attempts,
        &server
            .get(&format!(
                "/api/v1/applications/{}/messages/{}/attempts",
                app.id, sent.id
            ))
            .await
            .body,
        "AttemptOut",
    );
    let log = client
        .list_endpoint_attempts(
            "acme",
            "hooks",
            &AttemptListOptions {
                status: Some(AttemptStatus::Success),
                ..Default::default()
            },
        )
        .await
        .expect("endpoint attempts");
    assert_eq!(log.data.len(), 1);
    let stats = client
        .get_endpoint_stats("acme", "hooks")
        .await
        .expect("stats");
    assert_eq!(stats.hourly.iter().map(|b| b.success).sum::<u64>(), 1);
    same_json(
        &stats,
        &server.get(&format!("{path}/stats")).await.body,
        "EndpointStatsOut",
    );
    let resent = client
        .resend_message("acme", "evt-7", "hooks", None)
        .await
        .expect("resend");
    assert_eq!(resent.message_id, sent.id);
    eventually(WAIT, "the resent delivery", || async {
        client
            .list_attempts("acme", "evt-7", &ListOptions::default())
            .await
            .expect("attempts")
            .data
            .len()
            == 2
    })
    .await;
    let job = client
        .recover_endpoint(
            "acme",
            "hooks",
            &RecoverIn {
                since: 0,
                until: None,
            },
            None,
        )
        .await
        .expect("recover");
    let done = poll_until(
        WAIT,
        "the recovery",
        || async {
            client
                .get_recovery_job("acme", "hooks", &job.id)
                .await
                .expect("job")
        },
        |j: &RecoveryJobOut| j.status == "done",
    )
    .await;
    same_json(
        &done,
        &server.get(&format!("{path}/recover/{}", job.id)).await.body,
        "RecoveryJobOut",
    );

    // Tokens.
    let scoped = client
        .create_token(
            &TokenIn {
                name: "portal".into(),
                expires_at: None,
                scope: Some(TokenScopeIn {
                    application: "acme".into(),
                    read_only: true,
                }),
            },
            None,
        )
        .await
        .expect("token");
    let portal = Client::new(
        server.base.clone(),
        scoped.token.clone().expect("shown once"),
    );
    assert_eq!(
        portal
            .list_endpoints("acme", &ListOptions::default())
            .await
            .expect("scoped")
            .data
            .len(),
        1
    );
    let refused = portal
        .list_applications(&ListOptions::default())
        .await
        .expect_err("scoped");
    assert_eq!(
        (refused.status(), refused.code()),
        (Some(403), Some("forbidden"))
    );
    let tokens = client
        .list_tokens(&ListOptions::default())
        .await
        .expect("tokens");
    same_json(
        &tokens.data,
        &server.get("/api/v1/tokens").await.body,
        "TokenOut",
    );
    assert!(tokens.data.iter().any(|t| t.id == scoped.record.id));
    assert_eq!(
        client
            .revoke_token(&scoped.record.id)
            .await
            .expect("revoke")
            .id,
        scoped.record.id
    );

    let link = client
        .create_portal_link("acme", &PortalLinkIn::default(), None)
        .await
        .expect("portal link");
    assert!(link.url.expect("url").contains("/portal#token="));

    // The dashboard's session.
    let session = client.create_session().await.expect("session");
    assert_eq!(
        client.get_session(&session).await.expect("get").org,
        server.org
    );
    client.delete_session(&session).await.expect("sign out");
    assert_eq!(
        client.get_session(&session).await.expect_err("gone").code(),
        Some("unauthorized")
    );

    // Errors carry the API's code; deletes.
    let missing = client.get_application("missing").await.expect_err("404");
    assert_eq!(
        (missing.status(), missing.code()),
        (Some(404), Some("not_found"))
    );
    let invalid = client
        .create_application(&ApplicationIn::new(""), None)
        .await
        .expect_err("422");
    assert_eq!(invalid.code(), Some("validation_error"));
    client
        .delete_endpoint("acme", "hooks")
        .await
        .expect("delete endpoint");
    client
        .delete_application("acme")
        .await
        .expect("delete application");
    assert_eq!(
        client
            .get_application("acme")
            .await
            .expect_err("gone")
            .status(),
        Some(404)
    );
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn catalogue_examples_erasure_and_operational_endpoints_through_the_client() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let client = Client::new(server.base.clone(), &server.token);
    let schema =
        json!({"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}});

    // The event-type catalogue.
    let made = client
        .create_event_type(
            &EventTypeIn {
                name: "user.created".into(),
                attributes: EventTypeUpdateIn {
                    description: Some("A user signed up".into()),
                    schema: Some(schema.clone()),
                    example: Some(json!({"id": 7})),
                    archived: None,
                },
            },
            None,
        )
        .await
        .expect("create");
    same_json(
        &client.get_event_type("user.created").await.expect("get"),
        &server.get("/api/v1/event-types/user.created").await.body,
        "EventTypeOut",
    );
    let update = EventTypeUpdateIn {
        description: Some(made.description.clone()),
        schema: Some(schema),
        example: Some(json!({"id": 8})),
        archived: None,
    };
    let updated = client
        .update_event_type("user.created", &update)
        .await
        .expect("update");
    assert_eq!(updated.example, Some(json!({"id": 8})));
    let listed = client
        .list_event_types(&ListOptions::default())
        .await
        .expect("list");
    assert_eq!(listed.data, vec![updated.clone()]);
    let mut invalid = MessageIn::new("user.created", json!({"id": "seven"}));
    invalid.validate = Some(true);
    client
        .create_application(&ApplicationIn::new("Acme").uid("acme"), None)
        .await
        .expect("app");
    let refused = client
        .create_message("acme", &invalid, None)
        .await
        .expect_err("422");
    assert_eq!(refused.code(), Some("validation_error"));

    // Its example sent to one endpoint, then erased.
    let mut input = EndpointIn::new("hooks", format!("{}/hooks", receiver.url));
    input.uid = Some("hooks".into());
    client
        .create_endpoint("acme", &input, None)
        .await
        .expect("endpoint");
    let example = client
        .send_example(
            "acme",
            "hooks",
            &SendExampleIn {
                event_type: "user.created".into(),
            },
            None,
        )
        .await
        .expect("send example");
    assert_eq!(example.payload, json!({"id": 8}));
    eventually(WAIT, "the example's delivery", || async {
        receiver.got("/hooks", &example.id)
    })
    .await;
    let erased = client
        .erase_message_content("acme", &example.id)
        .await
        .expect("erase");
    assert_eq!(erased.payload, serde_json::Value::Null);
    let job = client
        .erase_messages("acme", &EraseIn::default(), None)
        .await
        .expect("erase job");
    let done = poll_until(
        WAIT,
        "the erasure",
        || async { client.get_erasure_job("acme", &job.id).await.expect("job") },
        |j: &ErasureJobOut| j.status == "done",
    )
    .await;
    same_json(
        &done,
        &server
            .get(&format!(
                "/api/v1/applications/acme/messages/erase/{}",
                job.id
            ))
            .await
            .body,
        "ErasureJobOut",
    );
    assert_eq!(
        client
            .delete_event_type("user.created")
            .await
            .expect("delete")
            .name,
        "user.created"
    );

    // Operational webhook endpoints.
    let ops = client
        .create_operational_endpoint(
            &EndpointIn::new("ops", format!("{}/ops", receiver.url)),
            None,
        )
        .await
        .expect("create");
    same_json(
        &client.get_operational_endpoint(&ops.id).await.expect("get"),
        &server
            .get(&format!(
                "/api/v1/operational-webhooks/endpoints/{}",
                ops.id
            ))
            .await
            .body,
        "operational EndpointOut",
    );
    let renamed = client
        .update_operational_endpoint(
            &ops.id,
            &EndpointIn::new("renamed", format!("{}/ops", receiver.url)),
        )
        .await
        .expect("update");
    assert_eq!(renamed.name, "renamed");
    let all = client
        .list_operational_endpoints(&ListOptions::default())
        .await
        .expect("list");
    assert_eq!(all.data.len(), 1);
    assert_eq!(
        client
            .delete_operational_endpoint(&ops.id)
            .await
            .expect("delete")
            .id,
        ops.id
    );
    server.shutdown().await;
    receiver.stop().await;
}

#[actix_rt::test]
async fn messages_are_listed_within_a_time_window() {
    let server = TestServer::start().await;
    let client = Client::new(server.base.clone(), &server.token);
    let app = client
        .create_application(&ApplicationIn::new("window"), None)
        .await
        .expect("app");
    let mut created = Vec::new();
    for n in 0..3 {
        let message = client
            .create_message(&app.id, &MessageIn::new("t", json!({ "n": n })), None)
            .await
            .expect("message");
        created.push(message);
        // Distinct creation milliseconds, so the window has edges between messages.
        crate::support::wait::wait_clock_past(created[n].created).await;
    }
    let ids = |page: Vec<MessageOut>| page.into_iter().map(|m| m.id).collect::<Vec<_>>();
    let list = |after: Option<i64>, before: Option<i64>| {
        let client = &client;
        let app = &app.id;
        async move {
            ids(client
                .list_messages(
                    app,
                    &MessageListOptions {
                        after,
                        before,
                        ..Default::default()
                    },
                )
                .await
                .expect("list")
                .data)
        }
    };
    let (first, second, third) = (&created[0], &created[1], &created[2]);
    // `after` is inclusive, `before` exclusive; newest first.
    assert_eq!(
        list(Some(second.created), None).await,
        [third.id.clone(), second.id.clone()]
    );
    assert_eq!(
        list(None, Some(second.created)).await,
        vec![first.id.clone()]
    );
    assert_eq!(
        list(Some(second.created), Some(third.created)).await,
        vec![second.id.clone()]
    );
    assert_eq!(
        list(Some(third.created + 1), None).await,
        Vec::<String>::new()
    );
    // Paging inside a window stays inside it.
    let page = client
        .list_messages(
            &app.id,
            &MessageListOptions {
                limit: Some(1),
                before: Some(third.created),
                ..Default::default()
            },
        )
        .await
        .expect("page");
    assert_eq!(ids(page.data), vec![second.id.clone()]);
    let next = client
        .list_messages(
            &app.id,
            &MessageListOptions {
                limit: Some(1),
                before: Some(third.created),
                iterator: page.iterator,
                ..Default::default()
            },
        )
        .await
        .expect("next");
    assert_eq!(ids(next.data), vec![first.id.clone()]);
    assert_eq!(next.iterator, None);
    server.shutdown().await;
}
