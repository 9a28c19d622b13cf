//! Endpoint health: a hash per endpoint written by the delivery path (the record script
//! updates the failure streak, the endpoint's actor publishes its circuit state, whose
//! opening and closing are operational events) and shown by the API.

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};
use uuid::Uuid;

use super::{opt_field, opt_int, Fields, Store};
use crate::clock::now_ms;
use crate::db::script::ScriptCall;
use crate::db::StoreError;
use crate::domain::{CircuitState, EndpointHealth};
use crate::queue::outbox::{OpsEvent, OutboxEvent, EVENT_FIELD};

static PUBLISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/health_publish.lua")));

/// Reads a health hash; absent fields are the healthy defaults.
pub(crate) fn health_from_fields(fields: &Fields) -> EndpointHealth {
    let circuit = CircuitState::parse(&opt_field(fields, "circuit").unwrap_or_default());
    EndpointHealth {
        circuit,
        consecutive_failures: opt_int(fields, "consecutiveFailures").unwrap_or(0) as u32,
        last_success: opt_int(fields, "lastSuccess"),
        last_failure: opt_int(fields, "lastFailure"),
        failing_since: opt_int(fields, "failingSince"),
        next_probe: opt_int(fields, "nextProbe").filter(|_| circuit == CircuitState::Open),
        circuit_trips: opt_int(fields, "trips").unwrap_or(0) as u32,
        effective_rate: opt_int(fields, "effectiveRate").map(|r| r as u32),
    }
}

/// A published circuit state and the events it makes when it opens from closed or closes.
struct CircuitEvents {
    state: CircuitState,
    opened: String,
    closed: String,
}

impl Store {
    /// An endpoint's health (the healthy defaults when it has none yet).
    pub async fn endpoint_health(
        &self,
        app: Uuid,
        endpoint: Uuid,
    ) -> Result<EndpointHealth, StoreError> {
        let mut conn = self.conn().await?;
        let fields: Fields = conn
            .hgetall(self.db.keys.endpoint_health(app, endpoint))
            .await?;
        Ok(health_from_fields(&fields))
    }

    /// Publishes an endpoint's circuit state (not when the endpoint was deleted meanwhile):
    /// shown by the API, read back by the next owner's actor, and followed by the release of
    /// the endpoint's parked backlog.
    pub async fn publish_circuit(
        &self,
        app: Uuid,
        endpoint: Uuid,
        state: CircuitState,
        next_probe_ms: Option<i64>,
        trips: u32,
    ) -> Result<(), StoreError> {
        let next_probe = next_probe_ms.map(|ms| ms.to_string()).unwrap_or_default();
        let now = now_ms();
        let event = |kind| OutboxEvent::new(kind, app, endpoint, now);
        let opened = event(OpsEvent::CircuitOpened).with("nextProbe", next_probe_ms);
        let events = CircuitEvents {
            state,
            opened: opened.encode(),
            closed: event(OpsEvent::CircuitClosed).encode(),
        };
        self.publish_health(
            app,
            endpoint,
            Some(&events),
            &[
                ("circuit", state.as_str().to_string()),
                ("nextProbe", next_probe),
                ("trips", trips.to_string()),
            ],
        )
        .await
    }

    /// Publishes the rate a throttling receiver brought the endpoint to (`None`: lifted).
    pub async fn publish_rate(
        &self,
        app: Uuid,
        endpoint: Uuid,
        per_second: Option<u32>,
    ) -> Result<(), StoreError> {
        let value = per_second.map(|r| r.to_string()).unwrap_or_default();
        self.publish_health(app, endpoint, None, &[("effectiveRate", value)])
            .await
    }

    async fn publish_health(
        &self,
        app: Uuid,
        endpoint: Uuid,
        circuit: Option<&CircuitEvents>,
        fields: &[(&str, String)],
    ) -> Result<(), StoreError> {
        let keys = &self.db.keys;
        let mut call = ScriptCall::new(
            &PUBLISH,
            &[
                keys.endpoint(app, endpoint),
                keys.endpoint_health(app, endpoint),
                keys.outbox(keys.partition_of(app)),
            ],
        );
        call.arg(circuit.map_or("", |c| c.state.as_str()))
            .arg(EVENT_FIELD)
            .arg(circuit.map_or("", |c| c.opened.as_str()))
            .arg(circuit.map_or("", |c| c.closed.as_str()));
        for (name, value) in fields {
            call.arg(*name).arg(value);
        }
        let mut conn = self.conn().await?;
        let _: i64 = call.invoke(&mut conn).await?;
        Ok(())
    }
}
