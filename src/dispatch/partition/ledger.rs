//! Which stream entries a partition has handed out and when each may be acknowledged: an
//! entry is acknowledged once every job it fanned out to has ended (recorded, or durably
//! rescheduled), and left pending when one of them could not be recorded.

use std::collections::HashMap;

use crate::dispatch::messages::{Completion, JobEnd};

/// Jobs still running for one entry, and how the ended ones ended.
#[derive(Debug)]
struct Outstanding {
    remaining: usize,
    /// The entry went to several endpoints: its jobs mark a done set, deleted with the ack.
    fanned: bool,
    acknowledged: bool,
    unrecorded: bool,
}

/// An entry to acknowledge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub entry: String,
    /// It has a done set to delete with it.
    pub fanned: bool,
}

/// The partition's acknowledgement bookkeeping.
#[derive(Debug, Default)]
pub struct Ledger {
    outstanding: HashMap<String, Outstanding>,
    /// Entries ready to be acknowledged (and deleted) in the next flush.
    to_ack: Vec<Ack>,
}

impl Ledger {
    /// An entry was handed out to `jobs` (at least one) jobs; `fanned`: it went, or may have
    /// gone before a redelivery, to several endpoints.
    pub fn track(&mut self, entry: String, jobs: usize, fanned: bool) {
        self.outstanding.insert(
            entry,
            Outstanding {
                remaining: jobs,
                fanned,
                acknowledged: false,
                unrecorded: false,
            },
        );
    }

    /// Whether the entry's jobs are still running here.
    pub fn holds(&self, entry: &str) -> bool {
        self.outstanding.contains_key(entry)
    }

    /// An entry with nothing (more) to do: broken, application or message gone, no endpoint,
    /// every endpoint already done. `fanned`: it may have a done set.
    pub fn nothing_to_do(&mut self, entry: String, fanned: bool) {
        self.to_ack.push(Ack { entry, fanned });
    }

    /// A job ended; true when that was its entry's last job.
    pub fn complete(&mut self, done: Completion) -> bool {
        let Some(entry) = self.outstanding.get_mut(&done.entry) else {
            return false;
        };
        entry.remaining = entry.remaining.saturating_sub(1);
        match done.end {
            JobEnd::Acknowledged => entry.acknowledged = true,
            JobEnd::Unrecorded => entry.unrecorded = true,
            JobEnd::Recorded => {}
        }
        if entry.remaining > 0 {
            return false;
        }
        let finished = entry.acknowledged || entry.unrecorded;
        let fanned = entry.fanned;
        self.outstanding.remove(&done.entry);
        // A job that could not be recorded keeps the entry pending, to be delivered again.
        if !finished {
            self.to_ack.push(Ack {
                entry: done.entry,
                fanned,
            });
        }
        true
    }

    /// The entries to acknowledge now.
    pub fn take_acks(&mut self) -> Vec<Ack> {
        std::mem::take(&mut self.to_ack)
    }

    /// Acknowledgements that could not be written: they go again with the next flush.
    pub fn retry_acks(&mut self, acks: Vec<Ack>) {
        self.to_ack.extend(acks);
    }

    /// Entries with jobs still running.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(entry: &str, end: JobEnd) -> Completion {
        Completion {
            entry: entry.into(),
            end,
            lane: None,
        }
    }

    fn ack(entry: &str, fanned: bool) -> Ack {
        Ack {
            entry: entry.into(),
            fanned,
        }
    }

    #[test]
    fn a_fanned_out_entry_is_acknowledged_after_its_last_job() {
        let mut ledger = Ledger::default();
        ledger.track("1-0".into(), 3, true);
        assert!(ledger.holds("1-0"));
        assert!(!ledger.complete(done("1-0", JobEnd::Recorded)));
        assert!(!ledger.complete(done("1-0", JobEnd::Recorded)));
        assert!(ledger.take_acks().is_empty());
        assert!(ledger.complete(done("1-0", JobEnd::Recorded)));
        assert_eq!(ledger.take_acks(), vec![ack("1-0", true)]);
        assert_eq!(ledger.outstanding(), 0);
        assert!(!ledger.holds("1-0"));
    }

    #[test]
    fn an_entry_acknowledged_by_its_script_is_not_acknowledged_again() {
        let mut ledger = Ledger::default();
        ledger.track("2-0".into(), 1, false);
        assert!(ledger.complete(done("2-0", JobEnd::Acknowledged)));
        assert!(ledger.take_acks().is_empty());
    }

    #[test]
    fn an_unrecorded_job_keeps_its_entry_pending() {
        let mut ledger = Ledger::default();
        ledger.track("3-0".into(), 2, true);
        ledger.complete(done("3-0", JobEnd::Unrecorded));
        assert!(ledger.complete(done("3-0", JobEnd::Recorded)));
        assert!(ledger.take_acks().is_empty());
    }

    #[test]
    fn entries_with_nothing_to_do_are_acknowledged_and_strays_ignored() {
        let mut ledger = Ledger::default();
        ledger.nothing_to_do("4-0".into(), false);
        assert!(!ledger.complete(done("9-9", JobEnd::Recorded)));
        assert_eq!(ledger.take_acks(), vec![ack("4-0", false)]);
    }

    #[test]
    fn failed_acknowledgements_go_again() {
        let mut ledger = Ledger::default();
        ledger.nothing_to_do("5-0".into(), false);
        let acks = ledger.take_acks();
        ledger.retry_acks(acks);
        assert_eq!(ledger.take_acks(), vec![ack("5-0", false)]);
    }
}
