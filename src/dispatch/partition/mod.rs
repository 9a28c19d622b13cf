//! One held partition: reads its stream ([`reader`]; on one Redis server its new entries
//! with those of its thread's other partitions, [`hub`]), fans each message out to the
//! matching endpoints' actors ([`fanout`]), acknowledges entries once every job has ended
//! ([`ledger`]), delivers FIFO lanes in order (`lanes`), and on its ticks (`upkeep`) moves due
//! retries back into the stream, releases parked backlogs as their circuits allow, reclaims
//! entries left pending too long, relays its outbox of operational events (`store::ops`) and
//! resumes erasure jobs and purges whose node died.
//!
//! Everything of a partition runs on one arbiter thread: this task, its reader (and the
//! thread's shared one) and its endpoint actors, whose successes the thread's recorder writes
//! together (`dispatch::recorder`). A semaphore bounds the jobs in flight (the
//! window, `window`), so a backlog stays in Redis instead of in memory. Every write that moves
//! work is fenced by the partition's lease ([`Fence`]); a refused one stops the partition.

pub mod fanout;
pub mod hub;
mod lanes;
pub mod ledger;
pub mod reader;
mod upkeep;
mod window;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, Addr};
use tokio::sync::{mpsc, watch, Semaphore};
use uuid::Uuid;

use super::endpoint::{EndpointActor, Placement};
use super::fence::Fence;
use super::messages::{Completion, Enqueue, Job, Refresh, Stop};
use super::recorder::Recorder;
use super::WorkerContext;
use crate::db::StoreError;
use crate::domain::Ordering;
use crate::queue::lane::Lane;
use crate::queue::stream::{self, Entry, Read};
use crate::queue::Target;
use crate::telemetry::metrics;
use crate::telemetry::throttle::LogThrottle;
use fanout::{MessageData, RouteCache};
use ledger::Ledger;
use reader::Batch;
use window::Window;

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

/// Jobs read ahead and not yet ended, per partition (a multiple of the batch size).
const WINDOW_BATCHES: usize = 4;
/// Share of the window that jobs waiting in endpoint queues may hold (the rest keeps the
/// partition reading while some endpoints are slow, failing or rate limited).
const QUEUED_SHARE: usize = 2;
/// How often queue depth gauges are refreshed.
const DEPTH_EVERY: Duration = Duration::from_secs(5);
/// How often the partition looks for purges of deleted applications to resume.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(1);
/// At most one log line per this period for a failure that repeats every tick.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// A delivery could not be handed on now (Redis could not take it): the entry, and those
/// after it, wait.
#[derive(Debug, Clone, Copy)]
struct Stalled;

struct Partition {
    context: Arc<WorkerContext>,
    number: u16,
    /// The lease the partition runs under.
    fence: Arc<Fence>,
    /// Its thread's recorder, handed to its endpoint actors.
    recorder: Recorder,
    actors: HashMap<Uuid, Addr<EndpointActor>>,
    routes: RouteCache,
    ledger: Ledger,
    /// Entries read but not routed, because Redis failed (retried on the next tick) or the
    /// window's credit is not paid off yet (retried once it is).
    deferred: Vec<Batch>,
    /// Jobs in flight (read and not yet ended).
    window: Window,
    /// Jobs per entry of the latest read, for the reader to size its next one.
    jobs_per_entry: Arc<AtomicUsize>,
    /// Reads wait in `deferred` until the window's credit is paid off.
    awaiting_room: bool,
    /// Slots for jobs waiting in endpoint queues (see `endpoint::gate`).
    queue_slots: Arc<Semaphore>,
    completions: mpsc::UnboundedSender<Completion>,
    /// Where the walk of the pending list continues.
    reclaim_cursor: String,
    /// FIFO lanes whose head is with an actor here.
    lanes_in_flight: HashSet<Lane>,
    /// FIFO lanes known to have a head due now.
    lanes_ready: Vec<Lane>,
    /// A fenced write was refused outside the loop's own checks.
    lease_lost: bool,
    /// Log throttles of the failures that repeat every tick.
    throttles: Throttles,
}

struct Throttles {
    load: LogThrottle,
    ack: LogThrottle,
    mover: LogThrottle,
    reclaim: LogThrottle,
}

/// What the partitions of one thread share.
#[derive(Clone)]
pub struct ThreadShare {
    /// The thread's stream reader (one Redis server only: a cluster refuses a read across
    /// slots).
    pub hub: Option<hub::Hub>,
    /// Where its endpoint actors record their successes.
    pub recorder: Recorder,
}

