//! The page heap (Go's `mheap`): memory from the OS, handed out as spans,
//! runs of whole 8 KiB pages. This file holds the free runs and the
//! operations on them; the rest is one concept per file:
//!
//! * `arena.rs`: arenas reserved from the OS, and the page map that takes
//!   an address to its span (Go's `heapArena`, `spanOf`);
//! * `fixalloc.rs`: the metadata allocator for spans and arenas (Go's
//!   `mfixalloc.go`);
//! * `span_list.rs`: the intrusive span lists, shared with `central.rs`
//!   (Go's `mSpanList`);
//! * `scavenge.rs`: returning free pages to the OS (Go's `mgcscavenge.go`).
//!
//! ## Free runs
//!
//! Free runs are spans too, in free lists by length: one list per length of
//! 1..=127 pages, and one list for longer runs searched best-fit (the layout
//! Go's mheap used before its radix-tree page allocator). Allocating takes
//! the smallest run that fits and splits off the rest; freeing merges the run
//! with free neighbours found through the page map, so free memory never
//! stays cut into pieces that could be whole.
//!
//! All of this sits behind one lock (Go's `mheap_.lock`). Lock order: a
//! central list's lock may be held while taking this one, never the reverse.

mod arena;
mod fixalloc;
mod scavenge;
mod span_list;

use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize as MapWord, Ordering as MapOrdering};

pub use arena::ARENA_BYTES;
use arena::Arena;
use arena::TABLE_ENTRIES;
use fixalloc::FixAlloc;
pub(crate) use span_list::SpanList;

use crate::os;
use crate::size_class::{PAGE_SHIFT, PAGE_SIZE};
use crate::span::{ListKind, Span, SpanState};
use crate::sync::{Mutex, MutexGuard, const_unless_loom};

/// Runs of up to this many pages have exact-length free lists.
const SMALL_RUN_LISTS: usize = 128;
/// Default threshold of dirty free memory before the scavenger runs.
pub(crate) const DEFAULT_SCAVENGE_THRESHOLD: usize = 64 << 20;

/// A free run, for snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FreeRunInfo {
    pub(crate) start: usize,
    pub(crate) pages: usize,
    pub(crate) scavenged: bool,
}

/// Page-level counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PageHeapStats {
    /// Bytes of address space reserved from the OS (all arenas).
    pub mapped_bytes: usize,
    /// Bytes in spans handed out (small-object spans and large objects).
    pub in_use_bytes: usize,
    /// Bytes in free runs.
    pub free_bytes: usize,
    /// Bytes of free runs returned to the OS by the scavenger.
    pub released_bytes: usize,
    /// Times the scavenger returned a run to the OS.
    pub scavenges: usize,
    /// Arenas reserved.
    pub arenas: usize,
}

/// What `alloc_run` did, for the event log.
pub(crate) struct RunOutcome {
    pub(crate) span: *mut Span,
    /// The heap reserved a new arena to satisfy the request.
    pub(crate) grew: bool,
    /// Every page of the span reads as zero: it came from a run that was
    /// fresh from `mmap` or released with `MADV_DONTNEED` (`alloc_zeroed`
    /// need not clear it).
    pub(crate) zeroed: bool,
}

pub(crate) struct Inner {
    free_small: [SpanList; SMALL_RUN_LISTS],
    /// Bit n set when `free_small[n]` is not empty.
    free_small_mask: u128,
    free_large: SpanList,
    arenas: *mut Arena,
    spans: FixAlloc,
    arena_structs: FixAlloc,
    stats: PageHeapStats,
    dirty_pages: usize,
    scavenge_threshold_pages: usize,
    /// Fixed heaps never grow.
    fixed: bool,
    /// Scavenged runs since `Backend::drain_scavenge_log` last looked (for
    /// the event log).
    pub(crate) scavenged_log: [(usize, usize); 8],
    pub(crate) scavenged_log_len: usize,
}

// SAFETY: the raw pointers in Inner point into memory owned by the page heap
// and are only used under its lock.
unsafe impl Send for Inner {}

