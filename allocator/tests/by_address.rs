//! Size and free from the address alone (`SpanAlloc::usable_size`, `free`,
//! `realloc_unsized`): every size class, large objects and aligned
//! allocations. Its own binary, because these checks allocate from every
//! size class, and the library's unit tests count some classes exactly.

#![cfg(not(loom))]

use allocator::{ARENA_BYTES, MALLOC_ALIGN, NUM_CLASSES, PAGE_SIZE, SpanAlloc, size_classes};
use std::alloc::{GlobalAlloc, Layout};
use std::ptr;

static A: SpanAlloc = SpanAlloc::new();
static U: SpanAlloc = SpanAlloc::without_thread_cache();

/// Allocates `n` blocks of `layout`, checks each one's usable size is
/// `want`, fills every usable byte with a per-block pattern, checks no
/// block overwrote another, and frees them all without a layout.
fn fill_and_free(a: &SpanAlloc, layout: Layout, n: usize, want: usize) {
    // SAFETY: each block is written within its usable size and freed once.
    unsafe {
        let ptrs: Vec<*mut u8> = (0..n).map(|_| a.alloc(layout)).collect();
        for (i, &p) in ptrs.iter().enumerate() {
            assert!(!p.is_null(), "alloc {layout:?} failed");
            assert_eq!(p as usize % layout.align(), 0, "{layout:?} misaligned");
            let got = a.usable_size(p);
            assert_eq!(got, want, "usable size of a {layout:?} block");
            assert!(got >= layout.size());
            p.write_bytes(i as u8 ^ 0xA5, got);
        }
        for (i, &p) in ptrs.iter().enumerate() {
            let got = a.usable_size(p);
            let bytes = core::slice::from_raw_parts(p, got);
            assert!(
                bytes.iter().all(|&b| b == i as u8 ^ 0xA5),
                "block {i} of {layout:?} was overwritten by a neighbour"
            );
            a.free(p);
        }
    }
}

#[test]
fn usable_size_is_the_class_size_for_every_class() {
    let classes = size_classes();
    assert_eq!(classes.len(), NUM_CLASSES);
    for a in [&A, &U] {
        let mut prev = 0;
        for c in classes.iter() {
            // The smallest and the largest request of the class.
            for size in [prev + 1, c.size] {
                let layout = Layout::from_size_align(size, 1).unwrap();
                fill_and_free(a, layout, 3, c.size);
            }
            prev = c.size;
        }
    }
}

#[test]
fn usable_size_of_large_objects_is_their_pages() {
    for a in [&A, &U] {
        for size in [
            32 * 1024 + 1,
            40_000,
            PAGE_SIZE * 5,
            PAGE_SIZE * 5 + 1,
            1 << 20,
            (1 << 20) + 3,
            ARENA_BYTES + 1,
        ] {
            let layout = Layout::from_size_align(size, 8).unwrap();
            let pages = size.div_ceil(PAGE_SIZE);
            fill_and_free(a, layout, 2, pages * PAGE_SIZE);
        }
    }
}

#[test]
fn aligned_allocations_are_sized_and_freed_from_their_start() {
    for a in [&A, &U] {
        for align_log in 3..=22 {
            let align = 1usize << align_log;
            for size in [1, 24, 100, 3000, 20_000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: one live block, sized then freed once.
                let want = unsafe {
                    let p = a.alloc(layout);
                    let w = a.usable_size(p);
                    a.free(p);
                    w
                };
                assert!(want >= size, "usable {want} < {size} at align {align}");
                fill_and_free(a, layout, 2, want);
            }
        }
    }
}

#[test]
fn free_without_layout_is_counted_and_reuses_the_object() {
    // 9472-byte objects (class 54): no other test in this binary uses them
    // in this thread, so the counts below are this test's.
    let layout = Layout::from_size_align(9472, 8).unwrap();
    let class = size_classes().iter().position(|c| c.size == 9472).unwrap() + 1;
    let before = A.stats().class(class).unwrap().frees;
    // SAFETY: allocated, then freed once without its layout.
    unsafe {
        let p = A.alloc(layout);
        A.free(p);
        let q = A.alloc(layout);
        assert_eq!(q, p, "the freed object should be the next one handed out");
        A.free(q);
    }
    let after = A.stats().class(class).unwrap().frees;
    assert!(after >= before + 2, "frees were not counted");
    // Null is a no-op, as C's free(NULL).
    // SAFETY: null is allowed.
    unsafe {
        A.free(ptr::null_mut());
        assert_eq!(A.usable_size(ptr::null()), 0);
    }
}

#[test]
fn realloc_unsized_keeps_contents_across_classes_and_into_large() {
    for a in [&A, &U] {
        // SAFETY: every block is used within its usable size; each
        // realloc gives up the old pointer.
        unsafe {
            let mut p = a.alloc(Layout::from_size_align(10, 16).unwrap());
            p.write_bytes(0x11, 10);
            let mut filled = 10;
            for size in [16, 17, 100, 1000, 33_000, 100_000, 3 << 20, 50, 12] {
                let q = a.realloc_unsized(p, size);
                assert!(!q.is_null());
                assert_eq!(q as usize % MALLOC_ALIGN, 0);
                let keep = filled.min(size);
                let bytes = core::slice::from_raw_parts(q, keep);
                assert!(bytes.iter().all(|&b| b == 0x11), "contents lost at {size}");
                assert!(a.usable_size(q) >= size);
                q.write_bytes(0x11, size);
                filled = size;
                p = q;
            }
            a.free(p);
        }
    }
}

#[test]
fn realloc_unsized_stays_put_when_it_fits() {
    // SAFETY: each block is allocated through A and used within its size,
    // and freed once.
    unsafe {
        let p = A.alloc(Layout::from_size_align(20, 16).unwrap());
        assert_eq!(A.usable_size(p), 32);
        assert_eq!(A.realloc_unsized(p, 32), p, "20 -> 32 bytes fits the class");
        let big = A.realloc_unsized(p, 100_000);
        assert_eq!(A.realloc_unsized(big, 100_001), big, "same page count");
        A.free(big);
    }
}
