//! One owned partition: reads its stream (pending entries of a previous owner first), fans
//! each message out to the matching endpoints' actors, acknowledges entries once every job
//! has an outcome or sits in the retry set, and moves due retries back into the stream.
//!
//! Everything of a partition runs on one arbiter thread: this task, its reader and its
//! endpoint actors. A semaphore bounds the entries in flight, so a backlog stays in Redis
//! instead of in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use bytes::Bytes;
use redis::Value;
use tokio::sync::{mpsc, watch, Semaphore};
use uuid::Uuid;

use super::endpoint::EndpointActor;
use super::messages::{Completion, Deliver, Job, Stop, StopIfIdle};
use super::routing::Route;
use super::Shared;
use crate::error::StoreError;
use crate::model::now_ms;
use crate::queue::{self, Task};
use crate::telemetry::metrics;

/// How a partition is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Keep going.
    Run,
    /// Stop reading, let started jobs finish, then stop.
    Drain,
    /// Stop at once (lease lost): unfinished entries stay pending for the next owner.
    Abort,
}

/// Entries read but not yet acknowledged, per partition (a multiple of the batch size).
const IN_FLIGHT_BATCHES: usize = 4;
/// Share of those entries that jobs waiting in endpoint queues may hold (the rest keeps the
/// partition reading while some endpoints are slow, failing or rate limited).
const QUEUED_SHARE: usize = 2;
/// Due retries moved per script call.
const MOVE_BATCH: usize = 500;
/// How often queue depth gauges are refreshed.
const DEPTH_EVERY: Duration = Duration::from_secs(5);

/// A batch from the reader: parsed tasks and ids of entries that no longer parse.
struct Batch {
    tasks: Vec<Task>,
    broken: Vec<String>,
}

/// Jobs outstanding for one stream entry.
struct Outstanding {
    remaining: usize,
    acked: bool,
    failed: bool,
}

/// An application's endpoints as last read, with the version they were read at.
struct AppRoutes {
    version: u64,
    routes: Vec<Arc<Route>>,
}

/// Message fields the fan-out needs.
struct MessageData {
    event_type: String,
    channels: Vec<String>,
    payload: Bytes,
}

struct Partition {
    shared: Arc<Shared>,
    number: u16,
    /// Lease token, checked by the retry mover.
    token: String,
    stream: String,
    actors: HashMap<Uuid, Addr<EndpointActor>>,
    routes: HashMap<Uuid, AppRoutes>,
    outstanding: HashMap<String, Outstanding>,
    /// Tasks read but not dispatched because Redis failed; retried on the next tick.
    deferred: Vec<Task>,
    to_ack: Vec<String>,
    permits: Arc<Semaphore>,
    /// Slots for jobs waiting in endpoint queues (see `EndpointActor`).
    queue_slots: Arc<Semaphore>,
    completions: mpsc::UnboundedSender<Completion>,
}