/// The page heap (Go's `mheap`). See the module documentation.
pub struct PageHeap {
    inner: Mutex<Inner>,
    /// Flat arena table (`TABLE_ENTRIES` words) for growable heaps, created on
    /// first growth; 0 until then. Used to find a span's arena (coalescing).
    table: MapWord,
    /// The same table, but each entry points straight at the page-map words
    /// of its 64 MiB chunk, so that `span_of` is two dependent loads.
    chunk_maps: MapWord,
    /// For a fixed heap: its only arena.
    fixed_arena: MapWord,
    /// Set by a free that took dirty free memory past the threshold; the
    /// next caller of `scavenge_if_wanted` (with no lock held) releases.
    /// A hint, not protocol: the scavenger rechecks everything under the
    /// lock, so a plain `core` atomic (see `sync.rs`).
    scavenge_wanted: AtomicBool,
}

// SAFETY: all mutable state is behind the mutex or in atomics.
unsafe impl Sync for PageHeap {}
// SAFETY: the raw pointers inside (the arena and metadata) are owned by the
// heap, not by a thread, and are only used under its lock or through atomics.
unsafe impl Send for PageHeap {}

const fn new_inner(fixed: bool, threshold: usize) -> Inner {
    Inner {
        free_small: [const { SpanList::new() }; SMALL_RUN_LISTS],
        free_small_mask: 0,
        free_large: SpanList::new(),
        arenas: ptr::null_mut(),
        spans: FixAlloc::new(size_of::<Span>().next_multiple_of(64)),
        arena_structs: FixAlloc::new(size_of::<Arena>().next_multiple_of(16)),
        stats: PageHeapStats {
            mapped_bytes: 0,
            in_use_bytes: 0,
            free_bytes: 0,
            released_bytes: 0,
            scavenges: 0,
            arenas: 0,
        },
        dirty_pages: 0,
        scavenge_threshold_pages: threshold / PAGE_SIZE,
        fixed,
        scavenged_log: [(0, 0); 8],
        scavenged_log_len: 0,
    }
}

impl PageHeap {
    const_unless_loom! {
        /// A growable page heap that reserves arenas from the OS as needed.
        pub(crate) fn new_growable() -> PageHeap {
            PageHeap {
                inner: Mutex::new(new_inner(false, DEFAULT_SCAVENGE_THRESHOLD)),
                table: MapWord::new(0),
                chunk_maps: MapWord::new(0),
                fixed_arena: MapWord::new(0),
                scavenge_wanted: AtomicBool::new(false),
            }
        }
    }

    /// A page heap over one fresh reservation of `bytes` (a whole number of
    /// pages), which never grows. Returns `None` if the OS refuses.
    pub(crate) fn new_fixed(bytes: usize, scavenge_threshold: usize) -> Option<PageHeap> {
        let heap = PageHeap {
            inner: Mutex::new(new_inner(true, scavenge_threshold)),
            table: MapWord::new(0),
            chunk_maps: MapWord::new(0),
            fixed_arena: MapWord::new(0),
            scavenge_wanted: AtomicBool::new(false),
        };
        {
            let mut inner = heap.inner.lock();
            let arena = Self::reserve_arena(&mut inner, bytes, PAGE_SIZE)?;
            heap.fixed_arena.store(arena as usize, MapOrdering::Release);
            heap.add_arena_run(&mut inner, arena);
        }
        Some(heap)
    }

    /// Locks the heap.
    #[inline(always)]
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    fn new_span(inner: &mut Inner, start: usize, npages: usize, state: SpanState) -> *mut Span {
        let s = inner.spans.alloc() as *mut Span;
        if !s.is_null() {
            // SAFETY: a fresh slot sized and aligned (64) for a Span.
            unsafe { s.write(Span::new(start, npages, state)) };
        }
        s
    }

    /// Inserts a free run into its list and records its ends in the page map.
    fn insert_free(&self, inner: &mut Inner, s: *mut Span) {
        // SAFETY: s is a free run owned by the heap lock, which we hold.
        unsafe {
            let a = self.arena_for_span(s);
            let first = ((*s).start - a.base) >> PAGE_SHIFT;
            let n = (*s).npages;
            a.set_span(first, s);
            a.set_span(first + n - 1, s);
            if !(*s).local().scavenged {
                inner.dirty_pages += n;
            }
            if n < SMALL_RUN_LISTS {
                inner.free_small[n].push(s, ListKind::Free);
                inner.free_small_mask |= 1 << n;
            } else {
                inner.free_large.push(s, ListKind::Free);
            }
        }
    }

    fn remove_free(&self, inner: &mut Inner, s: *mut Span) {
        // SAFETY: s is on a free list of this heap, under the lock we hold.
        unsafe {
            let n = (*s).npages;
            if !(*s).local().scavenged {
                inner.dirty_pages -= n;
            }
            if n < SMALL_RUN_LISTS {
                inner.free_small[n].remove(s);
                if inner.free_small[n].len == 0 {
                    inner.free_small_mask &= !(1 << n);
                }
            } else {
                inner.free_large.remove(s);
            }
        }
    }

