//! A circuit breaker: resilience4j's state machine, with the fix for
//! breakers stuck half-open, an open period that grows with each trip, and
//! an injected clock.
//!
//! ```text
//!            failure rate ≥ threshold, or slow-call rate ≥ threshold,
//!            over ≥ minimum_calls calls in the window
//!   CLOSED ────────────────────────────────────────────────▶ OPEN
//!     ▲                                                    │   ▲
//!     │ the trial calls did fine          open period over │   │ trials failed, or
//!     │                                                    ▼   │ max wait in half-open
//!     └──────────────────────────────────────────────── HALF_OPEN
//! ```
//!
//! * **Closed**: every call goes through and its outcome is recorded in a
//!   sliding window ([`window`]), count- or time-based. Once the window
//!   holds at least `minimum_calls`, a failure rate or a slow-call rate at
//!   or over its threshold trips the breaker. A *slow* call is one that took
//!   longer than `slow_call_duration`, whether it failed or not: a backend
//!   that answers in ten seconds is as broken as one that errors.
//! * **Open**: calls are rejected at once (the caller fails fast and the
//!   backend gets room to recover). After the open period the next call
//!   attempt moves the breaker to half-open. The open period of the k-th
//!   consecutive trip is `wait_in_open × backoff^(k-1)`, capped at
//!   `max_wait_in_open`: a backend that keeps failing its trials is probed
//!   less and less often.
//! * **Half-open**: exactly `permitted_calls_in_half_open` trial calls are
//!   let through; the rest are rejected. When all of them have reported,
//!   their failure and slow rates decide: under the thresholds, the breaker
//!   closes (window and trip count reset); otherwise it opens again, for a
//!   longer period. **The stuck half-open case** (resilience4j#935): a trial
//!   call whose outcome is never reported (the caller was cancelled, its
//!   timeout fired elsewhere, a bug dropped it) holds its slot forever, and
//!   with every slot taken the breaker rejects everything and never decides.
//!   resilience4j's answer was `maxWaitDurationInHalfOpenState`: after that
//!   long in half-open, the breaker opens again and the next half-open
//!   starts with fresh slots. Here it is required (non-zero), not optional.
//!
//! Outcomes carry the *epoch* of the state their permit was taken in: a
//! late result from before a transition (a call let through while closed
//! that ends after the breaker opened) is ignored, so it cannot close a
//! breaker that has just opened, or count as a trial it was not.
//!
//! [`BreakerCore`] is the state machine alone, with time passed in as a
//! `Duration` since any origin; [`Breaker`] wraps it in a lock with a
//! [`Clock`] ([`SystemClock`] for real runs, [`ManualClock`] for tests
//! and scripted scenarios) and logs every transition for the metrics and
//! the trace: each state change is written into the runtime's trace with
//! [`runtime::trace_log`] (category `"breaker"`, message like
//! `"closed->open"`), on the G whose call caused it.

pub mod window;

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use window::{Totals, Window};

/// A breaker's state (resilience4j's `CircuitBreaker.State`; serialised as
/// `"closed"`, `"open"`, `"half_open"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls go through and are measured.
    Closed,
    /// Calls are rejected.
    Open,
    /// A fixed number of trial calls go through.
    HalfOpen,
}

impl State {
    /// The state's name: `closed`, `open`, `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which sliding window the closed state measures over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// The last N calls.
    Count(usize),
    /// The calls of the last span of time.
    Time(Duration),
}

/// A breaker's configuration (resilience4j's `CircuitBreakerConfig`, same
/// names in snake case). [`Config::validate`] rejects what cannot work.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// The closed state's window.
    pub window: WindowKind,
    /// Calls the window must hold before a rate can trip the breaker.
    pub minimum_calls: u32,
    /// Trip at this failure percentage (0 < t ≤ 100).
    pub failure_rate_threshold: f64,
    /// Trip at this slow-call percentage (0 < t ≤ 100).
    pub slow_call_rate_threshold: f64,
    /// A call slower than this is slow.
    pub slow_call_duration: Duration,
    /// The first open period.
    pub wait_in_open: Duration,
    /// Each consecutive trip multiplies the open period by this (≥ 1).
    pub backoff: f64,
    /// The longest open period.
    pub max_wait_in_open: Duration,
    /// Trial calls let through in half-open (≥ 1).
    pub permitted_calls_in_half_open: u32,
    /// Longest stay in half-open before opening again (> 0): the fix for
    /// resilience4j#935.
    pub max_wait_in_half_open: Duration,
}

