//! A bounded lock-free ring for exactly one producer and one consumer.
//!
//! A buffered channel (`runtime::sync::channel`) has a lock because any
//! number of Gs may send and receive, and because a waiter must be parked
//! and woken. When there is exactly one producer thread and one consumer
//! thread, and neither ever waits (a full ring refuses the value, an empty
//! one says so), the lock can go: each side owns one index and only reads
//! the other's. This is Lamport's ring, the shape of Go's per-P run queue
//! (`runqput` writes the tail, thieves and the owner read the head), of the
//! Linux kernel's `kfifo`, and of the `rtrb` crate, the peer in this
//! module's bench.
//!
//! ```text
//!            head (consumer writes)        tail (producer writes)
//!                 v                             v
//!   slots: [ .  | a  | b  | c  | .  | .  | .  | .  ]   capacity 8
//!                 \_____ ready to pop ____/
//! ```
//!
//! Both indices only grow (wrapping at `usize::MAX`); a slot is
//! `index & (capacity - 1)`, which is why the capacity is a power of two.
//! `tail - head` is the number of values in the ring.
//!
//! - **push** (producer): if `tail - head == capacity` the ring is full;
//!   else write the value into slot `tail`, then store `tail + 1` with
//!   *Release*: a consumer that sees the new tail (with *Acquire*) also sees
//!   the value written before it.
//! - **pop** (consumer): if `head == tail` the ring is empty; else read slot
//!   `head`, then store `head + 1` with *Release*, which hands the slot back
//!   to the producer (its *Acquire* load of `head` orders its next write
//!   after our read).
//!
//! Two costs remain, and both are fought the usual way:
//!
//! - each side keeps a **cached copy of the other's index** and reloads it
//!   only when the cache says full (producer) or empty (consumer), so in a
//!   steady stream most operations touch no shared cache line at all;
//! - `head` and `tail` sit on **different cache lines** (`CachePadded`),
//!   or every push would invalidate the consumer's line and every pop the
//!   producer's: false sharing (see the book's *Alignment and cache lines*).
//!
//! The types carry the rule "one producer, one consumer": [`Producer`] and
//! [`Consumer`] are `Send` but not `Clone`, and `push`/`pop` take
//! `&mut self`, so two threads can never push at once without the compiler
//! noticing. The memory orders are checked by the loom models at the
//! bottom, each seen to fail against a broken variant.

use std::fmt;
use std::mem::MaybeUninit;

use crossbeam_utils::CachePadded;

use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::loom::{Arc, UnsafeCell};

/// A capacity the ring cannot have: 0, or more than half the address space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityError(pub usize);

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an spsc ring needs a capacity from 1 to 2^{}, not {}",
            usize::BITS - 2,
            self.0
        )
    }
}

impl std::error::Error for CapacityError {}

/// What both ends share: the slots and the two indices.
struct Ring<T> {
    /// Written by the consumer only: the next slot to pop.
    head: CachePadded<AtomicUsize>,
    /// Written by the producer only: the next slot to push.
    tail: CachePadded<AtomicUsize>,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: usize,
}

// SAFETY: a value moves from the producer's thread to the consumer's, so T
// must be Send. The two ends never touch a slot at once: slots in
// [head, tail) belong to the consumer, the others to the producer, and each
// hand-over is ordered by a Release store of one index and an Acquire load
// of it on the other side. Nothing hands out `&T` to two threads, so T need
// not be Sync.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: as above; the ring owns its values and drops them on one thread.
unsafe impl<T: Send> Send for Ring<T> {}

/// The pushing end of an spsc ring: one per ring, movable to another
/// thread, not clonable. (Go has no such type: a channel is always MPMC.)
pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// Our own index (the ring's `tail` holds the published copy).
    tail: usize,
    /// The last `head` we read: the consumer has popped at least this far.
    head_seen: usize,
}

/// The popping end of an spsc ring: one per ring, movable to another
/// thread, not clonable.
pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    /// Our own index (the ring's `head` holds the published copy).
    head: usize,
    /// The last `tail` we read: the producer has pushed at least this far.
    tail_seen: usize,
}

