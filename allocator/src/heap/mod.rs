//! `Heap`: the allocator's inspectable face for lessons. The same page heap,
//! spans, central lists and cache code as `SpanAlloc`, over one fixed arena
//! instead of growing mmapped arenas, driven by one thread, so the same
//! sequence of calls always gives the same layout.
//!
//! What is simulated, and only this: there is one cache (the single thread
//! that owns the `Heap`), and addresses are reported as offsets from the
//! arena's start so that they are the same from run to run. The memory is
//! real (an `mmap` of the arena's size), and objects can be written through
//! [`Heap::ptr`].
//!
//! Every step the allocator takes is recorded as a [`HeapEvent`], so a lesson
//! can follow an allocation through cache → central → page heap; and
//! [`Heap::snapshot`] serialises every span (class, pages, occupancy bitmap,
//! `free_index`, `alloc_cache`), the per-class statistics and the free runs.
//!
//! A garbage collector built on top (the memory chapter's simulation) frees
//! the way Go's sweeper does, not object by object: it hands each span its
//! mark bits, and [`Heap::sweep_span`] installs them as the allocation bits
//! (Go's `mspan.sweep`).
//!
//! Mistakes a program makes with a `SpanAlloc` (abort in checked mode) come
//! back here as [`HeapError`]s, and change nothing.

mod error;
mod snapshot;
mod sweep;

use core::ptr::NonNull;

use crate::backend::Backend;
use crate::cache::Cache;
use crate::events::{EventSink, HeapEvent};
use crate::page_heap::PageHeapStats;
use crate::profile::HeapProfile;
use crate::size_class::{MAX_SMALL_SIZE, NUM_CLASSES, PAGE_SIZE, TABLES, class_of};
use crate::span::{PARKED, Span, SpanState};
use crate::stats::AllocStats;
use crate::sync::Ordering;

pub use error::HeapError;
pub use snapshot::{FreeRun, HeapSnapshot, SpanPlace, SpanSnapshot};
pub use sweep::{SweepOutcome, SweptTo};

/// Collects events with offsets relative to the arena.
struct Log<'a> {
    base: usize,
    on: bool,
    events: &'a mut Vec<HeapEvent>,
}

impl EventSink for Log<'_> {
    const ON: bool = true;
    fn record(&mut self, e: HeapEvent) {
        if self.on {
            self.events.push(e.rebased(self.base));
        }
    }
}

/// A deterministic, single-threaded allocator over a fixed arena, for
/// lessons. See the module documentation.
///
/// ```
/// use allocator::{Heap, HeapEvent};
///
/// let mut heap = Heap::with_arena(1 << 20)?;
/// let a = heap.alloc(24)?;                     // class 3: 24-byte objects
/// let b = heap.alloc(24)?;
/// assert_eq!(b - a, 24);                       // neighbours in one span
/// heap.free(a)?;
/// assert!(heap.free(a).is_err());              // a double free is an error
/// let snap = heap.snapshot();
/// assert_eq!(snap.spans[0].class, 3);
/// assert!(snap.spans[0].occupancy.starts_with("01"));
/// assert!(heap.events().iter().any(|e| matches!(e, HeapEvent::CentralGrow { class: 3, .. })));
/// # Ok::<(), allocator::HeapError>(())
/// ```
pub struct Heap {
    backend: Box<Backend>,
    cache: Box<Cache>,
    base: usize,
    bytes: usize,
    events: Vec<HeapEvent>,
    recording: bool,
}

// SAFETY: the Heap owns its arena, metadata and cache outright; moving it to
// another thread moves all of it (it is not Sync: one thread at a time).
unsafe impl Send for Heap {}

impl Heap {
    /// A heap over a fresh arena of `bytes`, rounded up to whole 8 KiB
    /// pages. The scavenger returns free pages to the OS once more than a
    /// quarter of the arena is free and dirty.
    pub fn with_arena(bytes: usize) -> Result<Heap, HeapError> {
        if bytes == 0 || bytes > (1 << 40) {
            return Err(HeapError::BadArena { bytes });
        }
        let rounded = bytes.next_multiple_of(PAGE_SIZE);
        let backend = Backend::new_fixed(rounded, (rounded / 4).max(PAGE_SIZE))
            .ok_or(HeapError::BadArena { bytes })?;
        let (base, len) = backend
            .pages
            .fixed_region()
            .ok_or(HeapError::BadArena { bytes })?;
        Ok(Heap {
            backend: Box::new(backend),
            cache: Box::new(Cache::without_free_stash()),
            base,
            bytes: len,
            events: Vec::new(),
            recording: true,
        })
    }