/// Runs a partition until told to stop or its lease is found lost.
pub async fn run(
    context: Arc<WorkerContext>,
    number: u16,
    fence: Arc<Fence>,
    share: ThreadShare,
    mut mode_rx: watch::Receiver<Mode>,
) {
    let config = context.config.clone();
    let batch_size = config.queue.batch_size;
    let window = Window::new(batch_size * WINDOW_BATCHES);
    let jobs_per_entry = Arc::new(AtomicUsize::new(1));
    let (batch_tx, mut batches) = mpsc::channel::<Batch>(2);
    let (completions, mut completed) = mpsc::unbounded_channel();
    let listening = Arc::new(AtomicBool::new(true));
    let reader = actix_rt::spawn(reader::run(
        context.clone(),
        reader::Reading {
            number,
            fence: fence.clone(),
            window: window.permits(),
            jobs_per_entry: jobs_per_entry.clone(),
            listening: listening.clone(),
            out: batch_tx,
        },
        share.hub,
    ));
    let stop_reading = || {
        listening.store(false, AtomicOrdering::Relaxed);
        reader.abort();
    };
    let mut partition = Partition {
        context,
        number,
        fence,
        recorder: share.recorder,
        actors: HashMap::new(),
        routes: RouteCache::default(),
        ledger: Ledger::default(),
        deferred: Vec::new(),
        window,
        jobs_per_entry,
        awaiting_room: false,
        queue_slots: Arc::new(Semaphore::new(
            (batch_size * WINDOW_BATCHES / QUEUED_SHARE).max(1),
        )),
        completions,
        reclaim_cursor: "0-0".into(),
        lanes_in_flight: HashSet::new(),
        lanes_ready: Vec::new(),
        lease_lost: false,
        throttles: Throttles {
            load: LogThrottle::new(LOG_EVERY),
            ack: LogThrottle::new(LOG_EVERY),
            mover: LogThrottle::new(LOG_EVERY),
            reclaim: LogThrottle::new(LOG_EVERY),
        },
    };
    let mut mover = tokio::time::interval(config.queue.retry_poll);
    mover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reclaim = tokio::time::interval(config.queue.reclaim_interval);
    reclaim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    reclaim.reset(); // not at once: a fresh owner re-reads the pending list from 0 anyway
    let idle_every = (config.endpoint.idle_timeout / 2).max(Duration::from_millis(200));
    let mut idle = tokio::time::interval(idle_every);
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_EVERY);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_depth = Instant::now() - DEPTH_EVERY;
    let mut mode = Mode::Active;
    tracing::info!(partition = number, "partition started");
    loop {
        let lease_lost = tokio::select! {
            Some(read) = batches.recv(), if mode == Mode::Active => {
                partition.handle(read).await;
                false
            }
            Some(done) = completed.recv() => {
                partition.complete(done);
                while let Ok(done) = completed.try_recv() {
                    partition.complete(done);
                }
                // Reads held back by the window's credit go on once it is paid off (not while
                // draining: what is not started stays pending for the next owner).
                if mode == Mode::Active && partition.awaiting_room && partition.window.owed() == 0 {
                    partition.retry_deferred().await;
                }
                false
            }
            _ = mover.tick(), if mode == Mode::Active => {
                partition.retry_deferred().await;
                partition.relay_outbox().await;
                let lost = partition.move_due().await
                    || partition.release_parked().await
                    || partition.run_lanes(true).await;
                if last_depth.elapsed() >= DEPTH_EVERY {
                    last_depth = Instant::now();
                    partition.publish_depth().await;
                }
                lost
            }
            _ = reclaim.tick(), if mode == Mode::Active => partition.reclaim().await,
            _ = housekeeping.tick(), if mode == Mode::Active => {
                partition.resume_purges().await;
                partition.resume_erasures().await;
                false
            }
            _ = idle.tick() => {
                partition.stop_idle_actors().await;
                false
            }
            changed = mode_rx.changed() => {
                mode = if changed.is_err() { Mode::Abort } else { *mode_rx.borrow() };
                stop_reading();
                false
            }
        };
        // Lanes that became ready (pushed to, or their head delivered) go on at once.
        let lanes_lost = mode == Mode::Active
            && !partition.lanes_ready.is_empty()
            && partition.run_lanes(false).await;
        if partition.flush_acks().await || lease_lost || lanes_lost || partition.lease_lost {
            tracing::warn!(partition = number, "lease lost; stopping partition");
            mode = Mode::Abort;
        }
        match mode {
            Mode::Active => {}
            Mode::Drain if partition.ledger.outstanding() > 0 => {}
            Mode::Drain | Mode::Abort => break,
        }
    }
    stop_reading();
    for actor in partition.actors.values() {
        actor.do_send(Stop);
    }
    tracing::info!(partition = number, ?mode, "partition stopped");
}

