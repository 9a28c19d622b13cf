//! Which endpoints a message goes to, and the endpoint data the delivery path needs: the
//! worker's cached view of an application's endpoints.

use uuid::Uuid;

use crate::domain::{secret, Endpoint, Subscription};

/// An endpoint as the worker sees it: routing rule plus decoded signing keys.
#[derive(Debug, Clone)]
pub struct Route {
    pub id: Uuid,
    pub url: String,
    pub enabled: bool,
    pub subscription: Subscription,
    /// Decoded `whsec_` keys, one signature each.
    pub signing_keys: Vec<Vec<u8>>,
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
            subscription: endpoint.subscription(),
            signing_keys: endpoint
                .secrets
                .iter()
                .filter_map(|s| secret::decode(s).ok())
                .collect(),
            rate_limit: endpoint.rate_limit,
            health_epoch: endpoint.health_epoch,
        }
    }

    /// Whether a new message goes to this endpoint: enabled and subscribed.
    pub fn wants(&self, event_type: &str, channels: &[String]) -> bool {
        self.enabled && self.subscription.matches(event_type, channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_endpoint_wants_nothing() {
        let mut route = Route {
            id: Uuid::new_v4(),
            url: "http://x".into(),
            enabled: true,
            subscription: Subscription::default(),
            signing_keys: vec![],
            rate_limit: None,
            health_epoch: 0,
        };
        assert!(route.wants("a", &[]));
        route.enabled = false;
        assert!(!route.wants("a", &[]));
    }
}
