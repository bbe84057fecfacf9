//! Graded tests of exercise ex12: struct sizes from field order, and cache
//! lines kept apart, checked with size_of, align_of and offset_of!.

mod common;

use common::grade;
use exercises::ex12_layout::{Counters, Header, Record, Shard};
use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::Ordering;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);
const LINE: usize = 64;

/// The 64-byte lines that bytes `offset..offset + len` of a value touch,
/// given that the value starts on a line (its alignment is at least 64).
fn lines(offset: usize, len: usize) -> std::ops::RangeInclusive<usize> {
    offset / LINE..=(offset + len - 1) / LINE
}

#[test]
fn header_is_16_bytes() {
    grade("ex12", LIMIT, || {
        let h = Header {
            flag: 1,
            len: 2,
            kind: 3,
            id: 4,
        };
        assert_eq!((h.flag, h.len, h.kind, h.id), (1, 2, 3, 4));
        assert_eq!(
            align_of::<Header>(),
            8,
            "Header holds a u64: keep its natural alignment (no packed)"
        );
        assert_eq!(
            size_of::<Header>(),
            16,
            "Header should be 16 bytes; offsets now: flag {}, len {}, kind {}, id {}",
            offset_of!(Header, flag),
            offset_of!(Header, len),
            offset_of!(Header, kind),
            offset_of!(Header, id)
        );
    });
}

#[test]
fn record_is_24_bytes() {
    grade("ex12", LIMIT, || {
        let r = Record {
            active: true,
            score: 1.5,
            tag: 2,
            at: 3,
            level: 4,
        };
        assert_eq!(
            (r.active, r.score, r.tag, r.at, r.level),
            (true, 1.5, 2, 3, 4)
        );
        assert_eq!(
            align_of::<Record>(),
            8,
            "Record holds a u64 and an f64: keep its natural alignment (no packed)"
        );
        assert_eq!(
            size_of::<Record>(),
            24,
            "Record should be 24 bytes; offsets now: active {}, score {}, tag {}, at {}, level {}",
            offset_of!(Record, active),
            offset_of!(Record, score),
            offset_of!(Record, tag),
            offset_of!(Record, at),
            offset_of!(Record, level)
        );
    });
}

#[test]
fn each_workers_counter_has_a_line_of_its_own() {
    grade("ex12", LIMIT, || {
        let counters = Counters::default();
        for (i, c) in counters.per_worker.iter().enumerate() {
            c.value.fetch_add(i as u64, Ordering::Relaxed);
        }
        let addr = |i: usize| &counters.per_worker[i].value as *const _ as usize;
        for i in 0..3 {
            let (a, b) = (addr(i), addr(i + 1));
            assert!(
                a / LINE != b / LINE && b - a >= LINE,
                "counters {i} and {} are {} bytes apart; each needs a 64-byte line of its own",
                i + 1,
                b - a
            );
        }
        assert!(
            align_of::<Counters>() >= LINE,
            "align the counters to a cache line so that none straddles two"
        );
    });
}

#[test]
fn the_hot_counter_does_not_share_a_line_with_the_read_mostly_limits() {
    grade("ex12", LIMIT, || {
        let shard = Shard::default();
        shard.hits.fetch_add(1, Ordering::Relaxed);
        assert_eq!(shard.limits, [0; 4]);
        assert!(
            align_of::<Shard>() >= LINE,
            "Shard must start on a cache line for its lines to be known"
        );
        let limits = lines(offset_of!(Shard, limits), size_of::<[u32; 4]>());
        let hits = lines(offset_of!(Shard, hits), 8);
        assert!(
            hits.clone().all(|l| !limits.contains(&l)),
            "`hits` (line(s) {hits:?}) shares a cache line with `limits` (line(s) {limits:?})"
        );
    });
}
