//! Sentinel's warm-up (`WarmUpController`, itself Guava's
//! `SmoothWarmingUp`): the permitted QPS climbs from `count / cold_factor`
//! to `count` as a cold service is put to work.
//!
//! The mechanism is a bucket of "stored tokens" that *grows while the
//! service is idle* and *shrinks as it serves*: a full bucket means cold.
//! With `count` the target QPS, `p` the warm-up period in seconds and
//! `c` the cold factor (Sentinel's default 3):
//!
//! ```text
//! warning_token = p × count / (c − 1)
//! max_token     = warning_token + 2 × p × count / (1 + c)
//! slope         = (c − 1) / count / (max_token − warning_token)
//! ```
//!
//! Once a second the bucket is synced: it refills by `elapsed × count`
//! (only while below `warning_token`, or while the last second's traffic
//! was under `count / c`: a busy service does not cool down), up to
//! `max_token`, and then loses what the last second passed. A request is
//! admitted if the QPS passed so far this second stays within
//!
//! * `count`, when the bucket is below `warning_token` (warm), or
//! * `1 / ((tokens − warning_token) × slope + 1 / count)`, when above:
//!   `count / c` with a full bucket, rising to `count` as it drains.
//!
//! A fresh limiter starts cold (a full bucket), so the first second admits
//! a third of `count`.

use std::sync::Mutex;
use std::time::Duration;

use super::{LimitError, check_rate, monotonic};

/// Sentinel's default cold factor.
pub const COLD_FACTOR: f64 = 3.0;

#[derive(Debug)]
struct State {
    stored: f64,
    /// The second the bucket was last synced in (`None`: never).
    last_filled: Option<u64>,
    /// The second being counted and its passes.
    second: u64,
    passed: u64,
    /// Passes of the previous second.
    previous: u64,
}

/// A warm-up limiter (Sentinel's `RuleConstant.CONTROL_BEHAVIOR_WARM_UP`).
#[derive(Debug)]
pub struct WarmUp {
    count: f64,
    cold_factor: f64,
    warning_token: f64,
    max_token: f64,
    slope: f64,
    state: Mutex<State>,
}

impl WarmUp {
    /// A limiter to `count` QPS reached over `warm_up`, with Sentinel's
    /// cold factor of 3.
    ///
    /// ```
    /// use std::time::Duration;
    /// use service::limiter::WarmUp;
    /// let w = WarmUp::new(300.0, Duration::from_secs(10)).unwrap();
    /// let first_second = (0..1000).filter(|_| w.try_acquire_at(Duration::ZERO)).count();
    /// assert_eq!(first_second, 100, "cold: a third of 300");
    /// assert!(WarmUp::new(0.0, Duration::from_secs(10)).is_err());
    /// assert!(WarmUp::new(10.0, Duration::ZERO).is_err());
    /// ```
    pub fn new(count: f64, warm_up: Duration) -> Result<WarmUp, LimitError> {
        WarmUp::with_cold_factor(count, warm_up, COLD_FACTOR)
    }

    /// The same with another cold factor (> 1).
    pub fn with_cold_factor(
        count: f64,
        warm_up: Duration,
        cold_factor: f64,
    ) -> Result<WarmUp, LimitError> {
        check_rate("warm-up count", count)?;
        if warm_up < Duration::from_secs(1) {
            return Err(LimitError(
                "warm-up period must be at least 1 s (Sentinel counts in seconds)".into(),
            ));
        }
        if !(cold_factor.is_finite() && cold_factor > 1.0) {
            return Err(LimitError(format!(
                "cold factor must be above 1, got {cold_factor}"
            )));
        }
        let p = warm_up.as_secs_f64();
        let warning_token = p * count / (cold_factor - 1.0);
        let max_token = warning_token + 2.0 * p * count / (1.0 + cold_factor);
        let slope = (cold_factor - 1.0) / count / (max_token - warning_token);
        Ok(WarmUp {
            count,
            cold_factor,
            warning_token,
            max_token,
            slope,
            state: Mutex::new(State {
                stored: 0.0,
                last_filled: None,
                second: 0,
                passed: 0,
                previous: 0,
            }),
        })
    }

    fn sync(&self, s: &mut State, sec: u64) {
        if sec != s.second {
            s.previous = if sec == s.second + 1 { s.passed } else { 0 };
            s.second = sec;
            s.passed = 0;
        }
        if s.last_filled == Some(sec) {
            return;
        }
        let elapsed = match s.last_filled {
            None => f64::INFINITY, // never filled: cold
            Some(last) => (sec - last) as f64,
        };
        let mut tokens = s.stored;
        let cool =
            tokens < self.warning_token || (s.previous as f64) < self.count / self.cold_factor;
        if cool {
            tokens = (tokens + elapsed * self.count).min(self.max_token);
        }
        s.stored = (tokens - s.previous as f64).max(0.0);
        s.last_filled = Some(sec);
    }

    /// The QPS permitted at `now` (after syncing the bucket).
    pub fn permitted_qps_at(&self, now: Duration) -> f64 {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.sync(&mut s, now.as_secs());
        self.permitted(&s)
    }

    fn permitted(&self, s: &State) -> f64 {
        if s.stored >= self.warning_token {
            let above = s.stored - self.warning_token;
            1.0 / (above * self.slope + 1.0 / self.count)
        } else {
            self.count
        }
    }

    /// Admits a request at `now` if this second's QPS stays within the
    /// permitted QPS.
    pub fn try_acquire_at(&self, now: Duration) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.sync(&mut s, now.as_secs());
        // A small epsilon: 300 / 3 is 99.99999999999999 in floating point.
        if (s.passed + 1) as f64 <= self.permitted(&s) + 1e-9 {
            s.passed += 1;
            true
        } else {
            false
        }
    }

    /// Admits a request now.
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_at(monotonic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full-speed traffic from cold: the admitted QPS starts at a third,
    /// climbs every second, and reaches the limit within the warm-up.
    #[test]
    fn a_cold_start_climbs_from_a_third_to_the_limit() {
        let w = WarmUp::new(300.0, Duration::from_secs(10)).unwrap();
        let per_second: Vec<usize> = (0..16)
            .map(|s| {
                (0..1000)
                    .filter(|_| w.try_acquire_at(Duration::from_secs(s)))
                    .count()
            })
            .collect();
        println!("admitted per second from cold: {per_second:?}");
        assert_eq!(per_second[0], 100, "{per_second:?}");
        assert!(
            per_second.windows(2).all(|p| p[1] >= p[0]),
            "never falls back while busy: {per_second:?}"
        );
        assert!(per_second[5] > 100 && per_second[5] < 300, "{per_second:?}");
        assert_eq!(per_second[15], 300, "warm after the period: {per_second:?}");
    }

    #[test]
    fn idling_cools_it_down_again() {
        let w = WarmUp::new(300.0, Duration::from_secs(5)).unwrap();
        for s in 0..20 {
            while w.try_acquire_at(Duration::from_secs(s)) {}
        }
        assert_eq!(w.permitted_qps_at(Duration::from_secs(20)), 300.0);
        // A minute idle refills the bucket: cold again.
        let q = w.permitted_qps_at(Duration::from_secs(80));
        assert!((q - 100.0).abs() < 1e-6, "{q}");
    }
}
