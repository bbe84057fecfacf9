//! Central lists (Go's `mcentral`): per size class, the spans no thread cache
//! holds, in two lists behind one lock.
//!
//! * `partial`: spans with free objects, or with remote frees waiting, which
//!   is the same thing once they are collected (Go's `partial` set).
//! * `full`: spans with every object allocated (Go's `full` set).
//!
//! A thread cache whose span ran out hands it back (`uncache_span`, Go's
//! `mcentral.uncacheSpan`) and takes one with space (`cache_span`, Go's
//! `mcentral.cacheSpan`); when `partial` is empty the central list asks the
//! page heap for a fresh span (Go's `mcentral.grow`). That is one lock round
//! trip per span's worth of allocations, not per allocation.
//!
//! A full span on the `full` list still receives frees from any thread. They
//! go onto the span's atomic remote-free list (see `span.rs`), without this
//! lock, except for the first: a span is parked full with the `PARKED` flag
//! on its remote list, and the one free that clears the flag takes this lock
//! once to move the span to `partial` (`unpark`). Later frees into it are
//! lock-free again. Spans on `partial` are collected when a cache takes them;
//! a span found entirely free then goes back to the page heap if the class
//! has others to use.
//!
//! The same lists also serve the cache-less tier
//! (`SpanAlloc::without_thread_cache`): `alloc_locked` and `free_locked`
//! allocate from and free into the first partial span under this lock, as a
//! classic single-lock allocator would; spans that no cache owns are owned by
//! this lock.
//!
//! ## The page source
//!
//! A central list needs three things from below it: fresh pages for a new
//! span, somewhere to give an empty span's pages back, and the statistics.
//! It gets them through a `PageSource`, not the whole `Backend`: the
//! central list cannot reach the other classes' lists, the profile or the
//! caches. Giving back is the page heap itself (`free_run`); taking is the
//! source's `take_pages`, and there Go's tie between `mheap` and `mcentral`
//! stays, on purpose. Go's `mcentral.grow` calls `mheap.alloc`, which, when
//! the heap has no free pages, sweeps spans (of every class) until enough
//! pages come back before it grows the heap (`mheap.reclaim`). `Backend`'s
//! `take_pages` does the same: it sweeps every class's central list for
//! spans that became entirely free, then grows. So a central list may, two
//! calls down, take another class's lock; never its own (it releases its
//! lock before asking for pages), and never while holding the page heap's
//! (the order below holds).
//!
//! Lock order: this lock, then the page heap's; never the reverse.

use core::ptr;

use crate::checked;
use crate::events::{EventSink, HeapEvent};
use crate::page_heap::{PageHeap, RunOutcome, SpanList};
use crate::size_class::TABLES;
use crate::span::{ListKind, Span};
use crate::stats::Counters;
use crate::sync::{Mutex, Ordering, const_unless_loom};

/// What a central list takes pages from and gives them back to (see the
/// module documentation): in the allocator, the `Backend`.
pub(crate) trait PageSource {
    /// The page heap empty spans go back to.
    fn page_heap(&self) -> &PageHeap;
    /// The statistics a span's return updates.
    fn counters(&self) -> &Counters;
    /// A run of `npages` pages for a fresh span (Go's `mheap.alloc` from
    /// `mcentral.grow`), or `None` when memory is exhausted. Called with no
    /// central lock held: it may sweep every class's central list.
    fn take_pages<E: EventSink>(&self, npages: usize, ev: &mut E) -> Option<RunOutcome>;
}

pub(crate) struct Lists {
    pub(crate) partial: SpanList,
    pub(crate) full: SpanList,
}

// SAFETY: the spans on the lists are owned by the lock that guards `Lists`.
unsafe impl Send for Lists {}

/// One size class's central lists (Go's `mcentral`).
pub struct Central {
    lists: Mutex<Lists>,
}

impl Central {
    const_unless_loom! {
        /// Empty lists.
        pub(crate) fn new() -> Central {
            Central { lists: Mutex::new(Lists { partial: SpanList::new(), full: SpanList::new() }) }
        }
    }

