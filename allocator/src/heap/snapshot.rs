//! What a lesson draws: [`Heap::snapshot`] serialises every span in address
//! order (class, pages, occupancy bitmap, `free_index`, `alloc_cache`, where
//! it is), the free runs of the page heap and the per-class statistics;
//! [`Heap::span_view`] and [`Heap::cached_span`] show one span. Offsets are
//! from the arena's start, so the same calls give the same JSON from run to
//! run.

use serde::Serialize;

use super::{Heap, remote_list};
use crate::page_heap::{FreeRunInfo, free_run_info};
use crate::size_class::{NUM_CLASSES, PAGE_SIZE};
use crate::span::{ListKind, Span, SpanState};
use crate::stats::AllocStats;

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

impl Heap {
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
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

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
}
