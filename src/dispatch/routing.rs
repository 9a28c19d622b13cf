//! Which endpoints a message goes to, and the endpoint data the delivery path needs.

use uuid::Uuid;

use crate::delivery::signature::decode_secret;
use crate::model::Endpoint;

/// An endpoint as the worker sees it: routing rules plus decoded signing keys.
#[derive(Debug, Clone)]
pub struct Route {
    pub id: Uuid,
    pub url: String,
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub channels: Vec<String>,
    /// Decoded `whsec_` keys, one signature each.
    pub keys: Vec<Vec<u8>>,
    /// Deliveries per second; `None` = the node's default.
    pub rate_limit: Option<u32>,
    /// Grows each time re-enabling the endpoint resets its health.
    pub health_epoch: u64,
}

impl Route {
    pub fn from_endpoint(endpoint: &Endpoint) -> Route {
        Route {
            id: endpoint.id,
            url: endpoint.url.clone(),
            enabled: endpoint.enabled,
            event_types: endpoint.event_types.clone(),
            channels: endpoint.channels.clone(),
            keys: endpoint
                .secrets
                .iter()
                .filter_map(|s| decode_secret(s).ok())
                .collect(),
            rate_limit: endpoint.rate_limit,
            health_epoch: endpoint.health_epoch,
        }
    }

    /// The routing rule: enabled; subscribed to the event type (or to all, when its list is
    /// empty); and, when the endpoint has channels, sharing at least one with the message.
    pub fn matches(&self, event_type: &str, channels: &[String]) -> bool {
        self.enabled
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
            && (self.channels.is_empty() || self.channels.iter().any(|c| channels.contains(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(enabled: bool, event_types: &[&str], channels: &[&str]) -> Route {
        Route {
            id: Uuid::new_v4(),
            url: "http://x".into(),
            enabled,
            event_types: event_types.iter().map(|s| s.to_string()).collect(),
            channels: channels.iter().map(|s| s.to_string()).collect(),
            keys: vec![],
            rate_limit: None,
            health_epoch: 0,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn routing_matrix() {
        let none: Vec<String> = vec![];
        // enabled, no filters: everything
        assert!(route(true, &[], &[]).matches("a", &none));
        assert!(route(true, &[], &[]).matches("a", &strings(&["x"])));
        // disabled: nothing
        assert!(!route(false, &[], &[]).matches("a", &none));
        // event types
        assert!(route(true, &["a", "b"], &[]).matches("b", &none));
        assert!(!route(true, &["a"], &[]).matches("c", &none));
        // channels: endpoint with channels needs an overlap
        assert!(route(true, &[], &["x"]).matches("a", &strings(&["y", "x"])));
        assert!(!route(true, &[], &["x"]).matches("a", &strings(&["y"])));
        assert!(!route(true, &[], &["x"]).matches("a", &none));
        // both rules at once
        assert!(route(true, &["a"], &["x"]).matches("a", &strings(&["x"])));
        assert!(!route(true, &["a"], &["x"]).matches("b", &strings(&["x"])));
    }
}
