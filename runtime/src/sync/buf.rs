//! A buffered channel's ring: Go's `hchan.buf` with `sendx`, `recvx`,
//! `qcount` and `dataqsiz`.
//!
//! Go allocates `dataqsiz` element slots next to the `hchan` header in
//! `makechan` and never moves them. A send writes slot `sendx` and advances
//! it (wrapping to 0 at `dataqsiz`); a receive reads slot `recvx` and
//! advances it; `qcount` says how many slots hold a value. The slots between
//! `recvx` and `sendx` (going round) are the queued values, oldest first.
//!
//! ```text
//!  dataqsiz = 4, qcount = 2
//!  +-----+-----+-----+-----+
//!  |     |  a  |  b  |     |
//!  +-----+-----+-----+-----+
//!           ^           ^
//!         recvx       sendx
//! ```
//!
//! The slots are allocated once, up front, and uninitialised: only the
//! `qcount` slots from `recvx` hold values. Asking for more slots than
//! memory can address is refused with an error instead of an abort
//! ([`Buf::with_capacity`]).

use std::mem::MaybeUninit;

/// The ring of a buffered channel (see the module comment).
pub(crate) struct Buf<T> {
    slots: Box<[MaybeUninit<T>]>,
    /// Next slot a send writes (Go's `sendx`).
    sendx: usize,
    /// Next slot a receive reads (Go's `recvx`).
    recvx: usize,
    /// Values queued (Go's `qcount`).
    qcount: usize,
}

impl<T> Buf<T> {
    /// A ring of `cap` slots (Go's `dataqsiz`); `None` if the slots cannot
    /// be allocated (Go's `makechan: size out of range`).
    pub(crate) fn with_capacity(cap: usize) -> Option<Self> {
        if cap > isize::MAX as usize {
            return None;
        }
        let mut v: Vec<MaybeUninit<T>> = Vec::new();
        v.try_reserve_exact(cap).ok()?;
        // SAFETY: the capacity was just reserved, and MaybeUninit<T> needs
        // no initialisation, so the first `cap` elements are valid.
        unsafe { v.set_len(cap) };
        Some(Buf {
            slots: v.into_boxed_slice(),
            sendx: 0,
            recvx: 0,
            qcount: 0,
        })
    }

    /// Go's `dataqsiz`.
    pub(crate) fn cap(&self) -> usize {
        self.slots.len()
    }

    /// Go's `qcount`.
    pub(crate) fn len(&self) -> usize {
        self.qcount
    }

    pub(crate) fn is_full(&self) -> bool {
        self.qcount == self.slots.len()
    }

    /// Writes `v` at `sendx` (Go's `typedmemmove(c.elemtype, chanbuf(c,
    /// c.sendx), ep)`). The caller checked that the ring is not full.
    pub(crate) fn push(&mut self, v: T) {
        assert!(!self.is_full(), "push on a full channel ring");
        self.slots[self.sendx].write(v);
        self.sendx += 1;
        if self.sendx == self.slots.len() {
            self.sendx = 0;
        }
        self.qcount += 1;
    }

    /// Takes the value at `recvx`, the oldest, if any.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.qcount == 0 {
            return None;
        }
        // SAFETY: `qcount > 0`, so slot `recvx` holds a value written by
        // `push` and not yet read; advancing `recvx` below marks it empty,
        // so it is read exactly once.
        let v = unsafe { self.slots[self.recvx].assume_init_read() };
        self.recvx += 1;
        if self.recvx == self.slots.len() {
            self.recvx = 0;
        }
        self.qcount -= 1;
        Some(v)
    }

    /// Where the next send and receive go: `(sendx, recvx)`, for lessons.
    pub(crate) fn indices(&self) -> (usize, usize) {
        (self.sendx, self.recvx)
    }
}

impl<T> Drop for Buf<T> {
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_ring_wraps_and_keeps_fifo_order() {
        let mut b = Buf::with_capacity(3).unwrap();
        for round in 0..4 {
            b.push(round * 10);
            b.push(round * 10 + 1);
            assert_eq!(b.pop(), Some(round * 10));
            assert_eq!(b.pop(), Some(round * 10 + 1));
        }
        assert_eq!(
            b.indices(),
            (2, 2),
            "8 sends on 3 slots leave sendx = recvx = 8 mod 3"
        );
        assert_eq!(b.pop(), None);
    }

    #[test]
    fn an_impossible_capacity_is_refused_not_aborted() {
        assert!(Buf::<u64>::with_capacity(usize::MAX).is_none());
        assert!(Buf::<u64>::with_capacity(isize::MAX as usize).is_none());
    }

    #[test]
    fn values_left_in_the_ring_are_dropped_with_it() {
        let v = std::sync::Arc::new(());
        let mut b = Buf::with_capacity(2).unwrap();
        b.push(v.clone());
        b.push(v.clone());
        drop(b);
        assert_eq!(std::sync::Arc::strong_count(&v), 1);
    }
}
