//! The shared tiers behind every cache: the page heap, one central list per
//! size class, the statistics and the heap profile (in Go these all hang off
//! `mheap_`). Both faces of the allocator drive one `Backend`: `SpanAlloc`
//! a process-wide `static` one, `Heap` its own over a fixed arena.
//!
//! This file also holds what every free needs regardless of face: the
//! remote-free push (with the unpark of a parked full span), the large-object
//! path and the cache-less small-object path. Each step reports to an
//! `EventSink` (see `events.rs`); the global allocator passes `NoEvents`,
//! which compiles to nothing.

use crate::cache::EmptyBudget;
use crate::central::{Central, PageSource};
use crate::checked;
use crate::events::{EventSink, HeapEvent};
use crate::page_heap::{PageHeap, RunOutcome};
use crate::profile::Profiler;
use crate::size_class::{NUM_CLASSES, PAGE_SIZE};
use crate::span::{Span, SpanState};
use crate::stats::Counters;

/// Page heap, central lists, statistics and profile (see module doc).
pub(crate) struct Backend {
    pub(crate) pages: PageHeap,
    /// Index 0 unused (class 0 = large objects).
    pub(crate) central: [Central; NUM_CLASSES + 1],
    pub(crate) counters: Counters,
    pub(crate) profile: Profiler,
    /// The emptied spans thread caches may keep (see `cache/kept.rs`).
    pub(crate) empty_budget: EmptyBudget,
}

impl Backend {
    /// The process-wide backend of `SpanAlloc`.
    #[cfg(not(loom))]
    pub(crate) const fn new_global() -> Backend {
        Backend {
            pages: PageHeap::new_growable(),
            central: [const { Central::new() }; NUM_CLASSES + 1],
            counters: Counters::new(),
            profile: Profiler::new(),
            empty_budget: EmptyBudget::new(crate::page_heap::DEFAULT_SCAVENGE_THRESHOLD / 2),
        }
    }

    /// A backend over a fixed arena of `bytes`.
    pub(crate) fn new_fixed(bytes: usize, scavenge_threshold: usize) -> Option<Backend> {
        Some(Backend {
            pages: PageHeap::new_fixed(bytes, scavenge_threshold)?,
            central: core::array::from_fn(|_| Central::new()),
            counters: Counters::new(),
            profile: Profiler::new(),
            empty_budget: EmptyBudget::new(scavenge_threshold / 2),
        })
    }

    /// Frees `addr` of a small-object span the freeing cache does not own:
    /// pushes it on the span's remote list, and if that unparked a full span,
    /// tells the central list.
    ///
    /// # Safety
    /// `addr` is an allocated object of `s`, given up by the caller.
    #[inline]
    pub(crate) unsafe fn remote_free<E: EventSink>(&self, s: *mut Span, addr: usize, ev: &mut E) {
        // SAFETY: the caller's contract.
        let span = unsafe { &*s };
        let class = span.class;
        ev.emit(|| HeapEvent::RemoteFree {
            class,
            offset: addr,
        });
        // SAFETY: addr is an allocated object of s given up by the caller
        // (caller's contract), the precondition of push_remote.
        if unsafe { span.push_remote(addr) } {
            self.central[class].unpark(class, s, ev);
        }
    }

    /// Allocates a large object of `size` bytes aligned to `align`, straight
    /// from the page heap. Returns 0 when out of memory.
    pub(crate) fn alloc_large<E: EventSink>(&self, size: usize, align: usize, ev: &mut E) -> usize {
        self.alloc_large_z(size, align, ev).0
    }

    /// `alloc_large`, also saying whether the block is known to read as
    /// zero (its pages fresh from the OS or released to it since).
    pub(crate) fn alloc_large_z<E: EventSink>(
        &self,
        size: usize,
        align: usize,
        ev: &mut E,
    ) -> (usize, bool) {
        let Some(npages) = size
            .checked_next_multiple_of(PAGE_SIZE)
            .map(|b| b / PAGE_SIZE)
        else {
            return (0, false);
        };
        let align_pages = align.div_ceil(PAGE_SIZE).max(1);
        let Some(out) = self.take_pages(npages.max(1), align_pages, ev) else {
            return (0, false);
        };
        // SAFETY: the span is ours until we hand out its address.
        let start = unsafe { (*out.span).start };
        ev.emit(|| HeapEvent::LargeAlloc {
            offset: start,
            pages: npages,
        });
        self.counters.large_alloc(npages * PAGE_SIZE);
        (start, out.zeroed)
    }

