//! The partition's stream reader: pending entries of an earlier owner first (from id `0`),
//! then new ones, in batches, never more than the partition's window of jobs in flight.
//!
//! The window counts jobs, and an entry fans out to as many jobs as it has endpoints, which
//! the reader cannot know. It sizes each read by the partition's recent jobs per entry: with
//! ten endpoints per message it reads a tenth of the batch, each entry holding ten permits.
//! It reads only while the lease is surely ours: entries read once it may have passed on
//! would join the pending list after the next owner re-read it, and wait for the reclaim.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

use super::fanout::Loaded;
use super::hub::{Hub, Subscriber};
use crate::dispatch::fence::Fence;
use crate::dispatch::WorkerContext;
use crate::queue::stream::{self, Cursor, Read};

/// Entries read, and the window permits each of them holds.
#[derive(Debug)]
pub struct Batch {
    pub read: Read,
    /// The partition's recent jobs per entry at the time of the read.
    pub permits_each: usize,
    /// Its messages and endpoint versions, when the hub loaded them with its neighbours'
    /// (`None`: the partition loads them).
    pub loaded: Option<Loaded>,
}

/// What a partition's reader reads with, and for.
pub struct Reading {
    pub number: u16,
    pub fence: Arc<Fence>,
    /// The partition's window of jobs in flight.
    pub window: Arc<Semaphore>,
    /// The partition's recent fan-out.
    pub jobs_per_entry: Arc<AtomicUsize>,
    /// Cleared when the partition stops reading (drain, abort).
    pub listening: Arc<AtomicBool>,
    pub out: mpsc::Sender<Batch>,
}

/// Reads the stream into `out` until the partition stops listening, pausing while the lease
/// under `fence` is not surely ours: its pending entries, then its new ones (or hands those
/// over to the thread's `hub`, when there is one).
pub async fn run(context: Arc<WorkerContext>, reading: Reading, hub: Option<Hub>) {
    let config = &context.config;
    let db = &context.store.db;
    let stream = db.keys.stream(reading.number);
    let Reading {
        number,
        fence,
        window,
        jobs_per_entry,
        out,
        ..
    } = &reading;
    let (number, batch) = (*number, config.queue.batch_size);
    let mut cursor = Cursor::Pending("0".into());
    let mut backoff = Duration::from_millis(100);
    'connect: loop {
        let mut conn = match stream::blocking_connection(db, config.queue.block).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(partition = number, error = %e, "stream connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = stream::ensure_group(&mut conn, &stream).await {
            tracing::warn!(partition = number, error = %e, "could not create consumer group");
            tokio::time::sleep(backoff).await;
            continue;
        }
        loop {
            // A hub gone (its thread stopping) leaves the partition reading on its own.
            if let (Cursor::New, Some(hub)) = (&cursor, hub.as_ref().filter(|h| !h.is_closed())) {
                let _ = hub.send(Subscriber { stream, reading });
                return;
            }
            let each = jobs_per_entry.load(Ordering::Relaxed).clamp(1, batch);
            let count = (batch / each).max(1);
            let Ok(permit) = window.acquire_many((count * each) as u32).await else {
                return;
            };
            permit.forget();
            fence.until_valid().await;
            match stream::read(&mut conn, &stream, &cursor, count, config.queue.block).await {
                Ok(read) => {
                    backoff = Duration::from_millis(100);
                    window.add_permits((count - read.len()) * each);
                    if let Cursor::Pending(_) = cursor {
                        // Pending entries of an earlier owner: walk them by id, then go live.
                        cursor = match read.last_id() {
                            Some(last) => Cursor::Pending(last.to_string()),
                            None => Cursor::New,
                        };
                    }
                    let batch = Batch {
                        read,
                        permits_each: each,
                        loaded: None,
                    };
                    if !batch.read.is_empty() && out.send(batch).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    window.add_permits(count * each);
                    tracing::warn!(partition = number, error = %e, "stream read failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue 'connect;
                }
            }
        }
    }
}
