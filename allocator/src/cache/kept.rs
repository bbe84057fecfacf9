//! The spans a thread cache keeps after filling them (not in Go; mimalloc's
//! way). See "Keeping the spans it filled" in `cache.rs` for why.
//!
//! Two queues per size class, linked through the spans' own `next` / `prev`
//! fields (a kept span is on no central list, so they are free):
//!
//! * `kept`: spans that were full when the cache last looked. Their owner is
//!   still this cache, so this thread's frees into them go on the span's
//!   own free list (no atomic, see `span.rs`); other threads' frees go onto
//!   their remote lists as usual, but
//!   a kept span is never *parked*, so no free into it takes a lock.
//! * `partial`: kept spans with objects this thread freed: the first place a
//!   refill looks.
//!
//! A refill takes the head of `partial`; failing that it looks at up to
//! [`SCAN`] of the oldest `kept` spans for remote frees (a producer whose
//! objects another thread frees finds them there, oldest first), backing
//! off exponentially while scans find nothing; only then does it go to the
//! central list. A span that becomes empty stays on `partial` with its
//! bitmap cleared while the process-wide [`EmptyBudget`] has room (or when
//! it is the class's only partial span), else it goes back to the page
//! heap (see "Keeping the spans it emptied" in `cache.rs`); a refill of
//! another class that goes to the central list gives such spans back
//! first. At most
//! [`KEEP_MAX`] full spans per class are kept (beyond that the oldest is
//! handed to the central list, parked as in Go). Thread exit hands every
//! kept span back to the central lists.

use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering as BudgetOrdering};

use super::Cache;
use crate::backend::Backend;
use crate::checked;
use crate::events::EventSink;
use crate::size_class::TABLES;
use crate::span::{ListKind, Span};

/// Kept spans a refill examines for remote frees before it goes to the
/// central list.
pub(super) const SCAN: usize = 4;
/// Most refills of a class that skip the scan after scans found nothing.
pub(super) const MAX_SCAN_SKIP: u16 = 64;
/// Most full spans a cache keeps per size class (64 MiB of 8 KiB spans).
pub(super) const KEEP_MAX: usize = 8192;

/// The bytes of emptied spans that thread caches keep, all of them
/// together (see "Keeping the spans it emptied" in `cache.rs`). A budget,
/// not a protocol: a race between two caches can only let one span more
/// or fewer be kept, so it is a plain atomic outside the loom facade.
pub(crate) struct EmptyBudget {
    held: AtomicUsize,
    limit: usize,
}

impl EmptyBudget {
    /// A budget of `limit` bytes, none held.
    pub(crate) const fn new(limit: usize) -> EmptyBudget {
        EmptyBudget {
            held: AtomicUsize::new(0),
            limit,
        }
    }

    /// Whether `bytes` more fit.
    fn fits(&self, bytes: usize) -> bool {
        self.held.load(BudgetOrdering::Relaxed) + bytes <= self.limit
    }

    fn charge(&self, bytes: usize) {
        self.held.fetch_add(bytes, BudgetOrdering::Relaxed);
    }

    fn refund(&self, bytes: usize) {
        self.held.fetch_sub(bytes, BudgetOrdering::Relaxed);
    }

    /// Bytes of emptied spans the caches hold now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(BudgetOrdering::Relaxed)
    }
}

/// Whether `s`, on a partial queue, is an emptied span the budget pays for:
/// every span that empties there goes through `release_if_spare`, which
/// clears its bitmap if it keeps it, so an empty span on the queue is
/// exactly a kept empty one.
///
/// # Safety
/// The caller's cache owns `s`.
unsafe fn held_empty(s: *mut Span) -> bool {
    // SAFETY: the caller's contract.
    unsafe { (*s).alloc_count() == 0 }
}

/// A FIFO of spans linked through their `next` / `prev` fields. All-zero
/// bytes are an empty queue (the thread cache may start as zeroed TLS).
#[derive(Clone, Copy)]
pub(super) struct SpanQueue {
    head: *mut Span,
    tail: *mut Span,
    pub(super) len: usize,
}

