//! Size and free from the address alone: what C's `malloc_usable_size`,
//! `free` and `realloc` need, since C hands the allocator a bare pointer and
//! never a `Layout`.
//!
//! Nothing new is stored for this. Every pointer the allocator hands out
//! lies in an arena whose page map already says which span holds each page
//! (Go's `spanOf`, see `page_heap/arena.rs`): two dependent loads from the
//! address. The span then knows everything else. A small-object span has one
//! object size for all its objects (`elem_size`, the size class's size), so
//! the usable size of any object in it is that size, and the object's index
//! is its offset divided by the size (Go's `findObject` does exactly this
//! walk, address → span → object index, for the garbage collector). A large
//! object is the whole span: its usable size is the span's pages.
//!
//! ```text
//!   ptr ── page map (spanOf) ──> span ──┬─ class > 0: usable = elem_size, free into the span
//!                                      └─ class 0 (large): usable = npages × 8 KiB, free the pages
//! ```
//!
//! `free` then takes the same path `GlobalAlloc::dealloc` takes after its own
//! span lookup: the thread cache's free stash (with the class read from the
//! span instead of the layout), the span's bitmap or remote list, or the
//! page heap for a large object. `realloc_unsized` keeps the object where it
//! is when the new size still fits, and otherwise allocates, copies the
//! usable bytes and frees; large blocks go through the same in-place
//! growth as `GlobalAlloc::realloc` (see `realloc.rs`).
//!
//! One shortcut goes before the page map: the thread cache's free memo,
//! the span this thread last freed into and owns (see `cache/fast.rs`). An
//! address inside it has that span's class, which cannot change while the
//! cache owns the span, so a C program freeing object after object of one
//! span pays one range check instead of the page map's two dependent
//! loads. With the slow path out of line, `free` is then a leaf that saves
//! no registers; a C-style pair (alloc, then free by address) went from 112
//! to 90 instructions under callgrind (mimalloc's: 72).
//!
//! Alignment: an allocation made with `GlobalAlloc::alloc` and any `Layout`
//! (up to any power of two) can be sized and freed here. Objects of a class
//! are aligned to their class's alignment, and over-aligned requests go to a
//! class aligned enough or to whole pages whose start is aligned, so the
//! pointer handed out is always the object's (or the span's) start.
//! `realloc_unsized` gives the moved block C's `malloc` alignment,
//! [`MALLOC_ALIGN`] (16 bytes, `alignof(max_align_t)` on x86-64 and aarch64).

use core::alloc::Layout;

use crate::checked::{self, CHECKED};
use crate::events::NoEvents;
use crate::global::{
    BACKEND, SpanAlloc, active_thread_cache, free_cached, free_uncached, thread_cache,
};
use crate::size_class::PAGE_SIZE;

/// The alignment C's `malloc` guarantees and `SpanAlloc::realloc_unsized`
/// gives a moved block: 16 bytes (`alignof(max_align_t)` on 64-bit Linux).
/// glibc's `MALLOC_ALIGNMENT` has the same value.
pub const MALLOC_ALIGN: usize = 16;

impl SpanAlloc {
    /// The bytes usable at `ptr`, an allocation of this heap: the size class's
    /// object size for a small object, the whole span (pages × 8 KiB) for a
    /// large one. Always at least the size that was asked for. C's
    /// `malloc_usable_size`; Go finds the same thing with `spanOf(p).elemsize`.
    ///
    /// Returns 0 for a null pointer, and for a pointer no arena of this heap
    /// holds (in checked builds such a pointer aborts with a message instead).
    ///
    /// ```
    /// use allocator::SpanAlloc;
    /// use std::alloc::{GlobalAlloc, Layout};
    ///
    /// static A: SpanAlloc = SpanAlloc::new();
    /// let layout = Layout::from_size_align(100, 8).unwrap();
    /// // SAFETY: a live allocation of A, freed once.
    /// unsafe {
    ///     let p = A.alloc(layout);
    ///     assert_eq!(A.usable_size(p), 112); // the 112-byte size class
    ///     A.free(p);                         // no Layout needed
    /// }
    /// ```
    ///
    /// # Safety
    /// `ptr` is null or was returned by this heap's `alloc` (or
    /// `realloc_unsized`) and is not yet freed.
    pub unsafe fn usable_size(&self, ptr: *const u8) -> usize {
        let addr = ptr as usize;
        if ptr.is_null() {
            return 0;
        }
        let s = BACKEND.pages.span_of_growable(addr);
        if s.is_null() {
            if CHECKED {
                checked::foreign(addr, None);
            }
            return 0;
        }
        // SAFETY: the page map only holds spans of this heap, never freed;
        // ptr is live (caller's contract), so the span's fields are stable.
        let span = unsafe { &*s };
        if span.class == 0 {
            return span.npages * PAGE_SIZE - (addr - span.start);
        }
        if CHECKED && !span.is_object_start(addr) {
            checked::foreign(addr, Some(span.class));
        }
        span.elem_size
    }

