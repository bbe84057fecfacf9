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

/// Reads `RUNTIME_SCHEDTRACE` (see [`parse`]).
pub(crate) fn from_env() -> Result<Option<Duration>, String> {
    parse(std::env::var(SCHEDTRACE_ENV).ok().as_deref())
}

/// Parses a `RUNTIME_SCHEDTRACE` value: unset, empty or 0 means off,
/// otherwise a positive number of milliseconds.
pub(crate) fn parse(value: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match v.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(ms) => Ok(Some(Duration::from_millis(ms))),
        Err(_) => Err(format!(
            "{SCHEDTRACE_ENV}={v:?} is not a whole number of milliseconds \
             (try {SCHEDTRACE_ENV}=1000, or unset it)"
        )),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_env_value_is_milliseconds_or_off() {
        assert_eq!(parse(None), Ok(None));
        assert_eq!(parse(Some("")), Ok(None));
        assert_eq!(parse(Some("0")), Ok(None));
        assert_eq!(parse(Some(" 250 ")), Ok(Some(Duration::from_millis(250))));
        let err = parse(Some("1s")).unwrap_err();
        assert!(err.contains(SCHEDTRACE_ENV) && err.contains("1s"), "{err}");
    }

    #[test]
    fn the_line_has_go_s_fields_and_one_queue_length_per_p() {
        let rt = crate::Runtime::builder().procs(3).build().unwrap();
        let line = rt.schedtrace_line();
        assert!(line.starts_with("SCHED "), "{line}");
        for field in [
            "procs=3",
            "idleprocs=3",
            "threads=0",
            "spinningthreads=0",
            "idlethreads=0",
            "runqueue=0",
        ] {
            assert!(line.contains(field), "{field} missing from {line}");
        }
        assert!(line.ends_with("[0 0 0]"), "{line}");
    }
}