impl SpanQueue {
    pub(super) const fn new() -> Self {
        SpanQueue {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }

    /// Appends `s`, recording `kind` in it.
    ///
    /// # Safety
    /// The cache owns `s` and the queue; `s` is on no list.
    unsafe fn push_back(&mut self, s: *mut Span, kind: ListKind) {
        // SAFETY: the cache owns s and the spans on the queue.
        unsafe {
            let l = (*s).local();
            debug_assert_eq!(l.list, ListKind::None);
            l.set_list(kind);
            l.next = ptr::null_mut();
            l.prev = self.tail;
            if self.tail.is_null() {
                self.head = s;
            } else {
                (*self.tail).local().next = s;
            }
        }
        self.tail = s;
        self.len += 1;
    }

    /// Unlinks `s`, which is on this queue.
    ///
    /// # Safety
    /// The cache owns the queue; `s` is on it.
    unsafe fn remove(&mut self, s: *mut Span) {
        // SAFETY: s and its neighbours are on this queue, owned by the cache.
        unsafe {
            let l = (*s).local();
            let (prev, next) = (l.prev, l.next);
            if prev.is_null() {
                self.head = next;
            } else {
                (*prev).local().next = next;
            }
            if next.is_null() {
                self.tail = prev;
            } else {
                (*next).local().prev = prev;
            }
            l.next = ptr::null_mut();
            l.prev = ptr::null_mut();
            l.set_list(ListKind::None);
        }
        self.len -= 1;
    }

    /// Removes and returns the oldest span, or null.
    ///
    /// # Safety
    /// The cache owns the queue.
    unsafe fn pop_front(&mut self) -> *mut Span {
        let s = self.head;
        if !s.is_null() {
            // SAFETY: s is on this queue.
            unsafe { self.remove(s) };
        }
        s
    }
}

impl Cache {
    /// Keeps `s`, this cache's exhausted span of `class`, instead of
    /// handing it back to the central list.
    ///
    /// # Safety
    /// The cache owns `s`, which is on no list and no longer its `alloc` span.
    pub(super) unsafe fn keep<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        s: *mut Span,
        ev: &mut E,
    ) {
        // The refill that gave s up took its free list first: a kept full
        // span has none (only a free into it moves it to `partial`).
        // SAFETY: the cache owns s (the caller's contract).
        debug_assert_eq!(unsafe { (*s).local_ref().free_len }, 0);
        if self.kept[class].len >= KEEP_MAX {
            // SAFETY: the oldest kept span is ours; the central list takes it.
            unsafe {
                let old = self.kept[class].pop_front();
                self.give_up(b, class, old, ev);
            }
        }
        // SAFETY: the caller's contract.
        unsafe { self.kept[class].push_back(s, ListKind::CacheFull) };
    }

