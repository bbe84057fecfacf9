//! The breaker's sliding windows: the last N calls, or the calls of the
//! last T, each as counts of calls, failures and slow calls.
//!
//! resilience4j's two kinds, sized the same way:
//!
//! * **count-based**: a ring of the last `n` outcomes; recording one evicts
//!   the oldest, so the totals are always over exactly the last `n` calls
//!   (fewer before `n` have been made);
//! * **time-based**: a ring of [`TIME_BUCKETS`] buckets, each covering
//!   `span / TIME_BUCKETS`; a bucket is reset when the clock comes back to
//!   it in a later lap, so the totals are over the last `span` to within
//!   one bucket. resilience4j uses one bucket per second; a tenth of the
//!   span keeps the error the same for any span.
//!
//! Time is a `Duration` since an arbitrary origin, handed in by the caller:
//! the window never reads a clock, so the breaker's tests script it.

use std::collections::VecDeque;
use std::time::Duration;

/// Buckets of a time-based window.
pub const TIME_BUCKETS: u64 = 10;

/// Calls, failures and slow calls in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Calls recorded.
    pub calls: u32,
    /// Of which failed.
    pub failures: u32,
    /// Of which were slower than the slow-call bound (failed or not).
    pub slow: u32,
}

impl Totals {
    fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += u32::from(failed);
        self.slow += u32::from(slow);
    }

    /// Failures as a percentage of calls (0 with no calls).
    pub fn failure_rate(&self) -> f64 {
        pct(self.failures, self.calls)
    }

    /// Slow calls as a percentage of calls (0 with no calls).
    pub fn slow_rate(&self) -> f64 {
        pct(self.slow, self.calls)
    }
}

fn pct(n: u32, of: u32) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * f64::from(n) / f64::from(of)
    }
}

/// A sliding window of call outcomes.
#[derive(Debug, Clone)]
pub enum Window {
    /// The last `size` calls.
    Count {
        /// How many calls the window holds.
        size: usize,
        /// (failed, slow) per call, oldest first.
        ring: VecDeque<(bool, bool)>,
    },
    /// The calls of the last `span`.
    Time {
        /// How long the window covers.
        span: Duration,
        /// (lap number, totals) per bucket.
        buckets: Vec<(u64, Totals)>,
    },
}

impl Window {
    /// A window over the last `size` calls (`size` ≥ 1).
    pub fn count(size: usize) -> Window {
        Window::Count {
            size,
            ring: VecDeque::with_capacity(size),
        }
    }

    /// A window over the last `span` (at least [`TIME_BUCKETS`] ns).
    pub fn time(span: Duration) -> Window {
        Window::Time {
            span,
            buckets: vec![(u64::MAX, Totals::default()); TIME_BUCKETS as usize],
        }
    }

    fn bucket_of(span: Duration, now: Duration) -> u64 {
        let width = (span.as_nanos() / u128::from(TIME_BUCKETS)).max(1);
        (now.as_nanos() / width) as u64
    }

    /// Records one call that ended at `now`.
    pub fn record(&mut self, now: Duration, failed: bool, slow: bool) {
        match self {
            Window::Count { size, ring } => {
                if ring.len() == *size {
                    ring.pop_front();
                }
                ring.push_back((failed, slow));
            }
            Window::Time { span, buckets } => {
                let b = Self::bucket_of(*span, now);
                let cell = &mut buckets[(b % TIME_BUCKETS) as usize];
                if cell.0 != b {
                    *cell = (b, Totals::default());
                }
                cell.1.add(failed, slow);
            }
        }
    }

    /// The totals over the window as of `now`.
    pub fn totals(&self, now: Duration) -> Totals {
        let mut t = Totals::default();
        match self {
            Window::Count { ring, .. } => {
                for (f, s) in ring {
                    t.add(*f, *s);
                }
            }
            Window::Time { span, buckets } => {
                let current = Self::bucket_of(*span, now);
                let oldest = current.saturating_sub(TIME_BUCKETS - 1);
                for (b, bt) in buckets {
                    if *b != u64::MAX && *b >= oldest && *b <= current {
                        t.calls += bt.calls;
                        t.failures += bt.failures;
                        t.slow += bt.slow;
                    }
                }
            }
        }
        t
    }

    /// Forgets every call (the breaker closing again starts afresh).
    pub fn clear(&mut self) {
        match self {
            Window::Count { ring, .. } => ring.clear(),
            Window::Time { buckets, .. } => {
                buckets.fill((u64::MAX, Totals::default()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_count_window_keeps_exactly_the_last_n() {
        let mut w = Window::count(4);
        for i in 0..10 {
            w.record(Duration::ZERO, i < 6, i == 9);
        }
        // Calls 6..10: none failed, one slow.
        assert_eq!(
            w.totals(Duration::ZERO),
            Totals {
                calls: 4,
                failures: 0,
                slow: 1
            }
        );
        w.clear();
        assert_eq!(w.totals(Duration::ZERO).calls, 0);
    }

    #[test]
    fn a_time_window_drops_calls_older_than_its_span() {
        let mut w = Window::time(1000 * MS); // ten 100 ms buckets
        w.record(50 * MS, true, false);
        w.record(950 * MS, false, true);
        assert_eq!(
            w.totals(999 * MS),
            Totals {
                calls: 2,
                failures: 1,
                slow: 1
            }
        );
        // At 1050 ms the bucket [0, 100) has left the window.
        assert_eq!(
            w.totals(1050 * MS),
            Totals {
                calls: 1,
                failures: 0,
                slow: 1
            }
        );
        // A later lap reuses the bucket without adding the old counts.
        w.record(2050 * MS, false, false);
        assert_eq!(
            w.totals(2050 * MS),
            Totals {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
        assert_eq!(w.totals(10_000 * MS).calls, 0);
    }

    #[test]
    fn rates_are_percentages() {
        let t = Totals {
            calls: 8,
            failures: 2,
            slow: 6,
        };
        assert_eq!((t.failure_rate(), t.slow_rate()), (25.0, 75.0));
        assert_eq!(Totals::default().failure_rate(), 0.0);
    }
}