/// Runs a partition until told to stop or its lease is found lost.
pub async fn run(
    shared: Arc<Shared>,
    number: u16,
    token: String,
    mut stop: watch::Receiver<StopMode>,
) {
    let batch_size = shared.config.queue.batch_size;
    let permits = Arc::new(Semaphore::new(batch_size * IN_FLIGHT_BATCHES));
    let (batch_tx, mut batches) = mpsc::channel::<Batch>(2);
    let (completions, mut completed) = mpsc::unbounded_channel();
    let stream = shared.store.keys.stream(number);
    let reader = actix_rt::spawn(read_loop(shared.clone(), number, permits.clone(), batch_tx));
    let mut partition = Partition {
        shared: shared.clone(),
        number,
        token,
        stream,
        actors: HashMap::new(),
        routes: HashMap::new(),
        outstanding: HashMap::new(),
        deferred: Vec::new(),
        to_ack: Vec::new(),
        permits,
        queue_slots: Arc::new(Semaphore::new(
            (batch_size * IN_FLIGHT_BATCHES / QUEUED_SHARE).max(1),
        )),
        completions,
    };
    let mut mover = tokio::time::interval(shared.config.queue.retry_poll);
    mover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle_every = (shared.config.endpoint.idle_timeout / 2).max(Duration::from_millis(200));
    let mut idle = tokio::time::interval(idle_every);
    let mut last_depth = Instant::now() - DEPTH_EVERY;
    let mut mode = StopMode::Run;
    tracing::info!(partition = number, "partition started");
    loop {
        tokio::select! {
            Some(batch) = batches.recv(), if mode == StopMode::Run => {
                partition.handle_batch(batch).await;
            }
            Some(done) = completed.recv() => {
                partition.complete(done);
                while let Ok(done) = completed.try_recv() {
                    partition.complete(done);
                }
            }
            _ = mover.tick(), if mode == StopMode::Run => {
                partition.retry_deferred().await;
                if !partition.move_due().await {
                    tracing::warn!(partition = number, "lease lost; stopping partition");
                    mode = StopMode::Abort;
                }
                if last_depth.elapsed() >= DEPTH_EVERY {
                    last_depth = Instant::now();
                    partition.publish_depth().await;
                }
            }
            _ = idle.tick() => partition.stop_idle_actors().await,
            changed = stop.changed() => {
                mode = if changed.is_err() { StopMode::Abort } else { *stop.borrow() };
                reader.abort();
            }
        }
        partition.flush_acks().await;
        match mode {
            StopMode::Run => {}
            StopMode::Drain if !partition.outstanding.is_empty() => {}
            StopMode::Drain | StopMode::Abort => break,
        }
    }
    reader.abort();
    for actor in partition.actors.values() {
        actor.do_send(Stop);
    }
    tracing::info!(partition = number, ?mode, "partition stopped");
}

