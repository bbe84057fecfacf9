//! # Exercise ex04: Go's local run queue
//!
//! Every P (processor) in Go's scheduler owns a small ring of runnable Gs
//! (goroutines) and a single `runnext` slot. This exercise is that structure,
//! `runq` in Go's `runtime2.go`, with the three operations from `proc.go`:
//!
//! - `runqput(g, next)`: the owning P adds a G. With `next == true` the G goes
//!   into `runnext`, and whatever was there is kicked out to the tail of the
//!   ring. A G that was just readied (a channel receive woke it) runs next
//!   and inherits the rest of the time slice, which keeps a producer and its
//!   consumer on the same P, close in time and in cache.
//! - `runqget()`: the owning P takes `runnext` first, then the head of the ring.
//! - `runqsteal(victim)`: an idle P takes half (`n - n/2`) of another P's ring.
//!
//! The ring holds `RING_SIZE` (256) slots indexed by two ever-growing `u32`
//! counters, `head` and `tail` (the slot is `counter % RING_SIZE`; they wrap
//! around `u32::MAX` harmlessly when you use `wrapping_*` arithmetic).
//! Only the owner writes `tail` and the slots; anyone may advance `head`, and
//! they do it with a compare-and-swap, so a consumer reads the slot first and
//! then claims it: if the CAS fails, someone else took it, and it tries again.
//!
//! When the ring is full, `runqput` does not grow it: `runqputslow` moves the
//! first half of the ring (128 Gs) plus the new G to the global run queue, in
//! one batch under the global lock. That keeps the lock rare and the global
//! queue fed with work that other Ps can pick up.
//!
//! Gs are plain ids here ([`G`]), so every slot is an `AtomicU64` and the code
//! needs no `unsafe`. The atomics come from a tiny facade: `std` normally,
//! [loom](https://docs.rs/loom)'s under `RUSTFLAGS="--cfg loom"`, where the
//! ring shrinks to 4 slots so that the model checker can try every
//! interleaving of the owner and a thief.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex04_runq::{G, GlobalRunQueue, RunQueue};
//!
//! let (mine, other, global) = (RunQueue::new(), RunQueue::new(), GlobalRunQueue::new());
//! mine.runqput(G::new(1), false, &global);
//! mine.runqput(G::new(2), true, &global); // runnext
//! assert_eq!(mine.runqget(), Some((G::new(2), true)));
//! assert_eq!(other.runqsteal(&mine, false), Some(G::new(1)));
//! ```

use std::collections::VecDeque;
use std::num::NonZeroU64;

// The facade: whatever bypasses it is invisible to the loom models.
#[cfg(loom)]
use loom::sync::{
    Mutex,
    atomic::{AtomicU32, AtomicU64, Ordering},
};
#[cfg(not(loom))]
use std::sync::{
    Mutex,
    atomic::{AtomicU32, AtomicU64, Ordering},
};

/// Slots in a local run queue: 256 like Go's `runq`, 4 under loom so that the
/// models stay small.
pub const RING_SIZE: usize = if cfg!(loom) { 4 } else { 256 };

/// A runnable goroutine, reduced to its id (Go's `guintptr`). Never zero:
/// zero marks an empty `runnext`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct G(NonZeroU64);

impl G {
    /// The G with id `id`.
    ///
    /// # Panics
    /// If `id` is 0, the value that marks an empty slot.
    pub fn new(id: u64) -> G {
        G(NonZeroU64::new(id).expect("a G id is never 0: 0 marks an empty runnext"))
    }

    /// This G's id.
    pub fn id(self) -> u64 {
        self.0.get()
    }

    fn from_slot(raw: u64) -> Option<G> {
        NonZeroU64::new(raw).map(G)
    }
}

/// The global run queue (Go's `sched.runq`): a plain FIFO behind a lock,
/// shared by every P.
#[derive(Debug, Default)]
pub struct GlobalRunQueue {
    queue: Mutex<VecDeque<G>>,
}

impl GlobalRunQueue {
    /// An empty global queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a batch in one critical section (Go's `globrunqputbatch`).
    pub fn push_batch(&self, batch: impl IntoIterator<Item = G>) {
        self.queue.lock().expect("global queue lock").extend(batch);
    }

    /// Takes the G at the head (Go's `globrunqget` with a batch of one).
    pub fn pop(&self) -> Option<G> {
        self.queue.lock().expect("global queue lock").pop_front()
    }

    /// How many Gs wait here.
    pub fn len(&self) -> usize {
        self.queue.lock().expect("global queue lock").len()
    }

    /// True when no G waits here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes every G, head first.
    pub fn drain(&self) -> Vec<G> {
        self.queue
            .lock()
            .expect("global queue lock")
            .drain(..)
            .collect()
    }
}