    /// Frees `ptr` without its `Layout`: the page map finds its span (Go's
    /// `spanOf`), and the span says whether it is a small object of a size
    /// class or a large object. C's `free`. A null pointer does nothing.
    ///
    /// Most frees skip the page map: when `ptr` lies in the span this
    /// thread last freed into and owns (the cache's free memo), that span's
    /// class is read at once and the free takes the same fast paths as
    /// `GlobalAlloc::dealloc`; only the rest goes out of line.
    ///
    /// # Safety
    /// `ptr` is null or was returned by this heap's `alloc` (with any
    /// layout) or `realloc_unsized`, and is not used or freed again.
    #[inline]
    pub unsafe fn free(&self, ptr: *mut u8) {
        let addr = ptr as usize;
        if !CHECKED
            && self.uses_thread_cache()
            && let Some(c) = active_thread_cache()
            // SAFETY: c is this thread's active cache.
            && let Some(class) = unsafe { (*c).memo_class(addr) }
        {
            // The span of the last free this cache made into a span it owns:
            // the class without the page map, and the same fast paths as
            // `GlobalAlloc::dealloc`.
            // SAFETY: ptr is a live object of that span (caller's contract),
            // so of `class`; c is this thread's active cache.
            return unsafe { free_cached(c, class, addr) };
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { self.free_slow(ptr) }
    }

    /// `free` past the free memo: the page map finds the span, out of line
    /// so that `free` itself stays a leaf that saves no registers (as
    /// `GlobalAlloc::dealloc` does, see `global.rs`).
    ///
    /// # Safety
    /// As `free`.
    #[inline(never)]
    unsafe fn free_slow(&self, ptr: *mut u8) {
        let addr = ptr as usize;
        if ptr.is_null() {
            return;
        }
        let s = BACKEND.pages.span_of_growable(addr);
        if s.is_null() {
            checked::foreign(addr, None);
        }
        // SAFETY: the page map only holds spans of this heap, never freed.
        let span = unsafe { &*s };
        let class = span.class;
        let cache = if self.uses_thread_cache() {
            thread_cache()
        } else {
            None
        };
        if class == 0 {
            match cache {
                // SAFETY: s is what the page map holds for addr; the cache is
                // this thread's.
                Some(c) => unsafe { (*c).free_large(&BACKEND, s, addr, None, NoEvents::sink()) },
                // SAFETY: s is what the page map holds for addr, and no cache
                // is involved; free_large checks the span under the lock.
                None => unsafe { BACKEND.free_large(s, addr, None, NoEvents::sink()) },
            }
            return;
        }
        if CHECKED && !span.is_object_start(addr) {
            checked::foreign(addr, Some(class));
        }
        match cache {
            Some(c) => {
                // SAFETY: ptr is a live object of s, whose class is `class`;
                // the cache is this thread's, active and not otherwise
                // borrowed.
                unsafe {
                    if !CHECKED {
                        // The memo now names s if this cache owns it, so
                        // the fast paths find it: the same free as
                        // `dealloc`'s (a stash push, or a push on the
                        // span's own list).
                        (*c).remember_if_owned(s);
                        return free_cached(c, class, addr);
                    }
                    if !(*c).stash_free(&BACKEND, class, addr) {
                        (*c).free(&BACKEND, s, addr, NoEvents::sink());
                    }
                }
            }
            // SAFETY: ptr is a live object of the small-object span s.
            None => unsafe { free_uncached(s, addr) },
        }
    }

    /// Resizes `ptr` without its `Layout` (C's `realloc` for a non-null
    /// pointer): returns `ptr` itself if `new_size` still fits its usable
    /// size and stays in the same size class (or page count, for a large
    /// object), grows a large block in place when the pages after it are
    /// free, and otherwise moves the contents (the old usable bytes, up to
    /// `new_size`) to a new block aligned to [`MALLOC_ALIGN`] and frees the
    /// old one. Returns null, leaving `ptr` untouched, when out of memory.
    ///
    /// # Safety
    /// `ptr` was returned by this heap and is live; `new_size` is not 0 (C's
    /// `realloc(p, 0)` is a `free`, which the caller decides) and rounded up
    /// to `MALLOC_ALIGN` does not exceed `isize::MAX`.
    pub unsafe fn realloc_unsized(&self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        // SAFETY: ptr is live (caller's contract).
        let old = unsafe { self.usable_size(ptr) };
        // SAFETY: MALLOC_ALIGN is a power of two and the caller bounds
        // new_size.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, MALLOC_ALIGN) };
        // SAFETY: ptr is live with `old` usable bytes; see realloc.rs.
        unsafe { crate::realloc::realloc(self, ptr, old, None, new_layout) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::size_class::class_for_layout;
    use core::alloc::GlobalAlloc;

    #[test]
    fn a_free_by_address_into_the_memo_span_goes_on_its_class_stash() {
        static A: SpanAlloc = SpanAlloc::new();
        let layout = Layout::from_size_align(48, 8).expect("a valid layout");
        let class = class_for_layout(48, 8).expect("a small class");
        // SAFETY: every pointer is a live allocation of A, freed once.
        unsafe {
            let x = A.alloc(layout);
            let y = A.alloc(layout);
            assert!(!x.is_null() && !y.is_null(), "out of memory");
            if CHECKED {
                // Checked builds take every free through the page map and
                // keep no stash, so there is nothing more to see.
                A.free(x);
                A.free(y);
                return;
            }
            // Empty the class's stash (an allocation stashes a run of the
            // span's objects), so that the frees below have room in it.
            let c = thread_cache().expect("the thread's cache is active");
            let mut held = Vec::new();
            while (*c).stash_len(class) > 0 {
                held.push(A.alloc(layout));
            }
            // The page map finds x's span, which this thread's cache owns:
            // it becomes the memo.
            A.free(x);
            assert_eq!(
                (*c).memo_class(y as usize),
                Some(class),
                "y's span should be the memo, with y's class"
            );
            // The memo gives y's class without the page map; y goes on the
            // class's stash after x, so the next two allocations are y, x.
            A.free(y);
            assert_eq!(A.alloc(layout), y, "the last object freed comes back first");
            assert_eq!(A.alloc(layout), x, "then the one freed before it");
            A.free(x);
            A.free(y);
            for p in held {
                A.free(p);
            }
        }
    }
}
