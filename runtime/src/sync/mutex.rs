//! `Mutex<T>`: Go's `sync.Mutex`, with its normal and starvation modes, for
//! Gs that park instead of blocking their thread.
//!
//! # Go's two modes (from the comment at the top of `sync/mutex.go`)
//!
//! **Normal mode.** Waiters queue in FIFO order, but a woken waiter does not
//! own the lock: it competes with Gs that are arriving right now, and those
//! have an edge (they are already running on a CPU). Letting them *barge* in
//! is what makes the uncontended-ish case fast. A woken waiter that loses
//! goes back to the *front* of the queue.
//!
//! **Starvation mode.** A waiter that fails to get the lock for more than
//! 1 ms switches the mutex to starvation mode. Then an unlock hands the lock
//! *directly* to the waiter at the front; newcomers do not even try, they
//! queue at the tail. The mutex goes back to normal mode when the waiter
//! that receives it is the last one, or waited less than 1 ms. Normal mode
//! is much faster; starvation mode bounds how long a waiter can be passed
//! over.
//!
//! # The state word
//!
//! As in Go, one atomic word says almost everything; Go's semaphore
//! (`sema`, a queue of sudogs keyed by the mutex's address) is here a FIFO
//! of sudogs behind a small internal lock, the *sema lock*:
//!
//! | bit | Go | meaning |
//! |---|---|---|
//! | `LOCKED` | `mutexLocked` | someone holds the lock |
//! | `WOKEN` | `mutexWoken` | an unlock woke a waiter that has not competed yet: unlocks wake nobody else |
//! | `STARVING` | `mutexStarving` | starvation mode (implies `LOCKED`: ownership passes from hand to hand) |
//! | `WAITERS` | `state >> mutexWaiterShift != 0` | the queue is not empty |
//!
//! The fast path of `lock` is one compare-and-swap from `0` to `LOCKED`, of
//! `unlock` one from `LOCKED` to `0`. A G that must wait sets `WAITERS`
//! *while holding the sema lock and only if the lock is still held*, in one
//! CAS, then queues its sudog before releasing the sema lock. An unlock that
//! clears `LOCKED` and sees `WAITERS` takes the sema lock to wake someone,
//! so it waits for the queueing G to finish: no wake-up is ever lost.
//!
//! # Where this differs from Go
//!
//! * No spinning: Go's `lockSlow` spins briefly on multicore machines before
//!   queueing; a G here queues at once.
//! * `lock()` is a preemption point: it spends one unit of the G's poll
//!   budget, so a G taking an uncontended lock in a loop still gives its P
//!   up now and then (Go would preempt it asynchronously).
//! * The waiter count is the queue's length, not bits of the word.
//! * Whether a hand-off leaves starvation mode is decided by the unlocker,
//!   from the receiving waiter's wait so far (Go's receiver decides it from
//!   the same figure a moment later).
//! * Waits can be cancelled (a `lock()` future dropped under a timeout):
//!   a queued waiter leaves the queue, a woken one passes the wake-up on, and
//!   one the lock was handed to unlocks it.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::profile::{WaitKind, count_mutex_event, record_contention, record_wait};
use super::sudog::{DONE, Sudog, WAITING, WOKEN, wake_all};
use crate::coop::{PreemptPoint, preempt_point};
use crate::gstatus::park_for;
use crate::loom::Mutex as SemaLock;
use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicU32, Ordering};

const LOCKED: u32 = 1;
const WOKEN_BIT: u32 = 2;
const STARVING: u32 = 4;
const WAITERS: u32 = 8;

/// Go's `starvationThresholdNs`: 1 ms.
pub const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);

/// The mutex's semaphore queue: the waiters, oldest first, and the moment
/// up to which their waits have already been charged to a holder.
#[derive(Default)]
struct Sema {
    waiters: VecDeque<Arc<Sudog<()>>>,
    /// Set at each charge (Go 1.22's `semrelease` accounting resets the
    /// remaining waiters' start the same way): a wait is charged once, to
    /// the holders it actually waited for, not again from its first
    /// queueing at every later unlock. Kept when the queue empties: a woken
    /// waiter that loses the race requeues with its first queueing time
    /// (for starvation mode), and its wait until now was charged already.
    charged_until: Option<Instant>,
}

impl Deref for Sema {
    type Target = VecDeque<Arc<Sudog<()>>>;
    fn deref(&self) -> &Self::Target {
        &self.waiters
    }
}