impl Partition {
    /// Takes a read in, in stream order: while earlier reads wait (deferred by a Redis
    /// error or the window's credit), later ones wait behind them, so FIFO lanes receive their
    /// deliveries in order.
    async fn handle(&mut self, mut batch: Batch) {
        if self.deferred.is_empty() && self.window.owed() == 0 {
            self.process(batch).await;
        } else {
            // What the hub loaded with it may be stale by the time it goes on.
            batch.loaded = None;
            self.awaiting_room |= self.window.owed() > 0;
            self.deferred.push(batch);
        }
    }

    /// Keeps the jobs per entry of what was just dispatched, for the reader's next read.
    fn note_fan_out(&self, jobs: usize, entries: usize) {
        if entries > 0 {
            let per_entry = jobs.div_ceil(entries).max(1);
            self.jobs_per_entry
                .store(per_entry, AtomicOrdering::Relaxed);
        }
    }

    /// Retries the reads a Redis error or the window's credit deferred, in order, until one
    /// is deferred again.
    async fn retry_deferred(&mut self) {
        if self.window.owed() > 0 {
            return;
        }
        self.awaiting_room = false;
        let mut waiting = std::mem::take(&mut self.deferred).into_iter();
        for batch in waiting.by_ref() {
            self.process(batch).await;
            if !self.deferred.is_empty() {
                break;
            }
        }
        self.deferred.extend(waiting);
    }

    /// Defers what is left of a read. It will be read as pending: some of its endpoints may
    /// be done with it already (delivered, or pushed to a lane).
    fn defer(&mut self, entries: Vec<Entry>, permits_each: usize) {
        if !entries.is_empty() {
            self.deferred.push(Batch {
                read: Read {
                    entries,
                    broken: Vec::new(),
                    pending: true,
                },
                permits_each,
                loaded: None,
            });
        }
    }

