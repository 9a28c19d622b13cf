//! A thread's group commit of successes: the endpoint actors of a worker thread's partitions
//! hand it their successful attempts of jobs from the stream, and it writes whatever has
//! gathered in one script call (`queue::record::record_successes`) while its earlier calls
//! are in flight.
//!
//! A success is nearly every attempt, and recorded alone it is one script call of its own: a
//! request and a reply for the node, a read and a write for Redis, and 27 keys and arguments
//! turned into Lua strings. A success on a quiet thread is still written at once; under load
//! the ones that finish while [`MAX_IN_FLIGHT`] calls are out go in the next, together. Redis's
//! CPU per success (`load-tests/script-cost.sh record record-batch`): 30 – 40 µs alone and
//! 29 – 32 µs in calls of 16 when the calls come pipelined, 51 – 61 µs alone and 33 µs in
//! calls of 16 when they come one by one. Failures and the heads of FIFO lanes, whose replies
//! decide what follows, are still recorded one by one (`record_attempt`).
//!
//! A call is atomic: a script error (a key of the wrong type) fails every success in it, and
//! each is then tried again by its attempt (`attempt::retrying`) and, failing, left pending
//! for the reclaim, as a lone record would be. A success whose answer is lost (the thread
//! stopping) is likewise tried again; the fence refuses it once the lease has moved.
//!
//! On a Redis Cluster a script touches one slot, so a call carries the successes of one
//! partition, and the partitions gathered are written by concurrent calls.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::join_all;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use crate::clock::now_ms;
use crate::db::{Db, StoreError};
use crate::queue::record::{self, Success};

/// Most successes in one call: bounds its size (9 keys and 8 arguments each) and how long
/// Redis runs it, other clients waiting (~30 µs a success here: ~1 ms for a full call).
const MAX_BATCH: usize = 32;
/// Most writes in flight at a time: the successes that finish meanwhile wait for the next.
/// With one, a thread's successes waited for each call's round trip through a busy Redis,
/// holding their partitions' windows: under sustained load 4,000 – 8,000 messages were left in
/// the stream at the end of the window, against none with four.
const MAX_IN_FLIGHT: usize = 4;

/// One success waiting for its call, and where its answer goes.
struct Pending {
    success: Success,
    answer: oneshot::Sender<Result<(), StoreError>>,
}

/// Where a thread's endpoint actors record their successes (cloned into each attempt).
#[derive(Clone)]
pub struct Recorder(Arc<Handle>);

struct Handle {
    queue: mpsc::UnboundedSender<Pending>,
    db: Db,
    retention_secs: u64,
}

/// What the recorder's task takes its successes from, and writes them to.
pub struct Queue {
    pending: mpsc::UnboundedReceiver<Pending>,
    db: Db,
    retention_secs: u64,
}

impl Recorder {
    /// A recorder for one thread, and its queue for [`run`] on that thread.
    pub fn new(db: Db, retention_secs: u64) -> (Recorder, Queue) {
        let (queue, pending) = mpsc::unbounded_channel();
        let handle = Handle {
            queue,
            db: db.clone(),
            retention_secs,
        };
        let queue = Queue {
            pending,
            db,
            retention_secs,
        };
        (Recorder(Arc::new(handle)), queue)
    }

    /// Records `success` with the others gathered meanwhile; `StoreError::LeaseLost` when its
    /// partition's lease has passed to another owner.
    pub async fn record(&self, success: Success) -> Result<(), StoreError> {
        let (answer, answered) = oneshot::channel();
        let pending = Pending { success, answer };
        // A recorder gone (its thread stopping) leaves the success to be written on its own.
        let handle = &self.0;
        let pending = match handle.queue.send(pending) {
            Ok(()) => match answered.await {
                Ok(answer) => return answer,
                Err(_) => return Err(stopped()),
            },
            Err(mpsc::error::SendError(pending)) => pending,
        };
        let answers = record::record_successes(
            &handle.db,
            std::slice::from_ref(&pending.success),
            now_ms(),
            handle.retention_secs,
        )
        .await?;
        verdict(answers.first().copied().unwrap_or(false))
    }
}

/// Writes the successes `queue` hands over until every [`Recorder`] of it is dropped: all that
/// gathered in one call (on a cluster, one per partition), up to [`MAX_IN_FLIGHT`] such
/// writes at a time.
pub async fn run(queue: Queue) {
    let Queue {
        mut pending,
        db,
        retention_secs,
    } = queue;
    let cluster = db.is_cluster();
    let mut in_flight = FuturesUnordered::new();
    let mut gathered = Vec::with_capacity(MAX_BATCH);
    loop {
        tokio::select! {
            taken = pending.recv_many(&mut gathered, MAX_BATCH), if in_flight.len() < MAX_IN_FLIGHT => {
                if taken == 0 {
                    break;
                }
                let calls = if cluster {
                    by_partition(std::mem::take(&mut gathered))
                } else {
                    vec![std::mem::take(&mut gathered)]
                };
                let (db, now) = (&db, now_ms());
                in_flight.push(join_all(
                    calls
                        .into_iter()
                        .map(move |call| write(db, call, now, retention_secs)),
                ));
            }
            Some(_) = in_flight.next(), if !in_flight.is_empty() => {}
        }
    }
    while in_flight.next().await.is_some() {}
}

/// Writes one call's successes and hands each its answer.
async fn write(db: &Db, call: Vec<Pending>, now: i64, retention_secs: u64) {
    let (successes, answers): (Vec<Success>, Vec<_>) =
        call.into_iter().map(|p| (p.success, p.answer)).unzip();
    match record::record_successes(db, &successes, now, retention_secs).await {
        Ok(recorded) => {
            for (answer, recorded) in answers.into_iter().zip(recorded) {
                let _ = answer.send(verdict(recorded));
            }
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }
}

/// The successes of each partition apart, in the order they came.
fn by_partition(gathered: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut calls: BTreeMap<u16, Vec<Pending>> = BTreeMap::new();
    for pending in gathered {
        calls
            .entry(pending.success.partition)
            .or_default()
            .push(pending);
    }
    calls.into_values().collect()
}

fn verdict(recorded: bool) -> Result<(), StoreError> {
    if recorded {
        Ok(())
    } else {
        Err(StoreError::LeaseLost)
    }
}

/// The recorder's task ended with the success unanswered (its thread is stopping): whether it
/// was written is unknown, and the caller's retry of the write either records it or is
/// refused by the fence.
fn stopped() -> StoreError {
    StoreError::Corrupt("the thread's recorder stopped before answering".into())
}
