//! The GC's view of the heap: objects live in the allocator's inspectable
//! [`allocator::Heap`]; this file adds what a collector needs on top.
//!
//! Design. An object is a real allocation from the arena and is named by its
//! address in the arena (what Go calls a pointer). Go keeps an object's
//! pointers inside the object and finds them with a heap bitmap; here each
//! object's pointer slots live in a side table keyed by the address, because
//! the lesson wants to print and draw the graph, not parse bytes.
//!
//! Mark bits belong to spans, as in Go (`mspan.gcmarkBits`): one bit per
//! object slot of the span, 64 to a word, in a bitmap the allocator sizes
//! (`Heap::mark_bits_for`, Go's `newMarkBits`). Sweep is Go's: the cache's
//! spans are handed back first (Go's `mcache.prepareForSweep`), then each
//! span's mark bits become its allocation bits in one move
//! (`Heap::sweep_span`, Go's `mspan.sweep`: `s.allocBits = s.gcmarkBits`),
//! every unmarked slot is free at once, and the collector starts the next
//! cycle with fresh, zeroed mark bits. [`GcHeap::sweep`] then reads each
//! span back (`Heap::span_view`) so that the lesson can print both bitmaps
//! side by side.

use super::ObjRef;
use serde::Serialize;
use std::collections::BTreeMap;

/// Where an object sits: which span, and which slot of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanSlot {
    /// The span's base address (its identity).
    pub span: usize,
    /// Object index inside the span (Go: `objIndex`).
    pub index: usize,
    /// Number of object slots in the span (Go: `nelems`).
    pub slots: usize,
}

/// One span as the sweeper sees it after the fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpanBits {
    /// The span's base address.
    pub span: usize,
    /// Object size of the span's size class.
    pub object_size: usize,
    /// Allocation bits read back from the heap (`Heap::span_view`).
    pub alloc_bits: Vec<bool>,
    /// The collector's mark bits for the span (all clear if nothing in it was marked).
    pub mark_bits: Vec<bool>,
}

/// What a sweep did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Objects freed (allocated but unmarked), in address order.
    pub freed: Vec<ObjRef>,
    /// Every span after the sweep, with both bitmaps.
    pub spans: Vec<SpanBits>,
}

impl SweepReport {
    /// True when every span's allocation bits, read back from the heap after
    /// the sweep, equal its mark bits: the allocator really installed
    /// `gcmarkBits` as `allocBits`.
    pub fn alloc_bits_equal_mark_bits(&self) -> bool {
        self.spans.iter().all(|s| s.alloc_bits == s.mark_bits)
    }
}

/// The allocator's heap plus the collector's per-span mark bits.
pub struct GcHeap {
    heap: allocator::Heap,
    spans: Vec<SpanSlotTable>,
    /// Per span (by base address), Go's `gcmarkBits`: bit `i % 64` of word
    /// `i / 64` is object `i`'s mark. A span nobody marked has no entry.
    mark_bits: BTreeMap<usize, Vec<u64>>,
}

/// A span's address range, cached from `Heap::span_view` so that an address maps to
/// its span without asking the heap on every lookup.
#[derive(Debug, Clone, Copy)]
struct SpanSlotTable {
    base: usize,
    object_size: usize,
    slots: usize,
}

impl std::fmt::Debug for GcHeap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcHeap")
            .field("spans", &self.spans.len())
            .finish()
    }
}

impl Default for GcHeap {
    fn default() -> Self {
        Self::new()
    }
}

impl GcHeap {
    /// A fresh heap over a small arena, with no mark bits.
    pub fn new() -> Self {
        let mut heap = allocator::Heap::with_arena(ARENA_BYTES)
            .expect("map a 64 KiB arena for the GC simulation");
        // The event log is for the allocator lessons; the collector does not read it.
        heap.record_events(false);
        GcHeap {
            heap,
            spans: Vec::new(),
            mark_bits: BTreeMap::new(),
        }
    }

