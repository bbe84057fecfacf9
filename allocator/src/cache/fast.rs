//! The thread cache's fast paths: what `GlobalAlloc::alloc` and
//! `dealloc` do on most calls, with no lock, no atomic read-modify-write
//! and no call.
//!
//! ```text
//!   alloc ── alloc_fast: pop the class's free stash
//!         └─ (empty) alloc_span_batch: take the span's own free list whole
//!              as the new stash; else a run of free objects from the span's
//!              cached bitmap word: hand out the first, stash the rest (as a
//!              range when they are consecutive, as a list when not)
//!   free  ── free_fast: push on the class's free stash (if it has room)
//!         └─ (full) free_owned_fast: push on the free list of a span this
//!              cache owns: the span the last such free went to (the memo),
//!              or the one the page map names
//!   free by address (C's free) ── memo_class: the class, if the address is
//!              in the memo's span; then free_fast, free_owned_fast as above
//! ```
//!
//! Each of these returns "not here" having changed nothing when more is
//! needed (a refill, a profile sample, a counter flush, a span another
//! thread owns), and the caller in `global.rs` goes on out of line. They
//! stay this small so that the compiler keeps them free of register saves:
//! at a few nanoseconds a pair, six pushes and pops a call cost more than
//! the work (see `global.rs`, "The fast paths' shape").
//!
//! Go's `mallocgc` has one fast path, `nextFreeFast`: a trailing-zero count
//! on the span's `allocCache`, one object at a time. `alloc_span_batch`
//! takes every free object of that cached word up to a run's worth in one
//! pass (one bitmap write for all of them); the allocations after it are
//! stash pops. mimalloc builds a page's free list a run at a time by
//! writing each block's link, and so did this file until the batch showed
//! the cost: every pop then loads the link it just wrote into a line the
//! program has not touched yet, and each pop's address waits for the last
//! one's load. Consecutive objects (the usual run) are now kept as a range,
//! `Stash::run`, and handed out by an addition; only a run with gaps in it
//! is linked. And a run of small objects (up to 256 bytes) is up to 64
//! long, a whole bitmap word, rather than one more than the stash holds,
//! so that half as many allocations leave the inline path (`RUN_LIMIT`).
//! Together they took the batch's allocation phase from 1.01x to between
//! 0.92x and 0.96x mimalloc's time (`examples/interleaved.rs`, 21 rounds
//! each, medians), and its criterion ratio from 1.27x to 1.09x (see
//! `cache.rs`). Stashed objects count as allocated in their span's bitmap
//! whether they came from a free or from a run, and as allocations in the
//! statistics only when they are handed out.
//!
//! The free memo exists because frees come in runs: a program that frees a
//! structure it built frees object after object of the same span. Checking
//! the address against the last span's range is cheaper than the page map's
//! two dependent loads and the owner check. A memo is only ever a span this
//! cache owns: every span the cache gives up goes through `Cache::give_up`,
//! which forgets it first.

use core::ptr;
use core::sync::atomic::Ordering as StatOrdering;

use super::{Cache, FREE_FLUSH_MASK, STASH_LIMIT, Stash};
use crate::backend::Backend;
use crate::events::NoEvents;
use crate::size_class::{CONST_TABLES, NUM_CLASSES, PAGE_SIZE, TABLES};
use crate::span::Span;
use crate::sync::Ordering;

/// Bytes of objects a run from the bitmap takes at most (see
/// `run_limit`).
const RUN_BYTES: usize = 16 * 1024;

/// How many objects `alloc_span_batch` takes from a span's bitmap word at
/// most, per class: up to `RUN_BYTES` of them, and at least one more than
/// the class's stash holds, within the word's 64. A run of small objects
/// can exceed the stash's limit (its room goes below zero, and frees go to
/// the span until allocations bring it back), because a longer run means
/// fewer calls out of line: the batch of 32-byte objects takes 64 at a
/// time. A table, so that the path does not divide.
const RUN_LIMIT: [usize; NUM_CLASSES + 1] = {
    let mut t = [0; NUM_CLASSES + 1];
    let mut c = 1;
    while c <= NUM_CLASSES {
        let n = RUN_BYTES / CONST_TABLES.size[c];
        let least = STASH_LIMIT[c] + 1;
        t[c] = if n < least {
            least
        } else if n > 64 {
            64
        } else {
            n
        };
        c += 1;
    }
    t
};

