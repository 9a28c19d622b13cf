//! The route table: every path of the API, its methods and their handlers, in one list. The
//! router, the 405 answers, the metric labels and the OpenAPI document are all derived from
//! it (see [`super::resource`]).

use actix_web::web;
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::ApiError;
use super::resource::{resource, Resource};
use super::{
    applications, endpoint_actions, endpoint_logs, endpoints, erasure, event_types, health,
    messages, metrics, openapi, ops_webhooks, portal, recovery, session, tokens,
};

/// Every resource, in document order.
pub fn table() -> Vec<Resource> {
    vec![
        resource("/health").get(health::health, health::__path_health),
        resource("/metrics").get(metrics::metrics, metrics::__path_metrics),
        resource(openapi::DOCUMENT_PATH).get(openapi::serve, openapi::__path_serve),
        resource(session::SESSION_PATH)
            .get(session::current, session::__path_current)
            .post(session::sign_in, session::__path_sign_in)
            .delete(session::sign_out, session::__path_sign_out),
        resource("/api/v1/applications")
            .get(applications::list, applications::__path_list)
            .post(applications::create, applications::__path_create),
        resource("/api/v1/applications/{application_id}")
            .get(applications::get, applications::__path_get)
            .put(applications::update, applications::__path_update)
            .delete(applications::delete, applications::__path_delete),
        resource("/api/v1/applications/{application_id}/portal-link")
            .post(portal::create, portal::__path_create),
        resource("/api/v1/applications/{application_id}/endpoints")
            .get(endpoints::list, endpoints::__path_list)
            .post(endpoints::create, endpoints::__path_create),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}")
            .get(endpoints::get, endpoints::__path_get)
            .put(endpoints::update, endpoints::__path_update)
            .delete(endpoints::delete, endpoints::__path_delete),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/attempts")
            .get(endpoint_logs::attempts, endpoint_logs::__path_attempts),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/stats")
            .get(endpoint_logs::stats, endpoint_logs::__path_stats),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/pause")
            .post(endpoint_actions::pause, endpoint_actions::__path_pause),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/resume")
            .post(endpoint_actions::resume, endpoint_actions::__path_resume),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret").get(
            endpoint_actions::get_secret,
            endpoint_actions::__path_get_secret,
        ),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/secret/rotate")
            .post(
                endpoint_actions::rotate_secret,
                endpoint_actions::__path_rotate_secret,
            ),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/filter/test")
            .post(
                endpoint_actions::test_filter,
                endpoint_actions::__path_test_filter,
            ),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/send-example")
            .post(
                endpoint_actions::send_example,
                endpoint_actions::__path_send_example,
            ),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover")
            .post(recovery::recover, recovery::__path_recover),
        resource("/api/v1/applications/{application_id}/endpoints/{endpoint_id}/recover/{job_id}")
            .get(recovery::status, recovery::__path_status),
        resource("/api/v1/applications/{application_id}/messages")
            .get(messages::list, messages::__path_list)
            .post(messages::create, messages::__path_create),
        // Before `/messages/{message_id}`: the uid "erase" is reserved for these paths.
        resource("/api/v1/applications/{application_id}/messages/erase")
            .post(erasure::start, erasure::__path_start),
        resource("/api/v1/applications/{application_id}/messages/erase/{job_id}")
            .get(erasure::status, erasure::__path_status),
        resource("/api/v1/applications/{application_id}/messages/{message_id}")
            .get(messages::get, messages::__path_get),
        resource("/api/v1/applications/{application_id}/messages/{message_id}/content")
            .delete(erasure::erase_content, erasure::__path_erase_content),
        resource("/api/v1/applications/{application_id}/messages/{message_id}/attempts")
            .get(messages::attempts, messages::__path_attempts),
        resource(
            "/api/v1/applications/{application_id}/messages/{message_id}/endpoints/{endpoint_id}/resend",
        )
        .post(messages::resend, messages::__path_resend),
        resource("/api/v1/event-types")
            .get(event_types::list, event_types::__path_list)
            .post(event_types::create, event_types::__path_create),
        resource("/api/v1/event-types/{event_type_name}")
            .get(event_types::get, event_types::__path_get)
            .put(event_types::update, event_types::__path_update)
            .delete(event_types::delete, event_types::__path_delete),
        resource("/api/v1/operational-webhooks/endpoints")
            .get(ops_webhooks::list, ops_webhooks::__path_list)
            .post(ops_webhooks::create, ops_webhooks::__path_create),
        resource("/api/v1/operational-webhooks/endpoints/{endpoint_id}")
            .get(ops_webhooks::get, ops_webhooks::__path_get)
            .put(ops_webhooks::update, ops_webhooks::__path_update)
            .delete(ops_webhooks::delete, ops_webhooks::__path_delete),
        resource("/api/v1/tokens")
            .get(tokens::list, tokens::__path_list)
            .post(tokens::create, tokens::__path_create),
        resource("/api/v1/tokens/{token_id}").delete(tokens::revoke, tokens::__path_revoke),
    ]
}

/// Every (method, path) the router serves.
pub fn served() -> Vec<(String, &'static str)> {
    table()
        .iter()
        .flat_map(|r| r.methods().iter().map(|m| (m.clone(), r.path())))
        .collect()
}

/// Paths whose resources the router tries first. The router tries resources in registration
/// order, one regex match each, and message creation is most of an API node's traffic: in
/// document order it came 17th, and route matching took 8 % of a loaded node's CPU.
const HOT_PREFIX: &str = "/api/v1/applications/{application_id}/messages";

/// Registers the table for serving: the message routes first, everything else in document
/// order (a stable sort: `erase` stays before `{message_id}`).
pub fn register(cfg: &mut ServiceConfig) {
    let mut resources = table();
    resources.sort_by_key(|r| !r.path().starts_with(HOT_PREFIX));
    register_in_order(cfg, resources);
}

/// Registers the table in document order, for the OpenAPI document.
pub fn register_documented(cfg: &mut ServiceConfig) {
    register_in_order(cfg, table());
}

/// Registers `resources` as given, and the JSON errors of malformed paths and queries.
fn register_in_order(cfg: &mut ServiceConfig, resources: Vec<Resource>) {
    cfg.app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError::Validation(format!("invalid query string: {err}")).into()
    }))
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::Validation(format!("invalid path: {err}")).into()),
    );
    for resource in resources {
        cfg.service(resource);
    }
}