    /// Allocates an object of `size` bytes and returns its address.
    ///
    /// # Panics
    /// If the arena is exhausted (the simulations use a few dozen objects).
    pub fn alloc(&mut self, size: usize) -> ObjRef {
        let addr = self
            .heap
            .alloc(size)
            .expect("the GC simulation's arena is exhausted");
        if self.find_span(addr).is_none() {
            let span = self
                .heap
                .span_view(addr)
                .expect("a fresh object lies in an in-use span");
            self.spans.push(SpanSlotTable {
                base: span.start,
                object_size: span.object_size,
                slots: span.objects,
            });
        }
        addr
    }

    fn find_span(&self, addr: ObjRef) -> Option<SpanSlotTable> {
        self.spans
            .iter()
            .find(|s| addr >= s.base && addr < s.base + s.object_size * s.slots)
            .copied()
    }

    /// Which span and slot `obj` occupies (Go: `spanOf` then `objIndex`).
    ///
    /// # Panics
    /// If `obj` is not an address this heap handed out.
    pub fn span_slot(&self, obj: ObjRef) -> SpanSlot {
        let span = self
            .find_span(obj)
            .unwrap_or_else(|| panic!("{obj:#x} is not in any span of this heap"));
        SpanSlot {
            span: span.base,
            index: (obj - span.base) / span.object_size,
            slots: span.slots,
        }
    }

    /// Sets `obj`'s mark bit. Returns true if it was clear (the object was white).
    pub fn set_mark(&mut self, obj: ObjRef) -> bool {
        let slot = self.span_slot(obj);
        let heap = &self.heap;
        let bits = self.mark_bits.entry(slot.span).or_insert_with(|| {
            heap.mark_bits_for(slot.span)
                .unwrap_or_else(|e| panic!("no mark bits for span {:#x}: {e}", slot.span))
        });
        let (word, mask) = (slot.index / 64, 1u64 << (slot.index % 64));
        let was_white = bits[word] & mask == 0;
        bits[word] |= mask;
        was_white
    }

    /// Whether `obj`'s mark bit is set.
    pub fn is_marked(&self, obj: ObjRef) -> bool {
        let slot = self.span_slot(obj);
        self.mark_bits
            .get(&slot.span)
            .is_some_and(|bits| bits[slot.index / 64] & (1 << (slot.index % 64)) != 0)
    }

    /// The marked objects among `objects`' keys (for printing what changed).
    pub fn marked_set<V>(
        &self,
        objects: &BTreeMap<ObjRef, V>,
    ) -> std::collections::BTreeSet<ObjRef> {
        objects
            .keys()
            .copied()
            .filter(|&o| self.is_marked(o))
            .collect()
    }

    // ANCHOR: sweep
    /// Sweeps every span the way Go does: hands the cache's spans back to
    /// the central lists, then gives each span its mark bits as its new
    /// allocation bits (`Heap::sweep_span`), so every allocated but unmarked
    /// object is freed in one move per span. Spans with nothing marked go
    /// back to the page heap. The mark bits are cleared for the next cycle.
    ///
    /// Returns the objects freed and, for each span, its mark bits beside the
    /// allocation bits read back from the heap afterwards.
    ///
    /// # Panics
    /// If the allocator refuses a span's mark bits: a mark on a free object
    /// means the collector is broken (Go throws "found pointer to free
    /// object").
    pub fn sweep(&mut self) -> SweepReport {
        self.heap.flush_cache(); // Go: mcache.prepareForSweep
        let mut freed = Vec::new();
        let mut spans = Vec::new();
        for span in std::mem::take(&mut self.spans) {
            let Some(view) = self.heap.span_view(span.base) else {
                continue;
            };
            // Go's gcmarkBits for the span; all clear if nothing was marked.
            let marks = match self.mark_bits.remove(&span.base) {
                Some(marks) => marks,
                None => self
                    .heap
                    .mark_bits_for(span.base)
                    .unwrap_or_else(|e| panic!("no mark bits for span {:#x}: {e}", span.base)),
            };
            let mark_bits: Vec<bool> = (0..span.slots)
                .map(|i| marks[i / 64] & (1 << (i % 64)) != 0)
                .collect();
            for (index, allocated) in view.occupancy.chars().enumerate() {
                if allocated == '1' && !mark_bits[index] {
                    freed.push(span.base + index * span.object_size);
                }
            }
            let outcome = self
                .heap
                .sweep_span(span.base, &marks)
                .unwrap_or_else(|e| panic!("sweep of span {:#x} refused: {e}", span.base));
            // A span with nothing marked went back to the page heap: every
            // slot is free, and it is no longer this heap's span.
            let alloc_bits = match self.heap.span_view(span.base) {
                Some(view) => {
                    self.spans.push(span);
                    view.occupancy.chars().map(|c| c == '1').collect()
                }
                None => vec![false; span.slots],
            };
            debug_assert_eq!(outcome.kept, mark_bits.iter().filter(|&&m| m).count());
            spans.push(SpanBits {
                span: span.base,
                object_size: span.object_size,
                alloc_bits,
                mark_bits,
            });
        }
        freed.sort_unstable();
        SweepReport { freed, spans }
    }
    // ANCHOR_END: sweep
}