    /// Finds the smallest free run of at least `npages` (lowest address among
    /// equals in the large list), removes it from its list, or null.
    fn take_fit(&self, inner: &mut Inner, npages: usize) -> *mut Span {
        if npages < SMALL_RUN_LISTS {
            // The shortest non-empty exact-length list at or above npages.
            let fits = inner.free_small_mask & (!0u128 << npages);
            if fits != 0 {
                let s = inner.free_small[fits.trailing_zeros() as usize].head;
                self.remove_free(inner, s);
                return s;
            }
        }
        let mut best: *mut Span = ptr::null_mut();
        let mut cur = inner.free_large.head;
        while !cur.is_null() {
            // SAFETY: cur is on the large free list, which the lock protects.
            unsafe {
                let better = best.is_null()
                    || (*cur).npages < (*best).npages
                    || ((*cur).npages == (*best).npages && (*cur).start < (*best).start);
                if (*cur).npages >= npages && better {
                    best = cur;
                }
                cur = (*cur).local().next;
            }
        }
        if !best.is_null() {
            self.remove_free(inner, best);
        }
        best
    }

    /// Allocates a span of `npages` pages whose start is a multiple of
    /// `align_pages` pages (1 for none), growing the heap if needed. The span
    /// comes back `Large`, owned by the caller and registered in the page
    /// map; `init_small` turns it into a small-object span.
    pub(crate) fn alloc_run(
        &self,
        inner: &mut Inner,
        npages: usize,
        align_pages: usize,
    ) -> Option<RunOutcome> {
        self.alloc_run_inner(inner, npages, align_pages, true)
    }

    /// Like `alloc_run`, but fails instead of growing the heap.
    pub(crate) fn alloc_run_no_grow(
        &self,
        inner: &mut Inner,
        npages: usize,
        align_pages: usize,
    ) -> Option<RunOutcome> {
        self.alloc_run_inner(inner, npages, align_pages, false)
    }

    fn alloc_run_inner(
        &self,
        inner: &mut Inner,
        npages: usize,
        align_pages: usize,
        may_grow: bool,
    ) -> Option<RunOutcome> {
        let want = npages.checked_add(align_pages - 1)?;
        let mut grew = false;
        let mut run = self.take_fit(inner, want);
        if run.is_null() {
            if !may_grow || !self.grow(inner, want) {
                return None;
            }
            grew = true;
            run = self.take_fit(inner, want);
            if run.is_null() {
                return None;
            }
        }
        // SAFETY: run is a free run we just unlinked; we own it under the lock.
        unsafe {
            let scavenged = (*run).local().scavenged;
            let align = align_pages * PAGE_SIZE;
            let head = ((*run).start.next_multiple_of(align) - (*run).start) / PAGE_SIZE;
            if head > 0 {
                // Give the unaligned head back as its own free run.
                let rest = Self::new_span(
                    inner,
                    (*run).start + head * PAGE_SIZE,
                    (*run).npages - head,
                    SpanState::Free,
                );
                if rest.is_null() {
                    self.insert_free(inner, run);
                    return None;
                }
                (*rest).local().scavenged = scavenged;
                (*run).npages = head;
                self.insert_free(inner, run);
                run = rest;
            }
            if (*run).npages > npages {
                let tail_start = (*run).start + npages * PAGE_SIZE;
                let tail =
                    Self::new_span(inner, tail_start, (*run).npages - npages, SpanState::Free);
                if tail.is_null() {
                    self.insert_free(inner, run);
                    return None;
                }
                (*tail).local().scavenged = scavenged;
                self.insert_free(inner, tail);
            }
            let start = (*run).start;
            (*run).local().scavenged = false;
            (*run).local().state = SpanState::Large;
            (*run).sampled.store(0, MapOrdering::Relaxed);
            (*run).npages = npages;
            (*run).class = 0;
            (*run).elem_size = npages * PAGE_SIZE;
            (*run).nelems = 1;
            let a = self.arena_for_span(run);
            let first = (start - a.base) >> PAGE_SHIFT;
            for p in first..first + npages {
                a.set_span(p, run);
            }
            let bytes = npages * PAGE_SIZE;
            inner.stats.in_use_bytes += bytes;
            inner.stats.free_bytes -= bytes;
            if scavenged {
                inner.stats.released_bytes -= bytes;
            }
            Some(RunOutcome {
                span: run,
                grew,
                zeroed: scavenged,
            })
        }
    }

