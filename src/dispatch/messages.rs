//! Every message exchanged between a partition and its endpoint actors, in one place.

use std::sync::Arc;

use actix::Message;
use bytes::Bytes;

use super::routing::Route;
use crate::queue::Task;

/// One delivery to perform: the task, the endpoint as routed, and the payload bytes (shared,
/// never copied per endpoint).
#[derive(Debug)]
pub struct Job {
    pub task: Task,
    pub route: Arc<Route>,
    pub payload: Bytes,
    /// The stream entry has this one job only, so the job's own record script acknowledges
    /// it in the same atomic step.
    pub ack_in_script: bool,
}

/// Partition → endpoint actor: queue a job. Never blocks the partition: a full queue spills
/// the job to the retry set.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver(pub Job);

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

/// Endpoint actor → partition: a job reached its outcome (or was durably rescheduled).
#[derive(Debug)]
pub struct Completion {
    /// Stream entry the job came from.
    pub entry_id: String,
    /// The record script already acknowledged the entry.
    pub acked: bool,
    /// Recording failed; the entry must stay pending (it is redelivered on the next
    /// acquisition of the partition).
    pub failed: bool,
}
