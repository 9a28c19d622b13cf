//! A thread's shared stream reader: one XREADGROUP over the streams of every partition of
//! the thread that is live (past its walk of the pending list), instead of one blocked read
//! per partition.
//!
//! With 64 partitions each stream gets ~1/64 of the traffic, so a reader of its own reads one
//! or two entries per wake-up: 0.6 XREADGROUP per sustained message, each a blocked client
//! for Redis to wake, and a task, a channel send and a load pipeline for the node. One read
//! over the thread's partitions returns whatever came to any of them since the last (~19
//! entries under sustained load), and one pipeline loads all their messages: 0.05 reads per
//! message, 12 % more sustained throughput and 12 % less CPU per message on average over 10
//! alternating pairs (README, performance row 19). One server only: a Redis Cluster refuses a
//! read across slots, so there each partition keeps its own reader (see `reader`).
//!
//! Each partition is read only while its lease is surely ours, it listens, its window has
//! room for a batch and its channel room for one more: others are left out of this read. A
//! left-out partition joins the next read, so while one is left out a read blocks for
//! [`LEFT_OUT_BLOCK`] at most, and a partition that subscribes waits [`MAX_BLOCK`] at most.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::fanout::{self, Loaded};
use super::reader::{Batch, Reading};
use crate::db::{Db, StoreError};
use crate::dispatch::WorkerContext;
use crate::queue::stream::{self, Read};

/// Longest blocking read while every partition is in it (a new subscriber waits this long).
const MAX_BLOCK: Duration = Duration::from_millis(100);
/// Shortest blocking read (BLOCK 0 would wait for ever).
const MIN_BLOCK: Duration = Duration::from_millis(1);
/// Longest blocking read while a partition is left out of it.
const LEFT_OUT_BLOCK: Duration = Duration::from_millis(5);

/// A live partition, read by its thread's hub until it stops listening.
pub struct Subscriber {
    /// Its stream's key.
    pub stream: String,
    /// What its reader read with, handed over.
    pub reading: Reading,
}

/// Where a thread's partitions subscribe to its hub.
pub type Hub = mpsc::UnboundedSender<Subscriber>;

/// One partition's share of a read: the permits it holds and the slot its batch goes to.
struct Share {
    subscriber: usize,
    each: usize,
    count: usize,
    slot: mpsc::OwnedPermit<Batch>,
}