/// Makes a ring of `capacity` slots rounded up to a power of two, and its
/// two ends.
///
/// ```
/// let (mut tx, mut rx) = runtime::spsc::ring::<u32>(3).unwrap();
/// assert_eq!(tx.capacity(), 4); // rounded up to a power of two
/// std::thread::scope(|s| {
///     s.spawn(move || {
///         for i in 0..1000 {
///             let mut v = i;
///             while let Err(back) = tx.push(v) {
///                 v = back; // full: try again
///                 std::hint::spin_loop();
///             }
///         }
///     });
///     let mut next = 0;
///     while next < 1000 {
///         if let Some(v) = rx.pop() {
///             assert_eq!(v, next, "in order, none lost");
///             next += 1;
///         }
///     }
/// });
/// assert!(runtime::spsc::ring::<u8>(0).is_err());
/// ```
pub fn ring<T>(capacity: usize) -> Result<(Producer<T>, Consumer<T>), CapacityError> {
    if capacity == 0 || capacity > 1 << (usize::BITS - 2) {
        return Err(CapacityError(capacity));
    }
    let cap = capacity.next_power_of_two();
    let slots = (0..cap)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let ring = Arc::new(Ring {
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
        slots,
        mask: cap - 1,
    });
    let producer = Producer {
        ring: ring.clone(),
        tail: 0,
        head_seen: 0,
    };
    let consumer = Consumer {
        ring,
        head: 0,
        tail_seen: 0,
    };
    Ok((producer, consumer))
}

impl<T> Producer<T> {
    /// Adds `value` at the tail, or gives it back if the ring is full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        // ANCHOR: push
        let cap = self.ring.mask + 1;
        if self.tail.wrapping_sub(self.head_seen) == cap {
            // Full by our cached view: look at the consumer's real head.
            self.head_seen = self.ring.head.load(Ordering::Acquire);
            if self.tail.wrapping_sub(self.head_seen) == cap {
                return Err(value);
            }
        }
        let slot = &self.ring.slots[self.tail & self.ring.mask];
        // SAFETY: slot `tail` is outside [head, tail), so the consumer does
        // not read it, and only this Producer (we hold `&mut self`) writes
        // slots; the Acquire load of `head` that showed it free orders this
        // write after the consumer's read of the value it held before.
        slot.with_mut(|p| unsafe { (*p).write(value) });
        self.tail = self.tail.wrapping_add(1);
        // Publish: the write above happens-before any Acquire load that
        // sees this tail.
        self.ring.tail.store(self.tail, Ordering::Release);
        Ok(())
        // ANCHOR_END: push
    }

    /// How many values the ring can hold (a power of two).
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// True once the [`Consumer`] has been dropped: nothing pushed from now
    /// on will ever be read.
    pub fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.ring) == 1
    }
}

impl<T> Consumer<T> {
    /// Takes the value at the head, or `None` if the ring is empty.
    pub fn pop(&mut self) -> Option<T> {
        if self.head == self.tail_seen {
            // Empty by our cached view: look at the producer's real tail.
            self.tail_seen = self.ring.tail.load(Ordering::Acquire);
            if self.head == self.tail_seen {
                return None;
            }
        }
        let slot = &self.ring.slots[self.head & self.ring.mask];
        // SAFETY: slot `head` is inside [head, tail): the producer wrote it
        // before publishing the tail we loaded with Acquire, and will not
        // write it again until it sees our Release store of head + 1 below.
        // Reading moves the value out; the slot is uninitialised again.
        let value = slot.with(|p| unsafe { (*p).assume_init_read() });
        self.head = self.head.wrapping_add(1);
        self.ring.head.store(self.head, Ordering::Release);
        Some(value)
    }

    /// How many values are in the ring now (a snapshot: the producer may be
    /// adding more).
    pub fn len(&self) -> usize {
        self.ring
            .tail
            .load(Ordering::Acquire)
            .wrapping_sub(self.head)
    }

    /// True when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the [`Producer`] has been dropped: after the values left in
    /// the ring, nothing more will come.
    pub fn is_abandoned(&self) -> bool {
        Arc::strong_count(&self.ring) == 1
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // Both ends are gone (this is the last Arc): drop what is left.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut i = head;
        while i != tail {
            // SAFETY: every slot in [head, tail) holds a pushed value that
            // was never popped, and no end is left to touch it.
            self.slots[i & self.mask].with_mut(|p| unsafe { (*p).assume_init_drop() });
            i = i.wrapping_add(1);
        }
    }
}