/// `RUN_LIMIT` for `class`.
#[inline(always)]
fn run_limit(class: usize) -> usize {
    RUN_LIMIT[class]
}

/// One span and its address range (see `Cache::free_memo`).
#[derive(Clone, Copy)]
pub(super) struct FreeMemo {
    start: usize,
    len: usize,
    pub(super) span: *mut Span,
}

impl FreeMemo {
    pub(super) const EMPTY: FreeMemo = FreeMemo {
        start: 0,
        len: 0,
        span: ptr::null_mut(),
    };

    /// The memo for `s` (`span` is `*s`).
    fn of(s: *mut Span, span: &Span) -> FreeMemo {
        FreeMemo {
            start: span.start,
            len: span.npages * PAGE_SIZE,
            span: s,
        }
    }
}

/// What `Cache::free_owned_fast` did with an object.
pub(crate) enum OwnedFree {
    /// It is on its span's own list; nothing more to do.
    Freed,
    /// It is on the list of this kept span, which must now move
    /// (`Cache::after_local_free_cold`).
    FreedMove(*mut Span),
    /// Nothing changed: the object is not in a span this cache owns, or the
    /// profile may have sampled it (the slow path tells the profile).
    NotHere,
}

impl Cache {
    /// The allocation fast path, with no call in it: the class's most
    /// recently stashed object. `None`, having changed nothing, when
    /// anything more is needed (an empty stash, a profile sample): the
    /// caller then takes `alloc_span_batch` or `alloc`, out of line. Being
    /// this short lets the compiler make `GlobalAlloc::alloc` a leaf that
    /// saves no registers, which is most of an alloc/free pair's cost.
    #[inline(always)]
    pub(crate) fn alloc_fast(&mut self, class: usize) -> Option<usize> {
        if class > NUM_CLASSES {
            // Never true; it lets the compiler drop the bounds checks (and
            // their panic calls) below.
            return None;
        }
        let size = TABLES.size[class];
        if self.next_sample < size as isize {
            return None;
        }
        let addr = self.free_stash[class].pop(size)?;
        self.counts[class].allocs += 1;
        self.next_sample -= size as isize;
        Some(addr)
    }

    /// The allocation path one step past the stash, still with no call in
    /// it: an object from the cached bitmap word of the class's span (Go's
    /// `nextFreeFast`). `None`, having changed nothing, when a bitmap walk,
    /// a refill or a profile sample is needed.
    #[inline(always)]
    pub(crate) fn alloc_span_fast(&mut self, class: usize) -> Option<usize> {
        if class > NUM_CLASSES {
            return None; // never; drops the bounds checks, as in alloc_fast
        }
        let size = TABLES.size[class];
        let s = self.alloc[class];
        if s.is_null() || self.next_sample < size as isize {
            return None;
        }
        // SAFETY: this cache owns every span in `alloc`.
        let i = unsafe { (*s).next_free_fast() }?;
        self.counts[class].allocs += 1;
        self.next_sample -= size as isize;
        // SAFETY: s is owned by this cache and i is the index next_free_fast just claimed.
        Some(unsafe { (*s).object_addr(i) })
    }

