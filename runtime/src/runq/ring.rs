//! Go's local run queue: a fixed ring of 256 slots, one producer, many thieves.
//!
//! # How Go's `runq` works
//!
//! Every P in Go owns a ring buffer `runq [256]guintptr` with two counters,
//! `runqhead` and `runqtail`. They are `u32`s that only ever grow (wrapping
//! at 2³²); a counter's slot is `counter % 256`, and the number of queued Gs
//! is `tail - head`. Three kinds of operations touch the ring:
//!
//! * **`runqput`** (only the P's owner): write the G into slot `tail`, then
//!   publish it with a release store of `tail + 1`. Nobody else ever stores
//!   `tail`, so the owner needs no read-modify-write here.
//! * **`runqget`** (only the owner) and **`runqgrab`** (any thief, via
//!   `runqsteal`): both *consume* from the head, and both do it with a
//!   compare-and-swap on `head`. The thief takes `n - n/2` of the `n` queued
//!   Gs, the owner takes one.
//! * **`runqputslow`** (the owner, when the ring is full): claim the older
//!   half of the ring with the same CAS on `head`, and move those 128 Gs plus
//!   the new one to the global run queue in one locked batch.
//!
//! The CAS on `head` is what makes a steal safe against the owner's pop: the
//! owner and every thief read the same `head`, decide which slots they want,
//! and then try to move `head` past those slots. Only one CAS from a given
//! `head` value can win, so a G is handed to exactly one consumer; the loser
//! sees a new `head` and starts over. The producer never contends for `head`
//! at all: it learns how much room there is by loading it, and its store of
//! `tail` (release) pairs with the consumers' load of `tail` (acquire), so a
//! consumer that sees the new `tail` also sees the G written into the slot.
//!
//! # The one change Rust needs: claim, copy, release
//!
//! Go's `runqgrab` copies the slots *before* its CAS, and throws the copy away
//! if the CAS fails. That is fine in Go because a slot is one pointer word and
//! a stale copy is never used. It is not fine in Rust for a generic `T`: in
//! the window between the thief's read and its CAS, the owner can pop, then
//! push enough Gs to wrap around and overwrite the very slot the thief is
//! reading. That is a data race on non-atomic memory, which is undefined
//! behaviour (and loom reports it as one).
//!
//! So, as tokio's scheduler does, this ring packs *two* heads into one
//! `AtomicU64`: `real`, the head consumers CAS exactly as in Go, and `steal`,
//! the first slot a thief may still be reading. A steal is three steps:
//!
//! 1. **claim**: CAS `(steal, real) = (h, h)` to `(h, h + n)`. This is Go's CAS,
//!    moved before the copy; it still decides, against the owner's pop and
//!    every other thief, who gets those `n` slots.
//! 2. **copy**: move the claimed items out, into the thief's own ring.
//! 3. **release**: CAS `steal` forward to `real`, handing the slots back.
//!
//! The owner computes free room from `steal`, not `real`, so it never writes a
//! slot that a thief is still copying. While a claim is outstanding, other
//! thieves find `steal != real` and give up (they try another victim), and the
//! owner, if its ring is full, sends only the new item to the overflow sink
//! instead of waiting on the thief. Everything else is Go's: 256 slots, half
//! plus one to the global queue on overflow, `n - n/2` per steal.
//!
//! # Who is the owner: a value, not a comment
//!
//! Go's rule "only the P's owner calls `runqput` and `runqget`" is a
//! comment in proc.go. Here it is a value: [`Ring::new`] returns the ring
//! and its one [`RingOwner`], and the owner-only operations
//! ([`push_back`](Ring::push_back), [`pop`](Ring::pop), and
//! [`steal_into`](Ring::steal_into)'s destination) take `&RingOwner`. The
//! owner is not `Clone` and not `Sync`, so at any moment one thread at most
//! can use it; it is `Send`, so it can move to another thread (as a P moves
//! between Ms: the scheduler keeps it inside its held-P token, `p.rs`).
//! Each operation checks that the owner is this ring's.
//!
//! The `runnext` slot is not part of this ring; the scheduler keeps it beside
//! the ring, as Go keeps `p.runnext` beside `p.runq`.
//!
//! ```text
//!            steal   real                    tail
//!              v       v                       v
//!   ... free | being   | queued, owner pops    | free ...
//!            | copied  | and thieves claim     |
//!            | by thief| from the left         |
//! ```

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr;