impl DerefMut for Sema {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.waiters
    }
}

/// A mutual-exclusion lock for Gs (Go's `sync.Mutex`, holding its data as
/// Rust's mutexes do). A G that must wait parks; its thread runs other Gs.
///
/// ```
/// use std::sync::Arc;
/// let rt = runtime::Runtime::builder().procs(4).build().unwrap();
/// let n = rt.block_on(async {
///     let m = Arc::new(runtime::sync::Mutex::new(0u64));
///     let hs: Vec<_> = (0..8)
///         .map(|_| {
///             let m = m.clone();
///             runtime::spawn(async move {
///                 for _ in 0..100 {
///                     *m.lock().await += 1;
///                 }
///             })
///         })
///         .collect();
///     for h in hs {
///         h.await.unwrap();
///     }
///     *m.lock().await
/// });
/// assert_eq!(n, 800);
/// ```
pub struct Mutex<T> {
    state: AtomicU32,
    /// Go's `sema`: the FIFO of parked waiters.
    sema: SemaLock<Sema>,
    /// Waits longer than this make a waiter starving (1 ms, Go's).
    threshold: Duration,
    /// Where the current holder took the lock, for the mutex profile
    /// (written and read only by the holder).
    held_at: UnsafeCell<&'static Location<'static>>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands `value` (and `held_at`) to one holder at a time;
// the value moves between threads with the lock, hence T: Send.
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: `&Mutex` reaches `value` and `held_at` only through a guard, and
// the lock grants one guard at a time, so no two threads share a `&mut T`;
// T moves to whichever thread holds the lock, hence T: Send.
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex in normal mode.
    pub fn new(value: T) -> Self {
        Self::with_threshold(value, STARVATION_THRESHOLD)
    }

    /// A mutex that turns starving after `threshold` instead of Go's 1 ms
    /// (the loom models use zero, so that every passed-over waiter starves).
    pub(crate) fn with_threshold(value: T, threshold: Duration) -> Self {
        Mutex {
            state: AtomicU32::new(0),
            sema: SemaLock::new(Sema {
                waiters: VecDeque::new(),
                charged_until: None,
            }),
            threshold,
            held_at: UnsafeCell::new(Location::caller()),
            value: UnsafeCell::new(value),
        }
    }