    /// Takes a run of pages for a new span or large object: from free pages
    /// if any fit; else sweeps the central lists for spans that became free
    /// (their pages may be what is missing) and tries again, growing the heap
    /// if it can. Must not be called with a central lock held.
    pub(crate) fn take_pages<E: EventSink>(
        &self,
        npages: usize,
        align_pages: usize,
        ev: &mut E,
    ) -> Option<RunOutcome> {
        {
            let mut heap = self.pages.lock();
            if let Some(out) = self.pages.alloc_run_no_grow(&mut heap, npages, align_pages) {
                return Some(out);
            }
        }
        self.sweep_all(ev);
        let mut heap = self.pages.lock();
        let out = self.pages.alloc_run(&mut heap, npages, align_pages);
        if let Some(o) = &out
            && o.grew
        {
            ev.emit(|| HeapEvent::PageHeapGrow { pages: npages });
        }
        drop(heap);
        self.settle_pages(ev);
        out
    }

    /// Sweeps every central list (see `Central::sweep`); returns spans freed.
    pub(crate) fn sweep_all<E: EventSink>(&self, ev: &mut E) -> usize {
        let mut n = 0;
        for class in 1..=NUM_CLASSES {
            n += self.central[class].sweep(class, &self.pages, &self.counters, ev);
        }
        self.settle_pages(ev);
        n
    }

    /// Frees the large object at `addr` whose span is `s`.
    ///
    /// # Safety
    /// `s` is the span the page heap maps `addr` to.
    /// With `layout` (checked mode), the object's page count must match the
    /// layout's size.
    pub(crate) unsafe fn free_large<E: EventSink>(
        &self,
        s: *mut Span,
        addr: usize,
        layout: Option<(usize, usize)>,
        ev: &mut E,
    ) {
        // SAFETY: the caller's contract.
        unsafe { self.free_large_inner(s, addr, layout, false, ev) }
    }

    /// `free_large` for a block whose pages were moved away with `mremap`
    /// (see `realloc.rs`): they read as zero, so the run counts as released.
    ///
    /// # Safety
    /// As `free_large`, and the block's pages are untouched since mapped.
    pub(crate) unsafe fn free_large_moved<E: EventSink>(
        &self,
        s: *mut Span,
        addr: usize,
        layout: Option<(usize, usize)>,
        ev: &mut E,
    ) {
        // SAFETY: the caller's contract.
        unsafe { self.free_large_inner(s, addr, layout, true, ev) }
    }

    /// # Safety
    /// As `free_large`; with `zeroed`, as `free_large_moved`.
    unsafe fn free_large_inner<E: EventSink>(
        &self,
        s: *mut Span,
        addr: usize,
        layout: Option<(usize, usize)>,
        zeroed: bool,
        ev: &mut E,
    ) {
        let mut heap = self.pages.lock();
        // SAFETY: under the heap lock the state of s is stable; a Large span
        // starting at addr is a live large object the caller gives up.
        unsafe {
            if (*s).local().state != SpanState::Large || (*s).start != addr {
                drop(heap);
                checked::bad_large_free(addr);
                return;
            }
            if (*s).sampled.load(core::sync::atomic::Ordering::Relaxed) != 0 {
                self.profile.on_free(addr, s);
            }
            let pages = (*s).npages;
            if let Some((size, align)) = layout
                && size.div_ceil(PAGE_SIZE).max(1) != pages
            {
                drop(heap);
                checked::wrong_layout(addr, 0, size, align);
            }
            self.counters.large_free(pages * PAGE_SIZE);
            ev.emit(|| HeapEvent::LargeFree {
                offset: addr,
                pages,
            });
            if zeroed {
                self.pages.free_run_zeroed(&mut heap, s);
            } else {
                self.pages.free_run(&mut heap, s);
            }
        }
        drop(heap);
        self.settle_pages(ev);
    }

    /// Runs the release of free pages that a free asked the scavenger for
    /// (see `page_heap/scavenge.rs`), then, if events are wanted, turns its
    /// record into events. Call with no allocator lock held: the end of every
    /// operation that may have freed pages does. For the global allocator
    /// this is one relaxed load.
    #[inline]
    pub(crate) fn settle_pages<E: EventSink>(&self, ev: &mut E) {
        self.pages.scavenge_if_wanted();
        if E::ON {
            let mut heap = self.pages.lock();
            self.drain_scavenge_log(&mut heap, ev);
        }
    }