impl Default for Config {
    /// resilience4j's defaults where it has them (window 100 calls,
    /// minimum 100, 50 %, 100 % slow over 60 s, 60 s open, 10 trials), with
    /// a 2× backoff up to 10 minutes and 60 s at most in half-open.
    fn default() -> Self {
        Config {
            window: WindowKind::Count(100),
            minimum_calls: 100,
            failure_rate_threshold: 50.0,
            slow_call_rate_threshold: 100.0,
            slow_call_duration: Duration::from_secs(60),
            wait_in_open: Duration::from_secs(60),
            backoff: 2.0,
            max_wait_in_open: Duration::from_secs(600),
            permitted_calls_in_half_open: 10,
            max_wait_in_half_open: Duration::from_secs(60),
        }
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad circuit breaker config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Checks every field.
    ///
    /// ```
    /// use service::breaker::Config;
    /// let bad = Config { failure_rate_threshold: 0.0, ..Config::default() };
    /// assert!(bad.validate().unwrap_err().to_string().contains("failure_rate_threshold"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |s: &str| Err(ConfigError(s.to_string()));
        match self.window {
            WindowKind::Count(0) => return err("window: a count window needs at least 1 call"),
            WindowKind::Time(d) if d.as_nanos() < u128::from(window::TIME_BUCKETS) => {
                return err("window: a time window must be at least 10 ns");
            }
            _ => {}
        }
        let pct = |v: f64| v.is_finite() && v > 0.0 && v <= 100.0;
        if self.minimum_calls == 0 {
            return err("minimum_calls must be at least 1");
        }
        if let WindowKind::Count(n) = self.window
            && self.minimum_calls as usize > n
        {
            return err("minimum_calls cannot exceed a count window's size (it would never trip)");
        }
        if !pct(self.failure_rate_threshold) {
            return err("failure_rate_threshold must be in (0, 100]");
        }
        if !pct(self.slow_call_rate_threshold) {
            return err("slow_call_rate_threshold must be in (0, 100]");
        }
        if self.wait_in_open.is_zero() {
            return err("wait_in_open must be more than 0");
        }
        if !(self.backoff.is_finite() && self.backoff >= 1.0) {
            return err("backoff must be a finite number ≥ 1");
        }
        if self.max_wait_in_open < self.wait_in_open {
            return err("max_wait_in_open must be at least wait_in_open");
        }
        if self.permitted_calls_in_half_open == 0 {
            return err("permitted_calls_in_half_open must be at least 1");
        }
        if self.max_wait_in_half_open.is_zero() {
            return err(
                "max_wait_in_half_open must be more than 0 (or a lost trial call leaves the breaker stuck half-open)",
            );
        }
        Ok(())
    }

    /// The open period after `trips` consecutive trips (1 = the first).
    pub fn open_period(&self, trips: u32) -> Duration {
        let factor = self.backoff.powi(trips.saturating_sub(1).min(64) as i32);
        let secs =
            (self.wait_in_open.as_secs_f64() * factor).min(self.max_wait_in_open.as_secs_f64());
        Duration::from_secs_f64(secs)
    }
}

/// The right to make one call, from [`BreakerCore::try_acquire`]; hand it
/// back with the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "report the call's outcome, or a half-open trial slot is lost until max_wait_in_half_open"]
pub struct Permit {
    epoch: u64,
    started: Duration,
}

/// A call the breaker refused (resilience4j's `CallNotPermittedException`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// The state that refused it.
    pub state: State,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "circuit breaker is {}: call not permitted", self.state)
    }
}

impl std::error::Error for Rejected {}

/// The category of the breaker's events in the runtime's trace
/// ([`runtime::trace_log`]); each message is a [`transition_name`].
pub const TRACE_CATEGORY: &str = "breaker";

/// A state change as the trace names it: `"closed->open"`,
/// `"open->half_open"`, `"half_open->closed"`, ...
///
/// ```
/// use service::breaker::{State, transition_name};
/// assert_eq!(transition_name(State::HalfOpen, State::Open), "half_open->open");
/// ```
pub fn transition_name(from: State, to: State) -> &'static str {
    // Spelled out so the trace needs no allocation per state change.
    match (from, to) {
        (State::Closed, State::Open) => "closed->open",
        (State::Closed, State::HalfOpen) => "closed->half_open",
        (State::Closed, State::Closed) => "closed->closed",
        (State::Open, State::HalfOpen) => "open->half_open",
        (State::Open, State::Closed) => "open->closed",
        (State::Open, State::Open) => "open->open",
        (State::HalfOpen, State::Closed) => "half_open->closed",
        (State::HalfOpen, State::Open) => "half_open->open",
        (State::HalfOpen, State::HalfOpen) => "half_open->half_open",
    }
}

