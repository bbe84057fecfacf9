//! Adaptive shedding by concurrency (Sentinel's system-adaptive rule,
//! Kratos' BBR limiter).
//!
//! Little's law: in-flight requests = throughput × latency. A route that
//! has served at most `max_qps` per second, each in at best `min_rt`, can
//! hold `max_qps × min_rt` requests without any of them waiting; past that
//! the excess is queueing inside the process. So a new request is shed when
//! the requests already in flight exceed `max(1, max_qps × min_rt)`.
//!
//! Both numbers come from a ring of ten 100 ms buckets (the last second):
//! `max_qps` is the busiest complete bucket's passes × 10, `min_rt` the
//! lowest mean response time of the complete buckets that had any. Before
//! the ring has a complete bucket with data, nothing is shed (no evidence),
//! and so is nothing when `in_flight` is under `min_in_flight`, a floor
//! that keeps a quiet route from shedding its second concurrent request.

use std::sync::Mutex;
use std::time::Duration;

use super::LimitError;

const BUCKET: Duration = Duration::from_millis(100);
const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    index: u64,
    passed: u64,
    rt_sum_us: u64,
    rt_count: u64,
}

/// The shedder's view of the last second (for tests and figures).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    /// The busiest complete bucket, as requests per second.
    pub max_qps: f64,
    /// The lowest mean response time of a complete bucket.
    pub min_rt: Duration,
    /// `max(min_in_flight, max_qps × min_rt)`: in flight beyond this is shed.
    pub max_in_flight: u64,
}

/// An adaptive concurrency shedder.
#[derive(Debug)]
pub struct Shedder {
    min_in_flight: u64,
    ring: Mutex<[Bucket; BUCKETS]>,
}

impl Shedder {
    /// A shedder that never sheds with fewer than `min_in_flight` (≥ 1)
    /// requests in flight.
    pub fn new(min_in_flight: u64) -> Result<Shedder, LimitError> {
        if min_in_flight == 0 {
            return Err(LimitError(
                "shedder min_in_flight must be at least 1".into(),
            ));
        }
        Ok(Shedder {
            min_in_flight,
            ring: Mutex::new(
                [Bucket {
                    index: u64::MAX,
                    ..Bucket::default()
                }; BUCKETS],
            ),
        })
    }

    fn slot(now: Duration) -> u64 {
        (now.as_nanos() / BUCKET.as_nanos()) as u64
    }

    fn bucket(ring: &mut [Bucket; BUCKETS], index: u64) -> &mut Bucket {
        let b = &mut ring[(index % BUCKETS as u64) as usize];
        if b.index != index {
            *b = Bucket {
                index,
                ..Bucket::default()
            };
        }
        b
    }

    /// The capacity estimate at `now` (`None`: no complete bucket yet).
    pub fn capacity_at(&self, now: Duration) -> Option<Capacity> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let current = Self::slot(now);
        let oldest = current.saturating_sub(BUCKETS as u64);
        let complete = ring
            .iter()
            .filter(|b| b.index != u64::MAX && b.index >= oldest && b.index < current);
        let (mut max_passed, mut min_rt_us) = (0u64, u64::MAX);
        for b in complete {
            max_passed = max_passed.max(b.passed);
            if let Some(mean) = b.rt_sum_us.checked_div(b.rt_count) {
                min_rt_us = min_rt_us.min(mean);
            }
        }
        if max_passed == 0 || min_rt_us == u64::MAX {
            return None;
        }
        let max_qps = max_passed as f64 * (1.0 / BUCKET.as_secs_f64());
        let min_rt = Duration::from_micros(min_rt_us);
        let limit = (max_qps * min_rt.as_secs_f64()).ceil() as u64;
        Some(Capacity {
            max_qps,
            min_rt,
            max_in_flight: limit.max(self.min_in_flight),
        })
    }

    /// Whether a request arriving at `now`, with `in_flight` already
    /// running, may go ahead (and if so, counts it as passed).
    pub fn admit_at(&self, now: Duration, in_flight: u64) -> bool {
        if in_flight >= self.min_in_flight
            && let Some(c) = self.capacity_at(now)
            && in_flight >= c.max_in_flight
        {
            return false;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        Self::bucket(&mut ring, Self::slot(now)).passed += 1;
        true
    }

    /// Records that an admitted request finished at `now` after `rt`.
    pub fn done_at(&self, now: Duration, rt: Duration) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let b = Self::bucket(&mut ring, Self::slot(now));
        b.rt_sum_us += rt.as_micros() as u64;
        b.rt_count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn it_sheds_only_past_littles_law() {
        let s = Shedder::new(1).unwrap();
        // One bucket of history: 50 requests in 100 ms (500 QPS), 10 ms each.
        for _ in 0..50 {
            assert!(s.admit_at(10 * MS, 0));
            s.done_at(20 * MS, 10 * MS);
        }
        let c = s.capacity_at(150 * MS).expect("a complete bucket");
        assert_eq!((c.max_qps, c.min_rt, c.max_in_flight), (500.0, 10 * MS, 5));
        assert!(s.admit_at(150 * MS, 4), "4 in flight < 500/s x 10 ms");
        assert!(!s.admit_at(150 * MS, 5), "5 in flight is a queue forming");
        assert!(!s.admit_at(150 * MS, 50));
        // A second later the evidence has aged out: nothing is shed.
        assert!(s.admit_at(1200 * MS, 50));
    }

    #[test]
    fn no_evidence_no_shedding_and_bad_config_is_refused() {
        let s = Shedder::new(4).unwrap();
        assert!(s.admit_at(Duration::ZERO, 1000));
        assert!(Shedder::new(0).is_err());
    }
}
