//! Arenas and the page map: where the page heap's memory comes from, and
//! how an address finds its span.
//!
//! ## Arenas
//!
//! Memory is reserved from the OS in *arenas* (Go's `heapArena`): 64 MiB
//! aligned to 64 MiB (or a multiple, for a huge object). Reserving costs only
//! address space; Linux commits a page when it is first touched. A `Heap`
//! for lessons instead gets exactly one arena of the size it asked for and
//! never grows, so its layout is deterministic.
//!
//! ## Address → span in O(1)
//!
//! Freeing a pointer needs its span. Every arena has a *page map* (Go's
//! `heapArena.spans`): one word per page, pointing at the span that holds the
//! page. All pages of an in-use span point at it; a free run sets only its
//! first and last page, which is all coalescing needs. Finding the arena of
//! an address is one more load: a flat table indexed by `address >> 26`
//! (Go's `arenas` map, one level here), reserved once as 32 MiB of lazily
//! committed address space covering a 48-bit address space.

use core::ptr;
use core::sync::atomic::Ordering as MapOrdering;

use super::{Inner, MapWord, PageHeap};
use crate::os;
use crate::size_class::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::{Span, SpanState};

/// log2 of the arena size (64 MiB, as Go on 64-bit Linux).
const ARENA_SHIFT: usize = 26;
/// Bytes per arena.
pub const ARENA_BYTES: usize = 1 << ARENA_SHIFT;
/// Address bits covered by the arena table; higher addresses are foreign.
const ADDRESS_BITS: usize = 48;
pub(super) const TABLE_ENTRIES: usize = 1 << (ADDRESS_BITS - ARENA_SHIFT);

/// One reservation from the OS (Go's `heapArena`).
pub(crate) struct Arena {
    pub(crate) base: usize,
    pub(crate) npages: usize,
    /// `npages` words: the span holding each page (see module doc).
    pub(super) page_map: *const MapWord,
    pub(super) next: *mut Arena,
}

impl Arena {
    /// The span recorded for page `page` of this arena (may be stale for the
    /// middle pages of a free run).
    #[inline(always)]
    pub(super) fn span_at(&self, page: usize) -> *mut Span {
        debug_assert!(page < self.npages);
        // SAFETY: page < npages, and page_map holds npages words for the
        // arena's whole life.
        unsafe { (*self.page_map.add(page)).load(MapOrdering::Relaxed) as *mut Span }
    }

    pub(super) fn set_span(&self, page: usize, span: *mut Span) {
        // SAFETY: the caller passes page < npages (every caller computes it from
        // an address inside the arena), and page_map holds npages words for the
        // arena's whole life.
        unsafe { (*self.page_map.add(page)).store(span as usize, MapOrdering::Relaxed) }
    }

    pub(super) fn end(&self) -> usize {
        self.base + self.npages * PAGE_SIZE
    }
}

impl PageHeap {
    /// The arena holding `addr`, or null.
    #[inline(always)]
    fn arena_of(&self, addr: usize) -> *const Arena {
        let fixed = self.fixed_arena.load(MapOrdering::Relaxed) as *const Arena;
        if !fixed.is_null() {
            // SAFETY: the fixed arena lives as long as the heap.
            let a = unsafe { &*fixed };
            return if addr >= a.base && addr < a.end() {
                fixed
            } else {
                ptr::null()
            };
        }
        let table = self.table.load(MapOrdering::Acquire) as *const MapWord;
        if table.is_null() || addr >> ADDRESS_BITS != 0 {
            return ptr::null();
        }
        // SAFETY: the table has TABLE_ENTRIES words and the index is below
        // that because addr < 2^ADDRESS_BITS.
        unsafe { (*table.add(addr >> ARENA_SHIFT)).load(MapOrdering::Relaxed) as *const Arena }
    }

    /// The span whose pages hold `addr`, or null if no arena holds it. For
    /// addresses inside free runs the result may be stale: callers that may
    /// see foreign pointers check the span's range and state.
    #[inline(always)]
    pub(crate) fn span_of(&self, addr: usize) -> *mut Span {
        let a = self.arena_of(addr);
        if a.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: arenas are never freed while the heap lives, and addr is
        // inside this one, so the page index is in range.
        unsafe { (*a).span_at((addr - (*a).base) >> PAGE_SHIFT) }
    }

    /// `span_of` for a growable heap (the global allocator's): the chunk's
    /// page map from one table load, then the page's entry.
    #[inline(always)]
    pub(crate) fn span_of_growable(&self, addr: usize) -> *mut Span {
        let maps = self.chunk_maps.load(MapOrdering::Acquire) as *const MapWord;
        if maps.is_null() || addr >> ADDRESS_BITS != 0 {
            return ptr::null_mut();
        }
        // SAFETY: the table has TABLE_ENTRIES words and addr < 2^ADDRESS_BITS.
        let map = unsafe { (*maps.add(addr >> ARENA_SHIFT)).load(MapOrdering::Relaxed) }
            as *const MapWord;
        if map.is_null() {
            return ptr::null_mut();
        }
        let page = (addr >> PAGE_SHIFT) & ((ARENA_BYTES >> PAGE_SHIFT) - 1);
        // SAFETY: map points at the ARENA_BYTES / PAGE_SIZE page-map words of
        // this chunk, which live as long as the heap.
        unsafe { (*map.add(page)).load(MapOrdering::Relaxed) as *mut Span }
    }

