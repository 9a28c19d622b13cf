//! The partition's read-ahead window, counted in jobs rather than stream entries.
//!
//! The reader takes one permit per entry it reads. An entry fanned out to `k` endpoints
//! takes `k - 1` more when it is dispatched, and each job gives one back when it ends. Counted
//! in entries, a backlog of fan-out messages put ten times the window's jobs into the
//! endpoint queues, which then spilled most of them through the retry set (measured: 141k
//! spilled jobs in a 15 s sustained run with 10 endpoints per message).
//!
//! The extra permits cannot be waited for (the partition's loop is what hands permits back),
//! so what the window lacks is taken on credit: later releases pay it off before the reader
//! may read again, and the partition dispatches nothing more until then. The reader sizes its
//! reads by the recent fan-out, so credit is only taken when that estimate was short (the
//! first read, or a change of fan-out), and by at most one entry's jobs.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Permits of jobs in flight, shared with the reader, and what was taken on credit.
#[derive(Debug)]
pub struct Window {
    permits: Arc<Semaphore>,
    owed: usize,
}

impl Window {
    /// A window of `size` jobs.
    pub fn new(size: usize) -> Self {
        Window {
            permits: Arc::new(Semaphore::new(size)),
            owed: 0,
        }
    }

    /// The permits, for the reader (one per entry read).
    pub fn permits(&self) -> Arc<Semaphore> {
        self.permits.clone()
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    /// Takes `n` permits at once when free; false (nothing taken) otherwise.
    pub fn try_take(&self, n: usize) -> bool {
        let Ok(n) = u32::try_from(n) else {
            return false;
        };
        match self.permits.try_acquire_many(n) {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Takes `n` more permits now: what is free, and the rest on credit.
    pub fn take_on_credit(&mut self, n: usize) {
        let free = self.available().min(n);
        let taken = if self.try_take(free) { free } else { 0 };
        self.owed += n - taken;
    }

    /// Gives `n` permits back, paying off the credit first.
    pub fn give_back(&mut self, n: usize) {
        let paid = self.owed.min(n);
        self.owed -= paid;
        if n > paid {
            self.permits.add_permits(n - paid);
        }
    }

    /// Permits taken on credit and not yet paid off: while any are, nothing more is
    /// dispatched.
    pub fn owed(&self) -> usize {
        self.owed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fan_out_beyond_the_window_is_paid_off_before_the_reader_gets_permits_again() {
        let mut window = Window::new(10);
        assert!(window.try_take(4), "the reader's entries");
        window.take_on_credit(9);
        assert_eq!(window.available(), 0);
        assert_eq!(window.owed(), 3);
        window.give_back(2);
        assert_eq!((window.available(), window.owed()), (0, 1));
        window.give_back(3);
        assert_eq!((window.available(), window.owed()), (2, 0));
        window.give_back(8);
        assert_eq!(
            window.available(),
            10,
            "all 13 given back: the whole window is free"
        );
    }

    #[test]
    fn a_take_larger_than_what_is_free_takes_nothing() {
        let window = Window::new(3);
        assert!(!window.try_take(4));
        assert_eq!(window.available(), 3);
        assert!(window.try_take(3));
        assert_eq!(window.available(), 0);
    }
}
