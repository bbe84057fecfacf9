//! The sudog: one G parked on a channel or a lock.
//!
//! Go's `sudog` ("pseudo-G") is the record a goroutine leaves in a wait
//! queue when it blocks: which G, where its value is (`elem`), whether the
//! wait ended in success (`success`), and when it started (`releasetime`,
//! for the block profile). A G blocked on a channel sits in the channel's
//! `sendq` or `recvq` as a sudog; a G blocked on a mutex sits in the
//! semaphore queue as one.
//!
//! Here a sudog is shared by the waiting future and the queue it sits on
//! (an `Arc`). Its fields follow one rule, the same as Go's:
//!
//! * while `status` is [`WAITING`], `elem` and `waker` belong to whoever
//!   holds the lock of the queue the sudog is on (the channel's lock, the
//!   mutex's semaphore lock);
//! * the side that takes the sudog off the queue (a sender handing a value
//!   to a waiting receiver, an unlock handing over the mutex) fills in
//!   `elem`, takes the waker, and *then* stores the final status with
//!   `Release`;
//! * the waiting side, once it loads a final status with `Acquire`, owns the
//!   sudog again: nobody else touches `elem` after that.
//!
//! So the woken G learns the outcome of its wait without taking the
//! channel's lock again, as Go's `chanrecv` reads `mysg.success` after
//! `gopark` returns.

use std::task::Waker;
use std::time::Instant;

use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicU8, Ordering};

/// Still in the queue.
pub(crate) const WAITING: u8 = 0;
/// The wait succeeded: a value was handed over (or taken), or the lock was
/// granted to this waiter (Go's `success = true`).
pub(crate) const DONE: u8 = 1;
/// The channel closed under the waiter (Go's `success = false`).
pub(crate) const CLOSED: u8 = 2;
/// A mutex waiter that an unlock woke to compete for the lock again (Go's
/// `mutexWoken`), in normal mode.
pub(crate) const WOKEN: u8 = 3;

/// One parked G (Go's `sudog`).
pub(crate) struct Sudog<T> {
    status: AtomicU8,
    /// The value being sent (a sender's sudog) or the slot a sender fills
    /// for a receiver (a receiver's sudog). Go's `sg.elem`.
    elem: UnsafeCell<Option<T>>,
    /// How to ready the G (Go's `sg.g` plus `goready`).
    waker: UnsafeCell<Option<Waker>>,
    /// When the G started waiting (Go's `sg.releasetime`/`acquiretime`).
    pub(crate) since: Instant,
}

// SAFETY: `elem` and `waker` are only touched under the rule in the module
// comment (the queue's lock while WAITING, then the waiting side alone after
// an Acquire load of the final status), so sharing a Sudog between threads
// never gives two threads the cells at once; T and Waker move between
// threads, hence T: Send.
unsafe impl<T: Send> Send for Sudog<T> {}
// SAFETY: a `&Sudog` reaches `elem` and `waker` only under the same rule
// (the queue's lock while WAITING, then the waiting side alone), so two
// threads sharing it never touch the cells at once; the values it hands
// over move between threads, hence T: Send (not Sync: no `&T` is shared).
unsafe impl<T: Send> Sync for Sudog<T> {}

impl<T> Sudog<T> {
    pub(crate) fn new(elem: Option<T>, waker: &Waker, since: Instant) -> Self {
        Sudog {
            status: AtomicU8::new(WAITING),
            elem: UnsafeCell::new(elem),
            waker: UnsafeCell::new(Some(waker.clone())),
            since,
        }
    }

    /// The status, with `Acquire`: a final status means the sudog is ours.
    pub(crate) fn status(&self) -> u8 {
        self.status.load(Ordering::Acquire)
    }

    /// Takes `elem`.
    ///
    /// # Safety
    /// The caller holds the queue's lock while the status is WAITING, or is
    /// the waiting side after loading a final status.
    pub(crate) unsafe fn take_elem(&self) -> Option<T> {
        // SAFETY: exclusive access, by the caller's contract.
        self.elem.with_mut(|p| unsafe { (*p).take() })
    }

    /// Replaces the waker if the G's waker changed (a re-poll).
    ///
    /// # Safety
    /// The caller holds the queue's lock and the status is WAITING or WOKEN
    /// is not yet stored (same contract as `take_elem`).
    pub(crate) unsafe fn set_waker(&self, waker: &Waker) {
        // SAFETY: exclusive access, by the caller's contract.
        self.waker.with_mut(|p| unsafe {
            match &mut *p {
                Some(w) if w.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        })
    }

    /// Ends the wait: stores `elem` (if any), sets the final `status` with
    /// `Release`, and returns the waker to call once the lock is dropped
    /// (Go's `goready` after `unlock(&c.lock)`).
    ///
    /// # Safety
    /// The caller holds the queue's lock, has just taken this sudog off the
    /// queue, and its status is WAITING.
    pub(crate) unsafe fn complete(&self, elem: Option<T>, status: u8) -> Option<Waker> {
        // SAFETY: exclusive access, by the caller's contract.
        let waker = self.waker.with_mut(|p| unsafe { (*p).take() });
        if let Some(v) = elem {
            // SAFETY: the caller holds the queue's lock and took this WAITING
            // sudog off the queue: nobody else touches `elem` until the
            // Release store below hands it to the waiting side.
            self.elem.with_mut(|p| unsafe { *p = Some(v) });
        }
        self.status.store(status, Ordering::Release);
        waker
    }
}

/// Wakes every waker in `wakers` (after the lock that produced them is gone).
pub(crate) fn wake_all(wakers: impl IntoIterator<Item = Option<Waker>>) {
    for w in wakers.into_iter().flatten() {
        w.wake();
    }
}
