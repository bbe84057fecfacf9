//! A token bucket (Go's `x/time/rate.Limiter.Allow`): `burst` tokens,
//! refilled continuously at `rate` per second, one per request.

use std::sync::Mutex;
use std::time::Duration;

use super::{LimitError, check_rate, monotonic};

#[derive(Debug)]
struct State {
    tokens: f64,
    last: Duration,
}

/// A token bucket behind a lock.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `rate` per second.
    ///
    /// ```
    /// use std::time::Duration;
    /// use service::limiter::TokenBucket;
    /// let b = TokenBucket::new(10.0, 2).unwrap();
    /// let t = Duration::ZERO;
    /// assert!(b.try_acquire_at(t) && b.try_acquire_at(t));
    /// assert!(!b.try_acquire_at(t), "the burst is spent");
    /// assert!(b.try_acquire_at(t + Duration::from_millis(100)), "one token per 100 ms");
    /// assert!(TokenBucket::new(0.0, 1).is_err() && TokenBucket::new(-5.0, 1).is_err());
    /// ```
    pub fn new(rate: f64, burst: u32) -> Result<TokenBucket, LimitError> {
        check_rate("token bucket rate", rate)?;
        if burst == 0 {
            return Err(LimitError("token bucket burst must be at least 1".into()));
        }
        Ok(TokenBucket {
            rate,
            burst: f64::from(burst),
            state: Mutex::new(State {
                tokens: f64::from(burst),
                last: Duration::ZERO,
            }),
        })
    }

    /// Takes a token at `now`, if there is one.
    pub fn try_acquire_at(&self, now: Duration) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_sub(s.last).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.last = s.last.max(now);
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes a token now, if there is one.
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_at(monotonic())
    }
}
