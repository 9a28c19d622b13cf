//! The lease a partition runs under, as its task and endpoint actors see it: the fencing
//! token every bookkeeping script checks in Redis, and a local deadline after which the lease
//! may have passed to another node (no renewal for `lease_ttl - heartbeat`). Past it, actors
//! start no new request: a node frozen past its lease (SIGSTOP, a long GC-like pause, a
//! partition from Redis) and resumed delivers at most what it already had in flight, and its
//! writes are refused by the scripts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::queue::lease::Lease;

/// A held lease, renewed by the coordinator.
#[derive(Debug)]
pub struct Fence {
    lease: Lease,
    /// The instant the deadline is counted from.
    origin: Instant,
    /// The deadline, as nanoseconds after `origin`.
    valid_until: AtomicU64,
    /// How long a renewal keeps the lease safely ours.
    margin: Duration,
    /// Wakes those waiting for the lease to be surely ours again ([`Fence::until_valid`]).
    renewals: Notify,
}

impl Fence {
    /// A lease just acquired at `now`, safely ours for `margin` after each renewal.
    pub fn new(lease: Lease, now: Instant, margin: Duration) -> Self {
        Fence {
            lease,
            origin: now,
            valid_until: AtomicU64::new(margin.as_nanos() as u64),
            margin,
            renewals: Notify::new(),
        }
    }

    /// The token fenced scripts compare with the stored lease.
    pub fn token(&self) -> &str {
        self.lease.token()
    }

    /// The lease.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// The lease was renewed at `at`.
    pub fn renewed(&self, at: Instant) {
        let until = at.saturating_duration_since(self.origin) + self.margin;
        self.valid_until
            .fetch_max(until.as_nanos() as u64, Ordering::Relaxed);
        self.renewals.notify_waiters();
    }

    /// Resolves once the lease is surely ours (at once when it is); never, if it was lost.
    pub async fn until_valid(&self) {
        loop {
            // Created before the check, so a renewal in between is not missed.
            let renewed = self.renewals.notified();
            if self.is_valid(Instant::now()) {
                return;
            }
            renewed.await;
        }
    }

    /// Whether the lease is still surely ours at `now`.
    pub fn is_valid(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.origin).as_nanos() as u64;
        elapsed < self.valid_until.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_for_the_margin_after_each_renewal() {
        let t0 = Instant::now();
        let lease = crate::queue::lease::Lease::from_token("node:3");
        let fence = Fence::new(lease, t0, Duration::from_secs(8));
        assert!(fence.is_valid(t0 + Duration::from_secs(7)));
        assert!(!fence.is_valid(t0 + Duration::from_secs(8)));
        fence.renewed(t0 + Duration::from_secs(5));
        assert!(fence.is_valid(t0 + Duration::from_secs(12)));
        assert!(!fence.is_valid(t0 + Duration::from_secs(13)));
        // A late renewal report never moves the deadline back.
        fence.renewed(t0);
        assert!(fence.is_valid(t0 + Duration::from_secs(12)));
    }

    #[tokio::test]
    async fn a_wait_for_the_lease_ends_with_the_next_renewal() {
        let long_ago = Instant::now() - Duration::from_secs(10);
        let lease = crate::queue::lease::Lease::from_token("node:1");
        let fence = std::sync::Arc::new(Fence::new(lease, long_ago, Duration::from_secs(1)));
        let waiting = tokio::spawn({
            let fence = fence.clone();
            async move { fence.until_valid().await }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "waits while the lease is not surely ours"
        );
        fence.renewed(Instant::now());
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("resumed by the renewal")
            .expect("join");
    }
}
