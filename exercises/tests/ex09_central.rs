//! Graded tests of exercise ex09: spans moving between the central lists
//! and the caches.

mod common;

use common::grade;
use exercises::ex09_central::{Cache, Central, CentralError, Freed, SpanInfo};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn ids(spans: &[SpanInfo]) -> Vec<u32> {
    let mut v: Vec<u32> = spans.iter().map(|s| s.id).collect();
    v.sort_unstable();
    v
}

#[test]
fn an_empty_central_grows_a_span_for_a_cache() {
    grade("ex09", LIMIT, || {
        let mut c = Central::new(4);
        let span = c.cache_span();
        assert_eq!(
            span,
            SpanInfo {
                id: 0,
                nelems: 4,
                allocated: 0
            },
            "with no partial span, central grows a fresh one"
        );
        assert_eq!(c.grown, 1, "growing asks the page heap for one span");
        assert_eq!(c.in_caches, [0], "the span is now held by a cache");
        assert!(
            c.partial.is_empty() && c.full.is_empty(),
            "a cached span is on neither list"
        );
    });
}

#[test]
fn returned_spans_are_filed_by_fullness() {
    grade("ex09", LIMIT, || {
        let mut c = Central::new(4);
        let mut a = c.cache_span();
        let mut b = c.cache_span();
        a.allocated = 4;
        b.allocated = 1;
        c.uncache_span(a)
            .expect("span 0 was handed out, so it may come back");
        c.uncache_span(b)
            .expect("span 1 was handed out, so it may come back");
        assert_eq!(
            ids(&c.full),
            [0],
            "a span with every object taken goes to full"
        );
        assert_eq!(
            ids(&c.partial),
            [1],
            "a span with free objects goes to partial"
        );
        assert_eq!(
            c.partial[0].allocated, 1,
            "central keeps the counters the cache returned"
        );
        assert!(c.in_caches.is_empty(), "no cache holds a span now");
    });
}

#[test]
fn partial_spans_are_reused_before_growing() {
    grade("ex09", LIMIT, || {
        let mut c = Central::new(4);
        let mut a = c.cache_span();
        a.allocated = 3;
        c.uncache_span(a).unwrap();
        let again = c.cache_span();
        assert_eq!(
            again,
            SpanInfo {
                id: 0,
                nelems: 4,
                allocated: 3
            },
            "a partial span is handed out before growing"
        );
        assert_eq!(c.grown, 1, "no new span was needed");
        let mut full = again;
        full.allocated = 4;
        c.uncache_span(full).unwrap();
        let fresh = c.cache_span();
        assert_eq!(
            fresh.id, 1,
            "a full span is never handed out: central grows instead"
        );
        assert_eq!(c.grown, 2, "the second span came from the page heap");
    });
}

#[test]
fn sweeping_moves_spans_back_and_releases_empty_ones() {
    grade("ex09", LIMIT, || {
        let mut c = Central::new(8);
        let mut s = c.cache_span();
        s.allocated = 8;
        c.uncache_span(s).unwrap();
        assert_eq!(
            c.free_objects(0, 3),
            Ok(Freed::MovedToPartial),
            "freeing objects of a full span makes it partial"
        );
        assert_eq!(ids(&c.partial), [0], "it is on partial now");
        assert!(c.full.is_empty(), "and no longer on full");
        assert_eq!(c.partial[0].allocated, 5, "8 allocated, 3 freed");
        assert_eq!(
            c.free_objects(0, 4),
            Ok(Freed::StillPartial),
            "a partial span that still has live objects stays"
        );
        assert_eq!(
            c.free_objects(0, 1),
            Ok(Freed::Released),
            "freeing the last object releases the span"
        );
        assert!(
            c.partial.is_empty() && c.full.is_empty(),
            "a released span is on no list"
        );
        assert_eq!(c.released, 1, "the page heap got one span back");
        assert_eq!(
            c.free_objects(0, 1),
            Err(CentralError::UnknownSpan(0)),
            "a released span is unknown afterwards"
        );
    });
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    grade("ex09", LIMIT, || {
        let mut c = Central::new(4);
        let cached = c.cache_span();
        let mut back = c.cache_span();
        back.allocated = 2;
        c.uncache_span(back).unwrap();
        let before = c.clone();

        assert_eq!(
            c.free_objects(7, 1),
            Err(CentralError::UnknownSpan(7)),
            "span 7 was never grown"
        );
        assert_eq!(
            c.free_objects(cached.id, 1),
            Err(CentralError::InCache(cached.id)),
            "a cached span cannot be swept"
        );
        assert_eq!(
            c.free_objects(1, 3),
            Err(CentralError::TooManyFrees {
                span: 1,
                allocated: 2,
                freeing: 3
            }),
            "span 1 has 2 objects allocated, freeing 3 is a bug in the caller"
        );
        assert_eq!(
            c.free_objects(1, 0),
            Err(CentralError::NothingFreed(1)),
            "freeing nothing is refused"
        );
        assert_eq!(
            c.uncache_span(back),
            Err(CentralError::NotCached(1)),
            "span 1 was already returned"
        );
        assert_eq!(
            c.uncache_span(SpanInfo {
                id: 9,
                nelems: 4,
                allocated: 0
            }),
            Err(CentralError::NotCached(9)),
            "central never handed out span 9"
        );
        assert_eq!(
            c, before,
            "refused requests must leave the central exactly as it was"
        );
    });
}