use crate::loom::UnsafeCell;
use crate::loom::atomic::{AtomicU32, AtomicU64, Ordering};

/// Slots in one ring: Go's `len(p.runq)`, 256. Loom models use 4 so that
/// filling and overflowing the ring takes only a handful of steps.
#[cfg(not(loom))]
pub(crate) const RING_CAPACITY: usize = 256;
/// Slots in one ring: Go's `len(p.runq)`, 256. Loom models use 4 so that
/// filling and overflowing the ring takes only a handful of steps.
#[cfg(loom)]
pub(crate) const RING_CAPACITY: usize = 4;

const CAPACITY: u32 = RING_CAPACITY as u32;
const MASK: u32 = CAPACITY - 1;
const HALF: u32 = CAPACITY / 2;
const _: () = assert!(RING_CAPACITY.is_power_of_two() && RING_CAPACITY >= 2);

/// A P's local run queue: Go's `p.runq` with `runqhead`/`runqtail`.
///
/// The holder of the ring's [`RingOwner`] may call
/// [`push_back`](Ring::push_back), [`pop`](Ring::pop), and
/// [`steal_into`](Ring::steal_into) with this ring as the destination. Any
/// thread may steal *from* it and read its length.
pub(crate) struct Ring<T: Send> {
    /// Which [`RingOwner`] belongs to this ring.
    id: usize,
    /// `(steal << 32) | real`. `real` is Go's `runqhead`: the next item a
    /// consumer may claim. `steal` trails it while a thief is copying out.
    head: AtomicU64,
    /// Go's `runqtail`: one past the newest item. Only the owner stores it.
    tail: AtomicU32,
    /// The items. Slot `i % RING_CAPACITY` holds an initialised `T` exactly
    /// when `steal <= i < tail` (in wrapping arithmetic).
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: a `Ring` moves `T`s between threads (that is its job), so `T: Send`
// is required and sufficient. Shared access to the slots follows the
// protocol above: a slot is written only by the owner, only while it is
// outside `steal..tail`, and read only by the consumer whose CAS on `head`
// claimed it, with release/acquire edges on `tail` and `head` ordering the
// write before the read and the read before the next write.
unsafe impl<T: Send> Sync for Ring<T> {}

/// The right to a ring's owner-only operations: Go's "the P's owner".
///
/// Made once per ring by [`Ring::new`]. Neither `Clone` nor `Sync`: a
/// `&RingOwner` never leaves the thread that holds the owner, so the
/// owner's operations on a ring never run on two threads at once.
#[derive(Debug)]
pub(crate) struct RingOwner {
    ring: usize,
    /// `Cell` is `Send` but not `Sync`: so is the owner.
    _not_sync: PhantomData<Cell<()>>,
}

/// Ring ids (a plain std atomic: not part of any protocol loom checks).
static NEXT_RING_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Splits the packed head into `(steal, real)`.
fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

/// Packs `(steal, real)` into one head word.
fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

impl<T: Send> Ring<T> {
    /// An empty ring of [`RING_CAPACITY`] slots, and its one owner.
    pub(crate) fn new() -> (Self, RingOwner) {
        let slots = (0..RING_CAPACITY)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        let id = NEXT_RING_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ring = Self {
            id,
            head: AtomicU64::new(0),
            tail: AtomicU32::new(0),
            slots,
        };
        let owner = RingOwner {
            ring: id,
            _not_sync: PhantomData,
        };
        (ring, owner)
    }

    /// Panics unless `owner` is this ring's: the one check that turns a
    /// mix-up into a panic rather than a data race.
    #[inline]
    fn check(&self, owner: &RingOwner) {
        assert_eq!(owner.ring, self.id, "a RingOwner used on another ring");
    }

