//! The scheduler's event trace, and its export to Chrome Trace Event JSON.
//!
//! Go's `runtime/trace` records what the scheduler does, event by event: a
//! goroutine created, started on a P, stopped (and why), a P going idle, an M
//! entering a syscall. `go tool trace` then draws one track per P with a bar
//! for every stretch a goroutine ran. This module is the same thing for our
//! runtime, at a smaller scale:
//!
//! * The scheduler calls [`Recorder::record`] at each interesting moment. When
//!   tracing is off (the default) that call is one predictable branch on a
//!   `bool`. When it is on, the event gets a timestamp (nanoseconds since the
//!   recorder was created, from one `Instant`) and is pushed onto one of a
//!   few buffers chosen by the M's id, so Ms on different threads rarely touch
//!   the same lock.
//! * [`Recorder::snapshot`] merges the buffers into a [`Trace`] sorted by time.
//!   A `Trace` is plain data (serde-serialisable) that lessons can count and
//!   query ([`Trace::count`], [`Trace::stops_by_reason`], [`Trace::runs`]).
//! * [`Trace::to_chrome_json`] turns it into the Chrome Trace Event format,
//!   which <https://ui.perfetto.dev> and `chrome://tracing` open: one track per
//!   P with a bar for each G run (start to stop, with the stop reason), idle
//!   stretches, steals and preemptions as markers, an arrow from the P that
//!   created a G to where it first ran, and one track per M for syscalls.
//!
//! ```
//! use runtime::{EventKind, StopReason, Trace, TraceEvent};
//!
//! let trace = Trace {
//!     procs: 1,
//!     events: vec![
//!         TraceEvent { ts_ns: 0, p: Some(0), m: 0, kind: EventKind::GoCreate { g: 1 } },
//!         TraceEvent { ts_ns: 1_000, p: Some(0), m: 0, kind: EventKind::GoStart { g: 1 } },
//!         TraceEvent {
//!             ts_ns: 5_000,
//!             p: Some(0),
//!             m: 0,
//!             kind: EventKind::GoStop { g: 1, reason: StopReason::Done },
//!         },
//!     ],
//! };
//! assert_eq!(trace.count(|k| matches!(k, EventKind::GoStart { .. })), 1);
//! assert_eq!(trace.runs()[0].duration_ns(), 4_000);
//! let json = trace.to_chrome_json();
//! assert!(json.contains("\"traceEvents\""));
//! ```
//!
//! The files, one concept each:
//!
//! * `event.rs`: the event model ([`Trace`], [`TraceEvent`], [`EventKind`],
//!   [`StopReason`]), plain serde-serialisable data;
//! * `recorder.rs`: the scheduler's recorder (sharded buffers, one branch
//!   when off);
//! * `runs.rs`: reading a trace: counts, G runs paired start to stop, those
//!   runs cut around their syscalls ([`Trace::run_slices`], used by the
//!   Chrome export and by the lessons' timeline), scheduling latencies;
//! * `chrome.rs`: the Chrome Trace Event export;
//! * `log.rs`: the program's own annotations ([`trace_log`], Go's
//!   `runtime/trace.Log`) and reading them back ([`Trace::user_logs`]).

mod chrome;
mod event;
mod log;
mod recorder;
mod runs;

pub use event::{EventKind, StopReason, Trace, TraceEvent, UserLog};
pub use log::trace_log;
pub(crate) use recorder::Recorder;
pub use runs::{GRun, RunSlice, SliceEnd};

#[cfg(all(test, not(loom)))]
mod tests;
