//! # Exercise ex14: percentiles from a log-linear histogram
//!
//! A load generator records millions of latencies and must answer "what is
//! the P99?" at the end, in fixed memory. Storing every value and sorting
//! costs memory that grows with the run; HdrHistogram's answer, which every
//! serious load tool uses (wrk2, `loadgen`'s `hdrhistogram` crate), is a
//! *log-linear* histogram: buckets whose width doubles with each power of
//! two, each power of two split into `2^bits` equal sub-buckets. A value is
//! then known to within `1 / 2^bits` of itself (bits = 7: better than 1%),
//! with a few thousand counters covering 1 ns to centuries.
//!
//! The bucket of a value `v` (`S = 2^bits` sub-buckets):
//!
//! * `shift = max(msb(v) - bits, 0)`, where `msb(v)` is the index of the
//!   highest set bit (`63 - v.leading_zeros()`; take `shift = 0` for `v = 0`);
//! * `index = shift * S + (v >> shift)`.
//!
//! Values below `2S` get a bucket each (exact); above, bucket `index`
//! covers `[(v >> shift) << shift, ((v >> shift) + 1) << shift)`.
//!
//! A quantile `q` is the *highest value equivalent* to the bucket that holds
//! the value of rank `max(1, ceil(q * count))` (HdrHistogram's convention,
//! so P100 is the bucket of the max); an empty histogram answers 0.
//!
//! **Coordinated omission.** A closed-loop client that waited `v` for one
//! answer did not send the requests due every `interval` meanwhile.
//! [`Histogram::record_corrected`] adds them, as HdrHistogram's
//! `recordValueWithExpectedInterval` does: after `v`, also `v - interval`,
//! `v - 2·interval`, ... while the value is at least `interval`.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex14_percentiles::Histogram;
//!
//! let mut h = Histogram::new(7);
//! for v in 1..=1000 {
//!     h.record(v);
//! }
//! assert_eq!(h.count(), 1000);
//! assert_eq!(h.value_at_quantile(0.5), 500);
//! ```

/// A log-linear histogram of `u64` values (HdrHistogram's layout).
// --- your code: helpers ---
#[allow(dead_code)] // the fields are for the methods you write
// --- end of your code ---
#[derive(Debug, Clone)]
pub struct Histogram {
    bits: u32,
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

/// The bucket index of `value` with `2^bits` sub-buckets per power of two.
pub fn bucket_index(value: u64, bits: u32) -> usize {
    // --- your code: bucket_index ---
    let _ = (value, bits);
    todo!("bucket_index: shift = max(msb - bits, 0); index = shift * 2^bits + (value >> shift)")
    // --- end of your code ---
}

/// The lowest and highest value of bucket `index` (inclusive).
pub fn bucket_range(index: usize, bits: u32) -> (u64, u64) {
    // --- your code: bucket_range ---
    let _ = (index, bits);
    todo!("bucket_range: invert bucket_index (below 2 * 2^bits a bucket is one value)")
    // --- end of your code ---
}

impl Histogram {
    /// An empty histogram with `2^bits` sub-buckets per power of two
    /// (`bits` from 1 to 16).
    pub fn new(bits: u32) -> Histogram {
        // --- your code: new ---
        let _ = bits;
        todo!("Histogram::new: one counter per bucket up to bucket_index(u64::MAX, bits)")
        // --- end of your code ---
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        // --- your code: record ---
        let _ = value;
        todo!("record: count it in its bucket; keep count, sum, min and max")
        // --- end of your code ---
    }

    /// Records `value` and the values a steady client would have seen while
    /// it waited: `value - interval`, `value - 2·interval`, ... down to
    /// `interval`. An `interval` of 0 records `value` alone.
    pub fn record_corrected(&mut self, value: u64, interval: u64) {
        // --- your code: record_corrected ---
        let _ = (value, interval);
        todo!("record_corrected: the value, then the requests omitted while waiting")
        // --- end of your code ---
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        // --- your code: count ---
        todo!("count")
        // --- end of your code ---
    }

    /// The smallest recorded value (0 when empty).
    pub fn min(&self) -> u64 {
        // --- your code: min ---
        todo!("min")
        // --- end of your code ---
    }

    /// The largest recorded value (0 when empty).
    pub fn max(&self) -> u64 {
        // --- your code: max ---
        todo!("max")
        // --- end of your code ---
    }

    /// The exact mean of the recorded values (0 when empty).
    pub fn mean(&self) -> f64 {
        // --- your code: mean ---
        todo!("mean")
        // --- end of your code ---
    }

    /// The value at quantile `q` (0.0 to 1.0): the highest value of the
    /// bucket holding the value of rank `max(1, ceil(q · count))`.
    pub fn value_at_quantile(&self, q: f64) -> u64 {
        // --- your code: value_at_quantile ---
        let _ = q;
        todo!("value_at_quantile: walk the buckets until the running count reaches the rank")
        // --- end of your code ---
    }
}
