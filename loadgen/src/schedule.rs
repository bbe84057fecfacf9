//! When each request of the open loop is due: the arrival patterns.
//!
//! The open loop's promise is that requests go out on a schedule fixed
//! before the run, whatever the server does; latency is counted from each
//! request's due time (wrk2's correction of coordinated omission). This file
//! is that schedule, as a pure function of the settings, so it can be
//! tested without a network:
//!
//! - **constant**: a request every `1/R` seconds. With C connections,
//!   connection `i` owns the requests due at `i/R + k·C/R`;
//! - **poisson**: the same mean, with exponential gaps (independent users
//!   arriving at random), seeded per connection so a run is reproducible;
//! - **burst** (`--burst NxW`, `--burst-every P`): N requests due in the
//!   first W of every period P, evenly spread (W of `0ms` means all at
//!   once), then nothing until the next period. The mean rate is N/P. This
//!   is the flash crowd, the cron job, the retry storm: more requests due at
//!   once than there are connections, so they queue inside the load
//!   generator, and that queueing is counted against the server because the
//!   latency runs from the due time. Requests are dealt to connections in
//!   turn: connection `i` owns the burst's requests `i, i + C, i + 2C, ...`.
//!
//! ```
//! use std::time::Duration;
//! use loadgen::schedule::{Burst, Schedule};
//! use loadgen::Arrivals;
//! let burst = Burst::parse("4x2ms", Duration::from_millis(10)).unwrap();
//! let due: Vec<u128> = Schedule::new(Arrivals::Burst(burst), burst.rate(), 1, 0)
//!     .take(6)
//!     .map(|d| d.as_micros())
//!     .collect();
//! assert_eq!(due, [0, 500, 1000, 1500, 10_000, 10_500]);
//! ```

use std::time::Duration;

use crate::config::{Arrivals, parse_duration};

/// A burst pattern: `size` requests due within `window` at the start of
/// every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Burst {
    /// Requests per burst.
    pub size: u32,
    /// How long each burst takes to be due (0: all at once).
    pub window: Duration,
    /// The period, from the start of one burst to the start of the next.
    pub every: Duration,
}

impl Burst {
    /// Parses `NxW` (like `500x100ms`, or `500x0ms` for all at once) with
    /// the period `every`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let b = loadgen::schedule::Burst::parse("500x100ms", Duration::from_secs(1)).unwrap();
    /// assert_eq!((b.size, b.window.as_millis(), b.rate()), (500, 100, 500.0));
    /// assert!(loadgen::schedule::Burst::parse("500", Duration::from_secs(1)).is_err());
    /// ```
    pub fn parse(spec: &str, every: Duration) -> Result<Burst, String> {
        let bad = |why: &str| format!("bad burst `{spec}`: {why}");
        let (n, w) = spec
            .split_once('x')
            .ok_or_else(|| bad("expected NxW, like 500x100ms"))?;
        let size = n
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| bad("N must be a count from 1 to 1000000"))?;
        let window = if matches!(w, "0" | "0s" | "0ms") {
            Duration::ZERO
        } else {
            parse_duration(w).ok_or_else(|| bad("W must be a duration like 100ms or 0ms"))?
        };
        if window >= every {
            return Err(bad(&format!(
                "the window {window:?} must be shorter than the period {every:?} (--burst-every)"
            )));
        }
        Ok(Burst {
            size,
            window,
            every,
        })
    }

    /// The mean rate, requests per second.
    pub fn rate(&self) -> f64 {
        f64::from(self.size) / self.every.as_secs_f64()
    }

    /// When the `g`-th request of the whole run is due.
    fn due(&self, g: u64) -> Duration {
        let size = u64::from(self.size);
        let (period, j) = (g / size, g % size);
        self.every * period as u32 + self.window.mul_f64(j as f64 / size as f64)
    }
}

/// One connection's due times, from the start of the run, in order
/// (an endless iterator; the loop stops at its duration).
#[derive(Debug, Clone)]
pub struct Schedule {
    arrivals: Arrivals,
    /// This connection's index and the number of connections.
    i: u64,
    connections: u64,
    /// Mean gap between this connection's requests.
    interval: Duration,
    offset: Duration,
    /// Requests of this connection handed out so far.
    k: u64,
    /// The last Poisson due time.
    poisson: Duration,
    rng: XorShift,
}

