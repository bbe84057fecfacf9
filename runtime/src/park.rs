//! Parking an idle M (Go's `notesleep` / `notewakeup` in `stopm`/`startm`).
//!
//! An M with nothing to do must sleep without losing a wake-up that races
//! with its decision to sleep. The [`Parker`] is a one-token protocol, the
//! same as `std::thread::park` and Go's `note`: `unpark` leaves a token if
//! the M is not asleep yet, and `park` consumes a token instead of sleeping.
//!
//! ```text
//!   state: EMPTY --park--> PARKED --unpark--> NOTIFIED --(wakes)--> EMPTY
//!          EMPTY --unpark--> NOTIFIED --park (returns at once)--> EMPTY
//! ```
//!
//! The sleeping itself is a parking_lot condition variable, with a deadline
//! when the M is the one waiting for the next timer. This is the single
//! place an M blocks, on purpose: the netpoller slots in here, as in Go,
//! where the last idle M sleeps in `netpoll(delay)` and is woken by writing
//! to an eventfd instead of by a condvar signal. [`Parker::park_polling`]
//! is that sleep: the state says POLLING, and `unpark` then wakes the M
//! through the poller (`netpollBreak`) instead of the condvar.
//!
//! ```text
//!          EMPTY --park_polling--> POLLING --unpark (eventfd)--> NOTIFIED
//!                                  POLLING --events or deadline--> EMPTY
//! ```

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{Condvar, Mutex, wait_until};
use crate::net::poller::{Polled, Poller};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;
const POLLING: usize = 3;

/// A sleeping place for one M.
#[derive(Debug)]
pub(crate) struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
    /// The poller this M sleeps in while POLLING (set on its first polling
    /// park; an M belongs to one runtime, so to one poller). A `OnceLock`
    /// outside the loom facade: it is written once, before the state can
    /// say POLLING, and only read after seeing POLLING.
    poller: OnceLock<Arc<Poller>>,
}

impl Parker {
    pub(crate) fn new() -> Self {
        Parker {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            cvar: Condvar::new(),
            poller: OnceLock::new(),
        }
    }

    // ANCHOR: park_polling
    /// Like `park`, but sleeps in `epoll_wait` on `poller` (Go's
    /// `netpoll(delay)` in `findRunnable`), until `deadline`, a socket
    /// event, or `unpark`, which writes the poller's eventfd. Returns what
    /// the poll found. The caller holds the poller's blocking role.
    pub(crate) fn park_polling(&self, deadline: Option<Instant>, poller: &Arc<Poller>) -> Polled {
        let _ = self.poller.set(poller.clone());
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return Polled::default();
        }
        if self
            .state
            .compare_exchange(EMPTY, POLLING, SeqCst, SeqCst)
            .is_err()
        {
            // NOTIFIED in between.
            self.state.store(EMPTY, SeqCst);
            return Polled::default();
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let polled = poller.netpoll(timeout, true);
        // POLLING, or NOTIFIED by an unpark (whose eventfd write the next
        // blocking poll drains): either way the M is awake now.
        self.state.swap(EMPTY, SeqCst);
        polled
    }
    // ANCHOR_END: park_polling

    /// Blocks until `unpark` (possibly one that came before this call), or
    /// until `deadline`. May return spuriously: callers re-check their
    /// condition.
    pub(crate) fn park(&self, deadline: Option<Instant>) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = self.lock.lock();
        match self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(NOTIFIED) => {
                self.state.store(EMPTY, SeqCst);
                return;
            }
            Err(s) => unreachable!("parker in state {s} while its M parks"),
        }
        loop {
            match deadline {
                None => self.cvar.wait(&mut guard),
                Some(d) => wait_until(&self.cvar, &mut guard, d),
            }
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // Timed out. An unpark may land between the check above and
                // this swap; consuming its token here is fine, since we
                // return and the caller re-checks everything anyway.
                self.state.swap(EMPTY, SeqCst);
                return;
            }
            // Spurious wake-up: sleep again.
        }
    }

    /// Wakes the M if it sleeps, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            POLLING => {
                if let Some(p) = self.poller.get() {
                    p.wake();
                }
            }
            PARKED => {
                // Taking the lock orders us after the parker's switch to
                // PARKED and before its wait, so the signal cannot be lost.
                drop(self.lock.lock());
                self.cvar.notify_one();
            }
            s => unreachable!("parker in state {s}"),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::Parker;
    use crate::loom::Arc;
    use crate::loom::atomic::{AtomicBool, Ordering::SeqCst};

    /// An M parks until work is published; the publisher sets the flag, then
    /// unparks. In every interleaving the M wakes and sees the work: no lost
    /// wake-up, whether the unpark comes before, during or after the park.
    #[test]
    fn loom_park_unpark_no_lost_wakeup() {
        loom::model(|| {
            let parker = Arc::new(Parker::new());
            let work = Arc::new(AtomicBool::new(false));
            let (p2, w2) = (parker.clone(), work.clone());
            let t = loom::thread::spawn(move || {
                w2.store(true, SeqCst);
                p2.unpark();
            });
            while !work.load(SeqCst) {
                parker.park(None);
            }
            t.join().unwrap();
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Parker;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_token_left_before_park_makes_park_return() {
        let p = Parker::new();
        p.unpark();
        p.park(None); // would hang if the token were lost
    }

    #[test]
    fn park_with_a_deadline_returns_after_it() {
        let p = Parker::new();
        let start = Instant::now();
        p.park(Some(start + Duration::from_millis(5)));
        assert!(
            start.elapsed() >= Duration::from_millis(5),
            "returned before the deadline"
        );
    }

    #[test]
    fn unpark_from_another_thread_wakes_a_parked_m() {
        let p = Arc::new(Parker::new());
        let p2 = p.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            tx.send(()).unwrap();
            p2.park(None);
        });
        rx.recv().unwrap();
        p.unpark();
        t.join().unwrap();
    }
}
