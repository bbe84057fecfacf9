//! Graded tests of exercise ex18: the thumbnail cache's in-use heap must
//! stop growing (measured by the course allocator's sampling heap profile,
//! this test binary's global allocator), and every answer must stay right.

mod common;

use std::hint::black_box;
use std::sync::Mutex;
use std::time::Duration;

use allocator::SpanAlloc;
use common::grade;
use exercises::ex18_leak::{CAP, Thumbnails, render};

#[global_allocator]
static A: SpanAlloc = SpanAlloc::new();

const LIMIT: Duration = Duration::from_secs(60);
/// The heap figures are process-wide: one test at a time.
static ONE: Mutex<()> = Mutex::new(());

/// Estimated (in-use, allocated) bytes of the whole heap profile.
fn heap() -> (i64, i64) {
    let p = A.profile();
    let inuse = p.records.iter().map(|r| r.inuse_bytes as i64).sum();
    let alloc = p.records.iter().map(|r| r.alloc_bytes as i64).sum();
    (inuse, alloc)
}

#[test]
fn in_use_memory_stops_growing() {
    grade("ex18", LIMIT, || {
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        A.set_profile_rate(16 * 1024); // finer than Go's 512 KiB: a precise estimate
        let mut t = Thumbnails::new();
        for id in 0..2 * CAP as u64 {
            black_box(t.get(id));
        }
        let (inuse0, alloc0) = heap();
        for id in 10_000..30_000u64 {
            black_box(t.get(id));
        }
        let (inuse1, alloc1) = heap();
        let grew = inuse1 - inuse0;
        let allocated = alloc1 - alloc0;
        A.set_profile_rate(allocator::DEFAULT_PROFILE_RATE);
        assert!(
            allocated > 20 << 20,
            "20 000 new thumbnails allocate ~40 MiB; the profile saw {allocated} bytes"
        );
        assert!(
            grew < 2 << 20,
            "in-use heap grew by {} MiB over 20 000 new ids: the cache keeps them all (inuse_space keeps rising)",
            grew >> 20
        );
    });
}

#[test]
fn the_cache_is_bounded_and_every_answer_is_right() {
    grade("ex18", LIMIT, || {
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let mut t = Thumbnails::new();
        for id in 0..3 * CAP as u64 {
            assert!(t.get(id) == &render(id)[..], "wrong thumbnail for {id}");
            assert!(
                t.len() <= CAP,
                "{} cached after id {id}, more than CAP = {CAP}",
                t.len()
            );
        }
        assert_eq!(t.len(), CAP, "a full cache holds CAP");
        // An evicted id comes back right; a recent one is still there.
        assert!(t.get(0) == &render(0)[..]);
        assert!(t.get(3 * CAP as u64 - 1) == &render(3 * CAP as u64 - 1)[..]);
        assert!(t.len() <= CAP);
    });
}