    /// Returns a span's pages to the heap, merging with free neighbours, and
    /// asks for the scavenger if dirty free memory passed the threshold (it
    /// runs later, with no lock held: see `scavenge.rs`).
    ///
    /// # Safety
    /// `s` came from `alloc_run` of this heap and nobody uses it any more.
    pub(crate) unsafe fn free_run(&self, inner: &mut Inner, s: *mut Span) {
        // SAFETY: the caller's contract.
        unsafe { self.free_run_inner(inner, s, false) }
    }

    /// `free_run` for a span whose pages are known to read as zero (its
    /// contents were moved away with `mremap`, leaving the range empty):
    /// the run counts as released, so the scavenger leaves it alone and
    /// `alloc_zeroed` need not clear it.
    ///
    /// # Safety
    /// As `free_run`, and every page of `s` is untouched since it was mapped.
    pub(crate) unsafe fn free_run_zeroed(&self, inner: &mut Inner, s: *mut Span) {
        // SAFETY: the caller's contract.
        unsafe { self.free_run_inner(inner, s, true) }
    }

    /// # Safety
    /// As `free_run`; with `zeroed`, as `free_run_zeroed`.
    unsafe fn free_run_inner(&self, inner: &mut Inner, s: *mut Span, zeroed: bool) {
        // SAFETY: s is ours (caller's contract) and we hold the lock.
        let bytes = unsafe {
            let l = (*s).local();
            l.state = SpanState::Free;
            l.scavenged = false;
            (*s).class = 0;
            (*s).npages * PAGE_SIZE
        };
        inner.stats.in_use_bytes -= bytes;
        inner.stats.free_bytes += bytes;
        // SAFETY: s is now a free run of this heap, on no list, still ours.
        unsafe { self.merge_and_insert(inner, s, zeroed) };
        if inner.dirty_pages > inner.scavenge_threshold_pages {
            // The release itself waits until no lock is held (scavenge.rs).
            self.scavenge_wanted.store(true, MapOrdering::Relaxed);
        }
    }

    /// Merges the free run `s` with the free runs right before and after it
    /// (found through the page map) and puts the result on its free list.
    /// `clean`: every page of `s` reads as zero (fresh, or released to the
    /// OS); the merged run counts as released only if every part of it is.
    /// Its bytes must already be counted in `free_bytes`, and not yet in
    /// `released_bytes`.
    ///
    /// # Safety
    /// `s` is a `Free` run of this heap on no list, owned by the caller, who
    /// holds the lock (`inner`).
    unsafe fn merge_and_insert(&self, inner: &mut Inner, s: *mut Span, clean: bool) {
        let a = self.arena_for_span(s);
        let mut clean = clean;
        // The part of the merged run already counted in released_bytes.
        let mut counted = 0;
        let mut s = s;
        // SAFETY: s is ours (caller's contract); neighbours found through the
        // page map are checked to be free runs on a free list of this arena
        // (a run the scavenger is releasing is on none), which the lock we
        // hold protects.
        unsafe {
            let first = ((*s).start - a.base) >> PAGE_SHIFT;
            if first > 0 {
                let prev = a.span_at(first - 1);
                if !prev.is_null()
                    && (*prev).local().state == SpanState::Free
                    && (*prev).local().list == ListKind::Free
                    && (*prev).end() == (*s).start
                {
                    self.remove_free(inner, prev);
                    if (*prev).local().scavenged {
                        counted += (*prev).npages * PAGE_SIZE;
                    } else {
                        clean = false;
                    }
                    (*prev).npages += (*s).npages;
                    inner.spans.free(s.cast());
                    s = prev;
                }
            }
            let after = ((*s).end() - a.base) >> PAGE_SHIFT;
            if after < a.npages {
                let next = a.span_at(after);
                if !next.is_null()
                    && (*next).local().state == SpanState::Free
                    && (*next).local().list == ListKind::Free
                    && (*next).start == (*s).end()
                {
                    self.remove_free(inner, next);
                    if (*next).local().scavenged {
                        counted += (*next).npages * PAGE_SIZE;
                    } else {
                        clean = false;
                    }
                    (*s).npages += (*next).npages;
                    inner.spans.free(next.cast());
                }
            }
            // A dirty merged run is no longer tracked as released; a clean
            // one is released as a whole.
            if clean {
                inner.stats.released_bytes += (*s).npages * PAGE_SIZE - counted;
            } else {
                inner.stats.released_bytes -= counted;
            }
            (*s).local().scavenged = clean;
        }
        self.insert_free(inner, s);
    }

