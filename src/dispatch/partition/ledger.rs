//! Which stream entries a partition has handed out and when each may be acknowledged: an
//! entry is acknowledged once every job it fanned out to has ended (recorded, or durably
//! rescheduled), and left pending when one of them could not be recorded.

use std::collections::HashMap;

use crate::dispatch::messages::{Completion, JobEnd};

/// Jobs still running for one entry, and how the ended ones ended.
#[derive(Debug)]
struct Outstanding {
    remaining: usize,
    acknowledged: bool,
    unrecorded: bool,
}

/// The partition's acknowledgement bookkeeping.
#[derive(Debug, Default)]
pub struct Ledger {
    outstanding: HashMap<String, Outstanding>,
    /// Entries ready to be acknowledged (and deleted) in the next flush.
    to_ack: Vec<String>,
}

impl Ledger {
    /// An entry was fanned out to `jobs` (at least one) jobs.
    pub fn track(&mut self, entry: String, jobs: usize) {
        self.outstanding.insert(
            entry,
            Outstanding {
                remaining: jobs,
                acknowledged: false,
                unrecorded: false,
            },
        );
    }

    /// An entry with nothing to do (broken, application or message gone, no endpoint).
    pub fn nothing_to_do(&mut self, entry: String) {
        self.to_ack.push(entry);
    }

    /// A job ended; true when that was its entry's last job (the entry leaves the window).
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
        self.outstanding.remove(&done.entry);
        // A job that could not be recorded keeps the entry pending, to be delivered again.
        if !finished {
            self.to_ack.push(done.entry);
        }
        true
    }

    /// The entries to acknowledge now.
    pub fn take_acks(&mut self) -> Vec<String> {
        std::mem::take(&mut self.to_ack)
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
        }
    }

    #[test]
    fn a_fanned_out_entry_is_acknowledged_after_its_last_job() {
        let mut ledger = Ledger::default();
        ledger.track("1-0".into(), 3);
        assert!(!ledger.complete(done("1-0", JobEnd::Recorded)));
        assert!(!ledger.complete(done("1-0", JobEnd::Recorded)));
        assert!(ledger.take_acks().is_empty());
        assert!(ledger.complete(done("1-0", JobEnd::Recorded)));
        assert_eq!(ledger.take_acks(), vec!["1-0".to_string()]);
        assert_eq!(ledger.outstanding(), 0);
    }

    #[test]
    fn an_entry_acknowledged_by_its_script_is_not_acknowledged_again() {
        let mut ledger = Ledger::default();
        ledger.track("2-0".into(), 1);
        assert!(ledger.complete(done("2-0", JobEnd::Acknowledged)));
        assert!(ledger.take_acks().is_empty());
    }

    #[test]
    fn an_unrecorded_job_keeps_its_entry_pending() {
        let mut ledger = Ledger::default();
        ledger.track("3-0".into(), 2);
        ledger.complete(done("3-0", JobEnd::Unrecorded));
        assert!(ledger.complete(done("3-0", JobEnd::Recorded)));
        assert!(ledger.take_acks().is_empty());
    }

    #[test]
    fn entries_with_nothing_to_do_are_acknowledged_and_strays_ignored() {
        let mut ledger = Ledger::default();
        ledger.nothing_to_do("4-0".into());
        assert!(!ledger.complete(done("9-9", JobEnd::Recorded)));
        assert_eq!(ledger.take_acks(), vec!["4-0".to_string()]);
    }
}
