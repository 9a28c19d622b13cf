//! One held partition: reads its stream ([`reader`]), fans each message out to the matching
//! endpoints' actors ([`fanout`]), acknowledges entries once every job has ended
//! ([`ledger`]), and moves due retries back into the stream.
//!
//! Everything of a partition runs on one arbiter thread: this task, its reader and its
//! endpoint actors. A semaphore bounds the entries in flight (the window), so a backlog stays
//! in Redis instead of in memory.

pub mod fanout;
pub mod ledger;
pub mod reader;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use tokio::sync::{mpsc, watch, Semaphore};
use uuid::Uuid;

use super::endpoint::EndpointActor;
use super::messages::{Completion, Enqueue, Job, Stop, StopIfIdle};
use super::WorkerContext;
use crate::clock::now_ms;
use crate::queue::lease::Lease;
use crate::queue::retry::{self, Moved};
use crate::queue::stream::{self, Entry, Read};
use crate::telemetry::metrics;
use fanout::{MessageData, RouteCache};
use ledger::Ledger;

/// What the coordinator asks of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read and deliver.
    Active,
    /// Stop reading, let started jobs end, then stop (a hand-over or a shutdown).
    Drain,
    /// Stop at once (lease lost): unfinished entries stay pending for the next owner.
    Abort,
}

/// Entries read but not yet acknowledged, per partition (a multiple of the batch size).
const WINDOW_BATCHES: usize = 4;
/// Share of the window that jobs waiting in endpoint queues may hold (the rest keeps the
/// partition reading while some endpoints are slow, failing or rate limited).
const QUEUED_SHARE: usize = 2;
/// Due retries moved per script call.
const MOVE_BATCH: usize = 500;
/// How often queue depth gauges are refreshed.
const DEPTH_EVERY: Duration = Duration::from_secs(5);

struct Partition {
    context: Arc<WorkerContext>,
    number: u16,
    /// The lease the partition runs under (fences the retry mover).
    lease: Lease,
    actors: HashMap<Uuid, Addr<EndpointActor>>,
    routes: RouteCache,
    ledger: Ledger,
    /// Entries read but not routed because Redis failed; retried on the next tick.
    deferred: Vec<Entry>,
    /// Entries in flight (read and not yet finished).
    window: Arc<Semaphore>,
    /// Slots for jobs waiting in endpoint queues (see `endpoint::gate`).
    queue_slots: Arc<Semaphore>,
    completions: mpsc::UnboundedSender<Completion>,
}

/// Runs a partition until told to stop or its lease is found lost.
pub async fn run(
    context: Arc<WorkerContext>,
    number: u16,
    lease: Lease,
    mut mode_rx: watch::Receiver<Mode>,
) {
    let batch_size = context.config.queue.batch_size;
    let window = Arc::new(Semaphore::new(batch_size * WINDOW_BATCHES));
    let (batch_tx, mut batches) = mpsc::channel::<Read>(2);
    let (completions, mut completed) = mpsc::unbounded_channel();
    let reader = actix_rt::spawn(reader::run(
        context.clone(),
        number,
        window.clone(),
        batch_tx,
    ));
    let mut partition = Partition {
        context: context.clone(),
        number,
        lease,
        actors: HashMap::new(),
        routes: RouteCache::default(),
        ledger: Ledger::default(),
        deferred: Vec::new(),
        window,
        queue_slots: Arc::new(Semaphore::new(
            (batch_size * WINDOW_BATCHES / QUEUED_SHARE).max(1),
        )),
        completions,
    };
    let mut mover = tokio::time::interval(context.config.queue.retry_poll);
    mover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle_every = (context.config.endpoint.idle_timeout / 2).max(Duration::from_millis(200));
    let mut idle = tokio::time::interval(idle_every);
    let mut last_depth = Instant::now() - DEPTH_EVERY;
    let mut mode = Mode::Active;
    tracing::info!(partition = number, "partition started");
    loop {
        tokio::select! {
            Some(read) = batches.recv(), if mode == Mode::Active => {
                partition.handle(read).await;
            }
            Some(done) = completed.recv() => {
                partition.complete(done);
                while let Ok(done) = completed.try_recv() {
                    partition.complete(done);
                }
            }
            _ = mover.tick(), if mode == Mode::Active => {
                partition.retry_deferred().await;
                if !partition.move_due().await {
                    tracing::warn!(partition = number, "lease lost; stopping partition");
                    mode = Mode::Abort;
                }
                if last_depth.elapsed() >= DEPTH_EVERY {
                    last_depth = Instant::now();
                    partition.publish_depth().await;
                }
            }
            _ = idle.tick() => partition.stop_idle_actors().await,
            changed = mode_rx.changed() => {
                mode = if changed.is_err() { Mode::Abort } else { *mode_rx.borrow() };
                reader.abort();
            }
        }
        partition.flush_acks().await;
        match mode {
            Mode::Active => {}
            Mode::Drain if partition.ledger.outstanding() > 0 => {}
            Mode::Drain | Mode::Abort => break,
        }
    }
    reader.abort();
    for actor in partition.actors.values() {
        actor.do_send(Stop);
    }
    tracing::info!(partition = number, ?mode, "partition stopped");
}