    /// Grows the large span `s` to `new_pages` without moving it, if the
    /// pages right after it form a free run long enough: takes the pages it
    /// needs from the front of that run (what glibc's `realloc` does with the
    /// chunk after a block, and Go's `mheap` never needs). Returns false,
    /// changing nothing, if they do not.
    ///
    /// # Safety
    /// `s` is a live `Large` span of this heap, used only by the caller.
    pub(crate) unsafe fn grow_in_place(
        &self,
        inner: &mut Inner,
        s: *mut Span,
        new_pages: usize,
    ) -> bool {
        let a = self.arena_for_span(s);
        // SAFETY: s is ours (caller's contract); the run after it is found
        // through the page map and checked to be a free run of this arena,
        // which the lock we hold protects.
        unsafe {
            let extra = new_pages - (*s).npages;
            let after = ((*s).end() - a.base) >> PAGE_SHIFT;
            if after >= a.npages {
                return false;
            }
            let next = a.span_at(after);
            if next.is_null()
                || (*next).local().state != SpanState::Free
                || (*next).local().list != ListKind::Free
                || (*next).start != (*s).end()
                || (*next).npages < extra
            {
                return false;
            }
            self.remove_free(inner, next);
            let scavenged = (*next).local().scavenged;
            if (*next).npages > extra {
                (*next).start += extra * PAGE_SIZE;
                (*next).npages -= extra;
                self.insert_free(inner, next);
            } else {
                inner.spans.free(next.cast());
            }
            for p in after..after + extra {
                a.set_span(p, s);
            }
            (*s).npages = new_pages;
            (*s).elem_size = new_pages * PAGE_SIZE;
            let bytes = extra * PAGE_SIZE;
            inner.stats.in_use_bytes += bytes;
            inner.stats.free_bytes -= bytes;
            if scavenged {
                inner.stats.released_bytes -= bytes;
            }
        }
        true
    }

    /// Shrinks the large span `s` to `new_pages` in place: its tail becomes
    /// a free run (merged with what follows). Returns false, changing
    /// nothing, if no span record is available for the tail.
    ///
    /// # Safety
    /// `s` is a live `Large` span of this heap, used only by the caller, and
    /// `0 < new_pages < npages`.
    pub(crate) unsafe fn shrink_in_place(
        &self,
        inner: &mut Inner,
        s: *mut Span,
        new_pages: usize,
    ) -> bool {
        // SAFETY: s is ours; the tail is split off under the lock we hold
        // and freed as a run of its own.
        unsafe {
            let tail_start = (*s).start + new_pages * PAGE_SIZE;
            let tail_pages = (*s).npages - new_pages;
            let tail = Self::new_span(inner, tail_start, tail_pages, SpanState::Large);
            if tail.is_null() {
                return false;
            }
            let a = self.arena_for_span(s);
            let first = (tail_start - a.base) >> PAGE_SHIFT;
            for p in first..first + tail_pages {
                a.set_span(p, tail);
            }
            (*s).npages = new_pages;
            (*s).elem_size = new_pages * PAGE_SIZE;
            self.free_run(inner, tail);
        }
        true
    }

    /// Counters.
    pub(crate) fn stats(&self) -> PageHeapStats {
        self.inner.lock().stats
    }

    /// Visits every span of a fixed heap in address order: in-use spans and
    /// free runs. Single-threaded inspection only.
    pub(crate) fn for_each_span(&self, mut f: impl FnMut(*mut Span)) {
        let _guard = self.inner.lock();
        let a = self.fixed_arena.load(MapOrdering::Relaxed) as *const Arena;
        if a.is_null() {
            return;
        }
        // SAFETY: the fixed arena lives as long as the heap.
        let a = unsafe { &*a };
        let mut page = 0;
        while page < a.npages {
            let s = a.span_at(page);
            if s.is_null() {
                break;
            }
            f(s);
            // SAFETY: every page of a fixed arena belongs to a span whose first
            // page is the one we are on (the walk starts at page 0 and steps
            // by whole spans).
            page += unsafe { (*s).npages };
        }
    }