    /// Base address and length of a fixed heap's arena.
    pub(crate) fn fixed_region(&self) -> Option<(usize, usize)> {
        let a = self.fixed_arena.load(MapOrdering::Relaxed) as *const Arena;
        // SAFETY: the fixed arena lives as long as the heap.
        (!a.is_null()).then(|| unsafe { ((*a).base, (*a).npages * PAGE_SIZE) })
    }

    /// Reserves an arena of at least `bytes` aligned to `align`.
    pub(super) fn reserve_arena(
        inner: &mut Inner,
        bytes: usize,
        align: usize,
    ) -> Option<*mut Arena> {
        let bytes = bytes.checked_next_multiple_of(PAGE_SIZE)?;
        let npages = bytes / PAGE_SIZE;
        let base = os::reserve_aligned(bytes, align);
        if base.is_null() {
            return None;
        }
        let map = os::reserve(npages * size_of::<usize>());
        let slot = inner.arena_structs.alloc() as *mut Arena;
        if map.is_null() || slot.is_null() {
            os::release(base, bytes);
            if !map.is_null() {
                os::release(map, npages * size_of::<usize>());
            }
            return None;
        }
        // SAFETY: slot is a fresh FixAlloc slot sized and aligned for Arena.
        unsafe {
            slot.write(Arena {
                base: base as usize,
                npages,
                page_map: map as *const MapWord,
                next: inner.arenas,
            })
        };
        inner.arenas = slot;
        inner.stats.mapped_bytes += bytes;
        inner.stats.arenas += 1;
        Some(slot)
    }

    /// Makes the whole of a new arena one free run.
    pub(super) fn add_arena_run(&self, inner: &mut Inner, arena: *mut Arena) {
        // SAFETY: the arena was just created and is valid.
        let (base, npages) = unsafe { ((*arena).base, (*arena).npages) };
        let s = Self::new_span(inner, base, npages, SpanState::Free);
        if s.is_null() {
            return;
        }
        inner.stats.free_bytes += npages * PAGE_SIZE;
        // Fresh memory is untouched: count it as already returned to the OS.
        // SAFETY: s is fresh and ours.
        unsafe { (*s).local().scavenged = true };
        inner.stats.released_bytes += npages * PAGE_SIZE;
        self.insert_free(inner, s);
    }

    /// Grows a growable heap by an arena of at least `npages` pages.
    pub(super) fn grow(&self, inner: &mut Inner, npages: usize) -> bool {
        if inner.fixed {
            return false;
        }
        let Some(bytes) = (npages * PAGE_SIZE).checked_next_multiple_of(ARENA_BYTES) else {
            return false;
        };
        let mut table = self.table.load(MapOrdering::Acquire) as *mut MapWord;
        let mut maps = self.chunk_maps.load(MapOrdering::Acquire) as *mut MapWord;
        if table.is_null() {
            table = os::reserve(TABLE_ENTRIES * size_of::<usize>()) as *mut MapWord;
            maps = os::reserve(TABLE_ENTRIES * size_of::<usize>()) as *mut MapWord;
            if table.is_null() || maps.is_null() {
                return false;
            }
            self.table.store(table as usize, MapOrdering::Release);
            self.chunk_maps.store(maps as usize, MapOrdering::Release);
        }
        let Some(arena) = Self::reserve_arena(inner, bytes, ARENA_BYTES) else {
            return false;
        };
        // SAFETY: arena is valid; it is ARENA_BYTES aligned, so each 64 MiB
        // chunk has its own table slot, below TABLE_ENTRIES unless the OS put
        // it above 2^48 (then it stays unregistered and unused).
        unsafe {
            let base = (*arena).base;
            if (base + bytes - 1) >> ADDRESS_BITS != 0 {
                return false;
            }
            for chunk in 0..bytes >> ARENA_SHIFT {
                let slot = (base >> ARENA_SHIFT) + chunk;
                (*table.add(slot)).store(arena as usize, MapOrdering::Release);
                let chunk_map = (*arena).page_map.add(chunk << (ARENA_SHIFT - PAGE_SHIFT));
                (*maps.add(slot)).store(chunk_map as usize, MapOrdering::Release);
            }
        }
        self.add_arena_run(inner, arena);
        true
    }

    pub(super) fn arena_for_span(&self, s: *mut Span) -> &Arena {
        // SAFETY: a span's pages are always inside one live arena.
        unsafe { &*self.arena_of((*s).start) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn growable_heap_reserves_aligned_arenas_and_finds_spans() {
        let h = PageHeap::new_growable();
        let mut inner = h.lock();
        let big = h
            .alloc_run(&mut inner, (ARENA_BYTES / PAGE_SIZE) + 3, 1)
            .unwrap();
        assert!(big.grew);
        let small = h.alloc_run(&mut inner, 1, 1).unwrap().span;
        drop(inner);
        // SAFETY: live spans of this heap.
        unsafe {
            assert_eq!(h.span_of((*big.span).start + ARENA_BYTES + 5), big.span);
            assert_eq!(h.span_of((*small).start), small);
            assert_eq!(
                h.span_of_growable((*big.span).start + ARENA_BYTES + 5),
                big.span
            );
            assert_eq!(
                h.span_of_growable((*big.span).start + 3 * PAGE_SIZE),
                big.span
            );
            assert_eq!(h.span_of_growable((*small).start + 100), small);
            assert!(h.span_of_growable(8).is_null());
            h.release_all();
        }
    }
}