    /// What a local free into `s` changes for a kept span: a full one now
    /// has space (it moves to `partial`); an empty partial one goes back to
    /// the page heap unless it is the class's only partial span.
    ///
    /// # Safety
    /// The cache owns `s`, a small-object span of `class`.
    #[inline(always)]
    pub(super) unsafe fn after_local_free<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        s: *mut Span,
        ev: &mut E,
    ) {
        // SAFETY: the cache owns s, so its local state is ours.
        let l = unsafe { (*s).local() };
        match l.list {
            ListKind::CacheFull => {
                // SAFETY: s is on the kept queue of its class.
                unsafe {
                    self.kept[class].remove(s);
                    self.partial[class].push_back(s, ListKind::CachePartial);
                }
                if l.nothing_live() {
                    // SAFETY: as below.
                    unsafe { self.release_if_spare(b, class, s, ev) };
                }
            }
            ListKind::CachePartial if l.nothing_live() => {
                // SAFETY: s is on the partial queue of its class.
                unsafe { self.release_if_spare(b, class, s, ev) };
            }
            // A free into the bitmap (not onto the span's list) lowered
            // alloc_count: the watch follows it.
            ListKind::CachePartial => l.set_list(ListKind::CachePartial),
            _ => {}
        }
    }

    /// Keeps the empty partial span `s`, its bitmap cleared, if the budget
    /// has room for it or it is the class's only partial span; else gives
    /// it back to the page heap.
    ///
    /// # Safety
    /// The cache owns `s`, on the partial queue of `class`, with nothing
    /// live (every object counted is on its own free list, so no remote
    /// free can be pending or in flight).
    #[cold]
    unsafe fn release_if_spare<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        s: *mut Span,
        ev: &mut E,
    ) {
        // SAFETY: the caller's contract.
        let bytes = unsafe { (*s).npages } * crate::size_class::PAGE_SIZE;
        if self.partial[class].len > 1 && !b.empty_budget.fits(bytes) {
            // SAFETY: the caller's contract; uncache_span frees an empty
            // span to the page heap.
            unsafe {
                self.partial[class].remove(s);
                self.give_up(b, class, s, ev);
            }
            b.settle_pages(ev);
            return;
        }
        b.empty_budget.charge(bytes);
        self.held_empty[class] += 1;
        self.held_empty_total += 1;
        // Folding an empty span clears its bitmap: reused, it hands out
        // runs linked by stride, not its free list, a walk through objects
        // long out of the cache. Its frees are counted now.
        // SAFETY: the caller's contract.
        unsafe {
            self.counts[class].frees += (*s).fold_free_list() as u64;
            (*s).local().set_list(ListKind::CachePartial);
        }
    }

    /// Refunds the budget for `s` if it is a kept empty span (it is leaving
    /// the partial queue of `class`).
    ///
    /// # Safety
    /// The cache owns `s`, just taken off the partial queue of `class`.
    unsafe fn leaving_partial(&mut self, b: &Backend, class: usize, s: *mut Span) {
        // SAFETY: the caller's contract.
        unsafe {
            if held_empty(s) {
                b.empty_budget
                    .refund((*s).npages * crate::size_class::PAGE_SIZE);
                self.held_empty[class] -= 1;
                self.held_empty_total -= 1;
            }
        }
    }

    /// Gives the emptied spans this cache keeps for classes other than
    /// `class` back to the page heap, before a refill of `class` asks the
    /// central list (and maybe the page heap) for a span: an emptied span
    /// waits for its own class, but never makes the heap grow for another.
    #[cold]
    pub(super) fn give_back_other_empties<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        ev: &mut E,
    ) {
        for c in 1..=crate::size_class::NUM_CLASSES {
            if c == class || self.held_empty[c] == 0 {
                continue;
            }
            let mut s = self.partial[c].head;
            while !s.is_null() && self.held_empty[c] != 0 {
                // SAFETY: every span on the queue is owned by this cache,
                // and an empty one holds nothing live.
                unsafe {
                    let next = (*s).local_ref().next;
                    if held_empty(s) {
                        self.partial[c].remove(s);
                        self.leaving_partial(b, c, s);
                        self.give_up(b, c, s, ev);
                    }
                    s = next;
                }
            }
        }
        b.settle_pages(ev);
    }

    /// Folds the owner's free lists of the class's kept partial spans into
    /// their bitmaps (for `flush_counts`), and returns how many objects
    /// that was.
    pub(super) fn fold_partial_lists(&mut self, class: usize) -> usize {
        let mut folded = 0;
        let mut s = self.partial[class].head;
        while !s.is_null() {
            // SAFETY: every span on the queue is owned by this cache, which
            // allocates from none of them; folding lowered alloc_count, so
            // the watch is set again.
            unsafe {
                folded += (*s).fold_free_list();
                let l = (*s).local();
                l.set_list(ListKind::CachePartial);
                s = l.next;
            }
        }
        folded
    }

    /// A refill from the spans this cache keeps: the oldest partial span,
    /// else one of the [`SCAN`] oldest kept spans that has remote frees. On
    /// success the span becomes the class's `alloc` span and one object is
    /// taken from it (returned); 0 if none had space.
    pub(super) fn refill_from_kept<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        ev: &mut E,
    ) -> usize {
        // SAFETY: every span on the queues is owned by this cache.
        unsafe {
            let mut s = self.partial[class].pop_front();
            if !s.is_null() {
                self.leaving_partial(b, class, s);
            }
            if s.is_null() {
                // Scanning touches cold span headers: after a scan that found
                // nothing, skip the next 1, 2, 4, ... up to 64 refills of the
                // class (a thread that frees its own objects never needs it;
                // one whose objects come back remotely finds them each time
                // and keeps scanning).
                let skip = &mut self.scan_skip[class];
                if skip.0 > 0 {
                    skip.0 -= 1;
                    return 0;
                }
                for _ in 0..SCAN.min(self.kept[class].len) {
                    let k = self.kept[class].pop_front();
                    (*k).collect_remote(&mut |addr| checked::double_free(addr, class));
                    if !(*k).is_full() {
                        s = k;
                        break;
                    }
                    self.kept[class].push_back(k, ListKind::CacheFull);
                }
                let skip = &mut self.scan_skip[class];
                if s.is_null() {
                    skip.1 = (skip.1 * 2).clamp(1, MAX_SCAN_SKIP);
                    skip.0 = skip.1;
                    return 0;
                }
                *skip = (0, 0);
            } else {
                (*s).collect_remote(&mut |addr| checked::double_free(addr, class));
            }
            let l = (*s).local();
            l.free_index = 0;
            l.alloc_cache = !l.alloc_bits[0];
            self.alloc[class] = s;
            let addr = self.refill_from_free_list(b, class, s, ev);
            if addr != 0 {
                return addr;
            }
            match (*s).next_free() {
                Some(i) => {
                    let addr = (*s).object_addr(i);
                    self.taken(b, class, TABLES.size[class], s, addr, ev);
                    addr
                }
                None => 0,
            }
        }
    }

    /// Hands every kept span back to the central lists (thread exit).
    pub(super) fn release_kept<E: EventSink>(&mut self, b: &Backend, ev: &mut E) {
        for class in 1..=crate::size_class::NUM_CLASSES {
            for kept in [false, true] {
                loop {
                    let q = if kept {
                        &mut self.kept[class]
                    } else {
                        &mut self.partial[class]
                    };
                    // SAFETY: the cache owns every span on its queues and
                    // gives them up.
                    unsafe {
                        let s = q.pop_front();
                        if s.is_null() {
                            break;
                        }
                        if !kept {
                            self.leaving_partial(b, class, s);
                        }
                        self.give_up(b, class, s, ev);
                    }
                }
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::events::NoEvents;
    use crate::size_class::PAGE_SIZE;
    use crate::sync::model;
    use loom::sync::Arc;
    use loom::thread;

    /// A kept span is never parked, so remote frees into it take no lock
    /// and tell nobody: the owner must find them, in a refill's scan or when
    /// it hands its kept spans back at exit. Here the owner fills span A
    /// (two objects), keeps it, fills span B, and refills again, scanning A,
    /// then exits; meanwhile two threads free A's two objects remotely.
    /// Whatever the interleaving, no free may be lost: at the end A is on
    /// the central partial list with exactly the objects the owner still
    /// holds allocated, or back in the page heap, and never parked full
    /// with frees waiting on it.
    #[test]
    fn loom_remote_frees_into_a_kept_span_are_never_lost() {
        let runs = model(|| {
            let backend = Arc::new(Backend::new_fixed(64 * PAGE_SIZE, usize::MAX).unwrap());
            let class = 66; // 2 objects per span
            assert_eq!(TABLES.objects[class], 2);
            let b = &*backend;
            let mut cache = Cache::new();
            cache.set_free_stash(false);
            let a0 = cache.alloc(b, class, &mut NoEvents);
            let a1 = cache.alloc(b, class, &mut NoEvents);
            let span_a = b.pages.span_of(a0);
            assert_eq!(b.pages.span_of(a1), span_a);
            // Refilling keeps A (full) and takes B.
            let b0 = cache.alloc(b, class, &mut NoEvents);
            assert_ne!(b.pages.span_of(b0), span_a);
            assert_eq!(cache.kept[class].len, 1, "the full span was not kept");
            let sp = span_a as usize;
            let remotes: Vec<_> = [a0, a1]
                .into_iter()
                .map(|addr| {
                    let backend = backend.clone();
                    thread::spawn(move || {
                        // SAFETY: addr is live and this thread frees it.
                        unsafe { backend.remote_free(sp as *mut Span, addr, &mut NoEvents) };
                    })
                })
                .collect();
            let b1 = cache.alloc(b, class, &mut NoEvents);
            // B is full now: this refill keeps B and scans A, finding 0, 1 or
            // 2 of the remote frees, else takes a fresh span.
            let c0 = cache.alloc(b, class, &mut NoEvents);
            let from_a = b.pages.span_of(c0) == span_a;
            cache.release_all(b, &mut NoEvents);
            for r in remotes {
                r.join().unwrap();
            }
            let _ = b1;
            // Sweep collects whatever remote frees are still waiting on
            // partial spans; a span parked full with frees waiting would be
            // missed, and its objects lost.
            b.sweep_all(&mut NoEvents);
            let (_, full) = b.central[class].lens();
            assert_eq!(
                full, 1,
                "only B is full: it holds b0 and b1 (A's frees were lost?)"
            );
            // Two spans hold live objects: B (b0, b1), and the one c0 came
            // from: A, or a fresh span if the scan found neither free yet (A
            // then went back to the page heap once both frees arrived).
            let in_use = b.pages.stats().in_use_bytes / PAGE_SIZE;
            assert_eq!(
                in_use,
                2 * TABLES.pages[class],
                "expected 2 spans in use (c0 from A: {from_a}); a span whose frees were lost stays in use"
            );
            // SAFETY: nothing is used afterwards.
            unsafe { b.pages.release_all() };
        });
        assert!(runs > 1, "the model explored only {runs} interleaving(s)");
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::events::NoEvents;
    use crate::size_class::PAGE_SIZE;

    #[test]
    fn an_emptied_span_is_kept_clear_while_the_budget_has_room() {
        // Scavenger threshold 4 pages: a budget of two one-page spans.
        let b = Backend::new_fixed(256 * PAGE_SIZE, 4 * PAGE_SIZE).unwrap();
        let class = 4; // 32-byte objects, 256 per one-page span
        let per_span = TABLES.objects[class];
        let mut cache = Cache::new();
        cache.set_free_stash(false);
        // Fill four spans; the fifth allocation's refill keeps the fourth.
        let spans: Vec<Vec<usize>> = (0..4)
            .map(|_| {
                (0..per_span)
                    .map(|_| cache.alloc(&b, class, &mut NoEvents))
                    .collect()
            })
            .collect();
        let last = cache.alloc(&b, class, &mut NoEvents);
        assert_eq!(cache.kept[class].len, 4, "four full spans kept");
        let free_all = |cache: &mut Cache, objs: &[usize]| {
            for &a in objs {
                // SAFETY: live objects of b, each freed once.
                unsafe { cache.free(&b, b.pages.span_of(a), a, &mut NoEvents) };
            }
        };
        // The first two emptied spans fit the budget and stay, cleared.
        free_all(&mut cache, &spans[0]);
        free_all(&mut cache, &spans[1]);
        assert_eq!(cache.partial[class].len, 2, "both emptied spans kept");
        assert_eq!(b.empty_budget.held(), 2 * PAGE_SIZE);
        let s0 = b.pages.span_of(spans[0][0]);
        // SAFETY: the cache owns s0; plain reads.
        unsafe {
            assert_eq!((*s0).alloc_count(), 0, "kept with its bitmap cleared");
            assert_eq!((*s0).local_ref().free_len, 0);
        }
        // The third does not fit and goes back to the page heap.
        let free_before = b.pages.stats().free_bytes;
        free_all(&mut cache, &spans[2]);
        assert_eq!(cache.partial[class].len, 2, "the third went back");
        assert_eq!(b.empty_budget.held(), 2 * PAGE_SIZE);
        assert_eq!(b.pages.stats().free_bytes, free_before + PAGE_SIZE);
        // Reusing a kept span refunds it: the refill after the current
        // span takes the oldest kept one, with no central list involved.
        let rest: Vec<usize> = (1..per_span)
            .map(|_| cache.alloc(&b, class, &mut NoEvents))
            .collect();
        let again = cache.alloc(&b, class, &mut NoEvents);
        assert_eq!(b.pages.span_of(again), s0, "the oldest kept span is reused");
        assert_eq!(b.empty_budget.held(), PAGE_SIZE, "and no longer charged");
        // A refill of another class from the central list gives the
        // emptied span still kept back first.
        let free_before = b.pages.stats().free_bytes;
        let other = cache.alloc(&b, class + 1, &mut NoEvents);
        assert_eq!(
            b.empty_budget.held(),
            0,
            "another class's refill gave it back"
        );
        assert_eq!(cache.partial[class].len, 0);
        assert!(
            b.pages.stats().free_bytes + TABLES.pages[class + 1] * PAGE_SIZE
                >= free_before + PAGE_SIZE,
            "the page heap should have had the emptied span's page to give"
        );
        // Thread exit gives back the rest.
        cache.release_all(&b, &mut NoEvents);
        assert_eq!(b.empty_budget.held(), 0);
        let _ = other;
        let _ = (last, rest, &spans[3]);
        // SAFETY: nothing is used afterwards.
        unsafe { b.pages.release_all() };
    }

    #[test]
    fn the_owners_frees_into_a_span_it_filled_stay_local_and_it_is_reused() {
        let b = Backend::new_fixed(256 * PAGE_SIZE, usize::MAX).unwrap();
        let class = 4; // 32-byte objects, 256 per one-page span
        let per_span = TABLES.objects[class];
        let mut cache = Cache::new();
        cache.set_free_stash(false);
        let first: Vec<usize> = (0..per_span)
            .map(|_| cache.alloc(&b, class, &mut NoEvents))
            .collect();
        let span_a = b.pages.span_of(first[0]);
        assert!(first.iter().all(|&a| b.pages.span_of(a) == span_a));
        // The next allocation refills: A is kept, still owned by the cache.
        let x = cache.alloc(&b, class, &mut NoEvents);
        assert_ne!(b.pages.span_of(x), span_a);
        assert_eq!(cache.kept[class].len, 1);
        // SAFETY: A is a live span of b; we only read its fields.
        unsafe {
            assert_eq!(
                (*span_a).owner.load(crate::sync::Ordering::Relaxed),
                cache.id()
            );
            for &a in &first {
                cache.free(&b, span_a, a, &mut NoEvents);
            }
            assert_eq!(
                (*span_a).remote.load(crate::sync::Ordering::Relaxed),
                0,
                "the owner's frees went onto the remote list"
            );
            assert_eq!((*span_a).alloc_count(), 0);
        }
        assert_eq!(
            (cache.kept[class].len, cache.partial[class].len),
            (0, 1),
            "A should wait on the partial queue"
        );
        // Use up the current span; the refill after it takes A back.
        let rest: Vec<usize> = (1..per_span)
            .map(|_| cache.alloc(&b, class, &mut NoEvents))
            .collect();
        let again = cache.alloc(&b, class, &mut NoEvents);
        assert_eq!(
            b.pages.span_of(again),
            span_a,
            "the partial span was not reused"
        );
        assert!(
            rest.iter()
                .all(|&a| b.pages.span_of(a) == b.pages.span_of(x))
        );
        cache.release_all(&b, &mut NoEvents);
        // SAFETY: nothing is used afterwards.
        unsafe { b.pages.release_all() };
    }
}