    /// `alloc_span_fast` for an empty free stash: takes up to a run's worth
    /// (`RUN_LIMIT`) of free objects from the span's cached bitmap word in one go,
    /// returns the first and stashes the rest in address order, so that
    /// the next allocations of the class are stash pops (a range when the
    /// objects are consecutive, see the module comment). The stashed
    /// objects count as allocated in the span, as freed ones in the stash
    /// do, and as allocations only when they are handed out.
    #[inline(always)]
    pub(crate) fn alloc_span_batch(&mut self, class: usize) -> Option<usize> {
        if class > NUM_CLASSES {
            return None; // never; drops the bounds checks, as in alloc_fast
        }
        if !self.free_stash[class].is_empty_and_on(class) {
            // Not empty, or switched off.
            return self.alloc_span_fast(class);
        }
        let size = TABLES.size[class];
        let s = self.alloc[class];
        if s.is_null() || self.next_sample < size as isize {
            return None;
        }
        // SAFETY: this cache owns every span in `alloc`.
        let span = unsafe { &*s };
        // SAFETY: as above.
        let (head, len) = unsafe { span.take_free_list() };
        if head != 0 {
            // Their frees are counted now (see "Counting" in cache.rs).
            self.counts[class].frees += len as u64;
            // The objects this thread freed into the span: the new stash.
            // SAFETY: the stash is empty and on (checked above); the list
            // was just taken from this cache's span of `class`.
            let addr = unsafe { self.stash_free_list(class, head, len) };
            self.counts[class].allocs += 1;
            self.next_sample -= size as isize;
            return Some(addr);
        }
        // SAFETY: as above.
        let (base, taken) = unsafe { span.take_free_run(run_limit(class)) }?;
        let elem = span.elem_size;
        let low = taken.trailing_zeros() as usize;
        let first = span.start + (base + low) * elem;
        let n = taken.count_ones() as usize;
        let run = taken >> low;
        if run & run.wrapping_add(1) == 0 {
            // Consecutive objects (the common case): the rest are the
            // stash's run, with no link written.
            self.free_stash[class] = Stash::holding_run(class, first + elem, n - 1);
        } else {
            // Link the rest, in address order, through their first words.
            // Every object taken is ours, at least 8 bytes, and not yet
            // handed out, so its first word is free to hold the link.
            let mut rest = taken & (taken - 1); // all but the first
            let mut link: *mut usize = &mut self.free_stash[class].head;
            while rest != 0 {
                let addr = span.start + (base + rest.trailing_zeros() as usize) * elem;
                // SAFETY: link is the stash head or an object just taken.
                unsafe { *link = addr };
                link = addr as *mut usize;
                rest &= rest - 1;
            }
            // SAFETY: as above; the list ends here.
            unsafe { *link = 0 };
            let head = self.free_stash[class].head;
            self.free_stash[class] = Stash::holding(class, head, n - 1);
        }
        self.counts[class].allocs += 1;
        self.next_sample -= size as isize;
        Some(first)
    }

    /// The free fast path (`GlobalAlloc::dealloc` in unchecked builds): a
    /// push on the class's free stash. False, having changed nothing, when
    /// the stash is full, when this is the free that flushes the class's
    /// counters, or when the profile may have sampled the object; the
    /// caller then goes on out of line (`free_owned_fast`, then the slow
    /// path).
    ///
    /// # Safety
    /// `addr` is an allocated object of `class` (the class of the layout it
    /// was allocated with) that the caller gives up.
    #[inline(always)]
    pub(crate) unsafe fn free_fast(&mut self, b: &Backend, class: usize, addr: usize) -> bool {
        if class > NUM_CLASSES {
            return false; // never; drops the bounds checks, as in alloc_fast
        }
        if self.free_stash[class].room > 0
            && (self.counts[class].frees + 1) & FREE_FLUSH_MASK != 0
            && !b.profile.may_be_sampled(addr)
        {
            // SAFETY: the object is one of `class` the caller gives up (our
            // contract), at least 8 bytes.
            unsafe { self.free_stash[class].push(addr) };
            self.counts[class].frees += 1;
            return true;
        }
        false
    }

    /// The size class of `addr` if it lies in the free memo's span: a
    /// span this cache owns, so its class cannot change under us. A free
    /// without a `Layout` (C's `free`) asks this before it walks the page
    /// map, whose two dependent loads cost more than the rest of a stash
    /// push.
    #[inline(always)]
    pub(crate) fn memo_class(&self, addr: usize) -> Option<usize> {
        let memo = self.free_memo;
        if addr.wrapping_sub(memo.start) < memo.len {
            // SAFETY: the memo only ever holds a span this cache owns, which
            // the page heap cannot reuse while it is ours.
            Some(unsafe { (*memo.span).class })
        } else {
            None
        }
    }

    /// Makes `s` the free memo if this cache owns it (a small-object span
    /// it allocates from or keeps), so that the next frees into it by
    /// address skip the page map (see `memo_class`). Returns whether it did.
    #[inline]
    pub(crate) fn remember_if_owned(&mut self, s: *mut Span) -> bool {
        // SAFETY: the page map only holds spans of this heap, never freed.
        let span = unsafe { &*s };
        // A span this cache owns is a small-object span it holds (a large
        // or free span never has this cache as owner).
        if span.owner.load(Ordering::Relaxed) != self.id() {
            return false;
        }
        self.free_memo = FreeMemo::of(s, span);
        true
    }

