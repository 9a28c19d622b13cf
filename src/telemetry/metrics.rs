//! Prometheus metrics. Names are constants here; every label value comes from a closed set
//! (route patterns, status classes, failure kinds, circuit states), so cardinality is bounded.
//! Callers pass labels as `&'static str`: this module depends on nothing of the engine.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The registry `/metrics` renders.
pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

fn register<C: prometheus::core::Collector + Clone + 'static>(collector: C) -> C {
    // Registration only fails on duplicate names, which the constants here rule out.
    let _ = REGISTRY.register(Box::new(collector.clone()));
    collector
}

fn counter(name: &str, help: &str) -> IntCounter {
    register(IntCounter::new(name, help).expect("static metric definition"))
}

/// HTTP requests by route pattern, method and status class.
pub static HTTP_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("octohooks_http_requests_total", "HTTP requests served"),
            &["route", "method", "status"],
        )
        .expect("static metric definition"),
    )
});

/// HTTP request latency by route pattern.
pub static HTTP_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    register(
        HistogramVec::new(
            HistogramOpts::new("octohooks_http_request_seconds", "HTTP request latency")
                .buckets(exponential_buckets(0.0005, 2.0, 16).unwrap_or_default()),
            &["route"],
        )
        .expect("static metric definition"),
    )
});

/// Messages accepted by the API.
pub static MESSAGES_ACCEPTED: LazyLock<IntCounter> =
    LazyLock::new(|| counter("octohooks_messages_accepted_total", "Messages accepted"));

/// Delivery attempts by outcome (`success` or a failure kind).
pub static DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("octohooks_deliveries_total", "Delivery attempts by outcome"),
            &["outcome"],
        )
        .expect("static metric definition"),
    )
});

/// Duration of one delivery request.
pub static DELIVERY_LATENCY: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new("octohooks_delivery_seconds", "Delivery request duration")
                .buckets(exponential_buckets(0.0005, 2.0, 18).unwrap_or_default()),
        )
        .expect("static metric definition"),
    )
});

/// Time from message creation to its first successful delivery attempt.
pub static DELIVERY_LAG: LazyLock<Histogram> = LazyLock::new(|| {
    register(
        Histogram::with_opts(
            HistogramOpts::new(
                "octohooks_create_to_delivery_seconds",
                "Lag from message creation to a first-attempt delivery",
            )
            .buckets(exponential_buckets(0.0005, 2.0, 18).unwrap_or_default()),
        )
        .expect("static metric definition"),
    )
});

/// Jobs sent to the retry set without an attempt (full queue, slow endpoint).
pub static POSTPONED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "octohooks_deliveries_postponed_total",
        "Jobs postponed to the retry set without an attempt",
    )
});

/// Requests sent once more at once because the kept-alive connection they went out on was
/// dropped before any answer (`delivery::WebhookClient::send`).
pub static RESENT: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "octohooks_deliveries_resent_total",
        "Requests sent again at once after their kept-alive connection was dropped unanswered",
    )
});

/// Jobs parked without an attempt behind an open circuit.
pub static PARKED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "octohooks_deliveries_parked_total",
        "Jobs parked behind an open circuit without an attempt",
    )
});

/// Writes of the delivery path refused because the partition's lease had passed to another
/// node (a stale owner, fenced).
pub static FENCED_WRITES: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "octohooks_fenced_writes_total",
        "Delivery-path writes refused because the lease had passed to another node",
    )
});

/// Pending stream entries reclaimed and delivered again.
pub static RECLAIMED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "octohooks_reclaimed_entries_total",
        "Stream entries pending too long, reclaimed and delivered again",
    )
});

/// Parked deliveries released back into the stream.
pub static RELEASED: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "octohooks_parked_released_total",
        "Deliveries released from parked backlogs",
    )
});

/// Retries scheduled after failed attempts.
pub static RETRIES_SCHEDULED: LazyLock<IntCounter> =
    LazyLock::new(|| counter("octohooks_retries_scheduled_total", "Retries scheduled"));

/// Times an endpoint had to wait for its rate limit.
pub static RATE_LIMIT_WAITS: LazyLock<IntCounter> = LazyLock::new(|| {
    counter(
        "octohooks_rate_limit_waits_total",
        "Times an endpoint waited for its rate limit",
    )
});

/// Circuit transitions by new state.
pub static CIRCUIT_TRANSITIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new(
                "octohooks_circuit_transitions_total",
                "Circuit breaker transitions by new state",
            ),
            &["state"],
        )
        .expect("static metric definition"),
    )
});

/// Partitions owned by this node.
pub static OWNED_PARTITIONS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "octohooks_owned_partitions",
            "Partitions owned by this node",
        )
        .expect("static metric definition"),
    )
});

/// Stream and retry-set depth per owned partition (label: partition number, bounded by P).
pub static QUEUE_DEPTH: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(
        IntGaugeVec::new(
            Opts::new(
                "octohooks_queue_depth",
                "Entries in a partition's stream or retry set",
            ),
            &["partition", "queue"],
        )
        .expect("static metric definition"),
    )
});

/// Active endpoint actors on this node.
pub static ACTIVE_ENDPOINTS: LazyLock<IntGauge> = LazyLock::new(|| {
    register(
        IntGauge::new(
            "octohooks_active_endpoint_actors",
            "Endpoint actors alive on this node",
        )
        .expect("static metric definition"),
    )
});

/// Counts one attempt: its outcome label (`success` or a failure kind), its duration and,
/// for a first attempt that succeeded, the lag from the message's creation.
pub fn delivery(outcome: &'static str, duration: Duration, lag: Option<Duration>) {
    DELIVERIES.with_label_values(&[outcome]).inc();
    DELIVERY_LATENCY.observe(duration.as_secs_f64());
    if let Some(lag) = lag {
        DELIVERY_LAG.observe(lag.as_secs_f64());
    }
}

/// Counts a circuit transition into `state`.
pub fn circuit_transition(state: &'static str) {
    CIRCUIT_TRANSITIONS.with_label_values(&[state]).inc();
}

/// The registry in Prometheus text format.
pub fn render() -> String {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&REGISTRY.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}
