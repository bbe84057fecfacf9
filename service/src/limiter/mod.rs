//! Rate limiting and load shedding per route: a token bucket, GCRA,
//! Sentinel's warm-up, and adaptive shedding by concurrency.
//!
//! * [`TokenBucket`]: a bucket of `burst` tokens refilled at `rate` per
//!   second; a request takes one or is refused (Go's
//!   `golang.org/x/time/rate.Limiter`, Guava's `RateLimiter` without the
//!   waiting). State: the tokens and when they were counted, under a lock.
//! * [`Gcra`]: the generic cell rate algorithm (ATM networks; `governor`,
//!   redis-cell, Stripe). Equivalent to a token bucket, but its whole state
//!   is one number, the *theoretical arrival time* (TAT) of the next
//!   request: with emission interval `T = 1/rate` and tolerance
//!   `τ = T × (burst − 1)`, a request at `now` passes if
//!   `now ≥ TAT − τ`, and sets `TAT = max(TAT, now) + T`. One number fits
//!   in an `AtomicU64`, so the check is a compare-and-swap loop with no
//!   lock, which is why `governor` uses it and why the bench compares the
//!   two with it.
//! * [`WarmUp`]: Sentinel's `WarmUpController`. A service that was idle
//!   (cold caches, cold JIT, empty connection pools) cannot take its full
//!   rate at once, so the permitted QPS starts at `count / cold_factor`
//!   (a third, with Sentinel's cold factor 3) and climbs to `count` over
//!   the warm-up period as traffic uses up the "stored tokens" that idling
//!   accumulated. Sentinel's formulas, in [`warm_up`].
//! * [`Shedder`]: adaptive shedding (Sentinel's system rule, Kratos' BBR
//!   limiter). Little's law says a service that can do `max_qps` requests
//!   per second with at best `min_rt` each can have `max_qps × min_rt`
//!   requests in flight without queueing; more in flight than that is a
//!   queue growing inside the process, and the latest arrivals are shed
//!   (429) before they add to it. Both numbers come from the last second's
//!   100 ms buckets.
//!
//! Every limiter takes time as a `Duration` since any origin (`*_at`
//! methods) so tests script it; the plain methods read a monotonic clock.
//! A rate of 0, a negative or non-finite rate, or a burst of 0 is refused
//! when the limiter is made ([`LimitError`]), not discovered under load.

pub mod config;
pub mod gcra;
pub mod shed;
pub mod token_bucket;
pub mod warm_up;

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use gcra::Gcra;
pub use shed::Shedder;
pub use token_bucket::TokenBucket;
pub use warm_up::WarmUp;

/// A limiter configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError(pub String);

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad rate limit: {}", self.0)
    }
}

impl std::error::Error for LimitError {}

/// Checks a rate in requests per second: finite and more than 0.
pub(crate) fn check_rate(name: &str, rate: f64) -> Result<(), LimitError> {
    if rate.is_finite() && rate > 0.0 {
        Ok(())
    } else {
        Err(LimitError(format!(
            "{name} must be a finite number of requests per second above 0, got {rate}"
        )))
    }
}

/// Time since the first call in this process: the clock of the plain
/// (non-`_at`) methods.
pub fn monotonic() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// A cheaper, coarser clock: Linux's `CLOCK_MONOTONIC_COARSE`, the time of
/// the kernel's last timer tick (1 to 4 ms resolution), read from the vDSO
/// without reading the CPU's cycle counter. For the `_at` methods when a
/// check must cost less than a clock read and millisecond steps are fine
/// (a limit of a few hundred requests per second sees its refills arrive
/// in ticks, not smoothly); the limiter bench measures what it saves.
/// Not the same origin as [`monotonic`]: use one clock per limiter.
///
/// ```
/// let a = service::limiter::coarse_monotonic();
/// let b = service::limiter::coarse_monotonic();
/// assert!(b >= a, "monotonic");
/// ```
pub fn coarse_monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill, and
    // CLOCK_MONOTONIC_COARSE exists on every Linux since 2.6.32.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC_COARSE)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One route's limiter, as configured on [`crate::Routes`].
#[derive(Debug)]
pub enum RouteLimiter {
    /// A token bucket.
    TokenBucket(TokenBucket),
    /// GCRA.
    Gcra(Gcra),
    /// Sentinel's warm-up.
    WarmUp(WarmUp),
    /// Adaptive shedding by concurrency (boxed: its ring is the largest).
    Shed(Box<Shedder>),
}

impl RouteLimiter {
    /// Whether a request arriving now with `in_flight` requests already
    /// running on the route may go ahead.
    pub fn admit(&self, in_flight: i64) -> bool {
        let now = monotonic();
        match self {
            RouteLimiter::TokenBucket(l) => l.try_acquire_at(now),
            RouteLimiter::Gcra(l) => l.try_acquire_at(now),
            RouteLimiter::WarmUp(l) => l.try_acquire_at(now),
            RouteLimiter::Shed(l) => l.admit_at(now, in_flight.max(0) as u64),
        }
    }

    /// Tells the limiter that an admitted request took `rt` (the shedder
    /// learns its numbers from this; the others ignore it).
    pub fn done(&self, rt: Duration) {
        if let RouteLimiter::Shed(l) = self {
            l.done_at(monotonic(), rt);
        }
    }
}