    /// Locks, parking the G until the lock is free (Go's `Lock`). The
    /// caller's location is what the block and mutex profiles record.
    #[track_caller]
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            waiter: None,
            awoke: false,
            since: None,
            coop: preempt_point(),
            at: Location::caller(),
        }
    }

    /// Takes the lock if that needs no waiting (Go's `TryLock`): never in
    /// starvation mode, where the lock belongs to the queue.
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & (LOCKED | STARVING) == 0 {
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(self.guard(Location::caller())),
                Err(now) => s = now,
            }
        }
        None
    }

    /// True while the mutex is in starvation mode (a snapshot).
    pub fn is_starving(&self) -> bool {
        self.state.load(Ordering::Relaxed) & STARVING != 0
    }

    /// Gs parked in the queue now.
    pub fn waiters(&self) -> usize {
        self.sema.lock().len()
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// The data, through `&mut` (no locking needed: nobody else can hold it).
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self`: no guard exists, nobody else can reach it.
        self.value.with_mut(|p| unsafe { &mut *p })
    }

    fn guard(&self, at: &'static Location<'static>) -> MutexGuard<'_, T> {
        // SAFETY: we hold the lock, and `held_at` is only touched by holders.
        self.held_at.with_mut(|p| unsafe { *p = at });
        MutexGuard {
            mutex: self,
            _not_sync: PhantomData,
        }
    }

    // ANCHOR: unlock
    /// Go's `Unlock`: the fast path, then `unlockSlow`.
    fn unlock(&self) {
        // Read before releasing: afterwards `held_at` is the next holder's.
        // SAFETY: we still hold the lock, and only holders touch `held_at`.
        let at = self.held_at.with(|p| unsafe { *p });
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return; // nobody waits
        }
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & STARVING != 0 {
                // Starvation mode: the lock goes straight to the front waiter;
                // LOCKED stays set, so no newcomer can take it in between.
                let mut q = self.sema.lock();
                if self.state.load(Ordering::Relaxed) & STARVING == 0 {
                    continue; // the starving waiters left (cancelled)
                }
                self.hand_off(&mut q, at);
                return;
            }
            // Normal mode: release, then wake one waiter to compete.
            if self
                .state
                .compare_exchange_weak(s, s & !LOCKED, Ordering::Release, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            if s & WAITERS != 0 && s & WOKEN_BIT == 0 {
                self.wake_one(Some(at));
            }
            return;
        }
    }
    // ANCHOR_END: unlock

    // ANCHOR: hand_off
    /// Starvation mode's hand-off (Go's `semrelease(handoff=true)`): the
    /// front waiter owns the lock from now on.
    fn hand_off(&self, q: &mut Sema, holder: &'static Location<'static>) {
        let sg = q.pop_front().expect("starvation mode implies waiters");
        let waited = sg.since.elapsed();
        // Leave starvation mode if this waiter is the last, or barely waited.
        let mut clear = 0;
        if q.is_empty() {
            clear |= WAITERS | STARVING;
        } else if waited <= self.threshold {
            clear |= STARVING;
        }
        self.update(0, clear);
        Self::charge_holder(holder, &sg, q);
        count_mutex_event(false);
        // SAFETY: we hold the sema lock and took `sg` off the queue.
        let w = unsafe { sg.complete(None, DONE) };
        wake_all([w]);
    }
    // ANCHOR_END: hand_off

    /// Normal mode: wake the front waiter to compete for the lock, unless
    /// the lock is taken again or someone is already woken (Go's
    /// `unlockSlow` loop), deciding under the sema lock.
    fn wake_one(&self, holder: Option<&'static Location<'static>>) {
        let mut q = self.sema.lock();
        let s = self.state.load(Ordering::Relaxed);
        if s & (LOCKED | WOKEN_BIT | STARVING) != 0 {
            return; // its holder, or the woken waiter, will see to the queue
        }
        let Some(sg) = q.pop_front() else { return };
        let clear = if q.is_empty() { WAITERS } else { 0 };
        self.update(WOKEN_BIT, clear);
        if let Some(at) = holder {
            Self::charge_holder(at, &sg, &mut q);
        }
        // SAFETY: we hold the sema lock and took `sg` off the queue.
        let w = unsafe { sg.complete(None, WOKEN) };
        drop(q);
        wake_all([w]);
    }

    /// Sets and clears bits of the state word in one atomic step (only
    /// called under the sema lock; the CAS loop tolerates the lock-free
    /// fast paths changing LOCKED meanwhile).
    fn update(&self, set: u32, clear: u32) {
        if set == 0 && clear == 0 {
            return;
        }
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let new = (s | set) & !clear;
            match self
                .state
                .compare_exchange_weak(s, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// The mutex profile: charge the holder's lock site with the delay of
    /// the woken waiter and, scaled, of those behind it (Go 1.22).
    fn charge_holder(at: &'static Location<'static>, woken: &Sudog<()>, q: &mut Sema) {
        let now = Instant::now();
        // Time before `charged_until` was charged at an earlier unlock.
        let from = |since: Instant| q.charged_until.map_or(since, |c| c.max(since));
        let head = now.saturating_duration_since(from(woken.since));
        let tail = q
            .back()
            .map_or(head, |t| now.saturating_duration_since(from(t.since)));
        record_contention(WaitKind::Mutex, at, head, tail, q.len());
        q.charged_until = Some(now);
    }
}

/// The future of [`Mutex::lock`].
#[must_use = "futures do nothing unless awaited"]
pub struct Lock<'a, T> {
    mutex: &'a Mutex<T>,
    /// Our sudog while queued or just woken.
    waiter: Option<Arc<Sudog<()>>>,
    /// An unlock woke us (Go's `awoke`): clear WOKEN when we next compete.
    awoke: bool,
    /// When we first queued (Go's `waitStartTime`).
    since: Option<Instant>,
    /// A preemption point before the first attempt (as for channels: a G
    /// that never has to wait would otherwise never yield its P).
    coop: PreemptPoint,
    at: &'static Location<'static>,
}

impl<'a, T> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = self.get_mut();
        let m = this.mutex;
        if let Some(sg) = &this.waiter {
            match sg.status() {
                DONE => {
                    // Handed over in starvation mode: the lock is ours.
                    this.waiter = None;
                    return Poll::Ready(this.acquired());
                }
                WOKEN => {
                    this.waiter = None;
                    this.awoke = true;
                }
                _ => {
                    let q = m.sema.lock();
                    if sg.status() == WAITING {
                        // SAFETY: we hold the sema lock and it is queued.
                        unsafe { sg.set_waker(cx.waker()) };
                        drop(q);
                        park_for(WaitKind::Mutex, this.at);
                        return Poll::Pending;
                    }
                    drop(q);
                    return Pin::new(this).poll(cx); // woken meanwhile
                }
            }
        }
        if !this.awoke && this.since.is_none() && Pin::new(&mut this.coop).poll(cx).is_pending() {
            return Poll::Pending;
        }
        // ANCHOR: lock_slow
        loop {
            let s = m.state.load(Ordering::Relaxed);
            if s & (LOCKED | STARVING) == 0 {
                // Free, normal mode: anyone may take it, woken or not.
                let mut new = s | LOCKED;
                if this.awoke {
                    new &= !WOKEN_BIT;
                }
                if m.state
                    .compare_exchange_weak(s, new, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Poll::Ready(this.acquired());
                }
                continue;
            }
            // Held (or starving): queue, deciding under the sema lock.
            let mut q = m.sema.lock();
            let s = m.state.load(Ordering::Relaxed);
            if s & (LOCKED | STARVING) == 0 {
                continue; // released meanwhile: compete again
            }
            let starving = this.since.is_some_and(|t| t.elapsed() > m.threshold);
            let mut new = s | WAITERS;
            if this.awoke {
                new &= !WOKEN_BIT;
            }
            if starving {
                new |= STARVING; // s has LOCKED: the lock is held right now
            }
            if m.state
                .compare_exchange(s, new, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            if new & STARVING != 0 && s & STARVING == 0 {
                count_mutex_event(true); // entered starvation mode
            }
            let since = *this.since.get_or_insert_with(Instant::now);
            let sg = Arc::new(Sudog::new(None, cx.waker(), since));
            // A woken waiter that lost goes back to the front (Go's
            // `queueLifo`), a newcomer to the back.
            if this.awoke {
                q.push_front(sg.clone());
            } else {
                q.push_back(sg.clone());
            }
            drop(q);
            this.awoke = false;
            this.waiter = Some(sg);
            park_for(WaitKind::Mutex, this.at);
            return Poll::Pending;
        }
        // ANCHOR_END: lock_slow
    }
}

impl<'a, T> Lock<'a, T> {
    fn acquired(&mut self) -> MutexGuard<'a, T> {
        // Our WOKEN, if any, was cleared by the CAS that took the lock; a
        // WOKEN set from now on is another waiter's, not ours to clear.
        self.awoke = false;
        if let Some(t) = self.since.take() {
            record_wait(WaitKind::Mutex, self.at, t.elapsed());
        }
        self.mutex.guard(self.at)
    }
}

impl<T> Drop for Lock<'_, T> {
    /// A `lock()` cancelled while waiting must leave the mutex as if it had
    /// never asked: a queued waiter leaves the queue; a woken one passes the
    /// wake-up on if the lock is free; one the lock was handed to unlocks.
    fn drop(&mut self) {
        let m = self.mutex;
        let mut awoke = self.awoke;
        if let Some(sg) = self.waiter.take() {
            let mut q = m.sema.lock();
            match sg.status() {
                WAITING => {
                    if let Some(i) = q.iter().position(|x| Arc::ptr_eq(x, &sg)) {
                        q.remove(i);
                    }
                    if q.is_empty() {
                        m.update(0, WAITERS | STARVING);
                    }
                }
                DONE => {
                    drop(q);
                    drop(m.guard(self.at)); // the lock was ours: unlock it
                }
                _ => awoke = true,
            }
        }
        if awoke {
            // Woken but never competed: clear WOKEN, and if the lock is free
            // the wake-up belongs to the next waiter.
            let prev = m.state.fetch_and(!WOKEN_BIT, Ordering::Relaxed);
            if prev & LOCKED == 0 && prev & WAITERS != 0 {
                m.wake_one(None); // not a holder: nobody to charge
            }
        }
        if let Some(t) = self.since.take() {
            record_wait(WaitKind::Mutex, self.at, t.elapsed());
        }
    }
}

/// Holds the lock until dropped; derefs to the data (Go's critical section
/// between `Lock` and `Unlock`).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// `&mut T` makes the guard Sync only if T is.
    _not_sync: PhantomData<&'a mut T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves we hold the lock.
        self.mutex.value.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves we hold the lock, and &mut self makes
        // this the only reference through it.
        self.mutex.value.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("Mutex")
            .field("locked", &(s & LOCKED != 0))
            .field("starving", &(s & STARVING != 0))
            .finish_non_exhaustive()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}
