//! Graded tests of exercise ex08: finding free objects in a span with the
//! alloc_cache word and a trailing-zero count.

mod common;

use common::grade;
use exercises::ex08_next_free_fast::Span;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

/// Every object `next_free` hands out, until it says the span is full.
fn drain(span: &mut Span) -> Vec<usize> {
    let mut got = Vec::new();
    while let Some(object) = span.next_free() {
        assert!(
            got.len() <= span.nelems,
            "next_free handed out more objects than the span has"
        );
        got.push(object);
    }
    got
}

/// The free objects, found the slow and obvious way.
fn naive_free(nelems: usize, live: &[usize]) -> Vec<usize> {
    (0..nelems).filter(|o| !live.contains(o)).collect()
}

#[test]
fn refill_inverts_one_word() {
    grade("ex08", LIMIT, || {
        let mut span = Span::after_sweep(128, &[0, 2, 3, 64, 127]);
        assert_eq!(
            span.alloc_cache, !0b1101_u64,
            "after a sweep, alloc_cache should be !alloc_bits[0]: a 1 bit means a free object"
        );
        span.refill_alloc_cache(1);
        assert_eq!(
            span.alloc_cache,
            !(1_u64 | 1 << 63),
            "refill_alloc_cache(1) loads !alloc_bits[1]"
        );
    });
}

#[test]
fn fresh_span_hands_out_every_object_in_order() {
    grade("ex08", LIMIT, || {
        for nelems in [1, 63, 64, 65, 128, 170, 1024] {
            let mut span = Span::new(nelems);
            let got = drain(&mut span);
            assert_eq!(
                got,
                (0..nelems).collect::<Vec<_>>(),
                "a fresh span of {nelems} objects hands out 0..{nelems} in order"
            );
            assert!(
                span.is_full(),
                "after handing out every object free_index should equal nelems"
            );
            assert_eq!(
                span.alloc_count, nelems,
                "alloc_count counts every object handed out"
            );
            assert_eq!(
                span.next_free(),
                None,
                "a full span has nothing more (nelems = {nelems})"
            );
        }
    });
}

#[test]
fn fast_path_uses_trailing_zeros_and_shifts() {
    grade("ex08", LIMIT, || {
        let mut span = Span::after_sweep(128, &[0, 1, 2, 5]);
        assert_eq!(
            span.next_free_fast(),
            Some(3),
            "the first free object is 3 (0, 1, 2 are live)"
        );
        assert_eq!(
            span.free_index, 4,
            "free_index moves just past the object handed out"
        );
        assert_eq!(
            span.alloc_cache,
            !0b10_0111_u64 >> 4,
            "the cache shifts out the bits up to and including object 3"
        );
        assert_eq!(span.next_free_fast(), Some(4), "then object 4");
        assert_eq!(
            span.next_free_fast(),
            Some(6),
            "object 5 is live, so 6 comes next"
        );
        assert_eq!(span.alloc_count, 4 + 3, "4 live objects plus 3 handed out");
    });
}

#[test]
fn fast_path_gives_up_at_a_64_object_boundary() {
    grade("ex08", LIMIT, || {
        let mut span = Span::new(128);
        for want in 0..63 {
            assert_eq!(
                span.next_free_fast(),
                Some(want),
                "the fast path hands out object {want}"
            );
        }
        let before = span.clone();
        assert_eq!(
            span.next_free_fast(),
            None,
            "object 63 would move free_index to 64, a boundary that is not the end: the fast path must leave it to the slow path"
        );
        assert_eq!(
            span, before,
            "a fast path that gives up must change nothing"
        );
        assert_eq!(
            span.next_free_index(),
            63,
            "the slow path hands out object 63"
        );
        assert_eq!(span.free_index, 64, "and moves free_index to 64");
        assert_eq!(
            span.alloc_cache,
            u64::MAX,
            "and refills the cache from word 1 (all free)"
        );
        assert_eq!(
            span.next_free_fast(),
            Some(64),
            "then the fast path works again"
        );
    });
}

#[test]
fn last_object_at_the_end_of_a_word_sized_span() {
    grade("ex08", LIMIT, || {
        // Only object 63 is free: trailing_zeros is 63, and consuming it
        // shifts the cache by 64 bits.
        let live: Vec<usize> = (0..63).collect();
        let mut span = Span::after_sweep(64, &live);
        assert_eq!(
            span.next_free_fast(),
            Some(63),
            "object 63 ends the span, so the fast path may take it"
        );
        assert_eq!(
            span.alloc_cache, 0,
            "shifting out all 64 bits leaves an empty cache (in Rust, >> 64 panics)"
        );
        assert!(span.is_full(), "the span is full now");
        assert_eq!(span.next_free(), None, "and has nothing more");
    });
}

#[test]
fn fast_path_returns_none_on_a_used_up_cache() {
    grade("ex08", LIMIT, || {
        let live: Vec<usize> = (0..64).collect();
        let mut span = Span::after_sweep(100, &live);
        let before = span.clone();
        assert_eq!(
            span.next_free_fast(),
            None,
            "the first word is all live: nothing in the cache"
        );
        assert_eq!(span, before, "and nothing changes");
        assert_eq!(
            span.next_free(),
            Some(64),
            "the slow path skips the whole word and finds object 64"
        );
    });
}

#[test]
fn slow_path_skips_full_words_and_stops_at_nelems() {
    grade("ex08", LIMIT, || {
        // 170 objects (Go's 48-byte class in one page); everything below 150
        // is live, and so is 160.
        let mut live: Vec<usize> = (0..150).collect();
        live.push(160);
        let mut span = Span::after_sweep(170, &live);
        let got = drain(&mut span);
        assert_eq!(
            got,
            naive_free(170, &live),
            "only the free objects 150..170 except 160, in order"
        );
        assert!(got.iter().all(|&o| o < 170), "never an object past nelems");
        assert_eq!(
            span.alloc_count, 170,
            "live objects plus handed-out ones make a full span"
        );
        assert_eq!(
            span.next_free_index(),
            170,
            "next_free_index reports nelems on a full span"
        );
    });
}

#[test]
fn agrees_with_a_naive_scan_on_many_spans() {
    grade("ex08", LIMIT, || {
        // A small deterministic generator (xorshift), so failures repeat.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..300 {
            let nelems = 1 + (next() % 600) as usize;
            let density = next() % 100;
            let live: Vec<usize> = (0..nelems).filter(|_| next() % 100 < density).collect();
            let mut span = Span::after_sweep(nelems, &live);
            let got = drain(&mut span);
            assert_eq!(
                got,
                naive_free(nelems, &live),
                "case {case}: nelems {nelems}, {} live objects: next_free should hand out exactly the free ones, in order",
                live.len()
            );
            assert_eq!(
                span.alloc_count, nelems,
                "case {case}: a drained span counts every object"
            );
        }
    });
}
