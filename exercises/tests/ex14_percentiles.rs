//! Graded tests of exercise ex14: a log-linear histogram, checked against
//! distributions whose percentiles are known exactly, and its correction
//! for coordinated omission.

mod common;

use common::grade;
use exercises::ex14_percentiles::{Histogram, bucket_index, bucket_range};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// `got` is within the histogram's precision (1 / 2^bits) of `want`.
fn close(got: u64, want: u64, bits: u32) -> bool {
    let tol = (want as f64 / (1u64 << bits) as f64).max(1.0);
    (got as f64 - want as f64).abs() <= tol
}

#[test]
fn buckets_are_exact_below_twice_the_sub_bucket_count_and_tile_the_range() {
    grade("ex14", LIMIT, || {
        for v in 0..256u64 {
            assert_eq!(
                bucket_index(v, 7),
                v as usize,
                "below 256, value {v} has a bucket of its own"
            );
            assert_eq!(bucket_range(v as usize, 7), (v, v));
        }
        assert_eq!(
            bucket_index(256, 7),
            256,
            "256 starts the first 2-wide bucket"
        );
        assert_eq!(bucket_index(257, 7), 256);
        assert_eq!(bucket_index(258, 7), 257);
        assert_eq!(bucket_range(256, 7), (256, 257));
        // Consecutive buckets tile the values with no gap and no overlap,
        // and each is at most 1/2^bits of its lowest value wide.
        let last = bucket_index(u64::MAX, 7);
        let mut next = 0u64;
        for i in 0..=last {
            let (lo, hi) = bucket_range(i, 7);
            assert_eq!(
                lo,
                next,
                "bucket {i} starts where bucket {} ended",
                i.wrapping_sub(1)
            );
            assert!(
                hi >= lo && (hi - lo) <= lo >> 7,
                "bucket {i} = [{lo}, {hi}] is too wide"
            );
            assert_eq!(bucket_index(lo, 7), i);
            assert_eq!(bucket_index(hi, 7), i);
            next = hi.wrapping_add(1);
        }
        assert_eq!(next, 0, "the last bucket ends at u64::MAX");
        assert_eq!(
            bucket_index(1_000_000, 3),
            143,
            "bits = 3: 1,000,000 is in bucket 16 * 8 + 15 = 143"
        );
    });
}

#[test]
fn a_uniform_distribution_has_its_percentiles_where_expected() {
    grade("ex14", LIMIT, || {
        let mut h = Histogram::new(7);
        for v in 1..=100_000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 100_000);
        assert_eq!((h.min(), h.max()), (1, 100_000));
        assert!(
            (h.mean() - 50_000.5).abs() < 1e-6,
            "the mean is exact: {}",
            h.mean()
        );
        for (q, want) in [
            (0.5, 50_000),
            (0.9, 90_000),
            (0.99, 99_000),
            (0.999, 99_900),
            (1.0, 100_000),
        ] {
            let got = h.value_at_quantile(q);
            assert!(
                close(got, want, 7),
                "P{} of 1..=100000 is {want}, got {got}",
                q * 100.0
            );
            assert!(
                got >= want,
                "a quantile is the top of its bucket, never below the true value: P{} = {got} < {want}",
                q * 100.0
            );
        }
        assert_eq!(
            h.value_at_quantile(0.0),
            1,
            "P0 is the bucket of the smallest value"
        );
    });
}

#[test]
fn an_exponential_distribution_has_the_textbook_tail() {
    grade("ex14", LIMIT, || {
        // 200,000 evenly spaced quantiles of an exponential with a mean of
        // 1 ms (in µs): P50 = ln 2, P99 = ln 100, P99.9 = ln 1000 means.
        let n = 200_000u64;
        let mut h = Histogram::new(8);
        for i in 0..n {
            let u = (i as f64 + 0.5) / n as f64;
            h.record((-(1.0 - u).ln() * 1000.0).round() as u64);
        }
        for (q, want) in [(0.5, 693.1), (0.9, 2302.6), (0.99, 4605.2), (0.999, 6907.8)] {
            let got = h.value_at_quantile(q) as f64;
            assert!(
                (got - want).abs() <= want / 256.0 + 2.0,
                "P{} of Exp(mean 1000) is {want:.0}, got {got}",
                q * 100.0
            );
        }
        assert!((h.mean() - 1000.0).abs() < 5.0, "mean {}", h.mean());
    });
}

#[test]
fn huge_values_keep_their_relative_precision() {
    grade("ex14", LIMIT, || {
        let mut h = Histogram::new(7);
        for v in [
            3u64,
            1 << 40,
            (1 << 40) + 12_345_678,
            u64::MAX / 3,
            u64::MAX,
        ] {
            h.record(v);
        }
        assert_eq!(h.max(), u64::MAX);
        let p40 = h.value_at_quantile(0.4);
        assert!(
            close(p40, 1 << 40, 7),
            "the 2nd of 5 values is 2^40, got {p40}"
        );
        assert_eq!(h.value_at_quantile(1.0), u64::MAX);
        assert_eq!(h.value_at_quantile(0.2), 3);
    });
}

#[test]
fn an_empty_histogram_answers_zero() {
    grade("ex14", LIMIT, || {
        let h = Histogram::new(7);
        assert_eq!(
            (h.count(), h.min(), h.max(), h.value_at_quantile(0.99)),
            (0, 0, 0, 0)
        );
        assert_eq!(h.mean(), 0.0);
    });
}

#[test]
fn correction_puts_the_omitted_requests_back_into_the_tail() {
    grade("ex14", LIMIT, || {
        // A closed loop sent one request every 10 ms (interval 10,000 µs):
        // 10,000 answers of 1 ms, and one that took 10 s.
        let mut plain = Histogram::new(7);
        let mut fixed = Histogram::new(7);
        for _ in 0..10_000 {
            plain.record(1_000);
            fixed.record_corrected(1_000, 10_000);
        }
        plain.record(10_000_000);
        fixed.record_corrected(10_000_000, 10_000);
        assert_eq!(plain.count(), 10_001);
        assert_eq!(
            fixed.count(),
            11_000,
            "10 s at one request per 10 ms is 999 omitted requests: 9.99 s, 9.98 s, ... 10 ms"
        );
        let p = plain.value_at_quantile(0.99);
        assert!(
            close(p, 1_000, 7),
            "uncorrected, the stall is invisible at P99: {p}"
        );
        // Rank 10,890 of 11,000 is the 890th omitted value from the
        // bottom: 8,900,000 µs.
        let p = fixed.value_at_quantile(0.99);
        assert!(close(p, 8_900_000, 7), "corrected P99 is 8.9 s, got {p}");
        let p50 = fixed.value_at_quantile(0.5);
        assert!(close(p50, 1_000, 7), "the median is still 1 ms: {p50}");
        let mut zero = Histogram::new(7);
        zero.record_corrected(500, 0);
        assert_eq!(zero.count(), 1, "an interval of 0 means no correction");
    });
}
