//! Configuring limiters and the two-tier breaker: the `service --limit`
//! syntax and the defaults, checked when a server starts.

use std::str::FromStr;
use std::time::Duration;

use super::{Gcra, LimitError, RouteLimiter, Shedder, TokenBucket, WarmUp};
use crate::breaker;

/// A route limiter's configuration (built, and checked, by [`crate::Server::start`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// A token bucket.
    TokenBucket {
        /// Requests per second.
        rate: f64,
        /// Bucket size.
        burst: u32,
    },
    /// GCRA.
    Gcra {
        /// Requests per second.
        rate: f64,
        /// Burst.
        burst: u32,
    },
    /// Sentinel's warm-up to `count` QPS over `period`.
    WarmUp {
        /// Target QPS.
        count: f64,
        /// Warm-up period.
        period: Duration,
    },
    /// Adaptive shedding by concurrency.
    Shed {
        /// Never shed below this many in flight.
        min_in_flight: u64,
    },
}

impl Limit {
    /// The limiter, or why this configuration cannot work.
    pub fn build(&self) -> Result<RouteLimiter, LimitError> {
        Ok(match *self {
            Limit::TokenBucket { rate, burst } => {
                RouteLimiter::TokenBucket(TokenBucket::new(rate, burst)?)
            }
            Limit::Gcra { rate, burst } => RouteLimiter::Gcra(Gcra::new(rate, burst)?),
            Limit::WarmUp { count, period } => RouteLimiter::WarmUp(WarmUp::new(count, period)?),
            Limit::Shed { min_in_flight } => {
                RouteLimiter::Shed(Box::new(Shedder::new(min_in_flight)?))
            }
        })
    }
}

/// The breaker the two-tier frontend uses unless told otherwise: the last
/// 20 calls, at least 10, 50 % failures or 80 % slower than 250 ms; open
/// 500 ms, doubling up to 8 s; 3 trials, at most 2 s half-open.
pub fn default_breaker() -> breaker::Config {
    breaker::Config {
        window: breaker::WindowKind::Count(20),
        minimum_calls: 10,
        failure_rate_threshold: 50.0,
        slow_call_rate_threshold: 80.0,
        slow_call_duration: Duration::from_millis(250),
        wait_in_open: Duration::from_millis(500),
        backoff: 2.0,
        max_wait_in_open: Duration::from_secs(8),
        permitted_calls_in_half_open: 3,
        max_wait_in_half_open: Duration::from_secs(2),
    }
}

impl FromStr for Limit {
    type Err = String;
    /// `tb:RATE:BURST`, `gcra:RATE:BURST`, `warmup:COUNT:SECONDS` or
    /// `shed:MIN_IN_FLIGHT`; the numbers are checked by [`Limit::build`].
    fn from_str(s: &str) -> Result<Limit, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let f = |i: usize| -> Result<f64, String> {
            parts
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .ok_or(format!("bad limit `{s}`: field {i} is not a number"))
        };
        let u = |i: usize| -> Result<u32, String> {
            parts
                .get(i)
                .and_then(|v| v.parse::<u32>().ok())
                .ok_or(format!("bad limit `{s}`: field {i} is not a whole number"))
        };
        let want = |n: usize| {
            if parts.len() == n {
                Ok(())
            } else {
                Err(format!(
                    "bad limit `{s}`: expected {n} fields separated by ':'"
                ))
            }
        };
        let limit = match parts[0] {
            "tb" => want(3).and(Ok(Limit::TokenBucket {
                rate: f(1)?,
                burst: u(2)?,
            }))?,
            "gcra" => want(3).and(Ok(Limit::Gcra {
                rate: f(1)?,
                burst: u(2)?,
            }))?,
            "warmup" => {
                want(3)?;
                let secs = f(2)?;
                if !(secs.is_finite() && secs >= 0.0) {
                    return Err(format!(
                        "bad limit `{s}`: the warm-up period must be seconds ≥ 0"
                    ));
                }
                Limit::WarmUp {
                    count: f(1)?,
                    period: Duration::from_secs_f64(secs),
                }
            }
            "shed" => want(2).and(Ok(Limit::Shed {
                min_in_flight: u64::from(u(1)?),
            }))?,
            other => {
                return Err(format!(
                    "bad limit `{s}`: unknown kind `{other}` (tb, gcra, warmup or shed)"
                ));
            }
        };
        limit.build().map_err(|e| e.to_string())?;
        Ok(limit)
    }
}
