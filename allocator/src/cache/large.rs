//! The large-object stash of a thread cache (not in Go's `mcache`; in the
//! spirit of Go's per-P page cache, `pageCache`): up to four freed spans of
//! up to 512 KiB each, reused by this thread's next large allocation of the
//! same page count without taking the page heap's lock. A program that
//! allocates and frees a 64 KiB buffer in a loop (a read buffer, a
//! serialiser's scratch) then never touches the page heap. When the
//! pattern changes (the stash is full and no slot fits) the stash goes back
//! to the page heap; checked mode skips it, since the page heap must see
//! every free to catch a double free.

use core::ptr;
use core::sync::atomic::Ordering as StatOrdering;

use super::{Cache, FREE_FLUSH_MASK};
use crate::backend::Backend;
use crate::checked;
use crate::events::EventSink;
use crate::size_class::PAGE_SIZE;
use crate::span::Span;

/// Freed large spans a cache may keep for reuse (see `free_large`).
pub(super) const STASH_SLOTS: usize = 4;
/// Largest span (in pages) the stash keeps: 512 KiB.
const STASH_MAX_PAGES: usize = 64;

impl Cache {
    /// Allocates a large object, reusing a stashed span of the same page
    /// count when there is one (no lock), else from the page heap.
    /// Also says whether the block is known to read as zero (never for a
    /// reused stashed span).
    pub(crate) fn alloc_large_z<E: EventSink>(
        &mut self,
        b: &Backend,
        size: usize,
        align: usize,
        ev: &mut E,
    ) -> (usize, bool) {
        let npages = size.div_ceil(PAGE_SIZE).max(1);
        if align <= PAGE_SIZE {
            for slot in self.stash.iter_mut() {
                let s = *slot;
                // SAFETY: stashed spans are live Large spans only this cache uses.
                if !s.is_null() && unsafe { (*s).npages } == npages {
                    *slot = ptr::null_mut();
                    // SAFETY: s is a stashed Large span (not null, checked above) that only this cache uses.
                    let addr = unsafe { (*s).start };
                    self.large_pending[0] += 1;
                    self.large_pending[2] += (npages * PAGE_SIZE) as u64;
                    self.tick_large(b, size, addr, ev);
                    return (addr, false);
                }
            }
            if self.stash.iter().all(|s| !s.is_null()) {
                // The pattern changed: give the stash back.
                self.release_stash(b, ev);
            }
        }
        let (addr, zeroed) = b.alloc_large_z(size, align, ev);
        if addr != 0 {
            self.tick_large(b, size, addr, ev);
        }
        (addr, zeroed)
    }

    /// Frees a large object. A span of up to 512 KiB is kept in the stash
    /// for this thread's next large allocation of the same size (Go keeps a
    /// per-P page cache for the same reason: most page-level allocations
    /// then skip the heap lock); otherwise, and in checked mode (where the
    /// page heap must see every free to catch double frees), it goes back
    /// to the page heap.
    ///
    /// # Safety
    /// `s` is what the page map holds for `addr`.
    pub(crate) unsafe fn free_large<E: EventSink>(
        &mut self,
        b: &Backend,
        s: *mut Span,
        addr: usize,
        layout: Option<(usize, usize)>,
        ev: &mut E,
    ) {
        if !checked::CHECKED {
            // SAFETY: s is a live large span (caller's contract; unchecked
            // mode trusts the caller, as GlobalAlloc allows).
            let (npages, start) = unsafe { ((*s).npages, (*s).start) };
            if npages <= STASH_MAX_PAGES
                && start == addr
                && let Some(slot) = self.stash.iter_mut().find(|x| x.is_null())
            {
                // SAFETY: s is a live large span (caller's contract); `sampled` is an atomic.
                if unsafe { (*s).sampled.load(StatOrdering::Relaxed) } != 0 {
                    b.profile.on_free(addr, s);
                }
                *slot = s;
                self.large_pending[1] += 1;
                self.large_pending[3] += (npages * PAGE_SIZE) as u64;
                if self.large_pending[1] & FREE_FLUSH_MASK == 0 {
                    self.flush_large(b);
                }
                return;
            }
        }
        // SAFETY: the caller's contract.
        unsafe { b.free_large(s, addr, layout, ev) };
    }

    /// Returns the stashed spans to the page heap.
    pub(super) fn release_stash<E: EventSink>(&mut self, b: &Backend, ev: &mut E) {
        for slot in self.stash.iter_mut() {
            let s = core::mem::replace(slot, ptr::null_mut());
            if !s.is_null() {
                // The objects were already counted as freed.
                let mut heap = b.pages.lock();
                // SAFETY: a stashed span is a Large span nobody uses.
                unsafe { b.pages.free_run(&mut heap, s) };
                drop(heap);
                b.settle_pages(ev);
            }
        }
    }

    pub(super) fn flush_large(&mut self, b: &Backend) {
        let [a, f, ab, fb] = core::mem::take(&mut self.large_pending);
        b.counters.add_large(a, f, ab, fb);
    }
}