impl Schedule {
    /// The schedule of connection `i` of `connections`, at `rate` requests
    /// per second in total (for a burst, its own [`Burst::rate`]).
    pub fn new(arrivals: Arrivals, rate: f64, connections: usize, i: usize) -> Schedule {
        let connections = connections.max(1) as u64;
        Schedule {
            arrivals,
            i: i as u64,
            connections,
            interval: Duration::from_secs_f64(connections as f64 / rate),
            offset: Duration::from_secs_f64(i as f64 / rate),
            k: 0,
            poisson: Duration::ZERO,
            rng: XorShift(
                0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            ),
        }
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let k = self.k;
        self.k += 1;
        Some(match self.arrivals {
            Arrivals::Constant => self.offset + self.interval.mul_f64(k as f64),
            Arrivals::Poisson => {
                self.poisson = if k == 0 {
                    self.offset
                } else {
                    // Exponential gaps with the same mean: a Poisson process.
                    self.poisson + self.interval.mul_f64(-(1.0 - self.rng.next_f64()).ln())
                };
                self.poisson
            }
            Arrivals::Burst(b) => b.due(self.i + k * self.connections),
        })
    }
}

/// A small deterministic generator for Poisson gaps (xorshift64*), seeded
/// per connection so a run's schedule is reproducible.
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Every connection's due times before `end`, merged and sorted.
    fn all_due(arrivals: Arrivals, rate: f64, conns: usize, end: Duration) -> Vec<Duration> {
        let mut v: Vec<Duration> = (0..conns)
            .flat_map(|i| Schedule::new(arrivals, rate, conns, i).take_while(move |d| *d < end))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn constant_spreads_requests_evenly_across_connections() {
        let due = all_due(Arrivals::Constant, 1000.0, 4, ms(10));
        let want: Vec<Duration> = (0..10).map(ms).collect();
        assert_eq!(
            due, want,
            "one request every millisecond, all connections together"
        );
    }

    #[test]
    fn a_burst_is_n_requests_in_its_window_then_silence() {
        let b = Burst::parse("6x3ms", ms(100)).unwrap();
        let due = all_due(Arrivals::Burst(b), b.rate(), 4, ms(250));
        let us = Duration::from_micros;
        let want: Vec<Duration> = [0, 100_000, 200_000]
            .iter()
            .flat_map(|p| (0..6).map(move |j| us(p + 500 * j)))
            .collect();
        assert_eq!(due, want, "three bursts of 6, each due over 3 ms");
        // Dealt in turn: connection 1 of 4 owns the bursts' requests 1, 5, 9.
        let c1: Vec<Duration> = Schedule::new(Arrivals::Burst(b), b.rate(), 4, 1)
            .take(3)
            .collect();
        assert_eq!(c1, [us(500), us(2500), us(101_500)]);
    }

    #[test]
    fn a_zero_window_makes_the_whole_burst_due_at_once() {
        let b = Burst::parse("500x0ms", Duration::from_secs(1)).unwrap();
        let due = all_due(Arrivals::Burst(b), b.rate(), 50, Duration::from_secs(2));
        assert_eq!(due.len(), 1000);
        assert!(
            due[..500].iter().all(|d| d.is_zero()),
            "the first 500 at t=0"
        );
        assert!(due[500..].iter().all(|d| *d == Duration::from_secs(1)));
    }

    #[test]
    fn poisson_keeps_the_mean_and_is_reproducible() {
        let due = all_due(Arrivals::Poisson, 1000.0, 4, Duration::from_secs(10));
        assert!(
            (9_500..=10_500).contains(&due.len()),
            "{} requests in 10 s at 1000/s",
            due.len()
        );
        let a: Vec<_> = Schedule::new(Arrivals::Poisson, 1000.0, 4, 2)
            .take(50)
            .collect();
        let b: Vec<_> = Schedule::new(Arrivals::Poisson, 1000.0, 4, 2)
            .take(50)
            .collect();
        assert_eq!(a, b, "seeded per connection");
        assert!(a.windows(2).all(|w| w[0] <= w[1]), "in order");
    }

    #[test]
    fn bad_bursts_say_what_is_wrong() {
        let every = Duration::from_secs(1);
        for (spec, needle) in [
            ("500", "expected NxW"),
            ("0x10ms", "N must be"),
            ("manyx10ms", "N must be"),
            ("500x10", "W must be"),
            ("500x2s", "shorter than the period"),
            ("500x1s", "shorter than the period"),
        ] {
            let e = Burst::parse(spec, every).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