    /// `free_fast` past the stash: a push on the span's own free list (see
    /// "The owner's free list" in `span.rs`), if this cache owns the span
    /// (its current span or a kept one). The span's class is the object's,
    /// so none is asked for. It makes no call: when a kept span must move
    /// (its first free gave it space, or its last emptied it) it says so,
    /// and the caller makes that call, `after_local_free_cold`, as a tail
    /// call.
    ///
    /// # Safety
    /// `addr` is an allocated small object that the caller gives up.
    #[inline(always)]
    pub(crate) unsafe fn free_owned_fast(&mut self, b: &Backend, addr: usize) -> OwnedFree {
        let memo = self.free_memo;
        let s = if addr.wrapping_sub(memo.start) < memo.len {
            // The span of the last owned free: this cache still owns it.
            memo.span
        } else {
            let s = b.pages.span_of_growable(addr);
            if s.is_null() || !self.remember_if_owned(s) {
                return OwnedFree::NotHere;
            }
            s
        };
        // SAFETY: the page map only holds spans of this heap, never freed.
        let span = unsafe { &*s };
        // An object the profile may have sampled frees on the slow path,
        // where the profile sees its free. Only a span with samples asks
        // the counting filter, which clears most of its objects (the stash
        // push asks it the same question).
        if span.sampled.load(StatOrdering::Relaxed) != 0 && b.profile.may_be_sampled(addr) {
            return OwnedFree::NotHere;
        }
        // SAFETY: this cache owns the span; addr is one of its objects that
        // the caller gives up (the caller's contract). The free is counted
        // when the list comes back (see "Counting" in cache.rs).
        let l = unsafe { span.push_free(addr) };
        // The span this cache allocates from needs nothing more; a kept
        // span moves when this free gave a full one space or emptied it
        // (both are `free_watch`, see span.rs).
        if l.free_len == l.free_watch {
            return OwnedFree::FreedMove(s);
        }
        OwnedFree::Freed
    }

    /// `after_local_free` out of `free_owned_fast`'s way, for the span's
    /// own class.
    ///
    /// # Safety
    /// The cache owns `s`, a small-object span.
    #[cold]
    #[inline(never)]
    pub(crate) unsafe fn after_local_free_cold(&mut self, b: &Backend, s: *mut Span) {
        // SAFETY: the caller's contract; a span's class is fixed while it
        // is in use.
        unsafe { self.after_local_free(b, (*s).class, s, NoEvents::sink()) };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::events::NoEvents;

    #[test]
    fn a_run_from_the_span_is_stashed_and_counted_only_when_handed_out() {
        let b = &crate::global::BACKEND;
        let class = 4; // 32-byte objects, 256 per span
        let mut cache = Cache::new();
        // The first allocation takes a span (the full path).
        let first = cache.alloc(b, class, &mut NoEvents);
        let counted = cache.counts[class].allocs;
        assert_eq!(counted, 1, "one object handed out, one counted");
        let got = cache
            .alloc_span_batch(class)
            .expect("the span has free objects");
        if crate::checked::CHECKED {
            // Checked builds switch the stash off: a run is one object.
            assert_eq!(
                cache.free_stash[class].head, 0,
                "nothing stashed when the stash is off"
            );
            assert_eq!(cache.counts[class].allocs, 2);
            assert!(cache.alloc_fast(class).is_none());
            // SAFETY: both objects are live objects of `class`, freed once.
            unsafe {
                for addr in [first, got] {
                    cache.free(b, b.pages.span_of_growable(addr), addr, &mut NoEvents);
                }
            }
            cache.release_all(b, &mut NoEvents);
            return;
        }
        let stashed = cache.stash_len(class);
        assert!(
            (1..run_limit(class)).contains(&stashed),
            "a run's worth should be stashed, got {stashed}"
        );
        assert_eq!(
            cache.counts[class].allocs, 2,
            "stashed objects are not allocations yet"
        );
        let mut handed = vec![first, got];
        while let Some(addr) = cache.alloc_fast(class) {
            handed.push(addr);
        }
        assert_eq!(handed.len(), 2 + stashed, "every stashed object pops once");
        assert_eq!(cache.counts[class].allocs, handed.len() as u64);
        let mut sorted = handed.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, handed, "handed out in address order, none twice");
        let s = b.pages.span_of_growable(first);
        // SAFETY: the cache owns s; reading its count is a plain read.
        assert_eq!(unsafe { (*s).alloc_count() }, handed.len());
        // A run left in the stash goes back to the span with the cache.
        cache.alloc_span_batch(class).expect("more free objects");
        cache.release_all(b, &mut NoEvents);
        // SAFETY: the span is central's now; nothing else uses class 4 objects
        // of it but this test's, which are live.
        assert_eq!(unsafe { (*s).alloc_count() }, handed.len() + 1);
    }