impl<T> fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("tail", &self.tail)
            .finish()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.head)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomic;

    #[test]
    fn capacities_round_up_and_bad_ones_are_refused() {
        assert_eq!(ring::<u8>(1).unwrap().0.capacity(), 1);
        assert_eq!(ring::<u8>(5).unwrap().0.capacity(), 8);
        assert_eq!(ring::<u8>(0).unwrap_err(), CapacityError(0));
        assert!(ring::<u8>(usize::MAX).is_err());
    }

    #[test]
    fn full_refuses_and_gives_the_value_back_empty_says_none() {
        let (mut tx, mut rx) = ring(2).unwrap();
        assert_eq!(rx.pop(), None::<String>);
        tx.push("a".to_string()).unwrap();
        tx.push("b".to_string()).unwrap();
        assert_eq!(tx.push("c".to_string()), Err("c".to_string()));
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.pop().as_deref(), Some("a"));
        tx.push("c".to_string()).unwrap();
        assert_eq!(rx.pop().as_deref(), Some("b"));
        assert_eq!(rx.pop().as_deref(), Some("c"));
        assert!(rx.is_empty());
    }

    #[test]
    fn indices_wrap_around_usize_max() {
        let (mut tx, mut rx) = ring::<u64>(4).unwrap();
        // Start both ends just below the wrap.
        let start = usize::MAX - 5;
        tx.tail = start;
        tx.head_seen = start;
        rx.head = start;
        rx.tail_seen = start;
        tx.ring.head.store(start, Ordering::Relaxed);
        tx.ring.tail.store(start, Ordering::Relaxed);
        for i in 0..40 {
            tx.push(i).unwrap();
            tx.push(i + 100).unwrap();
            assert_eq!(rx.pop(), Some(i));
            assert_eq!(rx.pop(), Some(i + 100));
        }
    }

    #[test]
    fn values_left_in_the_ring_are_dropped_once() {
        struct Counted<'a>(&'a StdAtomic);
        impl Drop for Counted<'_> {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let drops = StdAtomic::new(0);
        {
            let (mut tx, mut rx) = ring(8).unwrap();
            for _ in 0..5 {
                assert!(tx.push(Counted(&drops)).is_ok());
            }
            drop(rx.pop()); // one popped and dropped by us
            drop(tx);
            assert!(rx.is_abandoned());
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            5,
            "each value dropped exactly once"
        );
    }

    #[test]
    fn a_million_values_cross_threads_in_order() {
        let (mut tx, mut rx) = ring::<u64>(64).unwrap();
        let n = 1_000_000u64;
        let producer = std::thread::spawn(move || {
            for i in 0..n {
                let mut v = i;
                while let Err(back) = tx.push(v) {
                    v = back;
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0;
        while next < n {
            match rx.pop() {
                Some(v) => {
                    assert_eq!(v, next, "out of order or lost");
                    next += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.pop(), None);
    }
}

/// Loom models: `RUSTFLAGS="--cfg loom" cargo test -p runtime --release
/// --lib loom_spsc`.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::loom::thread;

    /// Three values through a ring of two: in order, none lost, none
    /// duplicated, whatever the interleaving.
    ///
    /// Broken variant that failed: `pop` storing `head + 1` *before* reading
    /// the slot. loom: "Causality violation: Concurrent read and write
    /// accesses to `UnsafeCell`" (the producer refilled the slot while the
    /// consumer was still reading it).
    #[test]
    fn loom_spsc_three_values_through_two_slots() {
        loom::model(|| {
            let (mut tx, mut rx) = ring::<u32>(2).unwrap();
            let t = thread::spawn(move || {
                for v in [1, 2, 3] {
                    let mut v = v;
                    while let Err(back) = tx.push(v) {
                        v = back;
                        thread::yield_now();
                    }
                }
            });
            let mut got = Vec::new();
            while got.len() < 3 {
                match rx.pop() {
                    Some(v) => got.push(v),
                    None => thread::yield_now(),
                }
            }
            t.join().unwrap();
            assert_eq!(got, [1, 2, 3]);
        });
    }

    /// A full ring: the producer reuses a slot only after the consumer has
    /// read it.
    ///
    /// Broken variants that failed: `push` publishing `tail` with `Relaxed`
    /// instead of `Release` (loom: "Causality violation: Concurrent read and
    /// write accesses": the consumer's read of the slot was not ordered
    /// after the producer's write), and the early `head` store above.
    #[test]
    fn loom_spsc_slot_reused_only_after_it_was_read() {
        loom::model(|| {
            let (mut tx, mut rx) = ring::<String>(1).unwrap();
            tx.push("first".to_string()).unwrap();
            let t = thread::spawn(move || {
                let mut v = "second".to_string();
                while let Err(back) = tx.push(v) {
                    v = back;
                    thread::yield_now();
                }
            });
            let a = loop {
                if let Some(v) = rx.pop() {
                    break v;
                }
                thread::yield_now();
            };
            let b = loop {
                if let Some(v) = rx.pop() {
                    break v;
                }
                thread::yield_now();
            };
            t.join().unwrap();
            assert_eq!((a.as_str(), b.as_str()), ("first", "second"));
        });
    }
}
