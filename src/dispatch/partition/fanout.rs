//! Fan-out: which endpoints of its application each task goes to. The partition caches each
//! application's endpoints with the version they were read at, and reads the versions of a
//! batch's applications together with the batch's messages, so an endpoint change applies to
//! the next message read, at no extra round trip.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use redis::Value;
use uuid::Uuid;

use crate::db::{Db, StoreError};
use crate::dispatch::routing::Route;
use crate::domain::Endpoint;
use crate::queue::stream::Read;
use crate::queue::{Target, Task};

/// Message fields the fan-out and the delivery need.
#[derive(Debug, Clone)]
pub struct MessageData {
    pub event_type: String,
    pub channels: Vec<String>,
    /// Its FIFO lane's key, when it has one.
    pub ordering_key: Option<String>,
    /// Shared by every endpoint's job, never copied.
    pub payload: Bytes,
}

/// An application's endpoints as last read, with the version they were read at.
struct AppRoutes {
    version: u64,
    routes: Vec<Arc<Route>>,
}

/// The partition's cached routes, per application.
#[derive(Default)]
pub struct RouteCache {
    apps: HashMap<Uuid, AppRoutes>,
}

impl RouteCache {
    /// Whether the cached routes of `app` are those of endpoint-set `version`.
    pub fn is_current(&self, app: Uuid, version: u64) -> bool {
        self.apps.get(&app).is_some_and(|r| r.version == version)
    }

    /// Caches the endpoints of `app` read at `version`.
    pub fn insert(&mut self, app: Uuid, version: u64, endpoints: &[Endpoint]) {
        let routes = endpoints
            .iter()
            .map(|e| Arc::new(Route::from_endpoint(e)))
            .collect();
        self.apps.insert(app, AppRoutes { version, routes });
    }

    /// Forgets everything (cheap to reload; done when the partition has no live actor).
    pub fn clear(&mut self) {
        self.apps.clear();
    }

    /// The route of one endpoint of a cached application.
    pub fn route(&self, app: Uuid, endpoint: Uuid) -> Option<Arc<Route>> {
        self.apps
            .get(&app)?
            .routes
            .iter()
            .find(|r| r.id == endpoint)
            .cloned()
    }

    /// Forgets an application's routes, so the next read reloads them.
    pub fn forget(&mut self, app: Uuid) {
        self.apps.remove(&app);
    }

    /// The endpoints `task` goes to: every enabled, subscribed endpoint whose filter (if any)
    /// matches the payload, for a fan-out; the one endpoint, while enabled, for a retry or
    /// resend. Empty when the application is not cached (deleted). The payload is parsed only
    /// when an endpoint has a filter, once.
    pub fn targets(&self, task: &Task, message: &MessageData) -> Vec<Arc<Route>> {
        let Some(app) = self.apps.get(&task.app) else {
            return Vec::new();
        };
        let parsed: std::cell::OnceCell<Option<serde_json::Value>> = std::cell::OnceCell::new();
        let payload = || {
            parsed
                .get_or_init(|| serde_json::from_slice(&message.payload).ok())
                .as_ref()
        };
        let wanted = |route: &&Arc<Route>| match task.target {
            Target::Fanout => route.wants(&message.event_type, &message.channels, payload),
            Target::Endpoint { id, .. } => route.id == id && route.enabled,
            Target::Refresh { .. } => false,
        };
        app.routes.iter().filter(wanted).cloned().collect()
    }
}

/// What one round trip read for a batch: each application's endpoint-set version (`None`:
/// the application is gone), each entry's message (`None`: expired or deleted), and for
/// entries read again, the endpoints already done with each.
#[derive(Debug)]
pub struct Loaded {
    pub versions: Vec<(Uuid, Option<u64>)>,
    pub messages: Vec<Option<MessageData>>,
    /// Per entry (empty for new entries).
    pub done: Vec<HashSet<Uuid>>,
}

/// Reads the endpoint versions of the batch's applications, the messages of its entries and,
/// when they were pending already, their done sets, in one pipeline.
pub async fn load(db: &Db, partition: u16, read: &Read) -> Result<Loaded, StoreError> {
    let mut loads = load_many(db, &[(partition, read)]).await?;
    loads
        .pop()
        .ok_or(StoreError::Corrupt("empty pipeline reply".into()))
}

