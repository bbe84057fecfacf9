//! The scavenger (Go's `mgcscavenge.go`): free pages still hold physical
//! memory until the OS is told otherwise. When the free pages not yet
//! returned pass a threshold (64 MiB for `SpanAlloc`), the heap returns the
//! biggest dirty free runs to the OS with `madvise(MADV_DONTNEED)` until half
//! the threshold is left; a released run reads as zero afterwards, which
//! `alloc_zeroed` uses.
//!
//! ## Never under the heap lock
//!
//! `madvise` on tens of megabytes takes milliseconds (the kernel unmaps and
//! frees every page), and every allocation that needs pages waits on the
//! page heap's lock. So the release happens in three steps, as Go's
//! scavenger does it (`pageAlloc.scavengeOne` takes the pages out of the
//! allocator under the lock, releases them with the lock dropped, and frees
//! them back as scavenged):
//!
//! 1. under the lock, take up to [`BATCH`] dirty runs off the free lists
//!    (no one can allocate them or merge with them now: a run on no free
//!    list is not a neighbour coalescing may take);
//! 2. with no lock held, `madvise` each;
//! 3. under the lock again, put each back as released, merging it with
//!    whatever was freed next to it meanwhile.
//!
//! A free never scavenges itself, since it may run with a central list's
//! lock held: it only raises a flag, and the next caller of
//! `scavenge_if_wanted` that holds no lock (the end of `take_pages`,
//! `free_large`, a cache's refill or thread exit) does the work.
//!
//! Where this departs from Go: Go's background scavenger runs in its own
//! goroutine, paced to a fraction of one CPU against a memory goal derived
//! from the GC's heap goal, and returns memory gradually (`bgscavenge`);
//! the allocator has no collector to derive a goal from, and no thread of
//! its own (a `malloc` must not start one), so the thread whose free pushed
//! the heap over the threshold pays for the release, batch by batch. While
//! a batch is being released its runs are free but not on a free list: an
//! allocation that needs exactly those pages grows the heap instead (Go has
//! the same window). A `fork()` in the middle of a batch leaves the child
//! without those runs (the thread releasing them does not exist there):
//! a leak of free pages in the child, never a corruption.

use core::ptr;
use core::sync::atomic::Ordering;

use super::{Inner, PageHeap, SMALL_RUN_LISTS};
use crate::os;
use crate::size_class::PAGE_SIZE;
use crate::span::Span;

/// Most runs one step of the scavenger takes off the free lists before it
/// drops the lock to release them.
pub(crate) const BATCH: usize = 16;

impl PageHeap {
    /// Releases free memory if a free asked for it (see the module
    /// documentation). Call with no allocator lock held; costs one relaxed
    /// load when nothing is wanted. Returns pages released.
    #[inline]
    pub(crate) fn scavenge_if_wanted(&self) -> usize {
        if !self.scavenge_wanted.load(Ordering::Relaxed) {
            return 0;
        }
        self.scavenge_wanted_cold()
    }

    #[cold]
    #[inline(never)]
    fn scavenge_wanted_cold(&self) -> usize {
        // One thread takes the job; the others go on.
        if !self.scavenge_wanted.swap(false, Ordering::Relaxed) {
            return 0;
        }
        self.scavenge(None)
    }

    /// Returns dirty free runs to the OS, biggest first, until at most
    /// `keep_pages` dirty free pages remain (`None`: half the threshold).
    /// Takes the heap lock only to pick runs and to put them back, never
    /// across `madvise`, so it must be called with no allocator lock held.
    /// Returns pages released.
    pub(crate) fn scavenge(&self, keep_pages: Option<usize>) -> usize {
        let mut released = 0;
        loop {
            let mut batch = [ptr::null_mut::<Span>(); BATCH];
            let n = {
                let mut inner = self.lock();
                let keep = keep_pages.unwrap_or(inner.scavenge_threshold_pages / 2);
                self.take_dirty(&mut inner, keep, &mut batch)
            };
            if n == 0 {
                return released;
            }
            for &s in &batch[..n] {
                // SAFETY: take_dirty took s off every free list, so nobody
                // allocates it, merges it or touches its pages but us; a free
                // run holds no live object, so its contents may go.
                unsafe { os::discard((*s).start as *mut u8, (*s).npages * PAGE_SIZE) };
            }
            let mut inner = self.lock();
            for &s in &batch[..n] {
                // SAFETY: s is still ours (off every list since take_dirty),
                // a Free run whose pages now read as zero; we hold the lock.
                unsafe {
                    let (start, npages) = ((*s).start, (*s).npages);
                    released += npages;
                    inner.stats.scavenges += 1;
                    if inner.scavenged_log_len < inner.scavenged_log.len() {
                        let i = inner.scavenged_log_len;
                        inner.scavenged_log[i] = (start, npages);
                        inner.scavenged_log_len += 1;
                    }
                    self.merge_and_insert(&mut inner, s, true);
                }
            }
        }
    }

