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

use core::ptr::NonNull;

use serde::Serialize;

use crate::backend::{Backend, EventSink, HeapEvent};
use crate::cache::Cache;
use crate::page_heap::{FreeRunInfo, PageHeapStats, free_run_info};
use crate::profile::HeapProfile;
use crate::size_class::{MAX_SMALL_SIZE, NUM_CLASSES, PAGE_SIZE, TABLES, class_of};
use crate::span::{ListKind, PARKED, Span, SpanState};
use crate::stats::AllocStats;
use crate::sync::Ordering;

/// Why a [`Heap`] call failed. Nothing in the heap changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum HeapError {
    /// The arena size was zero, or the OS refused to map it.
    BadArena {
        /// Bytes asked for.
        bytes: usize,
    },
    /// The arena has no room for the request.
    OutOfMemory {
        /// Bytes asked for.
        requested: usize,
    },
    /// The offset is outside the arena.
    OutOfArena {
        /// The offset given.
        offset: usize,
    },
    /// Nothing is allocated at this offset (free pages, or not an object's
    /// start in a large object).
    NotAllocated {
        /// The offset given.
        offset: usize,
    },
    /// The offset is inside an object of `class` but not at its start.
    InteriorPointer {
        /// The offset given.
        offset: usize,
        /// Size class of the span.
        class: usize,
    },
    /// The object at this offset is already free.
    DoubleFree {
        /// The offset given.
        offset: usize,
        /// Size class of the object.
        class: usize,
    },
    /// [`Heap::sweep_span`] was given an offset inside a span, not its start.
    NotSpanStart {
        /// The offset given.
        offset: usize,
        /// Offset of the span holding it.
        span: usize,
    },
    /// [`Heap::sweep_span`] was given a large object's span: it has no
    /// object bitmap to swap (free the object instead).
    NotSmallSpan {
        /// Offset of the span.
        span: usize,
    },
    /// [`Heap::sweep_span`] was given the span the heap's cache allocates
    /// from. Go flushes every `mcache` before sweeping (`prepareForSweep`);
    /// call [`Heap::flush_cache`] first.
    SpanCached {
        /// Offset of the span.
        span: usize,
        /// Its size class.
        class: usize,
    },
    /// A mark bitmap of the wrong length: one bit per object, 64 to a word.
    MarkBitsLength {
        /// Offset of the span.
        span: usize,
        /// Words wanted (`objects.div_ceil(64)`).
        expected: usize,
        /// Words given.
        got: usize,
    },
    /// A mark bit at or past the span's object count.
    MarkBeyondObjects {
        /// Offset of the span.
        span: usize,
        /// Index of the first such bit.
        index: usize,
        /// Objects in the span.
        objects: usize,
    },
    /// A mark bit on an object that is free: the collector reached an
    /// object nobody allocated, so its marking is broken. Go's sweeper
    /// throws here ("found pointer to free object", `reportZombies`).
    MarkedFreeObject {
        /// Offset of the free object.
        offset: usize,
        /// Size class of the span.
        class: usize,
    },
}

impl core::fmt::Display for HeapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HeapError::BadArena { bytes } => write!(f, "cannot make an arena of {bytes} bytes"),
            HeapError::OutOfMemory { requested } => {
                write!(
                    f,
                    "out of memory: no room for {requested} bytes in the arena"
                )
            }
            HeapError::OutOfArena { offset } => {
                write!(f, "offset {offset:#x} is outside the arena")
            }
            HeapError::NotAllocated { offset } => {
                write!(f, "nothing is allocated at offset {offset:#x}")
            }
            HeapError::InteriorPointer { offset, class } => write!(
                f,
                "offset {offset:#x} points inside an object of size class {class}, not at its start"
            ),
            HeapError::DoubleFree { offset, class } => {
                write!(f, "double free of offset {offset:#x} (size class {class})")
            }
            HeapError::NotSpanStart { offset, span } => write!(
                f,
                "offset {offset:#x} is inside the span at {span:#x}, not its start"
            ),
            HeapError::NotSmallSpan { span } => write!(
                f,
                "the span at {span:#x} holds one large object and has no bitmap to sweep; free the object instead"
            ),
            HeapError::SpanCached { span, class } => write!(
                f,
                "the span at {span:#x} (size class {class}) is held by the heap's cache; call flush_cache before sweeping (Go flushes every mcache first)"
            ),
            HeapError::MarkBitsLength {
                span,
                expected,
                got,
            } => write!(
                f,
                "mark bits for the span at {span:#x} need {expected} words (one bit per object), got {got}"
            ),
            HeapError::MarkBeyondObjects {
                span,
                index,
                objects,
            } => write!(
                f,
                "mark bit {index} is set but the span at {span:#x} has only {objects} objects"
            ),
            HeapError::MarkedFreeObject { offset, class } => write!(
                f,
                "the free object at {offset:#x} (size class {class}) is marked: the collector found a pointer to a free object"
            ),
        }
    }
}