    #[test]
    fn a_consecutive_run_is_a_range_and_a_free_goes_before_it() {
        if crate::checked::CHECKED {
            return; // checked builds switch the stash off
        }
        let b = &crate::global::BACKEND;
        let class = 7; // 80-byte objects, which the other tests leave alone
        let size = TABLES.size[class];
        let mut cache = unsampled_cache();
        let first = cache.alloc(b, class, &mut NoEvents);
        let got = cache
            .alloc_span_batch(class)
            .expect("the span has free objects");
        let stash = cache.free_stash[class];
        if stash.head != 0 {
            // The span came part-used from the central list with gaps in
            // the bitmap word: a linked run, which the test above covers.
            cache.release_all(b, &mut NoEvents);
            return;
        }
        let len = (stash.run_end - stash.run) / size;
        assert!(
            (2..run_limit(class)).contains(&len),
            "up to a stash's worth as a range, got {len}"
        );
        assert_eq!(
            stash.run,
            got + size,
            "the range starts after the object handed out"
        );
        assert_eq!(
            cache.stash_len(class),
            len,
            "the range counts against the room"
        );
        // Hand out objects until the stash has room for a free (a run can
        // be longer than the stash's limit): in address order.
        let mut live = vec![first, got];
        let mut next = got;
        while cache.free_stash[class].room <= 0 {
            let Some(addr) = cache.alloc_fast(class) else {
                break;
            };
            assert_eq!(addr, next + size, "the range hands out in address order");
            live.push(addr);
            next = addr;
        }
        let stash = cache.free_stash[class];
        // Another test's sample may share the counting filter's slot, which
        // sends the free the slow way; the rest of the test needs the push.
        if stash.room > 0 && stash.run != stash.run_end && !b.profile.may_be_sampled(next) {
            // SAFETY: `next` is a live object of `class`, freed once (and
            // handed out again below); the stash has room for it.
            let pushed = unsafe { cache.free_fast(b, class, next) };
            assert!(pushed, "room for one free");
            assert_eq!(cache.free_stash[class].head, next, "the free is listed");
            let again = cache.alloc_fast(class).expect("the freed object");
            assert_eq!(again, next, "a listed free is handed out before the range");
            let after = cache.alloc_fast(class).expect("the range again");
            assert_eq!(after, next + size, "then the range goes on where it was");
            live.push(after);
        }
        cache.release_all(b, &mut NoEvents);
        // SAFETY: these are live objects of their spans, each freed once.
        unsafe {
            for addr in live {
                crate::global::free_uncached(b.pages.span_of_growable(addr), addr);
            }
        }
    }

    #[test]
    fn the_owners_frees_wait_on_their_span_and_come_back_before_a_new_span() {
        let b = &crate::global::BACKEND;
        // 80-byte objects: a class the other tests leave alone, so that the
        // span is most likely this test's alone (see `ours_only`).
        let class = 7;
        let per_span = TABLES.objects[class];
        let mut cache = unsampled_cache();
        // Fill the cache's first span (other tests share the heap, so it
        // may come from the central list part-used); it stays the cache's.
        let mut objs = vec![cache.alloc(b, class, &mut NoEvents)];
        let s = b.pages.span_of_growable(objs[0]);
        // SAFETY: the cache owns s; is_full reads its count.
        while !unsafe { (*s).is_full() } {
            objs.push(cache.alloc(b, class, &mut NoEvents));
        }
        assert_eq!(
            cache.alloc[class], s,
            "the filled span should still be the cache's"
        );
        let n = objs.len().min(10);
        for &addr in &objs[..n] {
            // SAFETY: a live object of `class` in this cache's span, freed once.
            let freed = unsafe { cache.free_owned_fast(b, addr) };
            assert!(
                matches!(freed, OwnedFree::Freed),
                "the cache's own span needs no move"
            );
        }
        // SAFETY: the cache owns s; these are plain reads.
        unsafe {
            assert_eq!((*s).alloc_count(), per_span, "the bitmap should not change");
            assert_eq!((*s).local_ref().free_len, n);
        }
        // The next allocation finds them before it asks for a new span:
        // taken whole as the stash, or (stash off in checked builds) folded
        // into the bitmap by the refill.
        let got = cache
            .alloc_span_batch(class)
            .unwrap_or_else(|| cache.alloc(b, class, &mut NoEvents));
        // Checked builds fold the list into the bitmap and search it, which
        // may also find an object of another test that another thread freed
        // meanwhile, if the span holds any.
        let ours_only = objs.len() == per_span;
        if ours_only || !crate::checked::CHECKED {
            assert!(
                objs[..n].contains(&got),
                "a freed object should be reused, got {got:#x}"
            );
        } else {
            assert_eq!(b.pages.span_of_growable(got), s, "no new span");
        }
        // SAFETY: as above.
        unsafe {
            assert_eq!((*s).local_ref().free_len, 0, "the list should be taken");
            let stashed = cache.free_stash[class].head != 0 || n == 1;
            let expect = if stashed {
                per_span
            } else {
                per_span - (n - 1)
            };
            if ours_only || !crate::checked::CHECKED {
                assert_eq!((*s).alloc_count(), expect, "stashed {stashed}");
            }
        }
        cache.release_all(b, &mut NoEvents);
        let others = (!objs.contains(&got)).then_some(got);
        for addr in objs
            .iter()
            .copied()
            .filter(|&a| a == got || !objs[..n].contains(&a))
            .chain(others)
        {
            // SAFETY: each is a live object of its span, freed once here.
            unsafe { crate::global::free_uncached(b.pages.span_of_growable(addr), addr) };
        }
    }

