//! Intrusive doubly linked lists of spans (Go's `mSpanList` in `mheap.go`):
//! the page heap's free-run lists and the central lists' `partial` and
//! `full` (see `central.rs`) are the same structure. The links live in the
//! span's `local` part, owned by whichever lock owns the list; each span
//! records which kind of list it is on (`ListKind`), so that coalescing can
//! tell a free run on a free list from one that is not.

use core::ptr;

use crate::span::{ListKind, Span};

/// An intrusive doubly linked list of spans (Go's `mSpanList`).
pub(crate) struct SpanList {
    pub(crate) head: *mut Span,
    pub(crate) len: usize,
}

impl SpanList {
    pub(crate) const fn new() -> Self {
        SpanList {
            head: ptr::null_mut(),
            len: 0,
        }
    }

    /// Pushes `s` at the front and records `kind` in it.
    ///
    /// # Safety
    /// The caller owns `s` and the list; `s` is on no list.
    pub(crate) unsafe fn push(&mut self, s: *mut Span, kind: ListKind) {
        // SAFETY: the caller owns s and the list, so their link fields are ours.
        unsafe {
            let l = (*s).local();
            debug_assert_eq!(l.list, ListKind::None);
            l.set_list(kind);
            l.prev = ptr::null_mut();
            l.next = self.head;
            if !self.head.is_null() {
                (*self.head).local().prev = s;
            }
        }
        self.head = s;
        self.len += 1;
    }

    /// Unlinks `s`, which is on this list.
    ///
    /// # Safety
    /// The caller owns the list; `s` is on it.
    pub(crate) unsafe fn remove(&mut self, s: *mut Span) {
        // SAFETY: s and its neighbours are on this list, owned by the caller.
        unsafe {
            let l = (*s).local();
            let (prev, next) = (l.prev, l.next);
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).local().next = next;
            }
            if !next.is_null() {
                (*next).local().prev = prev;
            }
            l.next = ptr::null_mut();
            l.prev = ptr::null_mut();
            l.set_list(ListKind::None);
        }
        self.len -= 1;
    }

    /// Removes and returns the first span, or null.
    ///
    /// # Safety
    /// The caller owns the list.
    pub(crate) unsafe fn pop(&mut self) -> *mut Span {
        let s = self.head;
        if !s.is_null() {
            // SAFETY: s is on this list.
            unsafe { self.remove(s) };
        }
        s
    }
}
