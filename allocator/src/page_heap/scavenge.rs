//! The scavenger (Go's `mgcscavenge.go`): free pages still hold physical
//! memory until the OS is told otherwise. When the free
//! pages not yet returned pass a threshold, the heap returns the biggest free
//! runs to the OS with `madvise(MADV_DONTNEED)` until half the threshold is
//! left (Go's background scavenger does this gradually, against a goal; we do
//! it at once, under the heap lock, since it is rare).

use super::{Inner, PageHeap, SMALL_RUN_LISTS};
use crate::os;
use crate::size_class::PAGE_SIZE;

impl PageHeap {
    /// Returns dirty free runs to the OS, biggest first, until at most
    /// `keep_pages` dirty free pages remain (Go's scavenger). Returns pages
    /// released.
    pub(crate) fn scavenge(&self, inner: &mut Inner, keep_pages: usize) -> usize {
        let mut released = 0;
        let lists = SMALL_RUN_LISTS + 1;
        for i in 0..lists {
            // Largest runs first: the large list, then lengths 127 down to 1.
            let mut cur = if i == 0 {
                inner.free_large.head
            } else {
                inner.free_small[SMALL_RUN_LISTS - i].head
            };
            while !cur.is_null() && inner.dirty_pages > keep_pages {
                // SAFETY: free runs are protected by the heap lock we hold;
                // their pages hold no live object, so discarding is safe.
                unsafe {
                    let l = (*cur).local();
                    if !l.scavenged {
                        os::discard((*cur).start as *mut u8, (*cur).npages * PAGE_SIZE);
                        l.scavenged = true;
                        inner.dirty_pages -= (*cur).npages;
                        inner.stats.released_bytes += (*cur).npages * PAGE_SIZE;
                        inner.stats.scavenges += 1;
                        released += (*cur).npages;
                        if inner.scavenged_log_len < inner.scavenged_log.len() {
                            inner.scavenged_log[inner.scavenged_log_len] =
                                ((*cur).start, (*cur).npages);
                            inner.scavenged_log_len += 1;
                        }
                    }
                    cur = l.next;
                }
            }
        }
        released
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
        unsafe {
            let p = (*s).start as *mut u8;
            p.write_bytes(0xAB, 8 * PAGE_SIZE);
            h.free_run(&mut inner, s);
            assert_eq!(*p, 0, "scavenged page should read back as zero");
        }
        assert!(inner.stats.scavenges >= 1);
        assert!(inner.dirty_pages <= 2);
        drop(inner);
        // SAFETY: nothing is used afterwards.
        unsafe { h.release_all() };
    }
}