/// Reads the stream into batches: pending entries (id `0` onwards) first, then new ones.
async fn read_loop(
    shared: Arc<Shared>,
    number: u16,
    permits: Arc<Semaphore>,
    out: mpsc::Sender<Batch>,
) {
    let config = &shared.config;
    let stream = shared.store.keys.stream(number);
    let consumer = queue::consumer_name(number);
    let batch = config.queue.batch_size;
    let mut cursor = "0".to_string();
    let mut backoff = Duration::from_millis(100);
    'connect: loop {
        let mut conn = match queue::blocking_connection(&config.redis.url, config.queue.block).await
        {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(partition = number, error = %e, "stream connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = queue::ensure_group(&mut conn, &stream).await {
            tracing::warn!(partition = number, error = %e, "could not create consumer group");
            tokio::time::sleep(backoff).await;
            continue;
        }
        loop {
            let Ok(permit) = permits.acquire_many(batch as u32).await else {
                return;
            };
            permit.forget();
            let block = (cursor == ">").then_some(config.queue.block);
            match queue::read_tasks(&mut conn, &stream, &consumer, &cursor, batch, block).await {
                Ok((tasks, broken)) => {
                    backoff = Duration::from_millis(100);
                    let got = tasks.len() + broken.len();
                    permits.add_permits(batch - got);
                    if cursor != ">" {
                        // Pending entries of an earlier owner: walk them by id, then go live.
                        let last = tasks.last().map(|t| t.entry_id.clone()).into_iter();
                        cursor = last
                            .chain(broken.last().cloned())
                            .max()
                            .unwrap_or_else(|| ">".into());
                    }
                    if got > 0 && out.send(Batch { tasks, broken }).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    permits.add_permits(batch);
                    tracing::warn!(partition = number, error = %e, "stream read failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue 'connect;
                }
            }
        }
    }
}

impl Partition {
    /// Fans a batch out: one pipeline reads the apps' endpoint versions and the messages,
    /// changed endpoint lists are reloaded, then each message goes to its endpoints' actors.
    async fn handle_batch(&mut self, batch: Batch) {
        self.to_ack.extend(batch.broken.iter().cloned());
        self.permits.add_permits(batch.broken.len());
        let mut apps: Vec<Uuid> = batch.tasks.iter().map(|t| t.app).collect();
        apps.sort_unstable();
        apps.dedup();
        let (versions, messages) = match self.load(&apps, &batch.tasks).await {
            Ok(loaded) => loaded,
            Err(e) => {
                // Redis trouble: keep the entries (pending in the stream, permits held) and
                // try them again on the next tick.
                tracing::error!(partition = self.number, error = %e, "could not load batch");
                self.deferred.extend(batch.tasks);
                return;
            }
        };
        let mut unknown = Vec::new();
        for (app, version) in apps.iter().zip(&versions) {
            let Some(version) = version else { continue };
            if self.routes.get(app).is_some_and(|r| r.version == *version) {
                continue;
            }
            match self.shared.store.all_endpoints(*app).await {
                Ok((version, endpoints)) => {
                    let routes = endpoints
                        .iter()
                        .map(|e| Arc::new(Route::from_endpoint(e)))
                        .collect();
                    self.routes.insert(*app, AppRoutes { version, routes });
                }
                Err(e) => {
                    // Routing with a stale or missing list could skip an endpoint: defer.
                    tracing::error!(error = %e, %app, "could not load endpoints");
                    unknown.push(*app);
                }
            }
        }
        let live: HashMap<Uuid, bool> = apps
            .iter()
            .zip(&versions)
            .map(|(a, v)| (*a, v.is_some()))
            .collect();
        for (task, message) in batch.tasks.into_iter().zip(messages) {
            if unknown.contains(&task.app) {
                self.deferred.push(task);
            } else {
                self.dispatch(task, message, &live);
            }
        }
    }

    /// Retries the tasks a Redis error deferred (they are still pending in the stream).
    async fn retry_deferred(&mut self) {
        if !self.deferred.is_empty() {
            let tasks = std::mem::take(&mut self.deferred);
            self.handle_batch(Batch {
                tasks,
                broken: Vec::new(),
            })
            .await;
        }
    }

    /// Reads endpoint versions of `apps` and the messages of `tasks` in one round trip.
    async fn load(
        &self,
        apps: &[Uuid],
        tasks: &[Task],
    ) -> Result<(Vec<Option<u64>>, Vec<Option<MessageData>>), StoreError> {
        let keys = &self.shared.store.keys;
        let mut pipe = redis::pipe();
        for app in apps {
            pipe.hget(keys.app_marker(*app), "ep_ver");
        }
        for task in tasks {
            pipe.cmd("HMGET")
                .arg(keys.message(task.app, task.message))
                .arg("eventType")
                .arg("channels")
                .arg("payload");
        }
        let mut conn = self.shared.store.conn().await?;
        let values: Vec<Value> = pipe.query_async(&mut conn).await?;
        let (versions, messages) = values.split_at(apps.len().min(values.len()));
        let versions = versions
            .iter()
            .map(|v| redis::from_redis_value_ref::<Option<u64>>(v).ok().flatten())
            .collect();
        let messages = messages.iter().map(parse_message).collect();
        Ok((versions, messages))
    }

    /// Sends one task to its endpoints, or acknowledges it when there is nothing to do
    /// (application deleted, message expired, no matching endpoint).
    fn dispatch(&mut self, task: Task, message: Option<MessageData>, live: &HashMap<Uuid, bool>) {
        let routes = self
            .routes
            .get(&task.app)
            .filter(|_| live.get(&task.app) == Some(&true));
        let (Some(routes), Some(message)) = (routes, message) else {
            self.finish_unsent(task.entry_id);
            return;
        };
        let targets: Vec<Arc<Route>> = match task.endpoint {
            Some(endpoint) => routes
                .routes
                .iter()
                .filter(|r| r.id == endpoint && r.enabled)
                .cloned()
                .collect(),
            None => routes
                .routes
                .iter()
                .filter(|r| r.matches(&message.event_type, &message.channels))
                .cloned()
                .collect(),
        };
        if targets.is_empty() {
            self.finish_unsent(task.entry_id);
            return;
        }
        let single = targets.len() == 1;
        self.outstanding.insert(
            task.entry_id.clone(),
            Outstanding {
                remaining: targets.len(),
                acked: false,
                failed: false,
            },
        );
        for route in targets {
            let actor = self.actor(task.app, route.id);
            actor.do_send(Deliver(Job {
                task: task.clone(),
                route,
                payload: message.payload.clone(),
                ack_in_script: single,
            }));
        }
    }

    fn finish_unsent(&mut self, entry_id: String) {
        self.to_ack.push(entry_id);
        self.permits.add_permits(1);
    }

    /// The endpoint's actor on this partition, started on first use.
    fn actor(&mut self, app: Uuid, endpoint: Uuid) -> Addr<EndpointActor> {
        if let Some(addr) = self.actors.get(&endpoint).filter(|a| a.connected()) {
            return addr.clone();
        }
        let addr = EndpointActor::new(
            self.shared.clone(),
            self.number,
            app,
            endpoint,
            self.completions.clone(),
            self.queue_slots.clone(),
        )
        .start();
        self.actors.insert(endpoint, addr.clone());
        addr
    }

    /// Accounts for one finished job; the entry is acknowledged when its last job finishes.
    fn complete(&mut self, done: Completion) {
        let Some(entry) = self.outstanding.get_mut(&done.entry_id) else {
            return;
        };
        entry.remaining = entry.remaining.saturating_sub(1);
        entry.acked |= done.acked;
        entry.failed |= done.failed;
        if entry.remaining > 0 {
            return;
        }
        let (acked, failed) = (entry.acked, entry.failed);
        self.outstanding.remove(&done.entry_id);
        self.permits.add_permits(1);
        // A job that could not be recorded keeps the entry pending for redelivery.
        if !acked && !failed {
            self.to_ack.push(done.entry_id);
        }
    }

    async fn flush_acks(&mut self) {
        if self.to_ack.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.to_ack);
        let result = async {
            let mut conn = self.shared.store.conn().await?;
            queue::ack(&mut conn, &self.stream, &ids).await
        }
        .await;
        if let Err(e) = result {
            // Unacknowledged entries are redelivered later: a duplicate, never a loss.
            tracing::warn!(partition = self.number, error = %e, "could not acknowledge entries");
        }
    }

    /// Moves due retries into the stream; false when the lease turned out to be lost.
    async fn move_due(&mut self) -> bool {
        let keys = &self.shared.store.keys;
        let result = async {
            let mut conn = self.shared.store.conn().await?;
            loop {
                let moved: i64 = self
                    .shared
                    .scripts
                    .move_due
                    .key(keys.retry(self.number))
                    .key(keys.stream(self.number))
                    .key(keys.lease(self.number))
                    .arg(now_ms())
                    .arg(MOVE_BATCH)
                    .arg(&self.token)
                    .invoke_async(&mut conn)
                    .await?;
                if moved < MOVE_BATCH as i64 {
                    return Ok::<i64, StoreError>(moved);
                }
            }
        }
        .await;
        match result {
            Ok(-1) => false,
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(partition = self.number, error = %e, "could not move due retries");
                true
            }
        }
    }

    async fn publish_depth(&self) {
        let keys = &self.shared.store.keys;
        let Ok(mut conn) = self.shared.store.conn().await else {
            return;
        };
        let depth: Result<(i64, i64), _> = redis::pipe()
            .xlen(keys.stream(self.number))
            .zcard(keys.retry(self.number))
            .query_async(&mut conn)
            .await;
        if let Ok((stream, retry)) = depth {
            let label = self.number.to_string();
            metrics::QUEUE_DEPTH
                .with_label_values(&[&label, "stream"])
                .set(stream);
            metrics::QUEUE_DEPTH
                .with_label_values(&[&label, "retry"])
                .set(retry);
        }
    }

    /// Stops actors that have been idle for the idle timeout, so memory follows activity.
    async fn stop_idle_actors(&mut self) {
        let asks: Vec<_> = self
            .actors
            .iter()
            .map(|(id, addr)| {
                let ask = addr.send(StopIfIdle);
                let id = *id;
                async move { (id, ask.await.unwrap_or(true)) }
            })
            .collect();
        for (id, stopped) in futures_util::future::join_all(asks).await {
            if stopped {
                self.actors.remove(&id);
            }
        }
        // Routes of applications with no live actor are cheap to reload; drop them too.
        if self.actors.is_empty() {
            self.routes.clear();
        }
    }
}

fn parse_message(value: &Value) -> Option<MessageData> {
    let (event_type, channels, payload): (Option<String>, Option<String>, Option<Vec<u8>>) =
        redis::from_redis_value_ref(value).ok()?;
    Some(MessageData {
        event_type: event_type?,
        channels: serde_json::from_str(&channels?).ok()?,
        payload: Bytes::from(payload?),
    })
}
