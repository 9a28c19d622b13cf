//! The coordinator's lease decisions, as a pure function of what it holds, what the
//! assignment wants and the time: no Redis, no tasks, so every case is a unit test.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A partition this node holds, as the coordinator last saw it.
#[derive(Debug, Clone)]
pub struct Held {
    pub partition: u16,
    /// Last successful lease renewal.
    pub renewed: Instant,
    /// The renewal of this heartbeat found the lease taken by someone else.
    pub lost: bool,
    /// When a hand-over started (the partition is draining).
    pub draining_since: Option<Instant>,
    /// The partition task has ended (drained, or stopped by itself).
    pub finished: bool,
}

/// The timing the plan depends on.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Lease lifetime without renewal.
    pub lease_ttl: Duration,
    /// Renewal period.
    pub heartbeat: Duration,
    /// Longest hand-over drain before the partition is cut off.
    pub drain_limit: Duration,
}

/// What to do with one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeaseAction {
    /// The lease is lost, or not renewed in time to be sure it is still ours: stop the
    /// partition at once and forget it, without releasing (it may be another node's now).
    Fence(u16),
    /// The assignment moved it away: stop reading, let started work finish.
    Drain(u16),
    /// A drain ran past its limit: stop at once; release once stopped.
    CutDrain(u16),
    /// It has stopped: give the lease back so the next owner starts at once.
    Release(u16),
    /// The assignment wants it and we do not hold it: try to take its lease.
    Acquire(u16),
}

/// The actions of one heartbeat, in order.
pub fn plan(
    held: &[Held],
    wanted: &BTreeSet<u16>,
    now: Instant,
    timing: Timing,
) -> Vec<LeaseAction> {
    // Without a renewal for this long, the lease may expire elsewhere before our next one.
    let margin = timing.lease_ttl.saturating_sub(timing.heartbeat);
    let mut actions = Vec::new();
    for h in held {
        let p = h.partition;
        if h.lost || now.saturating_duration_since(h.renewed) >= margin {
            actions.push(LeaseAction::Fence(p));
            continue;
        }
        if h.finished {
            actions.push(LeaseAction::Release(p));
            continue;
        }
        match h.draining_since {
            None if !wanted.contains(&p) => actions.push(LeaseAction::Drain(p)),
            Some(since) if now.saturating_duration_since(since) > timing.drain_limit => {
                actions.push(LeaseAction::CutDrain(p))
            }
            _ => {}
        }
    }
    let held: BTreeSet<u16> = held.iter().map(|h| h.partition).collect();
    actions.extend(
        wanted
            .iter()
            .filter(|p| !held.contains(p))
            .map(|p| LeaseAction::Acquire(*p)),
    );
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMING: Timing = Timing {
        lease_ttl: Duration::from_secs(10),
        heartbeat: Duration::from_secs(2),
        drain_limit: Duration::from_secs(30),
    };

    fn held(partition: u16, renewed: Instant) -> Held {
        Held {
            partition,
            renewed,
            lost: false,
            draining_since: None,
            finished: false,
        }
    }

    fn wanted(ps: &[u16]) -> BTreeSet<u16> {
        ps.iter().copied().collect()
    }

    #[test]
    fn a_fresh_node_acquires_what_it_is_assigned() {
        let now = Instant::now();
        assert_eq!(
            plan(&[], &wanted(&[1, 3]), now, TIMING),
            vec![LeaseAction::Acquire(1), LeaseAction::Acquire(3)]
        );
    }

    #[test]
    fn kept_partitions_need_nothing() {
        let now = Instant::now();
        assert!(plan(&[held(1, now)], &wanted(&[1]), now, TIMING).is_empty());
    }

    #[test]
    fn lost_or_stale_leases_are_fenced_before_they_can_expire_elsewhere() {
        let now = Instant::now();
        let mut lost = held(1, now);
        lost.lost = true;
        let stale = held(2, now - Duration::from_secs(8));
        let fresh = held(3, now - Duration::from_millis(7_999));
        assert_eq!(
            plan(&[lost, stale, fresh], &wanted(&[1, 2, 3]), now, TIMING),
            vec![LeaseAction::Fence(1), LeaseAction::Fence(2)]
        );
    }

    #[test]
    fn unwanted_partitions_drain_then_release_or_are_cut_off() {
        let now = Instant::now();
        assert_eq!(
            plan(&[held(4, now)], &wanted(&[]), now, TIMING),
            vec![LeaseAction::Drain(4)]
        );
        let mut draining = held(4, now);
        draining.draining_since = Some(now - Duration::from_secs(5));
        assert!(plan(&[draining.clone()], &wanted(&[]), now, TIMING).is_empty());
        draining.draining_since = Some(now - Duration::from_secs(31));
        assert_eq!(
            plan(&[draining.clone()], &wanted(&[]), now, TIMING),
            vec![LeaseAction::CutDrain(4)]
        );
        draining.finished = true;
        assert_eq!(
            plan(&[draining], &wanted(&[]), now, TIMING),
            vec![LeaseAction::Release(4)]
        );
    }

    #[test]
    fn a_held_partition_is_never_acquired_again() {
        let now = Instant::now();
        let mut lost = held(1, now);
        lost.lost = true;
        let actions = plan(&[lost], &wanted(&[1]), now, TIMING);
        assert_eq!(actions, vec![LeaseAction::Fence(1)]);
    }
}