    /// Locks the lists (for the fork handlers in `fork.rs`).
    #[cfg(not(loom))]
    pub(crate) fn lock_lists(&self) -> crate::sync::MutexGuard<'_, Lists> {
        self.lists.lock()
    }

    // ANCHOR: cache_span
    /// Gives a span with free objects to the cache `owner` (Go's
    /// `mcentral.cacheSpan`), taking it from `partial` or growing from the
    /// page heap. Null if the page heap is out of memory.
    pub(crate) fn cache_span<E: EventSink>(
        &self,
        class: usize,
        src: &impl PageSource,
        owner: usize,
        ev: &mut E,
    ) -> *mut Span {
        let (pages, counters) = (src.page_heap(), src.counters());
        let mut lists = self.lists.lock();
        loop {
            // SAFETY: the lock we hold owns the lists and the spans on them.
            let s = unsafe { lists.partial.pop() };
            if s.is_null() {
                break;
            }
            // SAFETY: s came off our list, so the lock owns it.
            unsafe {
                let span = &*s;
                span.collect_remote(&mut |addr| checked::double_free(addr, class));
                if span.alloc_count() == 0 && lists.partial.len > 0 {
                    // Entirely free and the class has other spans: give the
                    // pages back so other classes can use them.
                    release_to_page_heap(class, s, pages, counters, ev);
                    continue;
                }
                if span.is_full() {
                    // Remote frees raced with us; try again with this span later.
                    if span.try_park() {
                        lists.full.push(s, ListKind::Full);
                    } else {
                        lists.partial.push(s, ListKind::Partial);
                    }
                    continue;
                }
                span.owner.store(owner, Ordering::Relaxed);
                drop(lists);
                let l = span.local();
                l.free_index = 0;
                l.alloc_cache = !l.alloc_bits[0];
                ev.emit(|| HeapEvent::CacheRefill {
                    class,
                    span: span.start,
                    fresh: false,
                });
                return s;
            }
        }
        drop(lists);
        // Go's mcentral.grow: a fresh span from the page heap.
        let npages = TABLES.pages[class];
        let Some(out) = src.take_pages(npages, ev) else {
            return ptr::null_mut();
        };
        let s = out.span;
        // SAFETY: the span is fresh from the page heap; nobody else sees it.
        unsafe {
            (*s).init_small(class);
            (*s).owner.store(owner, Ordering::Relaxed);
            let start = (*s).start;
            ev.emit(|| HeapEvent::CentralGrow {
                class,
                span: start,
                pages: npages,
            });
            ev.emit(|| HeapEvent::CacheRefill {
                class,
                span: start,
                fresh: true,
            });
        }
        counters.span_added(class);
        s
    }
    // ANCHOR_END: cache_span

    /// Takes back a span from its owning cache (Go's `mcentral.uncacheSpan`):
    /// full spans are parked on `full`, spans with space go to `partial`,
    /// entirely free spans go back to the page heap.
    ///
    /// # Safety
    /// The caller is the cache that owns `s` and gives it up.
    pub(crate) unsafe fn uncache_span<E: EventSink>(
        &self,
        class: usize,
        s: *mut Span,
        pages: &PageHeap,
        counters: &Counters,
        ev: &mut E,
    ) {
        // SAFETY: the caller owns s until we put it on a list under the lock.
        unsafe {
            let span = &*s;
            span.collect_remote(&mut |addr| checked::double_free(addr, class));
            let mut lists = self.lists.lock();
            span.owner.store(0, Ordering::Relaxed);
            let count = span.alloc_count();
            if count == 0 {
                drop(lists);
                release_to_page_heap(class, s, pages, counters, ev);
                return;
            }
            let full = count >= span.nelems && span.try_park();
            if full {
                lists.full.push(s, ListKind::Full);
            } else {
                lists.partial.push(s, ListKind::Partial);
            }
            ev.emit(|| HeapEvent::SpanHandedBack {
                class,
                span: span.start,
                full,
            });
        }
    }

    /// A remote free cleared `PARKED` on `s`: move it from `full` to
    /// `partial` so a cache can find its free objects.
    pub(crate) fn unpark<E: EventSink>(&self, class: usize, s: *mut Span, ev: &mut E) {
        let mut lists = self.lists.lock();
        // SAFETY: a span with PARKED set was on a list of ours; under the lock
        // its list field tells us where it is now.
        unsafe {
            if (*s).local().list == ListKind::Full {
                lists.full.remove(s);
                lists.partial.push(s, ListKind::Partial);
                let start = (*s).start;
                ev.emit(|| HeapEvent::SpanUnparked { class, span: start });
            }
        }
    }

    /// The cache-less tier: allocates one object of `class` under the lock.
    /// Returns the address, or 0 if out of memory.
    pub(crate) fn alloc_locked(
        &self,
        class: usize,
        pages: &PageHeap,
        counters: &Counters,
    ) -> usize {
        let mut lists = self.lists.lock();
        loop {
            let s = lists.partial.head;
            if s.is_null() {
                let out = {
                    let mut heap = pages.lock();
                    pages.alloc_run(&mut heap, TABLES.pages[class], 1)
                };
                let Some(out) = out else { return 0 };
                // SAFETY: a fresh span; we own it and list it under our lock.
                unsafe {
                    (*out.span).init_small(class);
                    lists.partial.push(out.span, ListKind::Partial);
                }
                counters.span_added(class);
                continue;
            }
            // SAFETY: s is on our partial list, owned by the lock we hold.
            unsafe {
                let span = &*s;
                span.collect_remote(&mut |addr| checked::double_free(addr, class));
                if let Some(i) = span.next_free().or_else(|| span.rewind_and_next_free()) {
                    return span.object_addr(i);
                }
                lists.partial.remove(s);
                if span.try_park() {
                    lists.full.push(s, ListKind::Full);
                } else {
                    lists.partial.push(s, ListKind::Partial);
                }
            }
        }
    }

    /// The cache-less tier: frees `addr` of span `s` under the lock. Returns
    /// false, doing nothing, if a thread cache owns the span: the caller then
    /// frees remotely.
    ///
    /// # Safety
    /// `addr` is an allocated object of `s`, given up by the caller.
    pub(crate) unsafe fn free_locked(
        &self,
        class: usize,
        s: *mut Span,
        addr: usize,
        pages: &PageHeap,
        counters: &Counters,
    ) -> bool {
        let mut lists = self.lists.lock();
        // SAFETY: owner changes only under this lock, so owner == 0 means the
        // lock we hold owns the span.
        unsafe {
            let span = &*s;
            if span.owner.load(Ordering::Relaxed) != 0 {
                return false;
            }
            if !span.free_local(span.object_index(addr)) {
                drop(lists);
                checked::double_free(addr, class);
                return true;
            }
            let l = span.local();
            if l.list == ListKind::Full {
                lists.full.remove(s);
                lists.partial.push(s, ListKind::Partial);
            }
            if l.alloc_count == 0
                && lists.partial.len > 1
                && span.remote.load(Ordering::Relaxed) & !crate::span::PARKED == 0
            {
                lists.partial.remove(s);
                counters.span_released(class);
                let mut heap = pages.lock();
                pages.free_run(&mut heap, s);
            }
        }
        true
    }

    /// Collects the remote frees of every partial span and returns the spans
    /// found entirely free to the page heap (what Go's sweeper does for
    /// mcentral at the end of a GC cycle). Returns spans released.
    pub(crate) fn sweep<E: EventSink>(
        &self,
        class: usize,
        pages: &PageHeap,
        counters: &Counters,
        ev: &mut E,
    ) -> usize {
        let mut lists = self.lists.lock();
        let mut released = 0;
        let mut s = lists.partial.head;
        while !s.is_null() {
            // SAFETY: spans on our partial list are owned by the lock we hold.
            unsafe {
                let span = &*s;
                let next = span.local().next;
                span.collect_remote(&mut |addr| checked::double_free(addr, class));
                if span.alloc_count() == 0 {
                    lists.partial.remove(s);
                    release_to_page_heap(class, s, pages, counters, ev);
                    released += 1;
                }
                s = next;
            }
        }
        released
    }

    /// Sweeps one span that no cache holds (the end of Go's `mspan.sweep`):
    /// under the lock, unlinks `s` from the list holding it, runs `swap`
    /// (which installs the mark bits as allocation bits), then frees the
    /// span to the page heap if nothing is allocated (Go's
    /// `mheap.freeSpan`), parks it on `full` if everything is
    /// (`fullSwept`), and lists it on `partial` otherwise (`partialSwept`).
    ///
    /// # Safety
    /// `s` is a small-object span of `class` on this central's partial or
    /// full list; `swap` touches only `s`.
    pub(crate) unsafe fn sweep_span<E: EventSink>(
        &self,
        class: usize,
        s: *mut Span,
        pages: &PageHeap,
        counters: &Counters,
        ev: &mut E,
        swap: impl FnOnce(&Span),
    ) {
        let mut lists = self.lists.lock();
        // SAFETY: s is on one of our lists (caller's contract), so the lock
        // we hold owns it; once unlinked, it is ours alone until listed again.
        unsafe {
            let span = &*s;
            match span.local().list {
                ListKind::Full => lists.full.remove(s),
                _ => lists.partial.remove(s),
            }
            swap(span);
            let count = span.alloc_count();
            if count == 0 {
                drop(lists);
                release_to_page_heap(class, s, pages, counters, ev);
            } else if count >= span.nelems && span.try_park() {
                lists.full.push(s, ListKind::Full);
            } else {
                lists.partial.push(s, ListKind::Partial);
            }
        }
    }

    /// Lengths of (partial, full), for tests.
    #[cfg(all(test, loom))]
    pub(crate) fn lens(&self) -> (usize, usize) {
        let l = self.lists.lock();
        (l.partial.len, l.full.len)
    }
}