    /// A cache that will take no profile sample, so that no span of the
    /// test's turns "sampled" (which sends its frees the slow way).
    fn unsampled_cache() -> Cache {
        let mut cache = Cache::new();
        cache.sampling_armed = true;
        cache.next_sample = isize::MAX;
        cache
    }

    #[test]
    fn a_kept_span_asks_to_move_on_its_first_free_and_on_the_one_that_empties_it() {
        let b = &crate::global::BACKEND;
        let class = 4; // 32-byte objects, 256 per span
        let mut cache = unsampled_cache();
        let mut objs = vec![cache.alloc(b, class, &mut NoEvents)];
        let s = b.pages.span_of_growable(objs[0]);
        // SAFETY: the cache owns s; is_full reads its count.
        while !unsafe { (*s).is_full() } {
            objs.push(cache.alloc(b, class, &mut NoEvents));
        }
        // One more: the refill keeps the full span.
        let other = cache.alloc(b, class, &mut NoEvents);
        // SAFETY: the cache owns s; a plain read.
        let list = unsafe { (*s).local_ref().list };
        assert_eq!(
            list,
            crate::span::ListKind::CacheFull,
            "the full span is kept"
        );
        // SAFETY: objs are live objects of s, each freed once below.
        let first = unsafe { cache.free_owned_fast(b, objs[0]) };
        let OwnedFree::FreedMove(moved) = first else {
            panic!("the first free into a kept full span should ask to move it");
        };
        assert_eq!(moved, s);
        // SAFETY: the cache owns s.
        unsafe { cache.after_local_free_cold(b, s) };
        // SAFETY: as above.
        let list = unsafe { (*s).local_ref().list };
        assert_eq!(list, crate::span::ListKind::CachePartial);
        // The span may hold other tests' objects (it can come part-used from
        // the central list); only if it does not does the last free empty it.
        let empties = objs.len() == TABLES.objects[class];
        for (i, &addr) in objs.iter().enumerate().skip(1) {
            // SAFETY: as above.
            let freed = unsafe { cache.free_owned_fast(b, addr) };
            let last = i == objs.len() - 1;
            match freed {
                OwnedFree::Freed => assert!(!(last && empties), "the emptying free said nothing"),
                OwnedFree::FreedMove(_) => {
                    assert!(last && empties, "free {i} asked to move the span")
                }
                OwnedFree::NotHere => panic!("free {i} left the owner's fast path"),
            }
        }
        cache.release_all(b, &mut NoEvents);
        // SAFETY: a live object of its span, freed once.
        unsafe { crate::global::free_uncached(b.pages.span_of_growable(other), other) };
    }

