//! `realloc`: resize without moving where the heap allows it, and move big
//! blocks without copying them.
//!
//! Allocate-copy-free is what a resize costs when nothing better is known,
//! and for a buffer that grows step by step it is quadratic: growing by
//! 64 KiB to 64 MiB copies 32 GiB. (Before this file the large-object path
//! did exactly that, and freeing each old copy pushed the dirty free pages
//! over the scavenger's threshold, so every step also released pages under
//! the heap lock that the next step faulted in again.) Three cheaper cases
//! come first, in this order:
//!
//! 1. **Same slot.** A small object stays where it is when the new size
//!    falls in the same size class; a large object when it needs the same
//!    number of pages.
//! 2. **In place.** A large object shrinks by giving its tail pages back as
//!    a free run, and grows by taking the pages right after it when the
//!    page map says they are a free run long enough (`PageHeap::grow_in_place`,
//!    under the heap lock). A buffer that grows at the end of the heap's
//!    free space then never moves. glibc grows into the next free chunk the
//!    same way; Go has no `realloc` (its slices grow by allocate-and-copy,
//!    which the garbage collector makes cheaper to get wrong).
//! 3. **Moved by the kernel.** A large object of at least
//!    [`MREMAP_MIN_BYTES`] that cannot grow in place gets a new span, and
//!    `mremap` moves its pages there: the kernel moves page-table entries,
//!    not bytes. With `MREMAP_DONTUNMAP` the old range stays mapped and
//!    empty (it reads as zeros), so the old run is freed as *released*
//!    (`free_run_zeroed`): the scavenger has nothing to do for it and
//!    `alloc_zeroed` may hand it out uncleared. (An earlier version let the
//!    move unmap the old range and mapped it back with `MAP_FIXED`; another
//!    thread's `mmap` could land in the hole between the two calls and be
//!    overwritten: `os::move_pages` explains.) glibc's `realloc` uses
//!    `mremap` for its mmapped chunks for the same reason.
//!
//! Everything else (a small object changing class, a large one becoming
//! small, or a move under 1 MiB) allocates, copies and frees.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use crate::events::NoEvents;
use crate::global::{BACKEND, SpanAlloc, alloc_large_z};
use crate::os;
use crate::size_class::{PAGE_SIZE, class_for_layout};
use crate::span::SpanState;

/// Large blocks at least this big that must move are moved with `mremap`
/// instead of copied: 1 MiB, where a copy (some 50-100 µs) clearly costs
/// more than the two system calls.
pub(crate) const MREMAP_MIN_BYTES: usize = 1 << 20;

/// Resizes the live block `ptr` to `new`. `keep` is how many of its bytes
/// must survive a move (the old layout's size, or its usable size);
/// `old_layout` is the layout it was allocated with, if known (the
/// `GlobalAlloc` path; checked mode verifies it on free), else the block is
/// freed by address. Returns null, leaving `ptr` untouched, when out of
/// memory.
///
/// # Safety
/// `ptr` is a live allocation of the global heap made through `a`'s
/// backend; `new` is a valid layout with the block's alignment.
pub(crate) unsafe fn realloc(
    a: &SpanAlloc,
    ptr: *mut u8,
    keep: usize,
    old_layout: Option<Layout>,
    new: Layout,
) -> *mut u8 {
    // SAFETY: ptr is live (caller's contract).
    if let Some(p) = unsafe { resize_in_place(ptr, new) } {
        return p;
    }
    // SAFETY: ptr is still live: resize_in_place gave up without touching it.
    if let Some(p) = unsafe { move_large(a, ptr, old_layout, new) } {
        return p;
    }
    // SAFETY: a valid layout.
    let fresh = unsafe { a.alloc(new) };
    if !fresh.is_null() {
        // SAFETY: both blocks hold at least min(keep, new) bytes and are
        // distinct; the old one is live until freed here.
        unsafe {
            ptr::copy_nonoverlapping(ptr, fresh, keep.min(new.size()));
            match old_layout {
                Some(l) => a.dealloc(ptr, l),
                None => a.free(ptr),
            }
        }
    }
    fresh
}