    // ANCHOR: runqputslow
    /// Go's `runqput` (the ring part): queues `item` at the tail.
    ///
    /// When the ring is full this is Go's `runqputslow`: the older half of
    /// the ring plus `item`, in FIFO order, go to `overflow` (the global run
    /// queue) in one batch. If a thief is copying out of this ring at that
    /// moment, the ring is only full of items already on their way out, so
    /// just `item` goes to `overflow`. Owner only.
    pub(crate) fn push_back(
        &self,
        owner: &RingOwner,
        mut item: T,
        overflow: &mut dyn FnMut(Vec<T>),
    ) {
        self.check(owner);
        loop {
            // Acquire: pairs with a thief's release of `steal`, so its reads
            // of the slots we are about to reuse are finished.
            let (steal, real) = unpack(self.head.load(Ordering::Acquire));
            // Only the owner (this thread) stores `tail`, so its own last
            // store is what a relaxed load sees.
            let tail = self.tail.load(Ordering::Relaxed);

            if tail.wrapping_sub(steal) < CAPACITY {
                self.write_slot(tail, item);
                // Release: a consumer that sees the new tail sees the item.
                self.tail.store(tail.wrapping_add(1), Ordering::Release);
                return;
            }
            if steal != real {
                // Full, but part of it is a thief's claim being copied out.
                // Waiting for the thief could take a whole time slice if its
                // thread is descheduled, so hand off just this item.
                overflow(vec![item]);
                return;
            }
            match self.push_overflow(item, real, tail, overflow) {
                Ok(()) => return,
                // A consumer took items between our load and our CAS, so
                // there is room now: go round again, as Go's `runqput` does.
                Err(back) => item = back,
            }
        }
    }

    /// Go's `runqputslow`: claims the oldest half of a full ring with a CAS on
    /// `head` and sends it, plus `item`, to `overflow`. Fails (returning
    /// `item`) if a consumer moved `head` first.
    fn push_overflow(
        &self,
        item: T,
        head: u32,
        tail: u32,
        overflow: &mut dyn FnMut(Vec<T>),
    ) -> Result<(), T> {
        debug_assert_eq!(tail.wrapping_sub(head), CAPACITY, "ring is not full");
        let claimed = pack(head, head);
        let after = pack(head.wrapping_add(HALF), head.wrapping_add(HALF));
        // Claiming moves `steal` and `real` together: nobody else reads these
        // slots, and only we write slots, so no ordering beyond the CAS's
        // atomicity is needed for the reads below.
        if self
            .head
            .compare_exchange(claimed, after, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            return Err(item);
        }
        let mut batch = Vec::with_capacity(HALF as usize + 1);
        for i in 0..HALF {
            batch.push(self.take_slot(head.wrapping_add(i)));
        }
        batch.push(item);
        overflow(batch);
        Ok(())
    }
    // ANCHOR_END: runqputslow

    /// Go's `runqget`: takes the oldest item. Owner only.
    pub(crate) fn pop(&self, owner: &RingOwner) -> Option<T> {
        self.check(owner);
        self.pop_owned()
    }

    /// `pop` for a caller that is the owner: holds the [`RingOwner`], or
    /// `&mut self`.
    fn pop_owned(&self) -> Option<T> {
        let mut head = self.head.load(Ordering::Acquire);
        let index = loop {
            let (steal, real) = unpack(head);
            let tail = self.tail.load(Ordering::Relaxed);
            if real == tail {
                return None;
            }
            let next_real = real.wrapping_add(1);
            // With no thief active, `steal` moves along with `real`;
            // otherwise the thief moves it when it has finished copying.
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            // The CAS decides between us and any thief claiming this slot.
            match self
                .head
                .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break real,
                Err(actual) => head = actual,
            }
        };
        Some(self.take_slot(index))
    }