/// A P's local run queue: a `RING_SIZE`-slot ring plus `runnext`
/// (Go's `p.runq`, `p.runqhead`, `p.runqtail`, `p.runnext`).
///
/// Only the owning P calls [`runqput`](Self::runqput) and
/// [`runqget`](Self::runqget) (and [`runqsteal`](Self::runqsteal) with itself
/// as the thief); any P may be the `victim` of a steal.
#[derive(Debug)]
pub struct RunQueue {
    /// Next slot to consume. Advanced by the owner and by thieves, with CAS.
    head: AtomicU32,
    /// Next slot to fill. Written only by the owner.
    tail: AtomicU32,
    /// `RING_SIZE` slots; 0 means empty, otherwise a G's id.
    // --- your code: helpers ---
    #[allow(dead_code)] // read and written by the methods you write
    // --- end of your code ---
    slots: Box<[AtomicU64]>,
    /// The G to run next, or 0.
    runnext: AtomicU64,
}

impl Default for RunQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl RunQueue {
    /// An empty run queue.
    pub fn new() -> Self {
        RunQueue {
            head: AtomicU32::new(0),
            tail: AtomicU32::new(0),
            slots: (0..RING_SIZE).map(|_| AtomicU64::new(0)).collect(),
            runnext: AtomicU64::new(0),
        }
    }

    /// Gs in the ring, not counting `runnext` (a snapshot: thieves may be
    /// taking some right now).
    pub fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        tail.wrapping_sub(head) as usize
    }

    /// True when the ring is empty (`runnext` aside).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The G in `runnext`, if any.
    pub fn runnext(&self) -> Option<G> {
        G::from_slot(self.runnext.load(Ordering::Acquire))
    }

    // --- your code: runnext ---
    #[allow(dead_code)] // a helper for the methods you write
    // --- end of your code ---
    fn slot(&self, index: u32) -> &AtomicU64 {
        &self.slots[index as usize % RING_SIZE]
    }

    /// Go's `runqput`: adds `g` to this P's queue. With `next`, `g` goes to
    /// `runnext` and the G it replaces moves to the tail of the ring. When
    /// the ring is full, half of it plus the G being put go to `global`
    /// (see [`runqputslow`](Self::runqputslow)).
    pub fn runqput(&self, g: G, next: bool, global: &GlobalRunQueue) {
        // --- your code: runqput ---
        let _ = (g, next, global);
        todo!("runqput: runnext swap, then the ring, then runqputslow when full")
        // --- end of your code ---
    }

    /// Go's `runqputslow`: the ring is full (`tail - head == RING_SIZE`, read
    /// as `head`, `tail` by the caller). Claims the first `RING_SIZE / 2` Gs
    /// with one CAS on `head` and pushes them, then `g`, to `global` in one
    /// batch. Returns false when the CAS lost to a thief (the ring is no
    /// longer full: the caller retries the fast path).
    pub fn runqputslow(&self, g: G, head: u32, tail: u32, global: &GlobalRunQueue) -> bool {
        // --- your code: runqputslow ---
        let _ = (g, head, tail, global);
        todo!("runqputslow: move half the ring plus g to the global queue")
        // --- end of your code ---
    }

    /// Go's `runqget`: takes `runnext` if set (the bool is true: the G
    /// inherits the time slice), else the head of the ring (false).
    pub fn runqget(&self) -> Option<(G, bool)> {
        // --- your code: runqget ---
        todo!("runqget: runnext first, then the head of the ring")
        // --- end of your code ---
    }

    /// Go's `runqgrab`: claims `n - n/2` Gs from the head of `self` (the
    /// victim) and copies them into `thief`'s slots starting at
    /// `thief_tail`, without publishing them. With `steal_runnext` and an
    /// empty ring, takes the victim's `runnext` instead. Returns how many Gs
    /// were copied.
    pub fn runqgrab(&self, thief: &RunQueue, thief_tail: u32, steal_runnext: bool) -> u32 {
        // --- your code: runqgrab ---
        let _ = (thief, thief_tail, steal_runnext);
        todo!("runqgrab: copy half of the victim's ring, then CAS its head")
        // --- end of your code ---
    }

    /// Go's `runqsteal`: moves half of `victim`'s Gs into this queue and
    /// returns one of them to run now (the last one grabbed); the rest are
    /// published in this ring.
    pub fn runqsteal(&self, victim: &RunQueue, steal_runnext: bool) -> Option<G> {
        // --- your code: runqsteal ---
        let _ = (victim, steal_runnext);
        todo!("runqsteal: runqgrab into our own ring, publish all but one")
        // --- end of your code ---
    }
}