    /// Takes dirty free runs off their lists, largest first, until at most
    /// `keep` dirty free pages remain on the lists or `batch` is full.
    /// Returns how many it took; they stay `Free` and counted in
    /// `free_bytes`, on no list.
    fn take_dirty(&self, inner: &mut Inner, keep: usize, batch: &mut [*mut Span]) -> usize {
        let mut n = 0;
        // Largest runs first: the large list, then lengths 127 down to 1.
        for i in 0..SMALL_RUN_LISTS {
            let mut cur = if i == 0 {
                inner.free_large.head
            } else {
                inner.free_small[SMALL_RUN_LISTS - i].head
            };
            while !cur.is_null() && inner.dirty_pages > keep && n < batch.len() {
                // SAFETY: free runs are owned by the heap lock we hold; the
                // next link is read before cur leaves its list.
                unsafe {
                    let next = (*cur).local().next;
                    if !(*cur).local().scavenged {
                        self.remove_free(inner, cur);
                        batch[n] = cur;
                        n += 1;
                    }
                    cur = next;
                }
            }
        }
        n
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn scavenger_returns_dirty_free_pages() {
        let h = PageHeap::new_fixed(32 * PAGE_SIZE, 4 * PAGE_SIZE).unwrap();
        let mut inner = h.lock();
        let s = h.alloc_run(&mut inner, 8, 1).unwrap().span;
        // SAFETY: s is ours; we dirty its pages and free it.
        let p = unsafe {
            let p = (*s).start as *mut u8;
            p.write_bytes(0xAB, 8 * PAGE_SIZE);
            h.free_run(&mut inner, s);
            p
        };
        assert_eq!(
            inner.stats.scavenges, 0,
            "a free must not release under the lock"
        );
        drop(inner);
        assert!(h.scavenge_if_wanted() >= 6, "8 dirty pages, 2 may stay");
        // SAFETY: the run is free and mapped; the scavenger zeroed it.
        assert_eq!(unsafe { *p }, 0, "scavenged page should read back as zero");
        let inner = h.lock();
        assert!(inner.stats.scavenges >= 1);
        assert!(inner.dirty_pages <= 2);
        assert_eq!(h.scavenge_if_wanted(), 0, "the request was served");
        drop(inner);
        // SAFETY: nothing is used afterwards.
        unsafe { h.release_all() };
    }

    #[test]
    fn a_batch_being_released_is_not_merged_and_comes_back_merged() {
        let h = PageHeap::new_fixed(64 * PAGE_SIZE, usize::MAX).unwrap();
        let mut inner = h.lock();
        let a = h.alloc_run(&mut inner, 8, 1).unwrap().span;
        let b = h.alloc_run(&mut inner, 8, 1).unwrap().span;
        // SAFETY: a and b are ours; b's pages are dirtied, then b freed.
        unsafe {
            ((*b).start as *mut u8).write_bytes(1, 8 * PAGE_SIZE);
            h.free_run(&mut inner, b);
        }
        // Step 1 by hand: b's run (merged with the free rest) leaves the lists.
        let mut batch = [ptr::null_mut(); BATCH];
        assert_eq!(h.take_dirty(&mut inner, 0, &mut batch), 1);
        let run = batch[0];
        // While it is out, a's free must not merge with it.
        // SAFETY: a is ours; run is off every list, held by this test.
        unsafe {
            h.free_run(&mut inner, a);
            assert_eq!((*a).npages, 8, "merged with a run being released");
            // Step 3: back as released, now merged with a's pages.
            h.merge_and_insert(&mut inner, run, true);
        }
        assert_eq!(
            inner.free_large.len + inner.free_small.iter().map(|l| l.len).sum::<usize>(),
            1
        );
        assert_eq!(inner.stats.free_bytes, 64 * PAGE_SIZE);
        drop(inner);
        // SAFETY: nothing is used afterwards.
        unsafe { h.release_all() };
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::sync::model;
    use loom::sync::Arc;
    use loom::thread;

    /// The scavenger drops the heap lock around `madvise`. Here it releases
    /// the dirty run in the middle of the arena while another thread frees
    /// the runs on both sides of it. In every interleaving the run being
    /// released must not be merged with its neighbours while it is out (its
    /// pages could be handed out while `madvise` discards them), and must
    /// come back merged: at the end one free run covers the arena, every
    /// page counted once, every page released.
    #[test]
    fn loom_scavenger_with_the_lock_dropped_races_frees_beside_its_batch() {
        let runs = model(|| {
            let h = Arc::new(PageHeap::new_fixed(12 * PAGE_SIZE, usize::MAX).unwrap());
            let (a, c) = {
                let mut inner = h.lock();
                let a = h.alloc_run(&mut inner, 4, 1).unwrap().span;
                let b = h.alloc_run(&mut inner, 4, 1).unwrap().span;
                let c = h.alloc_run(&mut inner, 4, 1).unwrap().span;
                // SAFETY: b is ours, unused; freeing it makes a dirty run.
                unsafe { h.free_run(&mut inner, b) };
                (a as usize, c as usize)
            };
            let h2 = h.clone();
            let freer = thread::spawn(move || {
                for s in [a, c] {
                    let mut inner = h2.lock();
                    // SAFETY: a and c are live runs this thread gives up.
                    unsafe { h2.free_run(&mut inner, s as *mut Span) };
                }
            });
            h.scavenge(Some(0));
            freer.join().unwrap();
            // What the other thread freed meanwhile is dirty: release it too.
            h.scavenge(Some(0));
            let inner = h.lock();
            let lists: usize =
                inner.free_large.len + inner.free_small.iter().map(|l| l.len).sum::<usize>();
            assert_eq!(lists, 1, "the arena's free runs were not merged into one");
            assert_eq!(inner.stats.in_use_bytes, 0);
            assert_eq!(
                inner.stats.free_bytes,
                12 * PAGE_SIZE,
                "free bytes miscounted"
            );
            assert_eq!(inner.dirty_pages, 0, "dirty pages miscounted");
            assert_eq!(
                inner.stats.released_bytes,
                12 * PAGE_SIZE,
                "released bytes miscounted"
            );
            drop(inner);
            // SAFETY: nothing is used afterwards.
            unsafe { h.release_all() };
        });
        assert!(runs > 1, "the model explored only {runs} interleaving(s)");
    }
}
