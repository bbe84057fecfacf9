//! Statistics per size class (Go's `runtime.MemStats.BySize`), kept off the
//! fast path.
//!
//! A thread cache counts its allocations and frees in plain per-class
//! integers. It adds them to the shared counters below (relaxed atomics)
//! when it goes to the central list anyway (a refill), every 1024 frees of a
//! class, and when the thread exits or calls
//! `SpanAlloc::flush_thread_cache`; `SpanAlloc::stats` flushes the calling
//! thread's first. A free onto the owner's list of a span the cache holds is
//! counted when that list comes back (see "Counting" in `cache.rs`). So the
//! shared figures can lag another running thread by at most one span's
//! worth of allocations and 1023 frees per class, plus the frees waiting on
//! the lists of the spans it holds; in-use counts are clamped at zero while
//! they lag. Span counts and large objects are counted where they happen,
//! on slow paths.
//!
//! The shared counters are plain `core` atomics, not the loom facade's: they
//! are statistics, not part of any protocol a model needs to explore.

use core::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::page_heap::PageHeapStats;
use crate::size_class::{NUM_CLASSES, TABLES};

/// Figures for one size class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClassStats {
    /// Class number, 1..=67.
    pub class: usize,
    /// Bytes per object.
    pub object_size: usize,
    /// Objects allocated so far (Go's `Mallocs`).
    pub allocs: u64,
    /// Objects freed so far (Go's `Frees`).
    pub frees: u64,
    /// `allocs - frees`.
    pub in_use_objects: u64,
    /// `in_use_objects * object_size`.
    pub in_use_bytes: u64,
    /// Spans the class holds (cached, partial and full).
    pub spans: u64,
}

/// Figures for large objects (over 32 KiB, Go's size class 0).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LargeStats {
    /// Large objects allocated so far.
    pub allocs: u64,
    /// Large objects freed so far.
    pub frees: u64,
    /// Large objects live now.
    pub in_use_objects: u64,
    /// Bytes (whole pages) of live large objects.
    pub in_use_bytes: u64,
}

/// Everything the allocator counts, serialisable to JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AllocStats {
    /// One entry per size class, class 1 first.
    pub classes: Vec<ClassStats>,
    /// Large objects.
    pub large: LargeStats,
    /// The page heap.
    pub pages: PageHeapStats,
    /// Small and large objects allocated so far.
    pub total_allocs: u64,
    /// Small and large objects freed so far.
    pub total_frees: u64,
    /// Bytes in live objects, small (at their class size) and large.
    pub in_use_bytes: u64,
}

impl AllocStats {
    /// The entry for `class` (1..=67).
    pub fn class(&self, class: usize) -> Option<&ClassStats> {
        self.classes.iter().find(|c| c.class == class)
    }
}

pub(crate) struct ClassCounters {
    allocs: AtomicU64,
    frees: AtomicU64,
    spans: AtomicU64,
}

impl ClassCounters {
    const fn new() -> Self {
        ClassCounters {
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            spans: AtomicU64::new(0),
        }
    }
}

/// The shared counters.
pub(crate) struct Counters {
    class: [ClassCounters; NUM_CLASSES + 1],
    large_allocs: AtomicU64,
    large_frees: AtomicU64,
    large_bytes: AtomicU64,
    large_bytes_freed: AtomicU64,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            class: [const { ClassCounters::new() }; NUM_CLASSES + 1],
            large_allocs: AtomicU64::new(0),
            large_frees: AtomicU64::new(0),
            large_bytes: AtomicU64::new(0),
            large_bytes_freed: AtomicU64::new(0),
        }
    }

    /// Adds a cache's (or the cache-less tier's) counts.
    pub(crate) fn add(&self, class: usize, allocs: u64, frees: u64) {
        if allocs != 0 {
            self.class[class]
                .allocs
                .fetch_add(allocs, Ordering::Relaxed);
        }
        if frees != 0 {
            self.class[class].frees.fetch_add(frees, Ordering::Relaxed);
        }
    }

    pub(crate) fn span_added(&self, class: usize) {
        self.class[class].spans.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn span_released(&self, class: usize) {
        self.class[class].spans.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds a cache's large-object counts.
    pub(crate) fn add_large(&self, allocs: u64, frees: u64, bytes: u64, bytes_freed: u64) {
        if allocs != 0 {
            self.large_allocs.fetch_add(allocs, Ordering::Relaxed);
            self.large_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
        if frees != 0 {
            self.large_frees.fetch_add(frees, Ordering::Relaxed);
            self.large_bytes_freed
                .fetch_add(bytes_freed, Ordering::Relaxed);
        }
    }

    pub(crate) fn large_alloc(&self, bytes: usize) {
        self.large_allocs.fetch_add(1, Ordering::Relaxed);
        self.large_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A large object was resized in place from `old` to `new` bytes.
    pub(crate) fn large_resize(&self, old: usize, new: usize) {
        if new > old {
            self.large_bytes
                .fetch_add((new - old) as u64, Ordering::Relaxed);
        } else {
            self.large_bytes_freed
                .fetch_add((old - new) as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn large_free(&self, bytes: usize) {
        self.large_frees.fetch_add(1, Ordering::Relaxed);
        self.large_bytes_freed
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Reads everything, adding `extra[class] = (allocs, frees)` not yet
    /// flushed (a `Heap`'s own cache). Allocates the result's `Vec`, so it
    /// must not be called with any allocator lock held.
    pub(crate) fn read(
        &self,
        pages: PageHeapStats,
        extra: &[(u64, u64); NUM_CLASSES + 1],
    ) -> AllocStats {
        let mut classes = Vec::with_capacity(NUM_CLASSES);
        let (mut total_allocs, mut total_frees, mut in_use_bytes) = (0, 0, 0);
        for (c, (counters, unflushed)) in self.class.iter().zip(extra.iter()).enumerate().skip(1) {
            let allocs = counters.allocs.load(Ordering::Relaxed) + unflushed.0;
            let frees = counters.frees.load(Ordering::Relaxed) + unflushed.1;
            let in_use = allocs.saturating_sub(frees);
            let size = TABLES.size[c] as u64;
            total_allocs += allocs;
            total_frees += frees;
            in_use_bytes += in_use * size;
            classes.push(ClassStats {
                class: c,
                object_size: size as usize,
                allocs,
                frees,
                in_use_objects: in_use,
                in_use_bytes: in_use * size,
                spans: counters.spans.load(Ordering::Relaxed),
            });
        }
        let la = self.large_allocs.load(Ordering::Relaxed);
        let lf = self.large_frees.load(Ordering::Relaxed);
        let lb = self.large_bytes.load(Ordering::Relaxed);
        let lbf = self.large_bytes_freed.load(Ordering::Relaxed);
        let large = LargeStats {
            allocs: la,
            frees: lf,
            in_use_objects: la.saturating_sub(lf),
            in_use_bytes: lb.saturating_sub(lbf),
        };
        AllocStats {
            classes,
            total_allocs: total_allocs + la,
            total_frees: total_frees + lf,
            in_use_bytes: in_use_bytes + large.in_use_bytes,
            large,
            pages,
        }
    }
}