/// One state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// When, on the breaker's clock.
    pub at: Duration,
    /// From.
    pub from: State,
    /// To.
    pub to: State,
}

/// The state machine, with time handed in (no clock, no lock).
#[derive(Debug, Clone)]
pub struct BreakerCore {
    config: Config,
    state: State,
    epoch: u64,
    window: Window,
    /// Consecutive trips since the breaker last closed.
    trips: u32,
    /// Open: until when. Half-open: since when.
    since: Duration,
    open_until: Duration,
    trials_given: u32,
    trials: Totals,
    transitions: Vec<Transition>,
}

impl BreakerCore {
    /// A closed breaker.
    pub fn new(config: Config) -> Result<BreakerCore, ConfigError> {
        config.validate()?;
        let window = match config.window {
            WindowKind::Count(n) => Window::count(n),
            WindowKind::Time(d) => Window::time(d),
        };
        Ok(BreakerCore {
            config,
            state: State::Closed,
            epoch: 0,
            window,
            trips: 0,
            since: Duration::ZERO,
            open_until: Duration::ZERO,
            trials_given: 0,
            trials: Totals::default(),
            transitions: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state at `now` (applies the time-driven transitions: open to
    /// half-open when the open period is over, half-open back to open
    /// after `max_wait_in_half_open`).
    pub fn state(&mut self, now: Duration) -> State {
        self.tick(now);
        self.state
    }

    /// The state as of the last call, without applying the time-driven
    /// transitions ([`state`](BreakerCore::state) applies them).
    pub fn peek(&self) -> State {
        self.state
    }

    /// Every transition so far, oldest first.
    pub fn transitions(&self) -> &[Transition] {
        &self.transitions
    }

    /// Consecutive trips since the breaker last closed.
    pub fn trips(&self) -> u32 {
        self.trips
    }

    /// The closed window's totals at `now`.
    pub fn totals(&self, now: Duration) -> Totals {
        self.window.totals(now)
    }

    fn go(&mut self, to: State, now: Duration) {
        // Into the runtime's trace, on the G whose call moved the breaker
        // (one relaxed load when nobody traces).
        runtime::trace_log(TRACE_CATEGORY, transition_name(self.state, to));
        self.transitions.push(Transition {
            at: now,
            from: self.state,
            to,
        });
        self.state = to;
        self.epoch += 1;
        self.since = now;
        match to {
            State::Open => {
                self.trips += 1;
                self.open_until = now + self.config.open_period(self.trips);
            }
            State::HalfOpen => {
                self.trials_given = 0;
                self.trials = Totals::default();
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

    /// Asks to make a call at `now`.
    pub fn try_acquire(&mut self, now: Duration) -> Result<Permit, Rejected> {
        self.tick(now);
        match self.state {
            State::Closed => {}
            State::Open => return Err(Rejected { state: State::Open }),
            State::HalfOpen => {
                if self.trials_given >= self.config.permitted_calls_in_half_open {
                    return Err(Rejected {
                        state: State::HalfOpen,
                    });
                }
                self.trials_given += 1;
            }
        }
        Ok(Permit {
            epoch: self.epoch,
            started: now,
        })
    }

    /// Reports the outcome of the call `permit` allowed, ended at `now`.
    /// Returns whether it was counted (a permit from before the last
    /// transition is not).
    pub fn record(&mut self, permit: Permit, now: Duration, ok: bool) -> bool {
        self.tick(now);
        if permit.epoch != self.epoch {
            return false;
        }
        let failed = !ok;
        let slow = now.saturating_sub(permit.started) > self.config.slow_call_duration;
        match self.state {
            State::Closed => {
                self.window.record(now, failed, slow);
                let t = self.window.totals(now);
                if t.calls >= self.config.minimum_calls && self.over(&t) {
                    self.go(State::Open, now);
                }
            }
            State::HalfOpen => {
                self.trials.calls += 1;
                self.trials.failures += u32::from(failed);
                self.trials.slow += u32::from(slow);
                if self.trials.calls >= self.config.permitted_calls_in_half_open {
                    let t = self.trials;
                    let to = if self.over(&t) {
                        State::Open
                    } else {
                        State::Closed
                    };
                    self.go(to, now);
                }
            }
            State::Open => return false,
        }
        true
    }

    fn over(&self, t: &Totals) -> bool {
        t.failure_rate() >= self.config.failure_rate_threshold
            || t.slow_rate() >= self.config.slow_call_rate_threshold
    }
}

/// Where a [`Breaker`] reads the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Time since the clock's origin.
    fn now(&self) -> Duration;
}

/// The monotonic clock, from when it was made.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock(Instant);

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock(Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A clock that moves only when told (tests and scripted scenarios).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }
}

/// A clock chosen at run time: what a server's breaker runs on
/// ([`SystemClock`] normally; a [`ManualClock`] a test drives, through
/// `Options::breaker_clock`).
pub type SharedClock = std::sync::Arc<dyn Clock>;

/// A shared breaker: the state machine behind a lock, on a clock (what a
/// route holds; resilience4j's `CircuitBreaker`, Go's `sony/gobreaker`).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use service::breaker::{Breaker, Config, ManualClock, State, WindowKind};
/// let clock = Arc::new(ManualClock::default());
/// let cfg = Config { window: WindowKind::Count(4), minimum_calls: 4, wait_in_open: Duration::from_secs(1), ..Config::default() };
/// let b = Breaker::new(cfg, clock.clone()).unwrap();
/// for _ in 0..4 {
///     let p = b.try_acquire().unwrap();
///     b.record(p, false);
/// }
/// assert_eq!(b.state(), State::Open);
/// assert!(b.try_acquire().is_err(), "fails fast while open");
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(b.state(), State::HalfOpen);
/// ```
#[derive(Debug)]
pub struct Breaker<C: Clock = SystemClock> {
    clock: C,
    core: Mutex<BreakerCore>,
}

impl<C: Clock> Breaker<C> {
    /// A closed breaker on `clock`; a bad `config` is refused here, at
    /// configuration time.
    pub fn new(config: Config, clock: C) -> Result<Breaker<C>, ConfigError> {
        Ok(Breaker {
            clock,
            core: Mutex::new(BreakerCore::new(config)?),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BreakerCore> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state now.
    pub fn state(&self) -> State {
        let now = self.clock.now();
        self.lock().state(now)
    }

    /// The state as of the last call, for an observer that must change
    /// nothing: unlike [`state`](Breaker::state) it never moves the breaker
    /// (an open breaker whose period is over stays `Open` here until the
    /// next call or `state()`), so a sampler on a thread outside the
    /// runtime cannot cause a transition the runtime's trace would miss.
    pub fn peek(&self) -> State {
        self.lock().peek()
    }

    /// Asks to make a call now.
    pub fn try_acquire(&self) -> Result<Permit, Rejected> {
        let now = self.clock.now();
        self.lock().try_acquire(now)
    }

    /// Reports a call's outcome now.
    pub fn record(&self, permit: Permit, ok: bool) -> bool {
        let now = self.clock.now();
        self.lock().record(permit, now, ok)
    }

    /// Every transition so far.
    pub fn transitions(&self) -> Vec<Transition> {
        self.lock().transitions().to_vec()
    }

    /// Transitions into `to` so far.
    pub fn transitions_to(&self, to: State) -> usize {
        self.lock()
            .transitions()
            .iter()
            .filter(|t| t.to == to)
            .count()
    }

    /// The breaker's gauges and counters in Prometheus' text format, named
    /// `service_breaker_*` with a `breaker` label.
    pub fn prometheus(&self, name: &str) -> String {
        let state = self.state();
        let mut s = String::from(
            "# HELP service_breaker_state 1 for the breaker's current state.\n# TYPE service_breaker_state gauge\n",
        );
        for st in [State::Closed, State::Open, State::HalfOpen] {
            s += &format!(
                "service_breaker_state{{breaker=\"{name}\",state=\"{st}\"}} {}\n",
                u8::from(st == state)
            );
        }
        s += "# HELP service_breaker_transitions_total State changes, by the state entered.\n# TYPE service_breaker_transitions_total counter\n";
        for st in [State::Closed, State::Open, State::HalfOpen] {
            s += &format!(
                "service_breaker_transitions_total{{breaker=\"{name}\",to=\"{st}\"}} {}\n",
                self.transitions_to(st)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests;