    /// Turns the page heap's record of scavenged runs into events.
    fn drain_scavenge_log<E: EventSink>(&self, heap: &mut crate::page_heap::Inner, ev: &mut E) {
        for i in 0..heap.scavenged_log_len {
            let (offset, pages) = heap.scavenged_log[i];
            ev.emit(|| HeapEvent::Scavenged { offset, pages });
        }
        heap.scavenged_log_len = 0;
    }
}

/// The central lists' page source is the whole backend: its `take_pages`
/// sweeps every class before growing, Go's `mheap.alloc` reclaiming from
/// `mcentral`s (see `central.rs`).
impl PageSource for Backend {
    #[inline]
    fn page_heap(&self) -> &PageHeap {
        &self.pages
    }

    #[inline]
    fn counters(&self) -> &Counters {
        &self.counters
    }

    #[inline]
    fn take_pages<E: EventSink>(&self, npages: usize, ev: &mut E) -> Option<RunOutcome> {
        Backend::take_pages(self, npages, 1, ev)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::events::NoEvents;
    use crate::size_class::TABLES;
    use crate::sync::model;
    use loom::sync::Arc;
    use loom::thread;

    /// The remote-free path: the owner of a full span collects its remote
    /// frees and hands it back to the central list, while two other threads
    /// each free one of its two objects remotely. Depending on the
    /// interleaving the owner collects 0, 1 or 2 objects, the span is parked
    /// full and unparked by a remote free, or goes back to the page heap
    /// empty. In every case no free is lost or seen twice: the span ends on
    /// the partial list with both objects free, or back in the page heap,
    /// never on the full list.
    #[test]
    fn loom_remote_free_races_owner_collect_and_park() {
        let runs = model(|| {
            let backend = Arc::new(Backend::new_fixed(16 * PAGE_SIZE, usize::MAX).unwrap());
            let class = 66; // 2 objects per span
            assert_eq!(TABLES.objects[class], 2);
            let b = &*backend;
            let s = b.central[class].cache_span(class, b, 1, &mut NoEvents);
            // SAFETY: cache 1 (this thread) owns s.
            let addrs = unsafe {
                let x = (*s).next_free().unwrap();
                let y = (*s).next_free().unwrap();
                [(*s).object_addr(x), (*s).object_addr(y)]
            };
            let sp = s as usize;
            let remotes: Vec<_> = addrs
                .iter()
                .map(|&addr| {
                    let backend = backend.clone();
                    thread::spawn(move || {
                        // SAFETY: addr is live and this thread frees it.
                        unsafe { backend.remote_free(sp as *mut Span, addr, &mut NoEvents) };
                    })
                })
                .collect();
            // The owner: collect what has arrived, then hand the span back.
            // SAFETY: this thread owns s until uncache_span.
            let got = unsafe {
                let got = (*s).collect_remote(&mut |_| panic!("double free"));
                assert_eq!((*s).alloc_count(), 2 - got);
                b.central[class].uncache_span(class, s, &b.pages, &b.counters, &mut NoEvents);
                got
            };
            for r in remotes {
                r.join().unwrap();
            }
            let (partial, full) = b.central[class].lens();
            assert_eq!(
                full, 0,
                "a span with pending frees stayed parked (owner collected {got})"
            );
            if partial == 1 {
                // Whoever takes it next finds both objects free.
                let s2 = b.central[class].cache_span(class, b, 2, &mut NoEvents);
                assert_eq!(s2, s);
                // SAFETY: cache 2 owns s2.
                unsafe {
                    assert_eq!((*s2).alloc_count(), 0, "a remote free was lost");
                    assert!((*s2).next_free().is_some() && (*s2).next_free().is_some());
                }
            } else {
                // Both frees arrived before the hand-back: empty, released.
                assert_eq!(partial, 0);
                assert_eq!(b.pages.stats().in_use_bytes, 0, "an empty span was leaked");
            }
            // SAFETY: nothing is used afterwards.
            unsafe { b.pages.release_all() };
        });
        assert!(runs > 1, "the model explored only {runs} interleaving(s)");
    }
}
