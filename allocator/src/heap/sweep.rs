//! Sweeping (Go's `mgcsweep.go`, `mspan.sweep`): a garbage collector built
//! on the [`Heap`] (the memory chapter's simulation) frees the way Go's
//! sweeper does, not object by object. It asks for a zeroed mark bitmap for
//! a span ([`Heap::mark_bits_for`], Go's `newMarkBits`), sets the bits of the
//! objects it found reachable, and hands the bitmap to [`Heap::sweep_span`],
//! which installs it as the span's allocation bits (`s.allocBits =
//! s.gcmarkBits`): every allocated but unmarked object is free in one move.
//! The span then goes where its occupancy says: the central partial or full
//! list, or back to the page heap when nothing was marked.
//!
//! Every check (the right span, a bitmap of the right length, no mark past
//! the last object, no mark on a free object) comes before the first change,
//! so a bad sweep is an error that changes nothing.

use serde::Serialize;

use super::{Heap, HeapError, remote_list};
use crate::backend::Backend;
use crate::events::{EventSink, HeapEvent};
use crate::span::Span;

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

impl Heap {
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
        b.settle_pages(&mut log);
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::heap::SpanPlace;

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
}