impl std::error::Error for HeapError {}

/// Where a span is, from the allocator's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanPlace {
    /// Held by the heap's thread cache (Go: in `mcache.alloc`).
    Cached,
    /// On its class's central partial list.
    Partial,
    /// On its class's central full list (parked).
    Full,
    /// A large object.
    Large,
}

/// Where [`Heap::sweep_span`] left a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweptTo {
    /// On its class's central partial list: some objects free (Go's
    /// `mcentral.partialSwept`).
    Partial,
    /// On its class's central full list: every object marked (Go's
    /// `mcentral.fullSwept`).
    Full,
    /// Back to the page heap: nothing marked (Go's `mheap.freeSpan`).
    PageHeap,
}

/// What [`Heap::sweep_span`] did to one span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SweepOutcome {
    /// Offset of the span.
    pub span: usize,
    /// Its size class.
    pub class: usize,
    /// Objects kept: the marked ones, the span's new `allocated` (Go's
    /// `nalloc`, which becomes `allocCount`).
    pub kept: usize,
    /// Objects freed: allocated before the sweep and unmarked.
    pub freed: usize,
    /// Where the span went.
    pub to: SweptTo,
}

/// One in-use span, as `Heap::snapshot` and `Heap::span_view` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpanSnapshot {
    /// Offset of the span's first byte.
    pub start: usize,
    /// Pages in the span.
    pub pages: usize,
    /// Size class, 0 for a large object.
    pub class: usize,
    /// Bytes per object.
    pub object_size: usize,
    /// Objects in the span.
    pub objects: usize,
    /// Objects allocated (Go's `allocCount`), counting remote frees not yet
    /// collected.
    pub allocated: usize,
    /// One character per object: `'1'` allocated, `'0'` free (Go's
    /// `allocBits`).
    pub occupancy: String,
    /// Where the next search for a free object starts (Go's `freeindex`).
    pub free_index: usize,
    /// Complement of the bitmap from `free_index` on (Go's `allocCache`).
    pub alloc_cache: u64,
    /// Objects freed onto the span's remote list, not yet collected.
    pub remote_pending: usize,
    /// Where the span is.
    pub place: SpanPlace,
}

/// A run of free pages in the page heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FreeRun {
    /// Offset of the run.
    pub start: usize,
    /// Pages in it.
    pub pages: usize,
    /// Whether its memory was returned to the OS.
    pub scavenged: bool,
}

/// Everything a lesson draws: spans in address order, classes, free runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeapSnapshot {
    /// Bytes in the arena.
    pub arena_bytes: usize,
    /// Bytes per page (8192).
    pub page_size: usize,
    /// In-use spans in address order.
    pub spans: Vec<SpanSnapshot>,
    /// Free runs in address order.
    pub free_runs: Vec<FreeRun>,
    /// Statistics per class and for the page heap.
    pub stats: AllocStats,
}

/// Collects events with offsets relative to the arena.
struct Log<'a> {
    base: usize,
    on: bool,
    events: &'a mut Vec<HeapEvent>,
}

