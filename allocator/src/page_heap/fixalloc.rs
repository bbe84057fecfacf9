//! The allocator's own metadata allocator (Go's `mfixalloc.go`).
//!
//! The allocator cannot allocate its own bookkeeping through itself, so span
//! and arena structures come from a `FixAlloc` (Go's `fixalloc`): fixed-size
//! slots bump-allocated from mmapped chunks, recycled through a free list.
//!
//! A slot is never returned to the OS while the heap lives (Go's
//! `fixalloc` never frees either); `release_all` unmaps every chunk when a
//! lessons' `Heap` is dropped.

use core::ptr;

use crate::os;

const FIXALLOC_CHUNK: usize = 256 << 10;

/// Fixed-size slot allocator over mmapped chunks (Go's `fixalloc`).
pub(super) struct FixAlloc {
    slot: usize,
    free: *mut usize,
    cur: usize,
    end: usize,
    /// Chunks, linked through their first word, for `release_all`.
    chunks: *mut usize,
}

impl FixAlloc {
    pub(super) const fn new(slot: usize) -> Self {
        FixAlloc {
            slot,
            free: ptr::null_mut(),
            cur: 0,
            end: 0,
            chunks: ptr::null_mut(),
        }
    }

    pub(super) fn alloc(&mut self) -> *mut u8 {
        if !self.free.is_null() {
            let p = self.free;
            // SAFETY: free slots hold the next free slot in their first word.
            self.free = unsafe { *p as *mut usize };
            return p.cast();
        }
        if self.cur + self.slot > self.end {
            let chunk = os::reserve(FIXALLOC_CHUNK);
            if chunk.is_null() {
                return ptr::null_mut();
            }
            // SAFETY: the chunk is fresh, mapped and 8-aligned.
            unsafe { *(chunk as *mut usize) = self.chunks as usize };
            self.chunks = chunk.cast();
            // Slots start after the link word, 64-byte aligned.
            self.cur = chunk as usize + 64;
            self.end = chunk as usize + FIXALLOC_CHUNK;
        }
        let p = self.cur;
        self.cur += self.slot;
        p as *mut u8
    }

    pub(super) fn free(&mut self, p: *mut u8) {
        // SAFETY: p is a slot from this FixAlloc that its caller no longer uses.
        unsafe { *(p as *mut usize) = self.free as usize };
        self.free = p.cast();
    }

    pub(super) fn release_all(&mut self) {
        let mut c = self.chunks;
        while !c.is_null() {
            // SAFETY: every chunk begins with the link to the next one.
            let next = unsafe { *c } as *mut usize;
            os::release(c.cast(), FIXALLOC_CHUNK);
            c = next;
        }
        *self = FixAlloc::new(self.slot);
    }
}
