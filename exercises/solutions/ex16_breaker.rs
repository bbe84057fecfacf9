//! # Exercise ex16: a circuit breaker (reference solution)
//!
//! See the stub (`exercises/src/ex16_breaker.rs`) for the specification.
//! This is a count-window version of `service::breaker::BreakerCore`.

use std::collections::VecDeque;
use std::time::Duration;

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls go through and are measured.
    Closed,
    /// Calls are rejected.
    Open,
    /// A fixed number of trial calls go through.
    HalfOpen,
}

/// The breaker's configuration (resilience4j's names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// The closed state measures the last `window_size` calls.
    pub window_size: usize,
    /// Calls the window must hold before a rate can trip the breaker.
    pub minimum_calls: usize,
    /// Trip at this failure percentage.
    pub failure_rate_threshold: f64,
    /// Trip at this slow-call percentage.
    pub slow_call_rate_threshold: f64,
    /// A call that took longer than this is slow.
    pub slow_call_duration: Duration,
    /// The first open period.
    pub wait_in_open: Duration,
    /// Each consecutive trip multiplies the open period by this.
    pub backoff: u32,
    /// The longest open period.
    pub max_wait_in_open: Duration,
    /// Trial calls let through in half-open.
    pub permitted_calls_in_half_open: usize,
    /// The longest stay in half-open before opening again.
    pub max_wait_in_half_open: Duration,
}

/// The right to make one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permit {
    epoch: u64,
    started: Duration,
}

/// The state machine; time is handed in as `now` (a `Duration` since any
/// origin), which is how the tests inject their clock.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: Config,
    state: State,
    epoch: u64,
    window: VecDeque<(bool, bool)>,
    trips: u32,
    since: Duration,
    open_until: Duration,
    trials_given: usize,
    trials: Vec<(bool, bool)>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: Config) -> Breaker {
        Breaker {
            config,
            state: State::Closed,
            epoch: 0,
            window: VecDeque::new(),
            trips: 0,
            since: Duration::ZERO,
            open_until: Duration::ZERO,
            trials_given: 0,
            trials: Vec::new(),
        }
    }

    /// The open period after `trips` consecutive trips (1 = the first).
    pub fn open_period(&self, trips: u32) -> Duration {
        let mut d = self.config.wait_in_open;
        for _ in 1..trips {
            d = d.saturating_mul(self.config.backoff);
            if d >= self.config.max_wait_in_open {
                break;
            }
        }
        d.min(self.config.max_wait_in_open)
    }

    fn go(&mut self, to: State, now: Duration) {
        self.state = to;
        self.epoch += 1;
        self.since = now;
        match to {
            State::Open => {
                self.trips += 1;
                self.open_until = now + self.open_period(self.trips);
            }
            State::HalfOpen => {
                self.trials_given = 0;
                self.trials.clear();
            }
            State::Closed => {
                self.trips = 0;
                self.window.clear();
            }
        }
    }

    fn tick(&mut self, now: Duration) {
        if self.state == State::Open && now >= self.open_until {
            self.go(State::HalfOpen, now);
        }
        if self.state == State::HalfOpen
            && now.saturating_sub(self.since) >= self.config.max_wait_in_half_open
        {
            self.go(State::Open, now);
        }
    }

    /// The state at `now`.
    pub fn state(&mut self, now: Duration) -> State {
        self.tick(now);
        self.state
    }

    /// Asks to make a call at `now`.
    pub fn try_acquire(&mut self, now: Duration) -> Option<Permit> {
        self.tick(now);
        match self.state {
            State::Closed => {}
            State::Open => return None,
            State::HalfOpen => {
                if self.trials_given >= self.config.permitted_calls_in_half_open {
                    return None;
                }
                self.trials_given += 1;
            }
        }
        Some(Permit {
            epoch: self.epoch,
            started: now,
        })
    }

    /// Reports the outcome of `permit`'s call, ended at `now`.
    pub fn record(&mut self, permit: Permit, now: Duration, ok: bool) {
        self.tick(now);
        if permit.epoch != self.epoch {
            return;
        }
        let outcome = (
            !ok,
            now.saturating_sub(permit.started) > self.config.slow_call_duration,
        );
        match self.state {
            State::Closed => {
                if self.window.len() == self.config.window_size {
                    self.window.pop_front();
                }
                self.window.push_back(outcome);
                if self.window.len() >= self.config.minimum_calls && self.over(self.window.iter()) {
                    self.go(State::Open, now);
                }
            }
            State::HalfOpen => {
                self.trials.push(outcome);
                if self.trials.len() >= self.config.permitted_calls_in_half_open {
                    let to = if self.over(self.trials.iter()) {
                        State::Open
                    } else {
                        State::Closed
                    };
                    self.go(to, now);
                }
            }
            State::Open => {}
        }
    }

    fn over<'a>(&self, outcomes: impl Iterator<Item = &'a (bool, bool)>) -> bool {
        let (mut n, mut failed, mut slow) = (0u32, 0u32, 0u32);
        for (f, s) in outcomes {
            n += 1;
            failed += u32::from(*f);
            slow += u32::from(*s);
        }
        let pct = |k: u32| 100.0 * f64::from(k) / f64::from(n.max(1));
        pct(failed) >= self.config.failure_rate_threshold
            || pct(slow) >= self.config.slow_call_rate_threshold
    }
}
