//! Configuring a runtime: [`Builder`] and [`BuildError`].
//!
//! The knobs a lesson turns: how many Ps (`procs`, Go's GOMAXPROCS), whether
//! to record an event trace, which local run-queue backend, and the
//! schedtrace interval. Bad values are an error naming the value and the
//! accepted range, never a panic.

use std::fmt;
use std::time::Duration;

use crate::runq::RunQueueKind;

/// The largest accepted `procs` (Go allows up to 2^31 - 1; past a few
/// hundred here it is a typo, not a machine).
pub const MAX_PROCS: usize = 1024;

/// Builds a [`Runtime`](crate::Runtime).
///
/// ```
/// use runtime::{Runtime, RunQueueKind};
/// let rt = Runtime::builder()
///     .procs(2)                            // GOMAXPROCS
///     .trace(true)                         // record events for rt.trace()
///     .run_queue(RunQueueKind::GoRing)     // Go's 256-slot ring
///     .build()
///     .expect("valid settings");
/// assert_eq!(rt.metrics().procs, 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) procs: usize,
    pub(crate) trace: bool,
    pub(crate) run_queue: RunQueueKind,
    pub(crate) schedtrace: SchedtraceSetting,
}

/// Where the schedtrace interval comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchedtraceSetting {
    /// Not set on the builder: read `RUNTIME_SCHEDTRACE` at `build`.
    FromEnv,
    /// Set by [`Builder::schedtrace`]: print every `Duration`, or never.
    Every(Option<Duration>),
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            procs: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_PROCS),
            trace: false,
            run_queue: RunQueueKind::default(),
            schedtrace: SchedtraceSetting::FromEnv,
        }
    }
}

impl Builder {
    /// A builder with the defaults: one P per CPU, no trace, crossbeam
    /// deques, schedtrace from `RUNTIME_SCHEDTRACE`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of Ps, Go's GOMAXPROCS: at most this many Gs run at once.
    /// Must be in `1..=MAX_PROCS`.
    pub fn procs(mut self, procs: usize) -> Self {
        self.procs = procs;
        self
    }

    /// Record scheduler events (G create/start/stop, steals, P idle/busy,
    /// syscalls), read with [`Runtime::trace`](crate::Runtime::trace).
    pub fn trace(mut self, enabled: bool) -> Self {
        self.trace = enabled;
        self
    }

    /// Which local run queue each P uses.
    pub fn run_queue(mut self, kind: RunQueueKind) -> Self {
        self.run_queue = kind;
        self
    }

    /// Print the schedtrace line to stderr every `every` (`None`: never),
    /// overriding the `RUNTIME_SCHEDTRACE` environment variable.
    pub fn schedtrace(mut self, every: Option<Duration>) -> Self {
        self.schedtrace = SchedtraceSetting::Every(every.filter(|d| !d.is_zero()));
        self
    }

    /// Starts the runtime: creates the Ps and sysmon. Ms (threads) are
    /// started on demand.
    ///
    /// ```
    /// let err = runtime::Runtime::builder().procs(0).build().unwrap_err();
    /// assert!(err.to_string().contains("procs"));
    /// ```
    pub fn build(self) -> Result<crate::Runtime, BuildError> {
        if self.procs == 0 || self.procs > MAX_PROCS {
            return Err(BuildError::InvalidProcs { procs: self.procs });
        }
        let schedtrace = match self.schedtrace {
            SchedtraceSetting::Every(every) => every,
            SchedtraceSetting::FromEnv => {
                crate::schedtrace::from_env().map_err(BuildError::InvalidSchedtrace)?
            }
        };
        crate::runtime::Runtime::start(self, schedtrace)
    }
}

/// Why a runtime could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `procs` was 0 or above [`MAX_PROCS`].
    InvalidProcs {
        /// The value given.
        procs: usize,
    },
    /// `RUNTIME_SCHEDTRACE` held something other than milliseconds.
    InvalidSchedtrace(String),
    /// The OS refused to start the sysmon thread.
    Thread(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidProcs { procs } => write!(
                f,
                "invalid procs (GOMAXPROCS) {procs}: it must be between 1 and {MAX_PROCS}; \
                 use Runtime::builder().procs(n) with n in that range"
            ),
            BuildError::InvalidSchedtrace(msg) => f.write_str(msg),
            BuildError::Thread(e) => write!(f, "could not start the sysmon thread: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Thread(e) => Some(e),
            _ => None,
        }
    }
}