/// [`load`] for the reads of several partitions, in one pipeline (one server only: the
/// partitions' keys are in different slots).
pub async fn load_many(db: &Db, reads: &[(u16, &Read)]) -> Result<Vec<Loaded>, StoreError> {
    let keys = &db.keys;
    let mut pipe = redis::pipe();
    let mut shapes = Vec::with_capacity(reads.len());
    for (partition, read) in reads {
        let entries = &read.entries;
        let mut apps: Vec<Uuid> = entries.iter().map(|e| e.task.app).collect();
        apps.sort_unstable();
        apps.dedup();
        for app in &apps {
            pipe.hget(keys.app_marker(*app), "ep_ver");
        }
        for entry in entries {
            pipe.cmd("HMGET")
                .arg(keys.message(entry.task.app, entry.task.message))
                .arg("eventType")
                .arg("channels")
                .arg("payload")
                .arg("orderingKey");
        }
        if read.pending {
            for entry in entries {
                pipe.smembers(keys.done(*partition, &entry.id));
            }
        }
        shapes.push(apps);
    }
    let mut conn = db.conn().await?;
    let values: Vec<Value> = pipe.query_async(&mut conn).await?;
    let mut rest = values.as_slice();
    let mut loads = Vec::with_capacity(reads.len());
    for ((_, read), apps) in reads.iter().zip(shapes) {
        let entries = read.entries.len();
        let done_sets = if read.pending { entries } else { 0 };
        let (these, after) = rest.split_at((apps.len() + entries + done_sets).min(rest.len()));
        rest = after;
        loads.push(parse_loaded(these, apps, entries));
    }
    Ok(loads)
}

/// One read's share of a load's replies: versions, then messages, then done sets.
fn parse_loaded(values: &[Value], apps: Vec<Uuid>, entries: usize) -> Loaded {
    let (versions, rest) = values.split_at(apps.len().min(values.len()));
    let (messages, done) = rest.split_at(entries.min(rest.len()));
    Loaded {
        versions: apps
            .into_iter()
            .zip(versions)
            .map(|(app, v)| {
                (
                    app,
                    redis::from_redis_value_ref::<Option<u64>>(v).ok().flatten(),
                )
            })
            .collect(),
        messages: messages.iter().map(parse_message).collect(),
        done: (0..entries)
            .map(|i| done.get(i).map(parse_done).unwrap_or_default())
            .collect(),
    }
}

fn parse_done(value: &Value) -> HashSet<Uuid> {
    redis::from_redis_value_ref::<Vec<String>>(value)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect()
}

fn parse_message(value: &Value) -> Option<MessageData> {
    type Fields = (
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        Option<String>,
    );
    let (event_type, channels, payload, ordering_key): Fields =
        redis::from_redis_value_ref(value).ok()?;
    Some(MessageData {
        event_type: event_type?,
        channels: serde_json::from_str(&channels?).ok()?,
        payload: Bytes::from(payload?),
        ordering_key: ordering_key.filter(|k| !k.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(app: Uuid, enabled: bool, event_types: &[&str]) -> Endpoint {
        Endpoint {
            id: Uuid::new_v4(),
            app,
            name: "e".into(),
            url: "http://x".into(),
            uid: None,
            event_types: event_types.iter().map(|s| s.to_string()).collect(),
            channels: vec![],
            enabled,
            secrets: vec![],
            retiring: vec![],
            headers: vec![],
            filter: None,
            ordering: Default::default(),
            paused: false,
            rate_limit: None,
            created: 0,
            updated: 0,
            health_epoch: 0,
        }
    }

    #[test]
    fn fanouts_match_subscriptions_and_retries_their_one_enabled_endpoint() {
        let app = Uuid::new_v4();
        let a = endpoint(app, true, &["a"]);
        let b = endpoint(app, true, &[]);
        let off = endpoint(app, false, &[]);
        let mut cache = RouteCache::default();
        cache.insert(app, 3, &[a.clone(), b.clone(), off.clone()]);
        assert!(cache.is_current(app, 3) && !cache.is_current(app, 4));
        let message = MessageData {
            event_type: "b".into(),
            channels: vec![],
            payload: Bytes::new(),
            ordering_key: None,
        };
        let ids = |task: &Task| -> Vec<Uuid> {
            cache.targets(task, &message).iter().map(|r| r.id).collect()
        };
        let fanout = Task::fanout(app, Uuid::new_v4(), 0);
        assert_eq!(ids(&fanout), vec![b.id]);
        let retry = |id| Task {
            target: Target::Endpoint { id, attempts: 1 },
            ..fanout.clone()
        };
        assert_eq!(
            ids(&retry(a.id)),
            vec![a.id],
            "a retry ignores the event type"
        );
        assert!(ids(&retry(off.id)).is_empty(), "disabled");
        let other_app = Task::fanout(Uuid::new_v4(), Uuid::new_v4(), 0);
        assert!(ids(&other_app).is_empty());
    }
}