impl Partition {
    /// Fans a read out: one pipeline reads the apps' endpoint versions and the messages,
    /// changed endpoint lists are reloaded, then each message goes to its endpoints' actors.
    async fn handle(&mut self, read: Read) {
        for broken in read.broken {
            self.nothing_to_do(broken);
        }
        if read.entries.is_empty() {
            return;
        }
        let loaded = match fanout::load(&self.context.store.db, &read.entries).await {
            Ok(loaded) => loaded,
            Err(e) => {
                // Redis trouble: keep the entries (pending in the stream, in the window) and
                // try them again on the next tick.
                tracing::error!(partition = self.number, error = %e, "could not load batch");
                self.deferred.extend(read.entries);
                return;
            }
        };
        let mut unknown = Vec::new();
        let mut gone = Vec::new();
        for (app, version) in &loaded.versions {
            let Some(version) = version else {
                gone.push(*app);
                continue;
            };
            if self.routes.is_current(*app, *version) {
                continue;
            }
            match self.context.store.all_endpoints(*app).await {
                Ok((version, endpoints)) => self.routes.insert(*app, version, &endpoints),
                Err(e) => {
                    // Routing with a stale or missing list could skip an endpoint: defer.
                    tracing::error!(error = %e, %app, "could not load endpoints");
                    unknown.push(*app);
                }
            }
        }
        for (entry, message) in read.entries.into_iter().zip(loaded.messages) {
            if unknown.contains(&entry.task.app) {
                self.deferred.push(entry);
            } else if gone.contains(&entry.task.app) {
                self.nothing_to_do(entry.id);
            } else {
                self.dispatch(entry, message);
            }
        }
    }

    /// Retries the entries a Redis error deferred (they are still pending in the stream).
    async fn retry_deferred(&mut self) {
        if !self.deferred.is_empty() {
            let entries = std::mem::take(&mut self.deferred);
            self.handle(Read {
                entries,
                broken: Vec::new(),
            })
            .await;
        }
    }

    /// Sends one entry to its endpoints' actors, or acknowledges it when there is nothing to
    /// do (message expired, no matching endpoint).
    fn dispatch(&mut self, entry: Entry, message: Option<MessageData>) {
        let Some(message) = message else {
            self.nothing_to_do(entry.id);
            return;
        };
        let targets = self.routes.targets(&entry.task, &message);
        if targets.is_empty() {
            self.nothing_to_do(entry.id);
            return;
        }
        let sole = targets.len() == 1;
        self.ledger.track(entry.id.clone(), targets.len());
        for route in targets {
            let actor = self.actor(entry.task.app, route.id);
            actor.do_send(Enqueue(Job {
                entry: entry.id.clone(),
                task: entry.task.clone(),
                route,
                payload: message.payload.clone(),
                sole,
                ticket: self.context.activity.job(),
            }));
        }
    }

    fn nothing_to_do(&mut self, entry: String) {
        self.ledger.nothing_to_do(entry);
        self.window.add_permits(1);
    }

    /// The endpoint's actor on this partition, started on first use.
    fn actor(&mut self, app: Uuid, endpoint: Uuid) -> Addr<EndpointActor> {
        if let Some(addr) = self.actors.get(&endpoint).filter(|a| a.connected()) {
            return addr.clone();
        }
        let addr = EndpointActor::new(
            self.context.clone(),
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

    fn complete(&mut self, done: Completion) {
        if self.ledger.complete(done) {
            self.window.add_permits(1);
        }
    }

    async fn flush_acks(&mut self) {
        let ids = self.ledger.take_acks();
        if ids.is_empty() {
            return;
        }
        let db = &self.context.store.db;
        let result = async {
            let mut conn = db.conn().await?;
            stream::ack(&mut conn, &db.keys.stream(self.number), &ids).await
        }
        .await;
        if let Err(e) = result {
            // Unacknowledged entries are redelivered later: a duplicate, never a loss.
            tracing::warn!(partition = self.number, error = %e, "could not acknowledge entries");
        }
    }

    /// Moves due retries into the stream; false when the lease turned out to be lost.
    async fn move_due(&mut self) -> bool {
        let db = &self.context.store.db;
        loop {
            match retry::move_due(db, self.number, &self.lease, now_ms(), MOVE_BATCH).await {
                Ok(Moved::LeaseLost) => return false,
                Ok(Moved::Moved(n)) if n == MOVE_BATCH => continue,
                Ok(Moved::Moved(_)) => return true,
                Err(e) => {
                    tracing::warn!(partition = self.number, error = %e, "could not move due retries");
                    return true;
                }
            }
        }
    }

    async fn publish_depth(&self) {
        let db = &self.context.store.db;
        let Ok(mut conn) = db.conn().await else {
            return;
        };
        let depth: Result<(i64, i64), _> = redis::pipe()
            .xlen(db.keys.stream(self.number))
            .zcard(db.keys.retry(self.number))
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