/// Cases 1 and 2 of the module doc: returns `Some(ptr)` if the block now
/// has the new size where it is, `None` if it must move.
///
/// # Safety
/// `ptr` is a live allocation of the global heap.
unsafe fn resize_in_place(ptr: *mut u8, new: Layout) -> Option<*mut u8> {
    let s = BACKEND.pages.span_of_growable(ptr as usize);
    if s.is_null() {
        return None;
    }
    // SAFETY: ptr is live, so s is its span; only its user changes its size.
    let span = unsafe { &*s };
    match class_for_layout(new.size(), new.align()) {
        Some(class) => (span.class == class).then_some(ptr),
        None if span.class == 0 => {
            let pages = new.size().div_ceil(PAGE_SIZE).max(1);
            let old_pages = span.npages;
            if pages == old_pages {
                return Some(ptr);
            }
            if !(ptr as usize).is_multiple_of(new.align()) {
                return None;
            }
            let mut heap = BACKEND.pages.lock();
            // SAFETY: under the heap lock the span's state is stable; a
            // Large span starting at ptr is the caller's live block.
            let done = unsafe {
                if span.local_ref().state != SpanState::Large || span.start != ptr as usize {
                    false
                } else if pages > old_pages {
                    BACKEND.pages.grow_in_place(&mut heap, s, pages)
                } else {
                    BACKEND.pages.shrink_in_place(&mut heap, s, pages)
                }
            };
            drop(heap);
            BACKEND.settle_pages(NoEvents::sink());
            if done {
                BACKEND
                    .counters
                    .large_resize(old_pages * PAGE_SIZE, pages * PAGE_SIZE);
            }
            done.then_some(ptr)
        }
        None => None,
    }
}

/// Case 3 of the module doc: a large block of at least `MREMAP_MIN_BYTES`
/// growing out of room moves its pages with `mremap`. `None` if this case
/// does not apply; `Some(null)` when out of memory.
///
/// # Safety
/// `ptr` is a live allocation of the global heap; `old_layout` as in
/// `realloc`.
unsafe fn move_large(
    a: &SpanAlloc,
    ptr: *mut u8,
    old_layout: Option<Layout>,
    new: Layout,
) -> Option<*mut u8> {
    let s = BACKEND.pages.span_of_growable(ptr as usize);
    if s.is_null() {
        return None;
    }
    // SAFETY: ptr is live, so s is its span.
    let span = unsafe { &*s };
    let old_bytes = span.npages * PAGE_SIZE;
    if span.class != 0
        || span.start != ptr as usize
        || old_bytes < MREMAP_MIN_BYTES
        || new.size() <= old_bytes
        || class_for_layout(new.size(), new.align()).is_some()
    {
        return None;
    }
    let (fresh, _) = alloc_large_z(a, new.size(), new.align());
    if fresh.is_null() {
        return Some(fresh);
    }
    if !os::move_pages(ptr, old_bytes, fresh) {
        // SAFETY: both blocks hold old_bytes bytes (whole pages of their
        // spans) and are distinct; the old one is freed once.
        unsafe {
            ptr::copy_nonoverlapping(ptr, fresh, old_bytes);
            match old_layout {
                Some(l) => a.dealloc(ptr, l),
                None => a.free(ptr),
            }
        }
        return Some(fresh);
    }
    let check = old_layout
        .filter(|_| crate::checked::CHECKED)
        .map(|l| (l.size(), l.align()));
    // SAFETY: s is the page map's span for ptr, a live large block whose
    // pages were just moved away, leaving zeros; it is freed once.
    unsafe { BACKEND.free_large_moved(s, ptr as usize, check, &mut NoEvents) };
    Some(fresh)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::page_heap::PageHeap;

    #[test]
    fn a_fixed_heap_grows_and_shrinks_a_span_in_place() {
        let h = PageHeap::new_fixed(64 * PAGE_SIZE, usize::MAX).unwrap();
        let mut inner = h.lock();
        let a = h.alloc_run(&mut inner, 4, 1).unwrap().span;
        let b = h.alloc_run(&mut inner, 4, 1).unwrap().span;
        // SAFETY: a and b are live spans of this heap used only here.
        unsafe {
            assert!(
                !h.grow_in_place(&mut inner, a, 5),
                "a is followed by b, not by free pages"
            );
            assert!(
                h.grow_in_place(&mut inner, b, 20),
                "b is followed by 56 free pages"
            );
            assert_eq!((*b).npages, 20);
            let base = (*a).start;
            assert_eq!(h.span_of(base + 23 * PAGE_SIZE), b, "grown pages map to b");
            assert!(h.shrink_in_place(&mut inner, b, 6));
            assert_eq!((*b).npages, 6);
            assert!(h.grow_in_place(&mut inner, b, 60), "the tail merged back");
            assert!(!h.grow_in_place(&mut inner, b, 61), "past the arena's end");
            h.free_run(&mut inner, a);
            h.free_run(&mut inner, b);
        }
        assert_eq!(inner_in_use(&h, inner), 0);
        // SAFETY: nothing is used afterwards.
        unsafe { h.release_all() };
    }

    fn inner_in_use(
        h: &PageHeap,
        inner: crate::sync::MutexGuard<'_, crate::page_heap::Inner>,
    ) -> usize {
        drop(inner);
        h.stats().in_use_bytes
    }
}
