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
//! object slot of the span. After marking, Go swaps `gcmarkBits` into
//! `allocBits` so that every unmarked slot becomes free in one move. The
//! allocator's public API has no "replace the bitmap" call, so
//! [`GcHeap::sweep`] does the same thing object by object: it frees every
//! allocated slot whose mark bit is clear, then reads each span back from the
//! heap (`Heap::span_view`, the per-span part of `Heap::snapshot`) and checks
//! that each span's allocation bits now equal its mark bits.

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
    /// True when every span's allocation bits equal its mark bits: the state
    /// Go reaches by swapping `gcmarkBits` into `allocBits`.
    pub fn alloc_bits_equal_mark_bits(&self) -> bool {
        self.spans.iter().all(|s| s.alloc_bits == s.mark_bits)
    }
}

/// The allocator's heap plus the collector's per-span mark bits.
pub struct GcHeap {
    heap: allocator::Heap,
    spans: Vec<SpanSlotTable>,
    mark_bits: BTreeMap<usize, Vec<bool>>,
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
        let bits = self
            .mark_bits
            .entry(slot.span)
            .or_insert_with(|| vec![false; slot.slots]);
        !std::mem::replace(&mut bits[slot.index], true)
    }

    /// Whether `obj`'s mark bit is set.
    pub fn is_marked(&self, obj: ObjRef) -> bool {
        let slot = self.span_slot(obj);
        self.mark_bits
            .get(&slot.span)
            .is_some_and(|bits| bits[slot.index])
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
    /// Frees every allocated object whose mark bit is clear, then reads each
    /// span back from the heap and reports its allocation bits beside its
    /// mark bits.
    ///
    /// Go does this by swapping `gcmarkBits` into `allocBits` (`mspan.sweep`);
    /// over the allocator's public API the same end state is reached one
    /// `free` at a time, and [`SweepReport::alloc_bits_equal_mark_bits`]
    /// checks that it was.
    pub fn sweep(&mut self) -> SweepReport {
        let mut freed = Vec::new();
        for span in self.spans.clone() {
            let Some(view) = self.heap.span_view(span.base) else {
                continue;
            };
            let marks = self.mark_bits.get(&span.base);
            for (index, allocated) in view.occupancy.chars().enumerate() {
                let marked = marks.is_some_and(|m| m[index]);
                if allocated == '1' && !marked {
                    let obj = span.base + index * span.object_size;
                    self.heap
                        .free(obj)
                        .unwrap_or_else(|e| panic!("sweep could not free {obj:#x}: {e}"));
                    freed.push(obj);
                }
            }
        }
        freed.sort_unstable();
        let spans = self
            .spans
            .iter()
            .map(|span| SpanBits {
                span: span.base,
                object_size: span.object_size,
                mark_bits: self
                    .mark_bits
                    .get(&span.base)
                    .cloned()
                    .unwrap_or_else(|| vec![false; span.slots]),
                // A span whose every object was freed may have gone back to
                // the page heap: then every slot is free.
                alloc_bits: match self.heap.span_view(span.base) {
                    Some(view) => view.occupancy.chars().map(|c| c == '1').collect(),
                    None => vec![false; span.slots],
                },
            })
            .collect();
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
        let again = heap.alloc(16);
        assert!(
            expected.contains(&again),
            "a swept slot is reused: got {again:#x}"
        );
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
