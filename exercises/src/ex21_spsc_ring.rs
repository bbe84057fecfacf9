//! # Exercise ex21: a lock-free ring for one producer and one consumer
//!
//! A segment cutter on one thread hands segments to a packager on another,
//! millions of times a second. A channel with a lock would work, but with
//! exactly one producer and one consumer the lock is not needed: each side
//! owns one index and only *reads* the other's (Lamport's ring, the shape of
//! Go's per-P run queue and of the `rtrb` crate).
//!
//! The ring has [`CAPACITY`] slots and two indices that only grow:
//!
//! * `tail`, written only by the producer: the next slot to fill;
//! * `head`, written only by the consumer: the next slot to read.
//!
//! `tail - head` values are in the ring; slot of index `i` is
//! `i % CAPACITY`. You write:
//!
//! * [`Producer::push`]: full when `tail - head == CAPACITY` (give the value
//!   back); otherwise store the value in slot `tail`, then publish
//!   `tail + 1` so that a consumer that sees the new tail also sees the
//!   value (which memory order on which operation?);
//! * [`Consumer::pop`]: empty when `head == tail`; otherwise read slot
//!   `head`, then publish `head + 1`, which hands the slot back to the
//!   producer: it must not be overwritten before you have read it.
//!
//! Values are `u64`s in `AtomicU64` slots, so no `unsafe` is needed: a
//! wrong order shows up as a *wrong value* read (an old slot content), which
//! the loom model finds. The atomics come from a facade: `std` normally,
//! loom's under `RUSTFLAGS="--cfg loom"`, where the ring shrinks to 2 slots.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex21_spsc_ring::ring;
//!
//! let (mut tx, mut rx) = ring();
//! tx.push(7).unwrap();
//! assert_eq!(rx.pop(), Some(7));
//! assert_eq!(rx.pop(), None);
//! ```

// The facade: whatever bypasses it is invisible to the loom models.
#[allow(unused_imports)] // the orderings are yours to choose
#[cfg(loom)]
use loom::sync::atomic::Ordering;
#[cfg(loom)]
use loom::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize},
};
#[allow(unused_imports)] // the orderings are yours to choose
#[cfg(not(loom))]
use std::sync::atomic::Ordering;
#[cfg(not(loom))]
use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize},
};

/// Slots in the ring: 1024 normally, 2 under loom so the models stay small.
pub const CAPACITY: usize = if cfg!(loom) { 2 } else { 1024 };

/// What both ends share.
struct Ring {
    slots: Box<[AtomicU64]>,
    /// The next slot to read; written by the consumer only.
    head: AtomicUsize,
    /// The next slot to fill; written by the producer only.
    tail: AtomicUsize,
}

/// The pushing end: one per ring, `&mut self` so one thread pushes.
pub struct Producer {
    ring: Arc<Ring>,
}

/// The popping end: one per ring, `&mut self` so one thread pops.
pub struct Consumer {
    ring: Arc<Ring>,
}

/// A new empty ring of [`CAPACITY`] slots, and its two ends.
pub fn ring() -> (Producer, Consumer) {
    let ring = Arc::new(Ring {
        slots: (0..CAPACITY).map(|_| AtomicU64::new(0)).collect(),
        head: AtomicUsize::new(0),
        tail: AtomicUsize::new(0),
    });
    (Producer { ring: ring.clone() }, Consumer { ring })
}

impl Producer {
    /// Adds `v` at the tail, or gives it back if the ring is full.
    pub fn push(&mut self, v: u64) -> Result<(), u64> {
        let _ = (&self.ring.slots, &self.ring.head, &self.ring.tail, v);
        todo!(
            "Producer::push: full if tail - head == CAPACITY; store the value, then publish tail + 1"
        )
    }
}

impl Consumer {
    /// Takes the value at the head, or `None` if the ring is empty.
    pub fn pop(&mut self) -> Option<u64> {
        let _ = &self.ring;
        todo!("Consumer::pop: empty if head == tail; read the slot, then publish head + 1")
    }
}
