//! Endpoints: the URLs an application's messages are delivered to, their subscription rule
//! (event types, channels, payload filter), their signing secrets (with rotation), custom
//! headers, ordering, and their delivery health.

use serde_json::Value;
use uuid::Uuid;

/// An endpoint of an application.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: Uuid,
    /// The application it belongs to.
    pub app: Uuid,
    /// Display name.
    pub name: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The client's own unique name for it within the application.
    pub uid: Option<String>,
    /// Event types it receives (empty: all).
    pub event_types: Vec<String>,
    /// Channels it receives (empty: any); when set, a message must share one.
    pub channels: Vec<String>,
    /// Disabled endpoints get no deliveries (set by hand, by 410 Gone, or by failing too long).
    pub enabled: bool,
    /// Current `whsec_` signing secrets, newest first; one signature each.
    pub secrets: Vec<String>,
    /// Rotated-out secrets that keep signing until their grace period ends.
    pub retiring: Vec<RetiringSecret>,
    /// Extra headers sent with every delivery, as given.
    pub headers: Vec<(String, String)>,
    /// Payload filter document (`domain::filter`), when set.
    pub filter: Option<Value>,
    /// Whether deliveries keep creation order.
    pub ordering: Ordering,
    /// Paused: nothing is sent, everything is held until it is resumed.
    pub paused: bool,
    /// Deliveries per second; `None` = the node's default.
    pub rate_limit: Option<u32>,
    /// Creation time, epoch ms.
    pub created: i64,
    /// Last change, epoch ms.
    pub updated: i64,
    /// Bumped each time re-enabling resets the health, so the worker's breaker resets too.
    pub health_epoch: u64,
}

/// A secret rotated out, still signing until `until` (epoch ms).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RetiringSecret {
    pub key: String,
    pub until: i64,
}

/// Delivery order of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ordering {
    /// As fast as possible, in parallel.
    #[default]
    None,
    /// In creation order, one at a time per lane (per ordering key).
    Fifo,
}

impl Ordering {
    /// Stable lowercase name, as shown and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::None => "none",
            Ordering::Fifo => "fifo",
        }
    }

    /// The ordering a stored or given name stands for.
    pub fn parse(name: &str) -> Option<Ordering> {
        [Ordering::None, Ordering::Fifo]
            .into_iter()
            .find(|o| o.as_str() == name)
    }
}

impl Endpoint {
    /// The secrets that sign deliveries at `now_ms`: the current ones, then the rotated-out
    /// ones whose grace period has not ended, newest first.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<&str> {
        self.secrets
            .iter()
            .map(String::as_str)
            .chain(
                self.retiring
                    .iter()
                    .filter(|r| r.until > now_ms)
                    .map(|r| r.key.as_str()),
            )
            .collect()
    }

    /// Which messages it wants.
    pub fn subscription(&self) -> Subscription {
        Subscription {
            event_types: self.event_types.clone(),
            channels: self.channels.clone(),
        }
    }
}

/// The routing rule of an endpoint: subscribed to the event type (or to all, when its list is
/// empty) and, when it has channels, sharing at least one with the message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subscription {
    pub event_types: Vec<String>,
    pub channels: Vec<String>,
}

impl Subscription {
    /// Whether a message of `event_type` on `channels` is for this endpoint.
    pub fn matches(&self, event_type: &str, channels: &[String]) -> bool {
        (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
            && (self.channels.is_empty() || self.channels.iter().any(|c| channels.contains(c)))
    }
}

/// How deliveries to an endpoint are going, as the circuit breaker and the attempt records
/// left it. Times are epoch ms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointHealth {
    pub circuit: CircuitState,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Last successful delivery.
    pub last_success: Option<i64>,
    /// Last failed attempt.
    pub last_failure: Option<i64>,
    /// Start of the current failure streak; the endpoint is disabled when it gets too old.
    pub failing_since: Option<i64>,
    /// When an open circuit lets a probe through.
    pub next_probe: Option<i64>,
    /// Consecutive circuit trips without a success (each doubles the open period).
    pub circuit_trips: u32,
    /// Deliveries per second a throttling receiver (429/503 without Retry-After) brought the
    /// endpoint to, while lowered.
    pub effective_rate: Option<u32>,
}

/// State of an endpoint's circuit breaker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Delivering normally.
    #[default]
    Closed,
    /// Not delivering until the next probe.
    Open,
    /// One probe request decides whether it closes again.
    HalfOpen,
}

impl CircuitState {
    /// Every state, for documentation and tests.
    pub const ALL: [CircuitState; 3] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ];

    /// Stable lowercase name, for the API, logs, metrics and the stored health.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// The state a stored name stands for (unknown names read as closed).
    pub fn parse(name: &str) -> CircuitState {
        CircuitState::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn sub(event_types: &[&str], channels: &[&str]) -> Subscription {
        Subscription {
            event_types: strings(event_types),
            channels: strings(channels),
        }
    }

    #[test]
    fn routing_matrix() {
        let none: Vec<String> = vec![];
        assert!(sub(&[], &[]).matches("a", &none));
        assert!(sub(&[], &[]).matches("a", &strings(&["x"])));
        assert!(sub(&["a", "b"], &[]).matches("b", &none));
        assert!(!sub(&["a"], &[]).matches("c", &none));
        assert!(sub(&[], &["x"]).matches("a", &strings(&["y", "x"])));
        assert!(!sub(&[], &["x"]).matches("a", &strings(&["y"])));
        assert!(!sub(&[], &["x"]).matches("a", &none));
        assert!(sub(&["a"], &["x"]).matches("a", &strings(&["x"])));
        assert!(!sub(&["a"], &["x"]).matches("b", &strings(&["x"])));
    }

    #[test]
    fn circuit_names_round_trip() {
        for state in CircuitState::ALL {
            assert_eq!(CircuitState::parse(state.as_str()), state);
        }
        assert_eq!(CircuitState::parse(""), CircuitState::Closed);
    }

    proptest::proptest! {
        /// The rule, stated apart: an empty list filters nothing; a message passes a
        /// non-empty list only through a shared entry.
        #[test]
        fn subscriptions_match_exactly_by_the_rule(
            event_types in proptest::collection::vec("[a-c]", 0..3),
            channels in proptest::collection::vec("[x-z]", 0..3),
            event_type in "[a-d]",
            message_channels in proptest::collection::vec("[w-z]", 0..3),
        ) {
            let subscription = Subscription { event_types: event_types.clone(), channels: channels.clone() };
            let by_type = event_types.is_empty() || event_types.contains(&event_type);
            let by_channel = channels.is_empty() || channels.iter().any(|c| message_channels.contains(c));
            proptest::prop_assert_eq!(
                subscription.matches(&event_type, &message_channels),
                by_type && by_channel
            );
        }
    }
}