    // ANCHOR: runqsteal
    /// Go's `runqsteal` + `runqgrab`: moves `n - n/2` of this ring's `n`
    /// items into `dst` and returns the newest of them to run right away.
    ///
    /// `dst` is the caller's own ring, as `dst_owner` proves. Returns
    /// `None` if this ring is empty, if another thief is copying out of it
    /// right now, or if `dst` has fewer than half its slots free (the
    /// scheduler steals only when its own queue is empty, as Go does).
    pub(crate) fn steal_into(&self, dst: &Ring<T>, dst_owner: &RingOwner) -> Option<T> {
        dst.check(dst_owner);
        // We own `dst`, so its tail is ours to read relaxed.
        let dst_tail = dst.tail.load(Ordering::Relaxed);
        // Acquire: pairs with thieves of `dst` releasing their claim, so their
        // reads of the slots we are about to fill have finished.
        let (dst_steal, _) = unpack(dst.head.load(Ordering::Acquire));
        if dst_tail.wrapping_sub(dst_steal) > HALF {
            return None;
        }

        // 1. Claim: Go's CAS on `runqhead`, made before the copy.
        let mut head = self.head.load(Ordering::Acquire);
        let (first, n) = loop {
            let (steal, real) = unpack(head);
            if steal != real {
                return None;
            }
            // Acquire: pairs with the owner's release of `tail`, so the
            // slots below it are fully written.
            let tail = self.tail.load(Ordering::Acquire);
            let queued = tail.wrapping_sub(real);
            let n = queued - queued / 2;
            if n == 0 {
                return None;
            }
            if n > HALF {
                // `head` and `tail` were read at different moments and the
                // owner moved in between: Go's "inconsistent h and t". Reload.
                head = self.head.load(Ordering::Acquire);
                continue;
            }
            let claimed = pack(steal, real.wrapping_add(n));
            match self
                .head
                .compare_exchange(head, claimed, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break (real, n),
                Err(actual) => head = actual,
            }
        };

        // 2. Copy: the claimed slots are ours alone until we release them.
        for i in 0..n - 1 {
            let item = self.take_slot(first.wrapping_add(i));
            dst.write_slot(dst_tail.wrapping_add(i), item);
        }
        let run_now = self.take_slot(first.wrapping_add(n - 1));

        // 3. Release: move `steal` up to `real`. The owner may have popped
        // meanwhile (moving `real`), so retry with whatever `real` is now;
        // `steal` itself is ours until this CAS succeeds.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (steal, real) = unpack(head);
            debug_assert_eq!(steal, first, "only the claiming thief moves `steal`");
            match self.head.compare_exchange(
                head,
                pack(real, real),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }

        // 4. Publish the copied items in our own ring.
        if n > 1 {
            dst.tail
                .store(dst_tail.wrapping_add(n - 1), Ordering::Release);
        }
        Some(run_now)
    }
    // ANCHOR_END: runqsteal

    /// How many items are queued. Any thread; a snapshot that may be stale
    /// by the time it returns.
    pub(crate) fn len(&self) -> usize {
        let (_, real) = unpack(self.head.load(Ordering::Acquire));
        let tail = self.tail.load(Ordering::Acquire);
        (tail.wrapping_sub(real) as usize).min(RING_CAPACITY)
    }

    /// Whether no item is queued (a snapshot, like [`len`](Ring::len)).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `item` into slot `index` (mod capacity). Owner only, and only
    /// for a slot outside `steal..tail`.
    fn write_slot(&self, index: u32, item: T) {
        self.slots[(index & MASK) as usize].with_mut(|slot| {
            // SAFETY: callers pass an index in `tail..steal + CAPACITY`: the
            // slot holds no live item (so nothing is overwritten without being
            // dropped), no thief is reading it (the release of `steal` that
            // freed it was acquired by the caller's load of `head`), and no
            // other thread writes slots: every caller checked this ring's
            // `RingOwner`, which one thread at a time can use.
            unsafe { ptr::write(slot, MaybeUninit::new(item)) }
        });
    }

    /// Moves the item out of slot `index` (mod capacity). Only for a slot the
    /// caller's CAS on `head` has just claimed.
    fn take_slot(&self, index: u32) -> T {
        self.slots[(index & MASK) as usize].with(|slot| {
            // SAFETY: the caller's successful CAS moved `real` past `index`,
            // so this slot was in `real..tail`: initialised by the owner before
            // its release store of `tail`, which the caller acquired. No other
            // consumer can claim it (the CAS is won once per head value) and
            // the owner will not overwrite it before `steal` passes it. Reading
            // it out leaves the slot logically uninitialised, and nothing reads
            // it again before the next write.
            unsafe { ptr::read(slot).assume_init() }
        })
    }
}

impl<T: Send> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: no thief is mid-steal, so `steal == real` and every
        // item left is in `real..tail`.
        while let Some(item) = self.pop_owned() {
            drop(item);
        }
    }
}

#[cfg(all(test, not(loom)))]
#[path = "ring_tests.rs"]
mod tests;

#[cfg(all(test, loom))]
#[path = "ring_loom.rs"]
mod loom_tests;
