//! The two versions' handler: the same work, and v2 with an injected tail
//! regression.
//!
//! Both versions run `/work`'s busy loop for `us` µs, so they are the same
//! code and any difference between their latencies is the one put there on
//! purpose: a [`Regression`] makes a fraction of v2's requests spin `extra`
//! µs longer, the shape of a real tail regression (a new slow path on a
//! cache miss, a lock taken on one request in ten) that leaves the median
//! alone and moves only the tail. Which requests are slow is decided by a
//! hash of the request's key (salted, so it is independent of the routing
//! hash), so a run is reproducible; the slowness itself is real CPU time
//! on the service's Ps, measured like any other request.

use std::time::Duration;

use super::router::{Version, mix};

/// An injected tail regression of v2 (none by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Regression {
    /// Out of every 10 000 of v2's requests, how many are slow.
    pub per_10k: u32,
    /// How much longer a slow one takes.
    pub extra: Duration,
}

impl Regression {
    /// `percent`% of v2's requests take `extra` longer.
    ///
    /// ```
    /// use std::time::Duration;
    /// use service::canary::work::Regression;
    /// let r = Regression::percent(10.0, Duration::from_micros(500));
    /// let slow = (0..10_000).filter(|k| r.applies(*k)).count();
    /// assert!((900..1100).contains(&slow), "{slow}");
    /// assert!(!Regression::default().applies(1));
    /// ```
    pub fn percent(percent: f64, extra: Duration) -> Regression {
        Regression {
            per_10k: (percent.clamp(0.0, 100.0) * 100.0).round() as u32,
            extra,
        }
    }

    /// Whether the request with `key` is one of the slow ones.
    pub fn applies(&self, key: u64) -> bool {
        self.per_10k > 0 && mix(key ^ 0x51_0e_c0_de) % 10_000 < u64::from(self.per_10k)
    }

    /// How long `version`'s handler works on a request with `key` when the
    /// base work is `base`.
    pub fn work_time(&self, version: Version, key: u64, base: Duration) -> Duration {
        if version == Version::V2 && self.applies(key) {
            base + self.extra
        } else {
            base
        }
    }
}

/// Runs the handler: `version`'s work for the request with `key`.
pub fn run(regression: &Regression, version: Version, key: u64, base: Duration) {
    crate::routes::spin(regression.work_time(version, key, base));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_v2_carries_the_regression() {
        let r = Regression::percent(10.0, Duration::from_micros(700));
        let base = Duration::from_micros(100);
        let slow = |v| {
            (0..10_000)
                .filter(|k| r.work_time(v, *k, base) > base)
                .count()
        };
        assert_eq!(slow(Version::V1), 0, "v1 must never be slowed");
        let n = slow(Version::V2);
        assert!(
            (900..=1100).contains(&n),
            "expected about 1000 slow v2 requests, got {n}"
        );
        let k = (0..).find(|k| r.applies(*k)).unwrap();
        assert_eq!(
            r.work_time(Version::V2, k, base),
            Duration::from_micros(800)
        );
    }

    #[test]
    fn no_regression_slows_nothing() {
        let r = Regression::default();
        assert!((0..10_000).all(|k| !r.applies(k)));
    }
}
