//! What a worker node is doing right now, counted as it happens: jobs handed to endpoint
//! actors and not yet ended, requests in flight, live actors. Exposed per node (not through
//! the process-wide metrics registry), so an operator tool or a test can tell a node that is
//! done from one that is still working.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Live counters of one worker node.
#[derive(Debug, Default)]
pub struct Activity {
    jobs: AtomicI64,
    requests: AtomicI64,
    writes: AtomicI64,
    actors: AtomicI64,
}

/// The counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActivitySnapshot {
    /// Jobs handed to endpoint actors whose end (recorded, rescheduled or abandoned) has not
    /// been reported yet.
    pub jobs: i64,
    /// Delivery requests in flight.
    pub requests: i64,
    /// Writes that follow a job's end still running (an endpoint's circuit or rate
    /// publication).
    pub writes: i64,
    /// Endpoint actors alive.
    pub actors: i64,
}

impl ActivitySnapshot {
    /// No job open, no request in flight, no write pending.
    pub fn is_quiet(&self) -> bool {
        self.jobs == 0 && self.requests == 0 && self.writes == 0
    }
}

/// Counts one open job or request for as long as it lives: whatever ends it (recorded,
/// rescheduled, or dropped when a partition aborts), dropping it counts it out.
#[derive(Debug)]
pub struct Ticket {
    activity: Arc<Activity>,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Job,
    Request,
    Write,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.activity
            .counter(self.kind)
            .fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    fn counter(&self, kind: Kind) -> &AtomicI64 {
        match kind {
            Kind::Job => &self.jobs,
            Kind::Request => &self.requests,
            Kind::Write => &self.writes,
        }
    }

    fn open(self: &Arc<Self>, kind: Kind) -> Ticket {
        self.counter(kind).fetch_add(1, Ordering::Relaxed);
        Ticket {
            activity: self.clone(),
            kind,
        }
    }

    /// A job handed to an endpoint actor.
    pub fn job(self: &Arc<Self>) -> Ticket {
        self.open(Kind::Job)
    }

    /// A delivery request starting.
    pub fn request(self: &Arc<Self>) -> Ticket {
        self.open(Kind::Request)
    }

    /// A write following a job's end (health publication).
    pub fn write(self: &Arc<Self>) -> Ticket {
        self.open(Kind::Write)
    }

    pub fn actor_started(&self) {
        self.actors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn actor_stopped(&self) {
        self.actors.fetch_sub(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> ActivitySnapshot {
        ActivitySnapshot {
            jobs: self.jobs.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            actors: self.actors.load(Ordering::Relaxed),
        }
    }
}
