//! The schedtrace line (Go's `GODEBUG=schedtrace=1000`).
//!
//! Go prints, every interval, one line summarising the scheduler:
//!
//! ```text
//! SCHED 1004ms: gomaxprocs=4 idleprocs=1 threads=6 spinningthreads=1 idlethreads=2 runqueue=0 [3 0 1 0]
//! ```
//!
//! This runtime prints the same with `procs=` for `gomaxprocs=`, to stderr,
//! from sysmon, when the environment variable `RUNTIME_SCHEDTRACE=<ms>` is
//! set (or `Builder::schedtrace` is used); [`Runtime::schedtrace_line`] gives
//! the line on demand. The bracket lists each P's local queue length,
//! `runnext` included; `runqueue` is the global queue. `threads` counts the
//! scheduler's Ms (not sysmon).
//!
//! [`Runtime::schedtrace_line`]: crate::Runtime::schedtrace_line

use std::time::Duration;

use crate::loom::atomic::Ordering;
use crate::scheduler::Shared;

/// The environment variable that turns the periodic line on.
pub const SCHEDTRACE_ENV: &str = "RUNTIME_SCHEDTRACE";

pub(crate) fn line(shared: &Shared) -> String {
    let ms = shared.start.elapsed().as_millis();
    let lens: Vec<String> = shared.ps.iter().map(|p| p.runq_len().to_string()).collect();
    format!(
        "SCHED {ms}ms: procs={} idleprocs={} threads={} spinningthreads={} idlethreads={} runqueue={} [{}]",
        shared.procs(),
        shared.npidle.load(Ordering::Relaxed),
        shared.nthreads.load(Ordering::Relaxed),
        shared.nmspinning.load(Ordering::Relaxed),
        shared.nmidle.load(Ordering::Relaxed),
        shared.global_len.load(Ordering::Relaxed),
        lens.join(" ")
    )
}

/// Parses `RUNTIME_SCHEDTRACE`: unset or empty means off, otherwise a
/// positive number of milliseconds.
pub(crate) fn from_env() -> Result<Option<Duration>, String> {
    match std::env::var(SCHEDTRACE_ENV) {
        Err(_) => Ok(None),
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(ms) => Ok(Some(Duration::from_millis(ms))),
            Err(_) => Err(format!(
                "{SCHEDTRACE_ENV}={v:?} is not a number of milliseconds (try {SCHEDTRACE_ENV}=1000, or unset it)"
            )),
        },
    }
}
