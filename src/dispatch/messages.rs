//! Every message exchanged between a partition and its endpoint actors, in one place.

use std::sync::Arc;

use actix::Message;
use bytes::Bytes;

use super::activity::Ticket;
use super::routing::Route;
use crate::queue::lane::Lane;
use crate::queue::{Target, Task};

/// One delivery to perform: where it came from, what it is, and the endpoint as routed. The
/// payload bytes are shared by every endpoint of a fan-out, never copied.
#[derive(Debug)]
pub struct Job {
    /// The stream entry the job came from.
    pub entry: String,
    pub task: Task,
    pub route: Arc<Route>,
    pub payload: Bytes,
    /// The entry has this one job only, so the job's own record script acknowledges it in
    /// the same atomic step.
    pub sole: bool,
    /// The entry may have a done set (it went to several endpoints or FIFO lanes, or was read
    /// again after a fan-out): its acknowledgement deletes the set too. A fresh entry with one
    /// endpoint has none, and its acknowledgement skips the delete.
    pub done_set: bool,
    /// Counts the job as open on the node until it is dropped.
    pub ticket: Ticket,
    /// The job is the head of a FIFO lane (it has no stream entry then).
    pub lane: Option<LaneJob>,
}

/// The lane a job heads.
#[derive(Debug, Clone)]
pub struct LaneJob {
    pub lane: Lane,
    /// The head as taken (encoded task), which the record script checks before moving on.
    pub head: String,
}

impl Job {
    /// Attempts already made in this delivery chain.
    pub fn attempts_made(&self) -> u32 {
        match self.task.target {
            Target::Endpoint { attempts, .. } => attempts,
            Target::Fanout | Target::Refresh { .. } => 0,
        }
    }

    /// The task of the next attempt of this chain, after `attempts` attempts.
    pub fn next_task(&self, attempts: u32) -> Task {
        Task {
            app: self.task.app,
            message: self.task.message,
            created: None,
            target: Target::Endpoint {
                id: self.route.id,
                attempts,
            },
        }
    }

    /// The stream entry to acknowledge in the job's own script, when it is the entry's only
    /// job.
    pub fn ack_in_script(&self) -> Option<&str> {
        self.sole.then_some(self.entry.as_str())
    }
}

/// Partition → endpoint actor: take a job. Never blocks the partition: a full queue spills
/// the job to the retry set.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enqueue(pub Job);

/// Partition → endpoint actor: the endpoint changed (updated, paused, disabled: `None` when
/// it is disabled or deleted); queued deliveries follow at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refresh(pub Option<Arc<Route>>);

/// Partition → endpoint actor: stop if there has been no work for the idle timeout. The
/// answer tells the partition to forget the actor; mailbox order guarantees no job sent
/// before this message is lost.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct StopIfIdle;

/// Partition → endpoint actor: stop now (partition stopping); unfinished work stays pending
/// in the stream for the next owner.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// How a job ended, for the partition's acknowledgement ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// Recorded, and the record script already acknowledged the entry (its only job).
    Acknowledged,
    /// Recorded (attempt or retry); the entry is acknowledged once all its jobs end.
    Recorded,
    /// Could not be recorded: the entry must stay pending, to be delivered again.
    Unrecorded,
}

/// Endpoint actor → partition: a job ended.
#[derive(Debug)]
pub struct Completion {
    /// Stream entry the job came from (empty for a lane's head).
    pub entry: String,
    /// How it ended: decides whether the entry may be acknowledged.
    pub end: JobEnd,
    /// For a lane's head: the lane, and whether its next head is due now.
    pub lane: Option<(Lane, bool)>,
}