    /// Bytes in the arena.
    pub fn arena_bytes(&self) -> usize {
        self.bytes
    }

    fn split(&mut self) -> (&Backend, &mut Cache, Log<'_>) {
        let log = Log {
            base: self.base,
            on: self.recording,
            events: &mut self.events,
        };
        (&self.backend, &mut self.cache, log)
    }

    /// Allocates `size` bytes (at least 8-aligned; zero gives a class-1
    /// object). Returns the object's offset in the arena.
    pub fn alloc(&mut self, size: usize) -> Result<usize, HeapError> {
        let base = self.base;
        let (b, cache, mut log) = self.split();
        let addr = if size <= MAX_SMALL_SIZE {
            cache.alloc(b, class_of(size), &mut log)
        } else {
            let addr = b.alloc_large(size, 8, &mut log);
            if addr != 0 {
                cache.tick_large(b, size, addr, &mut log);
            }
            addr
        };
        if addr == 0 {
            Err(HeapError::OutOfMemory { requested: size })
        } else {
            Ok(addr - base)
        }
    }

    /// The span holding `offset`, with its kind checked.
    fn span_at(&self, offset: usize) -> Result<*mut Span, HeapError> {
        if offset >= self.bytes {
            return Err(HeapError::OutOfArena { offset });
        }
        let s = self.backend.pages.span_of(self.base + offset);
        // SAFETY: the heap is single-threaded; page-map spans are valid
        // metadata. Stale entries inside free runs are caught by the range
        // and state checks.
        unsafe {
            if s.is_null()
                || (*s).local_ref().state == SpanState::Free
                || self.base + offset < (*s).start
                || self.base + offset >= (*s).end()
            {
                return Err(HeapError::NotAllocated { offset });
            }
        }
        Ok(s)
    }

    /// Frees the object at `offset`. A double free, an offset inside an
    /// object, or an offset with nothing allocated is an error and changes
    /// nothing.
    pub fn free(&mut self, offset: usize) -> Result<(), HeapError> {
        let s = self.span_at(offset)?;
        let addr = self.base + offset;
        // SAFETY: single-threaded; s is a live in-use span (span_at).
        unsafe {
            let span = &*s;
            if span.class == 0 {
                if addr != span.start {
                    return Err(HeapError::NotAllocated { offset });
                }
                let (b, _, mut log) = self.split();
                b.free_large(s, addr, None, &mut log);
                return Ok(());
            }
            let class = span.class;
            if !span.is_object_start(addr) {
                return Err(HeapError::InteriorPointer { offset, class });
            }
            let index = span.object_index(addr);
            let l = span.local_ref();
            let allocated = l.alloc_bits[index / 64] & (1 << (index % 64)) != 0;
            if !allocated || remote_list(span).contains(&addr) {
                return Err(HeapError::DoubleFree { offset, class });
            }
            let (b, cache, mut log) = self.split();
            cache.free(b, s, addr, &mut log);
        }
        Ok(())
    }

    /// A pointer to the object at `offset`, to read or write it. Valid until
    /// the object is freed or the heap dropped.
    pub fn ptr(&self, offset: usize) -> Option<NonNull<u8>> {
        (offset < self.bytes)
            .then(|| NonNull::new((self.base + offset) as *mut u8))
            .flatten()
    }

    /// Events recorded so far.
    pub fn events(&self) -> &[HeapEvent] {
        &self.events
    }

    /// Returns and clears the recorded events.
    pub fn take_events(&mut self) -> Vec<HeapEvent> {
        std::mem::take(&mut self.events)
    }

    /// Turns event recording on or off (on by default).
    pub fn record_events(&mut self, on: bool) {
        self.recording = on;
    }

    /// Sets the profile's mean bytes between samples (default 512 KiB; 0
    /// turns it off, 1 samples every allocation) and restarts the countdown.
    pub fn set_profile_rate(&mut self, bytes: usize) {
        self.backend.profile.set_rate(bytes);
        self.cache.reset_sampling(bytes);
    }

    /// The sampling heap profile.
    pub fn profile(&self) -> HeapProfile {
        self.backend.profile.read()
    }

