//! The shortest path through the whole system.

use serde_json::json;

use crate::support::receiver::Receiver;
use crate::support::server::TestServer;
use crate::support::wait::{eventually, WAIT};

#[actix_rt::test]
async fn a_message_reaches_its_endpoint() {
    let server = TestServer::start().await;
    let receiver = Receiver::ok();
    let (app, _) = server
        .app_with_endpoint("smoke", &format!("{}/hook", receiver.url))
        .await;
    let id = server
        .send_message(
            &app,
            json!({"eventType": "user.created", "payload": {"x": 1}}),
        )
        .await;
    eventually(WAIT, "delivery", || async {
        receiver.hits_on("/hook").len() == 1
    })
    .await;
    let hit = &receiver.hits_on("/hook")[0];
    assert_eq!(hit.headers["webhook-id"], id);
    assert_eq!(hit.body, br#"{"x":1}"#);
    server.shutdown().await;
    receiver.stop().await;
}
