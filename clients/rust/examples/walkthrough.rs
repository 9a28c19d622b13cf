//! The walk-through in Rust (`octohooks-client = { path = "clients/rust" }`). Needs a running
//! server and a receiver, e.g.
//! `octohooks listen --port 9000 --secret whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD`.

use octohooks_client::models::*;
use octohooks_client::{AttemptListOptions, Client, ListOptions, MessageListOptions, PostOptions};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), octohooks_client::Error> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let client = Client::new(
        env("OCTOHOOKS_URL", "http://127.0.0.1:8080"),
        env("OCTOHOOKS_TOKEN", ""),
    );
    let receiver = env("RECEIVER_URL", "http://127.0.0.1:9000/webhooks");

    // An application per customer, addressed by its id or your own uid
    client
        .create_application(&ApplicationIn::new("My App").uid("my-app"), None)
        .await?;
    println!("application {}", client.get_application("my-app").await?.id);

    // An endpoint: where its webhooks go, signed with this secret
    let mut endpoint = EndpointIn::new("My Endpoint", receiver);
    endpoint.uid = Some("my-endpoint".into());
    endpoint.event_types = Some(vec!["user.created".into()]);
    endpoint.secrets = Some(vec!["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into()]);
    client.create_endpoint("my-app", &endpoint, None).await?;

    // A message, accepted once (retry safely with the same idempotency key)
    let mut message = MessageIn::new("user.created", json!({"email": "john@example.com"}));
    message.uid = Some("evt-1".into());
    let key = format!("evt-1-{}", std::process::id());
    client
        .create_message("my-app", &message, Some(PostOptions::idempotency_key(key)))
        .await?;

    // Its delivery attempts (wait for the first one)
    while !client
        .list_attempts("my-app", "evt-1", &ListOptions::default())
        .await?
        .data
        .iter()
        .any(|a| a.status == AttemptStatus::Success)
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let listed = MessageListOptions {
        event_type: Some("user.created".into()),
        limit: Some(10),
        ..Default::default()
    };
    println!(
        "messages {:?}",
        client
            .list_messages("my-app", &listed)
            .await?
            .data
            .iter()
            .map(|m| &m.id)
            .collect::<Vec<_>>()
    );

    // Resend it (wait for it in the endpoint's log), see the stats
    client
        .resend_message("my-app", "evt-1", "my-endpoint", None)
        .await?;
    let successes = AttemptListOptions {
        status: Some(AttemptStatus::Success),
        ..Default::default()
    };
    while client
        .list_endpoint_attempts("my-app", "my-endpoint", &successes)
        .await?
        .data
        .len()
        < 2
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    println!(
        "stats {:?}",
        client
            .get_endpoint_stats("my-app", "my-endpoint")
            .await?
            .hourly
            .last()
    );

    // Pause and resume the endpoint, rotate its secret (the old one signs for an hour more)
    client.pause_endpoint("my-app", "my-endpoint", None).await?;
    client
        .resume_endpoint("my-app", "my-endpoint", None)
        .await?;
    let rotate = RotateIn {
        grace_period_seconds: Some(3600),
        ..Default::default()
    };
    client
        .rotate_endpoint_secret("my-app", "my-endpoint", &rotate, None)
        .await?;

    // A customer portal link for this application
    let link = PortalLinkIn {
        expires_in: Some(3600),
        ..Default::default()
    };
    println!(
        "portal {:?}",
        client.create_portal_link("my-app", &link, None).await?.url
    );

    // Clean up: deleting an application deletes its endpoints, messages and pending work
    client.delete_application("my-app").await?;
    Ok(())
}
