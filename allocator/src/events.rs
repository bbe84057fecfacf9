//! What the allocator reports as it works, for lessons: every step an
//! allocation or a free takes through the tiers (thread cache, central list,
//! page heap, OS) is a [`HeapEvent`], handed to an `EventSink`. A
//! [`Heap`](crate::Heap) records them (rebased to arena offsets with
//! [`HeapEvent::rebased`]) so a lesson can follow an allocation through
//! cache → central → page heap; the global allocator passes `NoEvents`,
//! whose `ON = false` lets the compiler drop every event, and the closure
//! that would build it, from the fast paths. Go has no such hook (its
//! closest relatives are the execution tracer's heap events and
//! `GODEBUG=allocfreetrace`, removed in Go 1.22).

use serde::Serialize;

/// Something that happened inside the allocator, recorded by a [`Heap`](crate::Heap)
/// for lessons. Addresses are offsets from the arena's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event")]
pub enum HeapEvent {
    /// An allocation served from the thread cache's span with no lock (Go's
    /// `nextFreeFast` succeeding in `mallocgc`).
    CacheHit {
        /// Size class.
        class: usize,
        /// Offset of the object.
        offset: usize,
    },
    /// The cache's span for `class` had no space left after collecting its
    /// remote frees; it goes back to the central list.
    SpanHandedBack {
        /// Size class.
        class: usize,
        /// Offset of the span.
        span: usize,
        /// True if every object is allocated (parked on the full list).
        full: bool,
    },
    /// The cache got a span from the central list (Go's `mcache.refill`).
    CacheRefill {
        /// Size class.
        class: usize,
        /// Offset of the span.
        span: usize,
        /// True if the span came fresh from the page heap, false if from the
        /// central partial list.
        fresh: bool,
    },
    /// The central list had no span with space and took pages from the page
    /// heap (Go's `mcentral.grow`).
    CentralGrow {
        /// Size class.
        class: usize,
        /// Offset of the new span.
        span: usize,
        /// Pages in the span.
        pages: usize,
    },
    /// The page heap reserved a new arena from the OS.
    PageHeapGrow {
        /// Pages that were wanted.
        pages: usize,
    },
    /// A large object (> 32 KiB) got its own span from the page heap.
    LargeAlloc {
        /// Offset of the object.
        offset: usize,
        /// Pages in its span.
        pages: usize,
    },
    /// A large object's pages went back to the page heap.
    LargeFree {
        /// Offset of the object.
        offset: usize,
        /// Pages in its span.
        pages: usize,
    },
    /// A free into the cache's own span: a bit cleared, no lock, no atomic.
    LocalFree {
        /// Size class.
        class: usize,
        /// Offset of the object.
        offset: usize,
    },
    /// A free into a span the cache does not own: the object was pushed onto
    /// that span's atomic remote-free list.
    RemoteFree {
        /// Size class.
        class: usize,
        /// Offset of the object.
        offset: usize,
    },
    /// The first remote free into a parked full span moved it to the central
    /// partial list.
    SpanUnparked {
        /// Size class.
        class: usize,
        /// Offset of the span.
        span: usize,
    },
    /// A span with no allocated object went back to the page heap.
    SpanReturned {
        /// Size class it served.
        class: usize,
        /// Offset of the span.
        span: usize,
        /// Pages in it.
        pages: usize,
    },
    /// The scavenger returned a free run's pages to the OS.
    Scavenged {
        /// Offset of the run.
        offset: usize,
        /// Pages in it.
        pages: usize,
    },
    /// The collector's mark bits became a span's allocation bits (Go's
    /// `mspan.sweep`): the marked objects stay allocated, every other one is
    /// free at once. A `SpanReturned` follows if nothing was kept.
    Swept {
        /// Size class.
        class: usize,
        /// Offset of the span.
        span: usize,
        /// Objects kept: the marked ones (Go's `nalloc`).
        kept: usize,
        /// Objects freed: allocated but unmarked.
        freed: usize,
    },
    /// The heap profile sampled this allocation.
    Sampled {
        /// Size class (0 for a large object).
        class: usize,
        /// Offset of the object.
        offset: usize,
    },
}

impl HeapEvent {
    /// The same event with every address made an offset from `base` (a
    /// [`Heap`](crate::Heap)'s arena start), so that a lesson's log reads
    /// the same from run to run. Page and object counts are unchanged.
    pub fn rebased(self, base: usize) -> HeapEvent {
        let r = |x: usize| x.wrapping_sub(base);
        use HeapEvent::*;
        match self {
            CacheHit { class, offset } => CacheHit {
                class,
                offset: r(offset),
            },
            SpanHandedBack { class, span, full } => SpanHandedBack {
                class,
                span: r(span),
                full,
            },
            CacheRefill { class, span, fresh } => CacheRefill {
                class,
                span: r(span),
                fresh,
            },
            CentralGrow { class, span, pages } => CentralGrow {
                class,
                span: r(span),
                pages,
            },
            PageHeapGrow { pages } => PageHeapGrow { pages },
            LargeAlloc { offset, pages } => LargeAlloc {
                offset: r(offset),
                pages,
            },
            LargeFree { offset, pages } => LargeFree {
                offset: r(offset),
                pages,
            },
            LocalFree { class, offset } => LocalFree {
                class,
                offset: r(offset),
            },
            RemoteFree { class, offset } => RemoteFree {
                class,
                offset: r(offset),
            },
            SpanUnparked { class, span } => SpanUnparked {
                class,
                span: r(span),
            },
            SpanReturned { class, span, pages } => SpanReturned {
                class,
                span: r(span),
                pages,
            },
            Scavenged { offset, pages } => Scavenged {
                offset: r(offset),
                pages,
            },
            Swept {
                class,
                span,
                kept,
                freed,
            } => Swept {
                class,
                span: r(span),
                kept,
                freed,
            },
            Sampled { class, offset } => Sampled {
                class,
                offset: r(offset),
            },
        }
    }
}

/// Receives events; `ON` lets the compiler drop all event code for
/// [`NoEvents`].
pub(crate) trait EventSink {
    /// Whether events are wanted at all.
    const ON: bool;
    /// Records an event built by `make` (absolute addresses).
    fn record(&mut self, e: HeapEvent);
    /// Records `make()` if events are on.
    #[inline(always)]
    fn emit(&mut self, make: impl FnOnce() -> HeapEvent) {
        if Self::ON {
            self.record(make());
        }
    }
}

/// The sink of the global allocator: records nothing.
pub(crate) struct NoEvents;

impl NoEvents {
    /// A `&mut NoEvents` that needs no stack slot: `&mut NoEvents` written
    /// inline makes the compiler reserve a stack frame in the allocator's
    /// fast paths just to have an address to pass to their cold calls.
    #[inline(always)]
    pub(crate) fn sink() -> &'static mut NoEvents {
        // SAFETY: NoEvents is zero-sized, so a dangling, aligned, non-null
        // pointer is valid for all of its (zero-byte) reads and writes.
        unsafe { &mut *core::ptr::NonNull::<NoEvents>::dangling().as_ptr() }
    }
}

impl EventSink for NoEvents {
    const ON: bool = false;
    #[inline(always)]
    fn record(&mut self, _: HeapEvent) {}
}