impl EventSink for Log<'_> {
    const ON: bool = true;
    fn record(&mut self, e: HeapEvent) {
        if !self.on {
            return;
        }
        let b = self.base;
        let r = |x: usize| x.wrapping_sub(b);
        use HeapEvent::*;
        self.events.push(match e {
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
        });
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

    /// A zeroed mark bitmap for the small-object span at `span_start`: one
    /// bit per object, 64 to a word (Go's `newMarkBits`, a span's fresh
    /// `gcmarkBits`). Set bit `i % 64` of word `i / 64` to mark object `i`,
    /// the object at `span_start + i * object_size`, then hand the bitmap to
    /// [`Heap::sweep_span`].
    ///
    /// ```
    /// let mut heap = allocator::Heap::with_arena(1 << 20)?;
    /// let obj = heap.alloc(24)?;               // class 3: 341 objects per span
    /// let span = heap.span_view(obj).unwrap().start;
    /// assert_eq!(heap.mark_bits_for(span)?, vec![0u64; 6]);
    /// assert!(heap.mark_bits_for(span + 24).is_err(), "not the span's start");
    /// # Ok::<(), allocator::HeapError>(())
    /// ```
    pub fn mark_bits_for(&self, span_start: usize) -> Result<Vec<u64>, HeapError> {
        let s = self.small_span_start(span_start)?;
        // SAFETY: single-threaded; s is a live in-use span (span_at).
        let objects = unsafe { (*s).nelems };
        Ok(vec![0; objects.div_ceil(64)])
    }

    /// The small-object span starting at `offset`.
    fn small_span_start(&self, offset: usize) -> Result<*mut Span, HeapError> {
        let s = self.span_at(offset)?;
        // SAFETY: single-threaded; s is a live in-use span (span_at).
        let span = unsafe { &*s };
        let start = span.start - self.base;
        if start != offset {
            return Err(HeapError::NotSpanStart {
                offset,
                span: start,
            });
        }
        if span.class == 0 {
            return Err(HeapError::NotSmallSpan { span: offset });
        }
        Ok(s)
    }

    /// Sweeps the span at `span_start` the way Go's `mspan.sweep` does:
    /// `marks` (the collector's `gcmarkBits` for the span, see
    /// [`Heap::mark_bits_for`]) become its allocation bits (`s.allocBits =
    /// s.gcmarkBits`), so every allocated but unmarked object is free in one
    /// move, not one `free` at a time. The search for free objects restarts
    /// at object 0 (`freeindex = 0`, `refillAllocCache(0)`), `allocated`
    /// becomes the number of marked objects (`allocCount = nalloc`), the
    /// freed objects are counted as frees in the class's statistics, and the
    /// span moves to its class's partial or full central list, or, if
    /// nothing is marked, back to the page heap. Records a
    /// [`HeapEvent::Swept`].
    ///
    /// The span must not be the one the heap's cache allocates from: as Go
    /// flushes every `mcache` before sweeping, call [`Heap::flush_cache`]
    /// first. A wrong-length bitmap, a mark past the last object, or a mark
    /// on a free object (the collector is broken: Go throws "found pointer
    /// to free object") is an error, and changes nothing.
    ///
    /// ```
    /// use allocator::{Heap, SweptTo};
    ///
    /// let mut heap = Heap::with_arena(1 << 20)?;
    /// let objs = (0..4).map(|_| heap.alloc(16)).collect::<Result<Vec<_>, _>>()?;
    /// let span = heap.span_view(objs[0]).unwrap().start;
    /// heap.flush_cache();                         // Go: mcache.prepareForSweep
    /// let mut marks = heap.mark_bits_for(span)?;  // a fresh, zeroed gcmarkBits
    /// for live in [objs[1], objs[3]] {
    ///     let i = (live - span) / 16;             // Go's objIndex
    ///     marks[i / 64] |= 1 << (i % 64);
    /// }
    /// let out = heap.sweep_span(span, &marks)?;
    /// assert_eq!((out.kept, out.freed, out.to), (2, 2, SweptTo::Partial));
    /// assert!(heap.span_view(span).unwrap().occupancy.starts_with("01010"));
    /// assert_eq!(heap.alloc(16)?, objs[0], "a swept slot is handed out again");
    /// # Ok::<(), allocator::HeapError>(())
    /// ```
    pub fn sweep_span(
        &mut self,
        span_start: usize,
        marks: &[u64],
    ) -> Result<SweepOutcome, HeapError> {
        let s = self.small_span_start(span_start)?;
        // SAFETY: single-threaded inspection of a live small-object span.
        let span = unsafe { &*s };
        let (class, objects) = (span.class, span.nelems);
        if self.cache.span(class) == s {
            return Err(HeapError::SpanCached {
                span: span_start,
                class,
            });
        }
        let words = objects.div_ceil(64);
        if marks.len() != words {
            return Err(HeapError::MarkBitsLength {
                span: span_start,
                expected: words,
                got: marks.len(),
            });
        }
        let tail = objects % 64;
        if tail != 0 && marks[words - 1] >> tail != 0 {
            let index =
                (words - 1) * 64 + tail + (marks[words - 1] >> tail).trailing_zeros() as usize;
            return Err(HeapError::MarkBeyondObjects {
                span: span_start,
                index,
                objects,
            });
        }
        // Live now = allocated and not waiting on the remote-free list.
        let mut live = vec![0u64; words];
        // SAFETY: single-threaded inspection.
        live.copy_from_slice(unsafe { &span.local_ref().alloc_bits[..words] });
        for addr in remote_list(span) {
            let i = span.object_index(addr);
            live[i / 64] &= !(1 << (i % 64));
        }
        for (w, (&m, &l)) in marks.iter().zip(&live).enumerate() {
            let zombies = m & !l;
            if zombies != 0 {
                let i = w * 64 + zombies.trailing_zeros() as usize;
                return Err(HeapError::MarkedFreeObject {
                    offset: span_start + i * span.elem_size,
                    class,
                });
            }
        }
        // ANCHOR: sweep_span
        // Every check passed: nothing below can fail.
        let kept: usize = marks.iter().map(|w| w.count_ones() as usize).sum();
        let live_count: usize = live.iter().map(|w| w.count_ones() as usize).sum();
        let freed = live_count - kept;
        let (b, _, mut log) = self.split();
        forget_sampled_frees(b, s, marks, &live);
        b.counters.add(class, 0, freed as u64);
        log.emit(|| HeapEvent::Swept {
            class,
            span: span.start,
            kept,
            freed,
        });
        let swap = |sp: &Span| {
            // SAFETY: Central::sweep_span calls this holding the lock that
            // owns sp, and the heap is single-threaded, so nothing frees into
            // it meanwhile; marks passed every check the swap asks for.
            unsafe { sp.install_mark_bits(marks) };
        };
        // SAFETY: s is a small span of `class` that the cache does not hold,
        // so it is on one of the class's central lists; `swap` touches only s.
        unsafe { b.central[class].sweep_span(class, s, &b.pages, &b.counters, &mut log, swap) };
        // ANCHOR_END: sweep_span
        let mut heap = b.pages.lock();
        b.drain_scavenge_log(&mut heap, &mut log);
        let to = if kept == 0 {
            SweptTo::PageHeap
        } else if kept == objects {
            SweptTo::Full
        } else {
            SweptTo::Partial
        };
        Ok(SweepOutcome {
            span: span_start,
            class,
            kept,
            freed,
            to,
        })
    }

    /// Returns every dirty free page to the OS now; returns pages released.
    pub fn scavenge(&mut self) -> usize {
        let (b, _, mut log) = self.split();
        let mut heap = b.pages.lock();
        let n = b.pages.scavenge(&mut heap, 0);
        b.drain_scavenge_log(&mut heap, &mut log);
        n
    }

    /// Statistics, including counts the cache has not flushed yet.
    pub fn stats(&self) -> AllocStats {
        let pages: PageHeapStats = self.backend.pages.stats();
        self.backend.counters.read(pages, &self.cache.unflushed())
    }

    /// The span holding `offset` (any byte of it), for lessons that follow
    /// one span's `alloc_cache` as objects are taken (Go's
    /// `nextFreeFast`). `None` if no in-use span holds it.
    pub fn span_view(&self, offset: usize) -> Option<SpanSnapshot> {
        let s = self.span_at(offset).ok()?;
        Some(self.describe(s))
    }

    /// The span the cache allocates `class` from now, if any.
    pub fn cached_span(&self, class: usize) -> Option<SpanSnapshot> {
        if class == 0 || class > NUM_CLASSES {
            return None;
        }
        let s = self.cache.span(class);
        (!s.is_null()).then(|| self.describe(s))
    }

    fn describe(&self, s: *mut Span) -> SpanSnapshot {
        // SAFETY: single-threaded inspection of a live in-use span.
        unsafe {
            let span = &*s;
            let l = span.local_ref();
            let large = span.class == 0;
            let place = if large {
                SpanPlace::Large
            } else if self.cache.span(span.class) == s {
                SpanPlace::Cached
            } else if l.list == ListKind::Full {
                SpanPlace::Full
            } else {
                SpanPlace::Partial
            };
            let occupancy = if large {
                "1".to_string()
            } else {
                (0..span.nelems)
                    .map(|i| {
                        if l.alloc_bits[i / 64] & (1 << (i % 64)) != 0 {
                            '1'
                        } else {
                            '0'
                        }
                    })
                    .collect()
            };
            SpanSnapshot {
                start: span.start - self.base,
                pages: span.npages,
                class: span.class,
                object_size: span.elem_size,
                objects: span.nelems,
                allocated: if large { 1 } else { l.alloc_count },
                occupancy,
                free_index: if large { 1 } else { l.free_index },
                alloc_cache: if large { 0 } else { l.alloc_cache },
                remote_pending: if large { 0 } else { remote_list(span).len() },
                place,
            }
        }
    }

    /// Every span and free run, the statistics, serialisable to JSON.
    pub fn snapshot(&self) -> HeapSnapshot {
        let mut spans = Vec::new();
        let mut free: Vec<FreeRunInfo> = Vec::new();
        let mut raw = Vec::new();
        self.backend.pages.for_each_span(|s| raw.push(s));
        for s in raw {
            // SAFETY: single-threaded inspection.
            if unsafe { (*s).local_ref().state } == SpanState::Free {
                free.push(free_run_info(s));
            } else {
                spans.push(self.describe(s));
            }
        }
        HeapSnapshot {
            arena_bytes: self.bytes,
            page_size: PAGE_SIZE,
            spans,
            free_runs: free
                .into_iter()
                .map(|f| FreeRun {
                    start: f.start - self.base,
                    pages: f.pages,
                    scavenged: f.scavenged,
                })
                .collect(),
            stats: self.stats(),
        }
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

/// Tells the heap profile that the objects live in `live` but not marked in
/// `marks` are freed by a sweep (Go's `mProf_Free` from `mspan.sweep`).
fn forget_sampled_frees(b: &Backend, s: *mut Span, marks: &[u64], live: &[u64]) {
    // SAFETY: s is a live small-object span of the single-threaded heap.
    let span = unsafe { &*s };
    if span.sampled.load(core::sync::atomic::Ordering::Relaxed) == 0 {
        return;
    }
    for (w, (&m, &l)) in marks.iter().zip(live).enumerate() {
        let mut dead = l & !m;
        while dead != 0 {
            let i = w * 64 + dead.trailing_zeros() as usize;
            b.profile.on_free(span.object_addr(i), s);
            dead &= dead - 1;
        }
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

    /// Sets the mark bit of each object in `live` (offsets in `span`).
    fn marks_for(h: &Heap, span: usize, live: &[usize]) -> Vec<u64> {
        let size = h.span_view(span).unwrap().object_size;
        let mut marks = h.mark_bits_for(span).unwrap();
        for &o in live {
            let i = (o - span) / size;
            marks[i / 64] |= 1 << (i % 64);
        }
        marks
    }

    #[test]
    fn sweep_keeps_exactly_the_marked_objects_and_hands_out_the_freed_ones() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        let objs: Vec<usize> = (0..100).map(|_| h.alloc(16).unwrap()).collect();
        let span = h.span_view(objs[0]).unwrap().start;
        let live: Vec<usize> = objs.iter().copied().step_by(3).collect(); // 34
        let marks = marks_for(&h, span, &live);
        h.flush_cache();
        h.take_events();
        let out = h.sweep_span(span, &marks).unwrap();
        assert_eq!(
            out,
            SweepOutcome {
                span,
                class: 2,
                kept: 34,
                freed: 66,
                to: SweptTo::Partial
            }
        );
        assert_eq!(
            h.take_events(),
            vec![HeapEvent::Swept {
                class: 2,
                span,
                kept: 34,
                freed: 66
            }]
        );
        let v = h.span_view(span).unwrap();
        let want: String = (0..v.objects)
            .map(|i| if i < 100 && i % 3 == 0 { '1' } else { '0' })
            .collect();
        assert_eq!(v.occupancy, want, "alloc bits must be the mark bits");
        assert_eq!((v.allocated, v.free_index), (34, 0));
        assert_eq!(v.alloc_cache, !marks[0], "refillAllocCache(0)");
        assert_eq!(v.place, SpanPlace::Partial);
        let c = h.stats().class(2).unwrap().clone();
        assert_eq!((c.allocs, c.frees, c.in_use_objects), (100, 66, 34));
        // The next allocations take the freed slots, lowest first, then the
        // never-used rest of the span.
        let mut expect: Vec<usize> = objs.iter().copied().filter(|o| !live.contains(o)).collect();
        expect.push(span + 100 * 16);
        let got: Vec<usize> = (0..expect.len()).map(|_| h.alloc(16).unwrap()).collect();
        assert_eq!(got, expect);
        for o in &live {
            assert!(h.free(*o).is_ok(), "kept object {o:#x} is still allocated");
        }
    }

    #[test]
    fn sweeping_an_unmarked_span_returns_its_pages() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        let objs: Vec<usize> = (0..5).map(|_| h.alloc(1000).unwrap()).collect();
        let span = h.span_view(objs[0]).unwrap();
        h.flush_cache();
        h.take_events();
        let marks = h.mark_bits_for(span.start).unwrap();
        let out = h.sweep_span(span.start, &marks).unwrap();
        assert_eq!((out.kept, out.freed, out.to), (0, 5, SweptTo::PageHeap));
        let ev = h.take_events();
        assert_eq!(
            ev[..2],
            [
                HeapEvent::Swept {
                    class: span.class,
                    span: span.start,
                    kept: 0,
                    freed: 5
                },
                HeapEvent::SpanReturned {
                    class: span.class,
                    span: span.start,
                    pages: span.pages
                }
            ]
        );
        assert!(h.span_view(span.start).is_none(), "the span is gone");
        let snap = h.snapshot();
        assert!(snap.spans.is_empty());
        assert_eq!(snap.free_runs.len(), 1, "its pages merged with the rest");
        assert_eq!(snap.stats.in_use_bytes, 0);
        assert_eq!(snap.stats.class(span.class).unwrap().spans, 0);
        assert_eq!(
            h.free(objs[0]),
            Err(HeapError::NotAllocated { offset: objs[0] })
        );
    }

    #[test]
    fn a_fully_marked_span_is_parked_full_and_still_takes_frees() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        let class = 66; // two 27 KiB objects per span
        let (a, b) = (h.alloc(27 * 1024).unwrap(), h.alloc(27 * 1024).unwrap());
        let span = h.span_view(a).unwrap().start;
        h.flush_cache();
        let out = h.sweep_span(span, &marks_for(&h, span, &[a, b])).unwrap();
        assert_eq!((out.class, out.kept, out.to), (class, 2, SweptTo::Full));
        assert_eq!(h.span_view(span).unwrap().place, SpanPlace::Full);
        // Parked: a free unparks it, and the next allocation reuses the slot.
        h.free(a).unwrap();
        assert!(h.events().ends_with(&[
            HeapEvent::RemoteFree { class, offset: a },
            HeapEvent::SpanUnparked { class, span }
        ]));
        assert_eq!(h.alloc(27 * 1024).unwrap(), a);
    }

    #[test]
    fn objects_waiting_on_the_remote_list_are_free_and_counted_once() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        let objs: Vec<usize> = (0..8).map(|_| h.alloc(64).unwrap()).collect();
        let span = h.span_view(objs[0]).unwrap().start;
        h.flush_cache();
        // The span is on the partial list: these frees wait on its remote list.
        h.free(objs[2]).unwrap();
        h.free(objs[5]).unwrap();
        assert_eq!(h.span_view(span).unwrap().remote_pending, 2);
        let before = h.snapshot();
        assert_eq!(
            h.sweep_span(span, &marks_for(&h, span, &[objs[0], objs[5]])),
            Err(HeapError::MarkedFreeObject {
                offset: objs[5],
                class: 6
            }),
            "a freed object cannot be marked"
        );
        assert_eq!(h.snapshot(), before);
        let out = h
            .sweep_span(span, &marks_for(&h, span, &[objs[0], objs[7]]))
            .unwrap();
        assert_eq!((out.kept, out.freed), (2, 4), "2 of 8 were already freed");
        let v = h.span_view(span).unwrap();
        assert_eq!(v.remote_pending, 0);
        assert!(v.occupancy.starts_with("10000001"));
        let c = h.stats().class(6).unwrap().clone();
        assert_eq!((c.allocs, c.frees, c.in_use_objects), (8, 6, 2));
        // Refilling from the span must not see the dropped remote frees
        // again (a debug build aborts on a double free).
        let again: Vec<usize> = (0..6).map(|_| h.alloc(64).unwrap()).collect();
        assert_eq!(again, objs[1..7].to_vec());
    }

    #[test]
    fn sweep_tells_the_profile_which_sampled_objects_died() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        h.set_profile_rate(1);
        let objs: Vec<usize> = (0..10).map(|_| h.alloc(64).unwrap()).collect();
        let span = h.span_view(objs[0]).unwrap().start;
        h.flush_cache();
        h.sweep_span(span, &marks_for(&h, span, &objs[..6]))
            .unwrap();
        let p = h.profile();
        let r = p.records.iter().find(|r| r.class == 6).unwrap();
        assert_eq!((r.sampled_allocs, r.sampled_inuse), (10, 6));
    }

    #[test]
    fn bad_sweeps_are_errors_and_change_nothing() {
        let mut h = Heap::with_arena(1 << 20).unwrap();
        let objs: Vec<usize> = (0..70).map(|_| h.alloc(24).unwrap()).collect(); // 341 per span
        let span = h.span_view(objs[0]).unwrap().start;
        let big = h.alloc(100_000).unwrap();
        let good = marks_for(&h, span, &objs[..3]);
        assert_eq!(
            h.sweep_span(span, &good),
            Err(HeapError::SpanCached { span, class: 3 })
        );
        h.flush_cache();
        let mut beyond = good.clone();
        beyond[5] |= 1 << (341 % 64);
        let mut zombie = good.clone();
        zombie[1] |= 1 << (80 - 64); // object 80 was never allocated
        let cases = [
            (
                span + 24,
                good.clone(),
                HeapError::NotSpanStart {
                    offset: span + 24,
                    span,
                },
            ),
            (big, vec![1], HeapError::NotSmallSpan { span: big }),
            (
                span,
                good[..5].to_vec(),
                HeapError::MarkBitsLength {
                    span,
                    expected: 6,
                    got: 5,
                },
            ),
            (
                span,
                beyond,
                HeapError::MarkBeyondObjects {
                    span,
                    index: 341,
                    objects: 341,
                },
            ),
            (
                span,
                zombie,
                HeapError::MarkedFreeObject {
                    offset: span + 80 * 24,
                    class: 3,
                },
            ),
            (
                1 << 20,
                good.clone(),
                HeapError::OutOfArena { offset: 1 << 20 },
            ),
            (
                512 * 1024,
                good.clone(),
                HeapError::NotAllocated { offset: 512 * 1024 },
            ),
        ];
        let before = (h.snapshot(), h.events().len(), h.profile());
        for (at, marks, want) in cases {
            assert_eq!(h.sweep_span(at, &marks), Err(want.clone()));
            assert!(!want.to_string().is_empty());
            assert_eq!(
                (h.snapshot(), h.events().len(), h.profile()),
                before,
                "{want}"
            );
        }
        assert!(h.mark_bits_for(big).is_err());
        // The good bitmap still works afterwards.
        assert_eq!(h.sweep_span(span, &good).unwrap().kept, 3);
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
    fn snapshot_is_deterministic_and_serialises() {
        let run = || {
            let mut h = Heap::with_arena(256 * 1024).unwrap();
            let xs: Vec<usize> = (0..100)
                .map(|i| h.alloc(8 + (i % 5) * 40).unwrap())
                .collect();
            for x in xs.iter().step_by(3) {
                h.free(*x).unwrap();
            }
            let _ = h.alloc(40_000).unwrap();
            serde_json::to_string(&h.snapshot()).unwrap()
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b, "the same calls must give the same heap");
        assert!(a.contains("\"occupancy\""));
        assert!(a.contains("\"free_runs\""));
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
