//! Which endpoints a message goes to, and the endpoint data the delivery path needs: the
//! worker's cached view of an application's endpoints.

use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::filter::Filter;
use crate::domain::{secret, Endpoint, Ordering, Subscription};

/// An endpoint as the worker sees it: routing rule, decoded signing keys, headers.
#[derive(Debug, Clone)]
pub struct Route {
    pub id: Uuid,
    pub url: String,
    pub enabled: bool,
    /// Paused: its deliveries are held in its parked backlog.
    pub paused: bool,
    pub ordering: Ordering,
    pub subscription: Subscription,
    /// Compiled payload filter.
    pub filter: Option<Arc<Filter>>,
    /// Decoded `whsec_` keys, newest first, each with the end of its grace period (epoch ms)
    /// when it was rotated out.
    pub signing_keys: Vec<(Vec<u8>, Option<i64>)>,
    /// Extra headers of every delivery.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Deliveries per second; `None` = the node's default.
    pub rate_limit: Option<u32>,
    /// Grows each time re-enabling the endpoint resets its health.
    pub health_epoch: u64,
}

impl Route {
    pub fn from_endpoint(endpoint: &Endpoint) -> Route {
        let current = endpoint.secrets.iter().map(|s| (s.as_str(), None));
        let retiring = endpoint
            .retiring
            .iter()
            .map(|r| (r.key.as_str(), Some(r.until)));
        Route {
            id: endpoint.id,
            url: endpoint.url.clone(),
            enabled: endpoint.enabled,
            paused: endpoint.paused,
            ordering: endpoint.ordering,
            subscription: endpoint.subscription(),
            filter: endpoint
                .filter
                .as_ref()
                .and_then(|f| Filter::parse(f).ok())
                .map(Arc::new),
            signing_keys: current
                .chain(retiring)
                .filter_map(|(s, until)| secret::decode(s).ok().map(|key| (key, until)))
                .collect(),
            headers: endpoint
                .headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((
                        HeaderName::from_bytes(name.as_bytes()).ok()?,
                        HeaderValue::from_str(value).ok()?,
                    ))
                })
                .collect(),
            rate_limit: endpoint.rate_limit,
            health_epoch: endpoint.health_epoch,
        }
    }

    /// Whether a new message goes to this endpoint: enabled and subscribed (the payload is
    /// asked for only when the endpoint has a filter).
    pub fn wants<'a>(
        &self,
        event_type: &str,
        channels: &[String],
        payload: impl FnOnce() -> Option<&'a Value>,
    ) -> bool {
        self.enabled
            && self.subscription.matches(event_type, channels)
            && self
                .filter
                .as_ref()
                .is_none_or(|filter| payload().is_some_and(|p| filter.matches(p)))
    }

    /// The keys that sign a delivery at `now_ms` (rotated-out ones until their grace ends).
    pub fn keys_at(&self, now_ms: i64) -> Vec<&[u8]> {
        self.signing_keys
            .iter()
            .filter(|(_, until)| until.is_none_or(|u| u > now_ms))
            .map(|(key, _)| key.as_slice())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> Route {
        Route {
            id: Uuid::new_v4(),
            url: "http://x".into(),
            enabled: true,
            paused: false,
            ordering: Ordering::None,
            subscription: Subscription::default(),
            filter: None,
            signing_keys: vec![(vec![1], None), (vec![2], Some(100))],
            headers: vec![],
            rate_limit: None,
            health_epoch: 0,
        }
    }

    #[test]
    fn a_disabled_endpoint_wants_nothing_and_a_filter_is_applied() {
        let mut r = route();
        assert!(r.wants("a", &[], || None));
        r.filter = Some(Arc::new(
            Filter::parse(&serde_json::json!({"n": 1})).expect("filter"),
        ));
        let yes = serde_json::json!({"n": 1});
        let no = serde_json::json!({"n": 2});
        assert!(r.wants("a", &[], || Some(&yes)));
        assert!(!r.wants("a", &[], || Some(&no)));
        assert!(
            !r.wants("a", &[], || None),
            "an unparsable payload matches no filter"
        );
        r.enabled = false;
        assert!(!r.wants("a", &[], || Some(&yes)));
    }

    #[test]
    fn rotated_out_keys_sign_until_their_grace_period_ends() {
        let r = route();
        assert_eq!(r.keys_at(99), vec![&[1u8][..], &[2u8][..]]);
        assert_eq!(r.keys_at(100), vec![&[1u8][..]]);
    }
}
