//! GCRA: the token bucket as one atomic number (see the module above).
//!
//! The state is the theoretical arrival time `tat` in nanoseconds. With
//! emission interval `t = 1/rate` and tolerance `tau = t × (burst − 1)`:
//! a request at `now` conforms if `tat − tau ≤ now`; it then moves
//! `tat` to `max(tat, now) + t`. A compare-and-swap publishes the new
//! `tat`; losing the race means another request moved it first, so the
//! check is redone with the value that won.

use std::time::Duration;

use crate::loom::atomic::{AtomicU64, Ordering};

use super::{LimitError, check_rate, monotonic};

/// A lock-free GCRA limiter (what `governor`'s direct limiter is).
#[derive(Debug)]
pub struct Gcra {
    /// Emission interval, ns.
    t: u64,
    /// Tolerance, ns.
    tau: u64,
    tat: AtomicU64,
}

impl Gcra {
    /// `rate` requests per second with bursts of up to `burst`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use service::limiter::Gcra;
    /// let g = Gcra::new(10.0, 2).unwrap();
    /// let t = Duration::from_secs(1);
    /// assert!(g.try_acquire_at(t) && g.try_acquire_at(t));
    /// assert!(!g.try_acquire_at(t));
    /// assert!(g.try_acquire_at(t + Duration::from_millis(100)));
    /// assert!(Gcra::new(f64::NAN, 1).is_err() && Gcra::new(1.0, 0).is_err());
    /// ```
    pub fn new(rate: f64, burst: u32) -> Result<Gcra, LimitError> {
        check_rate("GCRA rate", rate)?;
        if burst == 0 {
            return Err(LimitError("GCRA burst must be at least 1".into()));
        }
        let t = (1e9 / rate).round().max(1.0) as u64;
        Ok(Gcra {
            t,
            tau: t.saturating_mul(u64::from(burst) - 1),
            tat: AtomicU64::new(0),
        })
    }

    /// Whether a request at `now` conforms (and if so, counts it).
    pub fn try_acquire_at(&self, now: Duration) -> bool {
        let now = now.as_nanos() as u64;
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            if tat.saturating_sub(self.tau) > now {
                return false;
            }
            let next = tat.max(now) + self.t;
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }

    /// Whether a request now conforms.
    pub fn try_acquire(&self) -> bool {
        self.try_acquire_at(monotonic())
    }
}

/// The loom models (`RUSTFLAGS="--cfg loom" cargo test -p service --lib loom`,
/// run by `.ci/loom.sh`). Time is handed in (`try_acquire_at`), so loom never
/// reads a real clock: every interleaving of the threads' loads and
/// compare-and-swaps is explored at fixed instants.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::loom::{Arc, model, thread};

    /// A limiter with 100 ms between requests and bursts of 3, one token
    /// already taken at `T`: two are left at that instant.
    fn two_left() -> Gcra {
        let g = Gcra::new(10.0, 3).unwrap();
        assert!(g.try_acquire_at(T));
        g
    }

    const T: Duration = Duration::from_secs(5);

    /// Three threads race for the last two tokens: exactly two win, and the
    /// TAT moved once per winner.
    #[test]
    fn loom_three_threads_racing_for_two_tokens_admit_exactly_two() {
        model(|| {
            let g = Arc::new(two_left());
            let racers: Vec<_> = (0..3)
                .map(|_| {
                    let g = g.clone();
                    thread::spawn(move || g.try_acquire_at(T))
                })
                .collect();
            let won = racers
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|&w| w)
                .count();
            assert_eq!(won, 2, "the two tokens left, no more, no fewer");
            let tat = g.tat.load(Ordering::Relaxed);
            assert_eq!(
                tat,
                T.as_nanos() as u64 + 3 * g.t,
                "one emission interval per admitted request"
            );
        });
    }

    /// Two threads at different instants: the later one may find a token
    /// refilled, the earlier one may not, and no interleaving admits more
    /// than the bucket holds at the later instant.
    #[test]
    fn loom_racers_at_two_instants_never_exceed_the_bucket() {
        model(|| {
            let g = Arc::new(Gcra::new(10.0, 1).unwrap());
            assert!(g.try_acquire_at(T), "the only token");
            let later = T + Duration::from_millis(100); // one refilled
            let a = {
                let g = g.clone();
                thread::spawn(move || g.try_acquire_at(T))
            };
            let b = {
                let g = g.clone();
                thread::spawn(move || g.try_acquire_at(later))
            };
            let (a, b) = (a.join().unwrap(), b.join().unwrap());
            assert!(!a, "nothing is left at T");
            assert!(b, "the refilled token is there at T + 100 ms");
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Over a long scripted run GCRA admits what a token bucket with the
    /// same rate and burst admits, request for request.
    #[test]
    fn gcra_and_the_token_bucket_agree_on_every_request() {
        let g = Gcra::new(250.0, 5).unwrap();
        let b = super::super::TokenBucket::new(250.0, 5).unwrap();
        let mut x = 12345u64;
        let mut now = Duration::from_secs(1);
        let (mut admitted, mut differ) = (0, 0);
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            now += Duration::from_micros(x % 8000); // mean 4 ms: about the rate
            let (a, c) = (g.try_acquire_at(now), b.try_acquire_at(now));
            admitted += u32::from(a);
            differ += u32::from(a != c);
        }
        assert!(admitted > 10_000, "{admitted}");
        // Float rounding of the bucket's refill can flip a request that
        // arrives exactly at a token boundary; nothing more.
        assert!(differ <= 5, "{differ} of 20000 decisions differ");
    }

    #[test]
    fn concurrent_callers_never_exceed_the_burst() {
        let g = std::sync::Arc::new(Gcra::new(1.0, 100).unwrap());
        let t = Duration::from_secs(10);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = g.clone();
                std::thread::spawn(move || (0..1000).filter(|_| g.try_acquire_at(t)).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 100, "exactly the burst passes at one instant");
    }
}