    /// Hands the cache's spans back to the central lists (what thread exit
    /// does for `SpanAlloc`), then sweeps the central lists: spans whose
    /// objects were all freed go back to the page heap, where their pages
    /// merge with their free neighbours.
    pub fn flush_cache(&mut self) {
        let (b, cache, mut log) = self.split();
        cache.release_all(b, &mut log);
        b.sweep_all(&mut log);
    }

    /// Returns every dirty free page to the OS now; returns pages released.
    pub fn scavenge(&mut self) -> usize {
        let (b, _, mut log) = self.split();
        let n = b.pages.scavenge(Some(0));
        b.settle_pages(&mut log);
        n
    }

    /// Statistics, including counts the cache has not flushed yet.
    pub fn stats(&self) -> AllocStats {
        let pages: PageHeapStats = self.backend.pages.stats();
        self.backend.counters.read(pages, &self.cache.unflushed())
    }

    /// Objects per span and bytes per object of `class` (a convenience for
    /// lessons; see [`crate::size_classes`]).
    pub fn class_shape(class: usize) -> Option<(usize, usize)> {
        (1..=NUM_CLASSES)
            .contains(&class)
            .then(|| (TABLES.objects[class], TABLES.size[class]))
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: the heap is going away with everything allocated from it;
        // offsets handed out are plain numbers and `ptr` results die with it.
        unsafe { self.backend.pages.release_all() };
    }
}