    /// Unmaps everything: the arenas, their page maps and the metadata.
    ///
    /// # Safety
    /// Nothing allocated from this heap may be used afterwards.
    pub(crate) unsafe fn release_all(&self) {
        let mut inner = self.inner.lock();
        let mut a = inner.arenas;
        while !a.is_null() {
            // SAFETY: arenas form a list of live arena structs we created.
            unsafe {
                os::release((*a).base as *mut u8, (*a).npages * PAGE_SIZE);
                os::release((*a).page_map as *mut u8, (*a).npages * size_of::<usize>());
                a = (*a).next;
            }
        }
        inner.arenas = ptr::null_mut();
        inner.spans.release_all();
        inner.arena_structs.release_all();
        for t in [&self.table, &self.chunk_maps] {
            let table = t.swap(0, MapOrdering::AcqRel);
            if table != 0 {
                os::release(table as *mut u8, TABLE_ENTRIES * size_of::<usize>());
            }
        }
        self.fixed_arena.store(0, MapOrdering::Relaxed);
    }
}

/// Free runs of a fixed heap in address order (snapshot helper).
pub(crate) fn free_run_info(s: *mut Span) -> FreeRunInfo {
    // SAFETY: called during single-threaded inspection with the span valid.
    unsafe {
        FreeRunInfo {
            start: (*s).start,
            pages: (*s).npages,
            scavenged: (*s).local_ref().scavenged,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn runs(h: &PageHeap) -> Vec<(usize, usize, bool)> {
        let base = h.fixed_region().unwrap().0;
        let mut v = vec![];
        h.for_each_span(|s| {
            // SAFETY: single-threaded test.
            unsafe {
                v.push((
                    ((*s).start - base) / PAGE_SIZE,
                    (*s).npages,
                    (*s).local_ref().state == SpanState::Free,
                ))
            }
        });
        v
    }

    #[test]
    fn fixed_heap_splits_and_coalesces_runs() {
        let h = PageHeap::new_fixed(64 * PAGE_SIZE, usize::MAX).unwrap();
        let mut inner = h.lock();
        let a = h.alloc_run(&mut inner, 3, 1).unwrap().span;
        let b = h.alloc_run(&mut inner, 5, 1).unwrap().span;
        let c = h.alloc_run(&mut inner, 2, 1).unwrap().span;
        drop(inner);
        assert_eq!(
            runs(&h),
            vec![(0, 3, false), (3, 5, false), (8, 2, false), (10, 54, true)]
        );
        // Every page of an in-use span maps to it; foreign addresses map to null.
        let base = h.fixed_region().unwrap().0;
        for p in 3..8 {
            assert_eq!(h.span_of(base + p * PAGE_SIZE + 17), b);
        }
        assert!(h.span_of(base - 1).is_null());
        assert!(h.span_of(base + 64 * PAGE_SIZE).is_null());
        let mut inner = h.lock();
        // SAFETY: the spans came from this heap and are unused.
        unsafe {
            h.free_run(&mut inner, b);
            drop(inner);
            assert_eq!(
                runs(&h),
                vec![(0, 3, false), (3, 5, true), (8, 2, false), (10, 54, true)]
            );
            let mut inner = h.lock();
            h.free_run(&mut inner, a);
            drop(inner);
            assert_eq!(runs(&h), vec![(0, 8, true), (8, 2, false), (10, 54, true)]);
            let mut inner = h.lock();
            h.free_run(&mut inner, c);
            drop(inner);
            assert_eq!(
                runs(&h),
                vec![(0, 64, true)],
                "everything merged back into one run"
            );
            let st = h.stats();
            assert_eq!((st.in_use_bytes, st.free_bytes), (0, 64 * PAGE_SIZE));
            h.release_all();
        }
    }

    #[test]
    fn aligned_runs_and_exhaustion() {
        let h = PageHeap::new_fixed(64 * PAGE_SIZE, usize::MAX).unwrap();
        let base = h.fixed_region().unwrap().0;
        let mut inner = h.lock();
        let _one = h.alloc_run(&mut inner, 1, 1).unwrap();
        let al = h.alloc_run(&mut inner, 2, 4).unwrap().span;
        // SAFETY: al is a live span of this heap.
        let start = unsafe { (*al).start };
        assert_eq!(start % (4 * PAGE_SIZE), 0, "run not 4-page aligned");
        assert!(start >= base);
        assert!(
            h.alloc_run(&mut inner, 100, 1).is_none(),
            "a fixed heap must not grow"
        );
        drop(inner);
        // SAFETY: nothing is used afterwards.
        unsafe { h.release_all() };
    }
}