    #[test]
    fn frees_onto_a_spans_list_are_counted_when_the_list_comes_back() {
        let b = &crate::global::BACKEND;
        let class = 4;
        let mut cache = unsampled_cache();
        let objs: Vec<usize> = (0..10)
            .map(|_| cache.alloc(b, class, &mut NoEvents))
            .collect();
        let s = b.pages.span_of_growable(objs[0]);
        assert!(
            objs.iter().all(|&a| b.pages.span_of_growable(a) == s),
            "ten objects should come from one span"
        );
        let before = cache.counts[class].frees;
        for &addr in &objs {
            // SAFETY: live objects of the cache's span, each freed once.
            let freed = unsafe { cache.free_owned_fast(b, addr) };
            assert!(matches!(freed, OwnedFree::Freed));
        }
        assert_eq!(cache.counts[class].frees, before, "a push counts nothing");
        cache.flush_counts(b);
        assert_eq!(
            cache.counts[class].frees,
            before + 10,
            "flush_counts should count the listed frees"
        );
        // SAFETY: the cache owns s; a plain read.
        let listed = unsafe { (*s).local_ref().free_len };
        assert_eq!(
            listed, 0,
            "and fold them into the bitmap, so none counts twice"
        );
        cache.release_all(b, &mut NoEvents);
        assert_eq!(cache.counts[class].frees, before + 10);
    }

    #[test]
    fn an_object_the_profile_did_not_sample_frees_onto_a_sampled_spans_list() {
        let b = &crate::global::BACKEND;
        let class = 4;
        let mut cache = unsampled_cache();
        let objs: Vec<usize> = (0..8)
            .map(|_| cache.alloc(b, class, &mut NoEvents))
            .collect();
        let s = b.pages.span_of_growable(objs[0]);
        // SAFETY: the page map holds only live spans of this heap.
        let span = unsafe { &*s };
        // Stand in for a sample elsewhere in the span (no profile record is
        // made, so no free of these objects may tell the profile anything).
        span.sampled.fetch_add(1, StatOrdering::Relaxed);
        let clear: Vec<usize> = objs
            .iter()
            .copied()
            .filter(|&a| !b.profile.may_be_sampled(a) && b.pages.span_of_growable(a) == s)
            .collect();
        assert!(
            !clear.is_empty(),
            "some of eight objects should pass the filter"
        );
        for &addr in &clear {
            // SAFETY: a live object of the cache's span, freed once.
            // (A span that filled meanwhile and is kept asks to move: still
            // the owner's path.)
            match unsafe { cache.free_owned_fast(b, addr) } {
                OwnedFree::Freed => {}
                // SAFETY: the cache owns the span it names.
                OwnedFree::FreedMove(moved) => unsafe { cache.after_local_free_cold(b, moved) },
                OwnedFree::NotHere => {
                    panic!("an object the filter clears should stay on the owner's path")
                }
            }
        }
        span.sampled.fetch_sub(1, StatOrdering::Relaxed);
        cache.release_all(b, &mut NoEvents);
        for &addr in objs.iter().filter(|a| !clear.contains(a)) {
            // SAFETY: each is a live object of its span, freed once here.
            unsafe { crate::global::free_uncached(b.pages.span_of_growable(addr), addr) };
        }
    }

    #[test]
    fn the_free_memo_forgets_a_span_the_cache_gives_up() {
        // The process-wide heap: free_owned_fast finds spans through its
        // growable page map, which a fixed test heap does not use.
        let b = &crate::global::BACKEND;
        let class = 4;
        let per_span = TABLES.objects[class];
        let mut cache = Cache::new();
        cache.set_free_stash(false);
        let objs: Vec<usize> = (0..=per_span)
            .map(|_| cache.alloc(b, class, &mut NoEvents))
            .collect();
        let span_a = b.pages.span_of_growable(objs[0]);
        // SAFETY: objs[0] is a live object of `class`, freed once.
        let first = unsafe { cache.free_owned_fast(b, objs[0]) };
        assert!(
            !matches!(first, OwnedFree::NotHere),
            "a free into a kept span of this cache should stay local"
        );
        assert_eq!(cache.free_memo.span, span_a, "the memo should hold span A");
        cache.release_all(b, &mut NoEvents);
        assert!(
            cache.free_memo.span.is_null(),
            "the memo still names a span the cache gave up"
        );
        // SAFETY: objs[1] is a live object of `class`; NotHere leaves it live.
        let after = unsafe { cache.free_owned_fast(b, objs[1]) };
        assert!(
            matches!(after, OwnedFree::NotHere),
            "a free into a span the central list owns was taken as local"
        );
        for &addr in &objs[1..] {
            // SAFETY: each is a live object of its span, freed once here.
            unsafe { crate::global::free_uncached(b.pages.span_of_growable(addr), addr) };
        }
    }
}