/// Addresses waiting on a span's remote list (single-threaded inspection).
fn remote_list(span: &Span) -> Vec<usize> {
    let mut out = Vec::new();
    let mut node = span.remote.load(Ordering::Relaxed) & !PARKED;
    while node != 0 && out.len() <= span.nelems {
        out.push(node);
        // SAFETY: nodes are freed objects of the span holding the next link.
        node = unsafe { (node as *const usize).read() };
    }
    out
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn small_allocations_fill_a_span_in_order_and_frees_are_reused() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        let offs: Vec<usize> = (0..10).map(|_| h.alloc(32).unwrap()).collect();
        for w in offs.windows(2) {
            assert_eq!(w[1] - w[0], 32, "objects of one span are contiguous");
        }
        h.free(offs[3]).unwrap();
        assert_eq!(
            h.free(offs[3]),
            Err(HeapError::DoubleFree {
                offset: offs[3],
                class: 4
            })
        );
        assert_eq!(
            h.free(offs[4] + 1),
            Err(HeapError::InteriorPointer {
                offset: offs[4] + 1,
                class: 4
            })
        );
        assert_eq!(
            h.free(1 << 20),
            Err(HeapError::OutOfArena { offset: 1 << 20 })
        );
        assert_eq!(
            h.free(512 * 1024),
            Err(HeapError::NotAllocated { offset: 512 * 1024 })
        );
        let v = h.span_view(offs[0]).unwrap();
        assert_eq!(v.allocated, 9);
        assert_eq!(&v.occupancy[..11], "11101111110");
        assert_eq!(v.free_index, 3, "a free pulls free_index back");
        assert_eq!(
            v.alloc_cache,
            !0b11_1111_0111u64 >> 3,
            "complement of the bitmap from object 3"
        );
        assert_eq!(v.place, SpanPlace::Cached);
        assert_eq!(
            h.alloc(32).unwrap(),
            offs[3],
            "the freed object is reused first"
        );
    }

    #[test]
    fn events_follow_an_allocation_through_the_tiers() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        let a = h.alloc(8000).unwrap(); // class 51: one 8 KiB object per span
        assert_eq!(
            h.take_events(),
            vec![
                HeapEvent::CentralGrow {
                    class: 51,
                    span: a,
                    pages: 1
                },
                HeapEvent::CacheRefill {
                    class: 51,
                    span: a,
                    fresh: true
                },
            ]
        );
        let b = h.alloc(8000).unwrap();
        let ev = h.take_events();
        assert_eq!(
            ev[0],
            HeapEvent::SpanHandedBack {
                class: 51,
                span: a,
                full: true
            }
        );
        assert!(matches!(ev[1], HeapEvent::CentralGrow { class: 51, .. }));
        // Freeing a's object: a's span is parked full, so the free is remote
        // and unparks it.
        h.free(a).unwrap();
        assert_eq!(
            h.take_events(),
            vec![
                HeapEvent::RemoteFree {
                    class: 51,
                    offset: a
                },
                HeapEvent::SpanUnparked { class: 51, span: a },
            ]
        );
        h.free(b).unwrap();
        assert_eq!(
            h.take_events(),
            vec![HeapEvent::LocalFree {
                class: 51,
                offset: b
            }]
        );
        // b's span is empty now; the next allocation hands it back, and the
        // central list offers a's span (partial, with a pending free).
        let c = h.alloc(8000).unwrap();
        assert_eq!(c, b, "the cached span's freed object is reused first");
        let big = h.alloc(100_000).unwrap();
        assert!(matches!(
            h.take_events()[..],
            [
                HeapEvent::CacheHit { .. },
                HeapEvent::LargeAlloc { pages: 13, .. }
            ]
        ));
        h.free(big).unwrap();
        let ev = h.take_events();
        assert_eq!(
            ev[0],
            HeapEvent::LargeFree {
                offset: big,
                pages: 13
            }
        );
        // The freed pages merged with the free rest of the arena, whose dirty
        // part passed a quarter of the arena: the scavenger returned it.
        assert!(matches!(ev[1..], [HeapEvent::Scavenged { offset, .. }] if offset == big));
    }

    #[test]
    fn out_of_memory_is_an_error_and_loses_nothing() {
        let mut h = Heap::with_arena(64 * 1024).unwrap();
        let big = h.alloc(40 * 1024).unwrap();
        assert_eq!(
            h.alloc(40 * 1024),
            Err(HeapError::OutOfMemory {
                requested: 40 * 1024
            })
        );
        h.free(big).unwrap();
        assert!(
            h.alloc(40 * 1024).is_ok(),
            "memory must be usable again after the failure"
        );
        assert!(matches!(
            Heap::with_arena(0),
            Err(HeapError::BadArena { bytes: 0 })
        ));
    }

    #[test]
    fn freeing_everything_coalesces_the_arena_back_into_one_run() {
        let mut h = Heap::with_arena(4 << 20).unwrap();
        let mut xs = vec![];
        for i in 0..400 {
            xs.push(h.alloc([16, 100, 1000, 5000, 20_000][i % 5]).unwrap());
        }
        for x in xs {
            h.free(x).unwrap();
        }
        h.flush_cache();
        let snap = h.snapshot();
        assert!(
            snap.spans.is_empty(),
            "spans left: {:?}",
            snap.spans
                .iter()
                .map(|s| (s.class, s.allocated))
                .collect::<Vec<_>>()
        );
        assert_eq!(snap.free_runs.len(), 1);
        assert_eq!(snap.free_runs[0].pages * PAGE_SIZE, 4 << 20);
        let st = h.stats();
        assert_eq!(st.total_allocs, 400);
        assert_eq!(st.total_frees, 400);
        assert_eq!(st.in_use_bytes, 0);
    }

    #[test]
    fn profile_at_rate_one_samples_everything_and_tracks_in_use() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        h.set_profile_rate(1);
        let xs: Vec<usize> = (0..10).map(|_| h.alloc(64).unwrap()).collect();
        for x in &xs[..4] {
            h.free(*x).unwrap();
        }
        let p = h.profile();
        let r = p
            .records
            .iter()
            .find(|r| r.class == 6)
            .expect("class 6 bucket");
        assert_eq!((r.sampled_allocs, r.sampled_inuse), (10, 6));
        assert_eq!(
            (r.alloc_objects, r.inuse_objects),
            (10, 6),
            "rate 1: weight 1 per sample"
        );
        assert_eq!(r.alloc_bytes, 640);
    }

    #[test]
    fn profile_at_default_rate_estimates_bytes_allocated() {
        let mut h = Heap::with_arena(64 << 20).unwrap();
        h.record_events(false);
        let mut live = vec![];
        // 40 MiB in 4 KiB objects, freeing as we go.
        for i in 0..10_240 {
            live.push(h.alloc(4096).unwrap());
            if i % 2 == 1 {
                h.free(live.swap_remove(0)).unwrap();
            }
        }
        let p = h.profile();
        let r = p.records.iter().find(|r| r.class == 44).unwrap();
        let est = r.alloc_bytes as f64;
        let truth = 10_240.0 * 4096.0;
        // About 80 samples: the estimate is within 40% with overwhelming odds.
        assert!(
            (est / truth - 1.0).abs() < 0.4,
            "estimated {est} bytes, allocated {truth}"
        );
        assert!(r.sampled_inuse <= r.sampled_allocs);
    }
}
