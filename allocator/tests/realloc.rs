//! Large `realloc` grows in place or moves by `mremap`, and `alloc_zeroed`
//! trusts fresh pages to be zero but clears reused ones. Its own binary, so
//! that no other test's allocations sit right after the blocks grown here.

#![cfg(not(loom))]

use allocator::SpanAlloc;
use std::alloc::{GlobalAlloc, Layout};

static A: SpanAlloc = SpanAlloc::new();

const STEP: usize = 64 * 1024;

/// Grows one block by `step` bytes at a time from `step` to `to`, writing a
/// marker into every new step, with `realloc` (or `realloc_unsized`).
/// Checks every marker at the end; returns how many times the block moved.
fn grow(step: usize, to: usize, unsized_api: bool) -> usize {
    let mut size = step;
    let mut moves = 0;
    // SAFETY: every write is inside the block's current size; each realloc
    // gives up the old pointer; the block is freed once at the end.
    unsafe {
        let mut p = A.alloc(Layout::from_size_align(size, 16).unwrap());
        assert!(!p.is_null());
        p.write(1);
        while size < to {
            let next = size + step;
            let q = if unsized_api {
                A.realloc_unsized(p, next)
            } else {
                A.realloc(p, Layout::from_size_align(size, 16).unwrap(), next)
            };
            assert!(!q.is_null(), "realloc to {next} failed");
            if q != p {
                moves += 1;
            }
            q.add(size).write(((size / step) as u8).wrapping_add(1));
            q.add(next - 1).write(0xEE);
            p = q;
            size = next;
        }
        for k in 0..size / step {
            assert_eq!(
                *p.add(k * step),
                (k as u8).wrapping_add(1),
                "marker {k} lost"
            );
        }
        if unsized_api {
            A.free(p);
        } else {
            A.dealloc(p, Layout::from_size_align(size, 16).unwrap());
        }
    }
    moves
}

#[test]
fn a_growing_buffer_stays_in_place_while_the_pages_after_it_are_free() {
    // 64 KiB steps to 32 MiB: 511 reallocs. Without in-place growth every
    // one changes the page count and moves (511 moves).
    let moves = grow(STEP, 32 << 20, false);
    assert!(moves <= 8, "the block moved {moves} times in 511 reallocs");
    let moves = grow(STEP, 16 << 20, true);
    assert!(
        moves <= 8,
        "realloc_unsized moved {moves} times in 255 reallocs"
    );
}

#[test]
fn growing_to_200_mib_keeps_every_byte() {
    // 1 MiB steps to 200 MiB: past several 64 MiB arenas (unless another
    // test left a bigger free run behind); the markers check that every
    // page survived each in-place growth and each mremap move.
    grow(1 << 20, 200 << 20, false);
}

#[test]
fn shrinking_a_large_block_keeps_its_address_and_contents() {
    // SAFETY: used within its sizes, freed once.
    unsafe {
        let l = Layout::from_size_align(1 << 20, 8).unwrap();
        let p = A.alloc(l);
        p.write_bytes(7, 1 << 20);
        let q = A.realloc(p, l, 100_000);
        assert_eq!(q, p, "a shrink gives the tail back in place");
        assert!(
            std::slice::from_raw_parts(q, 100_000)
                .iter()
                .all(|&b| b == 7)
        );
        assert_eq!(A.usable_size(q), 13 * 8192);
        A.dealloc(q, Layout::from_size_align(100_000, 8).unwrap());
    }
}

/// Resident set size of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_huge_zeroed_allocation_reads_zero_without_touching_its_pages() {
    let size = 3usize << 30;
    let layout = Layout::from_size_align(size, 8).unwrap();
    let before = rss();
    // SAFETY: reads within the block; freed once.
    unsafe {
        let p = A.alloc_zeroed(layout);
        assert!(!p.is_null(), "3 GiB of address space refused");
        let grown = rss().saturating_sub(before);
        for off in (0..size).step_by(size / 64).chain([size - 1]) {
            assert_eq!(*p.add(off), 0, "byte {off} of a zeroed block is not zero");
        }
        A.dealloc(p, layout);
        // Other tests run meanwhile, so allow them 64 MiB; clearing the
        // block would have made 3 GiB resident.
        assert!(
            grown < 64 << 20,
            "alloc_zeroed(3 GiB) made {} MiB resident",
            grown >> 20
        );
    }
}

#[test]
fn reused_memory_is_cleared_by_alloc_zeroed() {
    // Small objects, a large block the thread cache stashes (<= 512 KiB),
    // and a large block that goes back to the page heap dirty.
    for size in [48, 3000, 40_000, 300_000, 4 << 20] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        for _ in 0..3 {
            // SAFETY: used within size, freed once each.
            unsafe {
                let dirty = A.alloc(layout);
                dirty.write_bytes(0xFF, size);
                A.dealloc(dirty, layout);
                let p = A.alloc_zeroed(layout);
                assert!(
                    std::slice::from_raw_parts(p, size).iter().all(|&b| b == 0),
                    "alloc_zeroed({size}) returned reused memory uncleared"
                );
                A.dealloc(p, layout);
            }
        }
    }
}

#[test]
fn a_block_hemmed_in_moves_by_mremap_with_its_contents() {
    // Two 2 MiB blocks, the second right after the first (the page heap
    // splits them off the same free run), so the first cannot grow in place
    // and must move; 2 MiB is past MREMAP_MIN_BYTES.
    let l = Layout::from_size_align(2 << 20, 8).unwrap();
    let mut fences = vec![];
    // SAFETY: blocks used within their sizes and freed once.
    unsafe {
        let (p, fence) = loop {
            let p = A.alloc(l);
            let f = A.alloc(l);
            if f as usize == p as usize + (2 << 20) {
                break (p, f);
            }
            fences.push(p);
            fences.push(f);
            assert!(fences.len() < 40, "no two 2 MiB blocks came out adjacent");
        };
        for i in (0..2 << 20).step_by(4096) {
            *p.add(i) = (i >> 12) as u8 | 1;
        }
        let q = A.realloc(p, l, 3 << 20);
        assert_ne!(q, p, "the block after it was live, so it had to move");
        for i in (0..2 << 20).step_by(4096) {
            assert_eq!(
                *q.add(i),
                (i >> 12) as u8 | 1,
                "page {} lost in the move",
                i >> 12
            );
        }
        // The pages left behind are zero pages now: a zeroed allocation that
        // reuses them must read zero.
        let z = A.alloc_zeroed(l);
        assert!(
            std::slice::from_raw_parts(z, 2 << 20)
                .iter()
                .all(|&b| b == 0)
        );
        A.dealloc(z, l);
        A.dealloc(q, Layout::from_size_align(3 << 20, 8).unwrap());
        A.dealloc(fence, l);
        for f in fences {
            A.dealloc(f, l);
        }
    }
}
