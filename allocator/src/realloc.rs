//! Resizing without moving, where the heap allows it.
//!
//! A small object can stay where it is when the new size falls in the same
//! size class: its slot already has the room. A large object is a span of
//! its own, so it keeps its address when the new size needs the same number
//! of pages. Everything else moves (allocate, copy, free), in
//! `GlobalAlloc::realloc` and in `SpanAlloc::realloc_unsized` alike.

use core::alloc::Layout;

use crate::global::BACKEND;
use crate::size_class::{PAGE_SIZE, class_for_layout};

/// Resizes the live block `ptr` (with `old` usable bytes) to `new` without
/// moving it, if its span allows: returns `Some(ptr)` then, `None` when the
/// caller must move the block.
///
/// # Safety
/// `ptr` is a live allocation of the global heap.
pub(crate) unsafe fn resize_in_place(ptr: *mut u8, old: usize, new: Layout) -> Option<*mut u8> {
    let _ = old;
    let s = BACKEND.pages.span_of_growable(ptr as usize);
    if s.is_null() {
        return None;
    }
    // SAFETY: ptr is live, so s is its span and stays so meanwhile.
    let span = unsafe { &*s };
    match class_for_layout(new.size(), new.align()) {
        Some(class) => (span.class == class).then_some(ptr),
        None if span.class == 0 => {
            let pages = new.size().div_ceil(PAGE_SIZE).max(1);
            (span.npages == pages && (ptr as usize).is_multiple_of(new.align())).then_some(ptr)
        }
        None => None,
    }
}