/// Gives an entirely free span's pages back to the page heap (Go's
/// `mheap.freeSpan`), counting it and telling the lessons' event log.
///
/// # Safety
/// The caller owns `s` alone: it is on no list and no cache holds it.
unsafe fn release_to_page_heap<E: EventSink>(
    class: usize,
    s: *mut Span,
    pages: &PageHeap,
    counters: &Counters,
    ev: &mut E,
) {
    // SAFETY: the caller owns s alone (this function's contract).
    let span = unsafe { &*s };
    ev.emit(|| HeapEvent::SpanReturned {
        class,
        span: span.start,
        pages: span.npages,
    });
    counters.span_released(class);
    let mut heap = pages.lock();
    // SAFETY: s came from this page heap's `alloc_run` (every span a central
    // list sees does), and the caller owns it alone, so nobody uses it now.
    unsafe { pages.free_run(&mut heap, s) };
}

#[cfg(all(test, loom))]
mod loom_tests {
    use crate::backend::Backend;
    use crate::events::NoEvents;
    use crate::size_class::PAGE_SIZE;
    use crate::span::Span;
    use crate::sync::model;
    use loom::sync::Arc;
    use loom::thread;

    /// Two caches trade spans of class 67 (one 32 KiB object per span)
    /// through the central lists: each takes a span, allocates its object,
    /// and hands the full span back; then both objects are freed remotely.
    /// Every interleaving must give the two caches different objects, park
    /// both spans full, and the frees must move both to the partial list.
    #[test]
    fn loom_central_lists_two_caches_take_and_return_spans() {
        let runs = model(|| {
            let backend = Arc::new(Backend::new_fixed(16 * PAGE_SIZE, usize::MAX).unwrap());
            let class = 67;
            let handles: Vec<_> = (1..=2usize)
                .map(|owner| {
                    let b = backend.clone();
                    thread::spawn(move || {
                        let c = &b.central[class];
                        let s = c.cache_span(class, &*b, owner, &mut NoEvents);
                        assert!(!s.is_null());
                        // SAFETY: the cache `owner` owns s until uncache_span.
                        unsafe {
                            let i = (*s).next_free().expect("a cached span has space");
                            let addr = (*s).object_addr(i);
                            c.uncache_span(class, s, &b.pages, &b.counters, &mut NoEvents);
                            (s as usize, addr)
                        }
                    })
                })
                .collect();
            let got: Vec<(usize, usize)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_ne!(got[0].1, got[1].1, "one object handed to two caches");
            let c = &backend.central[class];
            assert_eq!(c.lens(), (0, 2), "both spans are full and parked");
            for &(s, addr) in &got {
                // SAFETY: addr is a live object of s that we give up.
                unsafe { backend.remote_free(s as *mut Span, addr, &mut NoEvents) };
            }
            assert_eq!(c.lens(), (2, 0), "frees must move parked spans to partial");
            let s = c.cache_span(class, &*backend, 9, &mut NoEvents);
            // SAFETY: cache 9 owns s.
            unsafe { assert!((*s).next_free().is_some()) };
            // SAFETY: nothing is used afterwards.
            unsafe { backend.pages.release_all() };
        });
        assert!(runs > 1, "the model explored only {runs} interleaving(s)");
    }
}