/// Arena size for one simulated cycle: a few spans are plenty.
/// Addresses are offsets into it (the allocator's `Heap` reports offsets so
/// that layouts repeat from run to run).
const ARENA_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_frees_exactly_the_unmarked_objects_and_alloc_bits_become_mark_bits() {
        let mut heap = GcHeap::new();
        let small: Vec<ObjRef> = (0..5).map(|_| heap.alloc(16)).collect();
        let large: Vec<ObjRef> = (0..3).map(|_| heap.alloc(32)).collect();
        assert_ne!(
            heap.span_slot(small[0]).span,
            heap.span_slot(large[0]).span,
            "two size classes, two spans"
        );
        for &keep in [small[1], small[3], large[2]].iter() {
            assert!(
                heap.set_mark(keep),
                "first mark of {keep:#x} should report white"
            );
            assert!(
                !heap.set_mark(keep),
                "second mark of {keep:#x} should report already marked"
            );
        }
        let report = heap.sweep();
        let mut expected = vec![small[0], small[2], small[4], large[0], large[1]];
        expected.sort_unstable();
        assert_eq!(report.freed, expected);
        assert!(report.alloc_bits_equal_mark_bits(), "{report:?}");
        assert!(
            !heap.is_marked(small[1]),
            "the next cycle starts with fresh, zeroed mark bits"
        );
        let again = heap.alloc(16);
        assert_eq!(again, small[0], "the lowest swept slot is reused first");
    }

    #[test]
    fn a_span_with_nothing_marked_goes_back_to_the_page_heap() {
        let mut heap = GcHeap::new();
        let small: Vec<ObjRef> = (0..3).map(|_| heap.alloc(16)).collect();
        let other = heap.alloc(32);
        heap.set_mark(other);
        let report = heap.sweep();
        assert_eq!(report.freed, small);
        assert!(report.alloc_bits_equal_mark_bits(), "{report:?}");
        assert_eq!(report.spans.len(), 2, "both spans are reported");
        assert!(
            heap.heap.span_view(small[0]).is_none(),
            "its pages are free"
        );
        // The pages are reused for a new span of another class: the heap must
        // map the address to the new span, not the old one.
        let big = heap.alloc(1024);
        assert_eq!(heap.span_slot(big).slots, 8);
    }

    #[test]
    #[should_panic(expected = "found a pointer to a free object")]
    fn marking_a_swept_object_is_a_collector_bug() {
        let mut heap = GcHeap::new();
        let objs: Vec<ObjRef> = (0..3).map(|_| heap.alloc(16)).collect();
        heap.set_mark(objs[0]);
        heap.sweep(); // frees objs[1] and objs[2]
        heap.set_mark(objs[0]);
        heap.set_mark(objs[2]); // a pointer to a freed object
        heap.sweep();
    }

    #[test]
    fn span_slot_finds_the_object_index() {
        let mut heap = GcHeap::new();
        let a = heap.alloc(32);
        let b = heap.alloc(32);
        let (sa, sb) = (heap.span_slot(a), heap.span_slot(b));
        assert_eq!(sa.span, sb.span);
        assert_eq!(sb.index, sa.index + (b - a) / 32);
        assert_eq!(sa.slots, 8192 / 32);
    }
}
