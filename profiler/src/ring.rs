//! The CPU profiler's sample ring: signal handlers write, one collector
//! reads (Go's `profBuf`, written by `sigprof`, read by the profile reader).
//!
//! A SIGPROF handler may interrupt any code on any thread, including
//! another handler's collector or our own allocator, so it can neither lock
//! nor allocate nor wait. The ring is a fixed array of slots allocated
//! before the first timer is armed, each with a state byte:
//!
//! ```text
//!   EMPTY --(handler: compare-and-swap)--> WRITING --(handler: store)--> FULL
//!     ^                                                                   |
//!     +------------------(collector: copy out, then store)----------------+
//! ```
//!
//! A handler takes the next slot index from a shared counter and claims the
//! slot with a compare-and-swap from EMPTY, so two handlers (on two threads)
//! that land on the same slot cannot both write it: the loser, like a
//! handler that finds the slot still FULL because the collector is behind,
//! counts one lost sample and returns (Go's `profBuf` counts overflow the
//! same way). The winner writes the data and publishes it with a Release
//! store of FULL. The collector loads FULL with Acquire (so it sees the
//! whole write), copies the data out, and only then stores EMPTY (Release),
//! after which a handler may reuse the slot. Each recorded sample is read
//! exactly once and each sample is either read or counted lost.
//!
//! Its loom model is at the bottom, with the broken variant it failed.

use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const FULL: u8 = 2;

struct Slot<T> {
    state: AtomicU8,
    data: UnsafeCell<T>,
}

/// A ring of `T` samples written by signal handlers, drained by one reader.
pub(crate) struct Ring<T> {
    next: AtomicUsize,
    lost: AtomicU64,
    slots: Box<[Slot<T>]>,
}

// SAFETY: a slot's data is written only by the writer that moved its state
// EMPTY -> WRITING and read only by the reader after seeing FULL (Release on
// the writer's side, Acquire on the reader's), and the reader gives the slot
// back with a Release store of EMPTY after it has read: no two threads touch
// one slot's data at once. The samples themselves cross threads, so T: Send.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// `n` slots, each starting as `init()`; allocates, so call it before
    /// any handler can run.
    pub(crate) fn new(n: usize, init: impl Fn() -> T) -> Ring<T> {
        assert!(n > 0, "a ring needs a slot");
        Ring {
            next: AtomicUsize::new(0),
            lost: AtomicU64::new(0),
            slots: (0..n)
                .map(|_| Slot {
                    state: AtomicU8::new(EMPTY),
                    data: UnsafeCell::new(init()),
                })
                .collect(),
        }
    }

    /// The writer's side (a signal handler): claims a slot and lets `write`
    /// fill it, or counts a lost sample if the slot is taken. No lock, no
    /// allocation, no wait. Returns whether the sample was recorded.
    pub(crate) fn push(&self, write: impl FnOnce(&mut T)) -> bool {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[i];
        if slot
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        // SAFETY: we moved the slot EMPTY -> WRITING: it is ours until we
        // store FULL (see `Sync for Ring`).
        slot.data.with_mut(|d| write(unsafe { &mut *d }));
        slot.state.store(FULL, Ordering::Release);
        true
    }

    /// The reader's side (one collector at a time): calls `read` on every
    /// full slot, then gives the slot back.
    pub(crate) fn drain(&self, mut read: impl FnMut(&T)) {
        for s in self.slots.iter() {
            if s.state.load(Ordering::Acquire) != FULL {
                continue;
            }
            // SAFETY: FULL (Acquire) means the writer finished, and no writer
            // touches the slot until we store EMPTY below.
            s.data.with(|d| read(unsafe { &*d }));
            s.state.store(EMPTY, Ordering::Release);
        }
    }

    /// Empties every slot and the lost count (no writer may be running).
    #[cfg_attr(loom, allow(dead_code))] // the model starts from a new ring
    pub(crate) fn clear(&self) {
        for s in self.slots.iter() {
            s.state.store(EMPTY, Ordering::Release);
        }
        self.lost.store(0, Ordering::Relaxed);
    }

    /// Samples lost because their slot was taken.
    pub(crate) fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! Two signal handlers (on two threads) write while the collector
    //! drains. Run with `RUSTFLAGS="--cfg loom" cargo test -p profiler
    //! --release --lib loom`.
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A sample written in two halves: a reader that sees one half of one
    /// sample and one of another has read a torn sample.
    type Sample = (u64, u64);

    /// The broken variant: the collector gives the slot back (EMPTY)
    /// *before* copying it out, so a handler can claim it and write a new
    /// sample while the old one is being read.
    fn drain_giving_back_first(r: &Ring<Sample>, read: &mut dyn FnMut(&Sample)) {
        for s in r.slots.iter() {
            if s.state.load(Ordering::Acquire) != FULL {
                continue;
            }
            s.state.store(EMPTY, Ordering::Release); // too early: the bug
            // SAFETY: none; this is the broken variant (loom reports the race).
            s.data.with(|d| read(unsafe { &*d }));
        }
    }

    fn model(drain: fn(&Ring<Sample>, &mut dyn FnMut(&Sample))) {
        loom::model(move || {
            let ring = Arc::new(Ring::new(2, || (0u64, 0u64)));
            let writers: Vec<_> = [1u64, 2]
                .into_iter()
                .map(|k| {
                    let ring = ring.clone();
                    thread::spawn(move || {
                        let a = ring.push(|d| *d = (k, k));
                        let b = ring.push(|d| *d = (k + 10, k + 10));
                        u64::from(a) + u64::from(b)
                    })
                })
                .collect();
            let mut seen = Vec::new();
            drain(&ring, &mut |d: &Sample| seen.push(*d));
            let recorded: u64 = writers.into_iter().map(|t| t.join().unwrap()).sum();
            drain(&ring, &mut |d: &Sample| seen.push(*d));
            for &(a, b) in &seen {
                assert_eq!(a, b, "torn sample: read ({a}, {b}), written as pairs");
            }
            let mut ks: Vec<u64> = seen.iter().map(|s| s.0).collect();
            ks.sort();
            ks.dedup();
            assert_eq!(
                (seen.len() as u64, ks.len() as u64),
                (recorded, recorded),
                "every recorded sample read once: read {seen:?}, {recorded} recorded"
            );
            assert_eq!(
                recorded + ring.lost(),
                4,
                "each sample recorded or counted lost"
            );
        });
    }

    #[test]
    fn loom_ring_reads_each_recorded_sample_once_whole() {
        model(|r, read| r.drain(read));
    }

    /// Failed with loom's "Causality violation: Concurrent read and write
    /// accesses to `UnsafeCell`": a handler's write into the slot the
    /// collector was still copying.
    #[test]
    #[should_panic(expected = "Causality violation")]
    fn loom_ring_broken_giving_the_slot_back_before_reading() {
        model(drain_giving_back_first);
    }
}