/// Reads for the thread's subscribers until every handle to the hub is dropped.
pub async fn run(
    context: Arc<WorkerContext>,
    mut subscriptions: mpsc::UnboundedReceiver<Subscriber>,
) {
    let config = &context.config;
    let db = &context.store.db;
    let batch = config.queue.batch_size;
    let mut subscribers: Vec<Subscriber> = Vec::new();
    let mut backoff = Duration::from_millis(100);
    'connect: loop {
        let mut conn = match stream::blocking_connection(db, config.queue.block).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "stream connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        loop {
            while let Ok(subscriber) = subscriptions.try_recv() {
                subscribers.push(subscriber);
            }
            subscribers.retain(|s| {
                s.reading.listening.load(Ordering::Relaxed) && !s.reading.out.is_closed()
            });
            // A partition started again on this thread while its stopping instance still
            // listens: the newest one reads (one stream may appear once in a read).
            let mut seen = HashSet::new();
            for i in (0..subscribers.len()).rev() {
                if !seen.insert(subscribers[i].reading.number) {
                    subscribers.remove(i);
                }
            }
            if subscribers.is_empty() {
                match subscriptions.recv().await {
                    Some(subscriber) => subscribers.push(subscriber),
                    None => return,
                }
                continue;
            }
            let now = Instant::now();
            let mut shares = Vec::new();
            for (i, s) in subscribers.iter().enumerate() {
                if let Some(share) = take_share(i, &s.reading, batch, now) {
                    shares.push(share);
                }
            }
            if shares.is_empty() {
                // Nothing to read for: wait for a subscriber, or for room.
                tokio::select! {
                    subscriber = subscriptions.recv() => match subscriber {
                        Some(subscriber) => subscribers.push(subscriber),
                        None => return,
                    },
                    _ = tokio::time::sleep(LEFT_OUT_BLOCK) => {}
                }
                continue;
            }
            let left_out = shares.len() < subscribers.len();
            let block = config
                .queue
                .block
                .min(if left_out { LEFT_OUT_BLOCK } else { MAX_BLOCK })
                .max(MIN_BLOCK);
            // One COUNT for all: the smallest share; the others give the rest back now. (A
            // partition fanning out widely thus shrinks its neighbours' reads too.)
            let count = shares.iter().map(|s| s.count).min().unwrap_or(1);
            for share in &mut shares {
                let extra = (share.count - count) * share.each;
                subscribers[share.subscriber]
                    .reading
                    .window
                    .add_permits(extra);
                share.count = count;
            }
            let streams: Vec<&str> = shares
                .iter()
                .map(|s| subscribers[s.subscriber].stream.as_str())
                .collect();
            match stream::read_new(&mut conn, &streams, count, block).await {
                Ok(reads) => {
                    backoff = Duration::from_millis(100);
                    let mut loads = preload(db, &shares, &subscribers, &reads).await;
                    for (share, read) in shares.into_iter().zip(reads).rev() {
                        let unused = count.saturating_sub(read.len());
                        let window = &subscribers[share.subscriber].reading.window;
                        window.add_permits(unused * share.each);
                        let loaded = if read.entries.is_empty() {
                            None
                        } else {
                            loads.pop().flatten()
                        };
                        if !read.is_empty() {
                            share.slot.send(Batch {
                                read,
                                permits_each: share.each,
                                loaded,
                            });
                        }
                    }
                }
                Err(e) => {
                    for share in &shares {
                        subscribers[share.subscriber]
                            .reading
                            .window
                            .add_permits(count * share.each);
                    }
                    if matches!(&e, StoreError::Redis(r) if r.code() == Some("NOGROUP")) {
                        // A stream was deleted (FLUSHALL): create the groups again.
                        let mut created = true;
                        for s in &streams {
                            created &= stream::ensure_group(&mut conn, s).await.is_ok();
                        }
                        if created {
                            continue;
                        }
                    }
                    tracing::warn!(error = %e, "shared stream read failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue 'connect;
                }
            }
        }
    }
}

/// The share of subscriber `i` in the next read, with its permits taken; `None` when it is
/// left out (lease not surely ours, its channel full, its window short of a batch).
fn take_share(i: usize, s: &Reading, batch: usize, now: Instant) -> Option<Share> {
    if !s.fence.is_valid(now) {
        return None;
    }
    let each = s.jobs_per_entry.load(Ordering::Relaxed).clamp(1, batch);
    let count = (batch / each).max(1);
    let slot = s.out.clone().try_reserve_owned().ok()?;
    let permits = u32::try_from(count * each).ok()?;
    s.window.try_acquire_many(permits).ok()?.forget();
    Some(Share {
        subscriber: i,
        each,
        count,
        slot,
    })
}

/// Loads the messages (and endpoint versions) of every read with entries in one pipeline,
/// in order; `None` each when Redis failed (each partition then loads its own).
async fn preload(
    db: &Db,
    shares: &[Share],
    subscribers: &[Subscriber],
    reads: &[Read],
) -> Vec<Option<Loaded>> {
    let with_entries: Vec<(u16, &Read)> = shares
        .iter()
        .zip(reads)
        .filter(|(_, read)| !read.entries.is_empty())
        .map(|(share, read)| (subscribers[share.subscriber].reading.number, read))
        .collect();
    if with_entries.is_empty() {
        return Vec::new();
    }
    match fanout::load_many(db, &with_entries).await {
        Ok(loads) => loads.into_iter().map(Some).collect(),
        Err(_) => with_entries.iter().map(|_| None).collect(),
    }
}