    /// Fans a read out: one pipeline reads the apps' endpoint versions, the messages and (for
    /// entries read again) their done sets; changed endpoint lists are reloaded; then each
    /// message goes to its endpoints' actors, or to their FIFO lanes.
    async fn process(
        &mut self,
        Batch {
            read,
            permits_each: each,
            loaded,
        }: Batch,
    ) {
        for broken in &read.broken {
            self.nothing_to_do(broken.clone(), read.pending, each);
        }
        if read.entries.is_empty() {
            return;
        }
        let loaded = match loaded {
            Some(loaded) => Ok(loaded),
            None => fanout::load(&self.context.store.db, self.number, &read).await,
        };
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                // Redis trouble: keep the entries (pending in the stream, in the window) and
                // try them again on the next tick.
                if let Some(skipped) = self.throttles.load.allow(Instant::now()) {
                    tracing::warn!(partition = self.number, error = %e, skipped, "could not load batch");
                }
                self.defer(read.entries, each);
                return;
            }
        };
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
                    tracing::warn!(error = %e, %app, "could not load endpoints");
                    self.defer(read.entries, each);
                    return;
                }
            }
        }
        let (mut seen, mut jobs) = (0, 0);
        let mut entries = read
            .entries
            .into_iter()
            .zip(loaded.messages)
            .zip(loaded.done);
        // The first entry that has to wait, with what follows it.
        let stalled = loop {
            let Some(((entry, message), done)) = entries.next() else {
                break None;
            };
            if self.window.owed() > 0 {
                // The read's estimate of the fan-out was short: what is left waits for room
                // (read as pending again then), and the next read is sized right.
                self.awaiting_room = true;
                break Some(entry);
            }
            seen += 1;
            if gone.contains(&entry.task.app) {
                self.nothing_to_do(entry.id, read.pending, each);
                continue;
            }
            match self
                .dispatch(&entry, message, &done, read.pending, each)
                .await
            {
                Ok(started) => jobs += started,
                Err(Stalled) => break Some(entry),
            }
        };
        self.note_fan_out(jobs, seen);
        if let Some(entry) = stalled {
            let mut rest = vec![entry];
            rest.extend(entries.map(|((entry, _), _)| entry));
            self.defer(rest, each);
        }
    }

    /// Sends one entry to its endpoints' actors and FIFO lanes (but those already done with
    /// it), or acknowledges it when there is nothing to do (message expired, no matching
    /// endpoint); answers how many jobs it started. The entry holds `permits` of the window;
    /// it ends up holding one per job. `Stalled` when a lane could not take its delivery: the
    /// entry (and what follows it) waits.
    async fn dispatch(
        &mut self,
        entry: &Entry,
        message: Option<MessageData>,
        done: &HashSet<Uuid>,
        pending: bool,
        permits: usize,
    ) -> Result<usize, Stalled> {
        if let Target::Refresh { id } = entry.task.target {
            self.refresh(entry.task.app, id).await;
            self.nothing_to_do(entry.id.clone(), false, permits);
            return Ok(0);
        }
        let Some(message) = message else {
            self.nothing_to_do(entry.id.clone(), pending, permits);
            return Ok(0);
        };
        let targets: Vec<_> = self
            .routes
            .targets(&entry.task, &message)
            .into_iter()
            .filter(|route| !done.contains(&route.id))
            .collect();
        // A fan-out entry read again may have a done set from its first delivery.
        let fanned = entry.task.target == Target::Fanout && (pending || targets.len() > 1);
        let (ordered, direct): (Vec<_>, Vec<_>) = targets
            .into_iter()
            .partition(|route| route.ordering == Ordering::Fifo);
        for route in &ordered {
            self.push_to_lane(entry, &message, route).await?;
        }
        if direct.is_empty() {
            self.nothing_to_do(entry.id.clone(), fanned || !ordered.is_empty(), permits);
            return Ok(0);
        }
        let jobs = direct.len();
        let sole = jobs == 1;
        let done_set = fanned || !ordered.is_empty();
        self.ledger.track(entry.id.clone(), jobs, done_set);
        // One permit per job: what the read's estimate of the fan-out missed is taken on credit.
        if jobs > permits {
            self.window.take_on_credit(jobs - permits);
        } else {
            self.window.give_back(permits - jobs);
        }
        for route in direct {
            let actor = self.actor(entry.task.app, &route);
            actor.do_send(Enqueue(Job {
                entry: entry.id.clone(),
                task: entry.task.clone(),
                route,
                payload: message.payload.clone(),
                sole,
                done_set,
                ticket: self.context.activity.job(),
                lane: None,
            }));
        }
        Ok(jobs)
    }

    /// An endpoint changed: its live actor gets its new route (`None`: disabled or deleted),
    /// and an ordered endpoint's lanes follow.
    async fn refresh(&mut self, app: Uuid, endpoint: Uuid) {
        let route = self.routes.route(app, endpoint);
        if let Some(actor) = self.actors.get(&endpoint).filter(|a| a.connected()) {
            actor.do_send(Refresh(route.clone().filter(|r| r.enabled)));
        }
        let ordered = route.as_ref().is_some_and(|r| r.ordering == Ordering::Fifo);
        if ordered || route.is_none() {
            self.refresh_lanes(app, endpoint, route.as_deref()).await;
        }
    }

    /// The entry is done with; the `permits` of the window it held go back.
    fn nothing_to_do(&mut self, entry: String, fanned: bool, permits: usize) {
        self.ledger.nothing_to_do(entry, fanned);
        self.window.give_back(permits);
    }

    /// The endpoint's actor on this partition, started on first use.
    fn actor(&mut self, app: Uuid, route: &crate::dispatch::routing::Route) -> Addr<EndpointActor> {
        if let Some(addr) = self.actors.get(&route.id).filter(|a| a.connected()) {
            return addr.clone();
        }
        let addr = EndpointActor::new(
            self.context.clone(),
            Placement {
                partition: self.number,
                app,
                endpoint: route.id,
                fence: self.fence.clone(),
                recorder: self.recorder.clone(),
                completions: self.completions.clone(),
                slots: self.queue_slots.clone(),
                health_epoch: route.health_epoch,
            },
        )
        .start();
        self.actors.insert(route.id, addr.clone());
        addr
    }

    fn complete(&mut self, done: Completion) {
        if let Some((lane, continues)) = done.lane {
            self.lane_ended(lane, continues);
            return;
        }
        // Each job of an entry held a permit; a stray completion (an entry no longer
        // tracked here) held none.
        if self.ledger.holds(&done.entry) {
            self.ledger.complete(done);
            self.window.give_back(1);
        }
    }

    /// Acknowledges finished entries; failed acknowledgements go again with the next flush.
    /// True when the lease turned out to be lost.
    async fn flush_acks(&mut self) -> bool {
        let acks = self.ledger.take_acks();
        if acks.is_empty() {
            return false;
        }
        let ids: Vec<String> = acks.iter().map(|a| a.entry.clone()).collect();
        let fanned: Vec<String> = acks
            .iter()
            .filter(|a| a.fanned)
            .map(|a| a.entry.clone())
            .collect();
        let db = &self.context.store.db;
        match stream::ack(db, self.number, self.fence.token(), &ids, &fanned).await {
            Ok(()) => false,
            Err(StoreError::LeaseLost) => {
                metrics::FENCED_WRITES.inc();
                true
            }
            Err(e) => {
                if let Some(skipped) = self.throttles.ack.allow(Instant::now()) {
                    tracing::warn!(partition = self.number, error = %e, skipped, "could not acknowledge entries; will retry");
                }
                self.ledger.retry_acks(acks);
                false
            }
        }
    }
}