#[test]
fn a_cache_refills_from_central_as_spans_fill_up() {
    grade("ex09", LIMIT, || {
        let mut c = Central::new(4);
        let mut cache = Cache::default();
        let from: Vec<u32> = (0..10).map(|_| cache.alloc(&mut c)).collect();
        assert_eq!(
            from,
            [0, 0, 0, 0, 1, 1, 1, 1, 2, 2],
            "each span gives its 4 objects before the next is taken"
        );
        assert_eq!(
            ids(&c.full),
            [0, 1],
            "used-up spans went back to central's full list"
        );
        assert_eq!(c.in_caches, [2], "the cache holds span 2");
        assert_eq!(
            cache.span.map(|s| s.allocated),
            Some(2),
            "with 2 objects allocated"
        );

        cache
            .flush(&mut c)
            .expect("flushing a cache returns its span");
        assert_eq!(cache.span, None, "a flushed cache holds nothing");
        assert_eq!(
            ids(&c.partial),
            [2],
            "the flushed span still has free objects: partial"
        );
        assert_eq!(
            cache.flush(&mut c),
            Ok(()),
            "flushing an empty cache is fine"
        );

        assert_eq!(
            c.free_objects(0, 4),
            Ok(Freed::Released),
            "sweeping all of span 0 gives it back to the heap"
        );
        assert_eq!(
            cache.alloc(&mut c),
            2,
            "the next refill takes the partial span, not a new one"
        );
        assert_eq!(c.grown, 3, "still three spans grown");
    });
}

#[test]
fn no_span_or_object_is_lost_across_many_caches() {
    grade("ex09", LIMIT, || {
        let mut c = Central::for_class(5).expect("class 5 exists");
        assert_eq!(
            c.objects_per_span, 170,
            "class 5 (48-byte objects) has 170 objects per span"
        );
        let mut caches = vec![Cache::default(); 4];
        let mut allocated = 0_u64;
        let mut state = 12345_u64;
        for round in 0..40 {
            for (i, cache) in caches.iter_mut().enumerate() {
                for _ in 0..(round * 7 + i * 13) % 200 {
                    cache.alloc(&mut c);
                    allocated += 1;
                }
            }
            if round % 5 == 4 {
                // A GC cycle: flush every cache, then sweep some objects.
                for cache in &mut caches {
                    cache.flush(&mut c).unwrap();
                }
                let spans: Vec<SpanInfo> = c.full.iter().chain(&c.partial).copied().collect();
                for s in spans.into_iter().filter(|s| s.allocated > 0) {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let freeing = 1 + (state >> 33) as u32 % s.allocated;
                    c.free_objects(s.id, freeing).unwrap();
                    allocated -= u64::from(freeing);
                }
            }
            let held: Vec<SpanInfo> = caches.iter().filter_map(|k| k.span).collect();
            let live_spans = c.partial.len() + c.full.len() + held.len();
            assert_eq!(
                live_spans as u32,
                c.grown - c.released,
                "round {round}: every span grown and not released is on partial, on full, or in a cache"
            );
            let counted: u64 = c
                .partial
                .iter()
                .chain(&c.full)
                .chain(&held)
                .map(|s| u64::from(s.allocated))
                .sum();
            assert_eq!(
                counted, allocated,
                "round {round}: the spans' counters add up to the objects allocated"
            );
            assert!(
                c.full.iter().all(SpanInfo::is_full),
                "round {round}: only full spans on full"
            );
            assert!(
                c.partial.iter().all(|s| !s.is_full()),
                "round {round}: only spans with free objects on partial"
            );
        }
    });
}
