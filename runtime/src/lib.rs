//! A G/M/P work-stealing task runtime: Go's scheduler, in Rust, built to be
//! read.
//!
//! * A **G** is a task: a future in one heap cell with an atomic state word
//!   (`task/`). [`spawn`] creates one (Go's `go` statement).
//! * An **M** is an OS thread running the scheduler loop (`m.rs`,
//!   `scheduler/find.rs`). Ms are started on demand and parked when idle.
//! * A **P** is the right to run Gs (`p.rs`): `procs` of them (Go's
//!   GOMAXPROCS), each with a 256-slot local run queue and a `runnext` slot.
//!   An M runs Gs only while it holds a P.
//!
//! Around them, as in Go's `proc.go`: a global run queue checked every 61
//! ticks, work stealing (half a victim's queue), a bounded number of spinning
//! Ms, cooperative preemption by poll budget and by `sysmon`, blocking calls
//! that hand their P to another M ([`syscall`]), timers ([`sleep`],
//! [`timeout`]), counters ([`Metrics`]), Go's schedtrace line, and an event
//! trace exported as Chrome Trace Event JSON ([`Trace`]), and labels that
//! follow a G into the Gs it spawns ([`with_labels`], Go's `pprof.Do`).
//! Network I/O goes through Go's netpoller design ([`net`]): a G that
//! waits on a socket parks in the poller and holds neither thread nor P.
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = runtime::Runtime::builder().procs(2).build()?;
//! let v = rt.block_on(async {
//!     let h = runtime::spawn(async { 1 + 1 });       // a new G
//!     runtime::yield_now().await;                      // always yields
//!     runtime::preempt_point().await;                  // yields only when asked to
//!     runtime::sleep(Duration::from_millis(1)).await;  // a timer readies the G
//!     let r = runtime::timeout(Duration::from_millis(5), std::future::pending::<()>()).await;
//!     assert!(r.is_err());                             // Err(Elapsed)
//!     let n = runtime::syscall(|| 40);                 // P handed off while blocked
//!     h.await.unwrap() + n
//! });
//! assert_eq!(v, 42);
//! let m: runtime::Metrics = rt.metrics();
//! assert_eq!(m.procs, 2);
//! # Ok::<(), runtime::BuildError>(())
//! ```
//!
//! Build with `.trace(true)` to record events and read them with
//! [`Runtime::trace`]; choose Go's ring as the local run queue with
//! `.run_queue(RunQueueKind::GoRing)`; set `RUNTIME_SCHEDTRACE=1000` to print
//! a schedtrace line every second (or call [`Runtime::schedtrace_line`]).
//!
//! Every atomic, lock, condition variable and thread goes through the
//! `loom` facade module, so the protocols are model-checked under
//! `RUSTFLAGS="--cfg loom"`.
//!
//! # Where this differs from Go, and why
//!
//! * **Preemption is cooperative.** A future gives its thread back only by
//!   returning `Pending`, so a G is preempted at a [`preempt_point`] (budget
//!   spent, or flagged by sysmon after 10 ms), never in the middle of a
//!   loop. Go 1.14+ also interrupts tight loops with a signal.
//! * **`yield_now` re-queues on the local queue's tail**, where Go's
//!   `Gosched` uses the global queue; on one P the order is the same.
//! * **`runnext` inherits the time slice only while the slice lasts**: a G
//!   found in `runnext` after the budget is spent goes to the back of the
//!   queue. Go relies on sysmon's asynchronous preemption for that.
//! * **The root future is a G locked to the `block_on` thread.** Go's
//!   `main` is an ordinary goroutine that any M may run; our root need not
//!   be `Send`, so it never leaves the calling thread, like a goroutine
//!   after `runtime.LockOSThread`. That thread is the root's `lockedm`: it
//!   runs the root and nothing else, and holds a P only while it polls it
//!   (so on `procs(1)` one thing runs at a time, root included). While the
//!   root waits, the M hands its P to another M and sleeps (`stoplockedm`,
//!   `handoffp`); the root's waker hands the M an idle P, or queues it for
//!   the next P to free up (`startlockedm`). So a G blocked in [`syscall`]
//!   never holds up the root's `timeout`. Each wait of the root costs a
//!   hand-off between threads, where Go's unlocked `main` stays on its M;
//!   to keep those few, a woken root waits for a P to run out of work
//!   rather than taking one from a busy M at once (Go's `ready` would put
//!   it in `runnext`): sysmon makes a busy P give way after 1 ms. In a
//!   trace the root is G 0.
//! * **A G coming back from a syscall waits for a P with its M**: it is in
//!   the middle of a poll on that thread's stack, so it cannot be queued
//!   the way Go's `exitsyscall0` queues the G and parks the M.
//! * **One timer queue per runtime**, not one heap per P; one idle M sleeps
//!   until its earliest deadline.
//! * **sysmon never sleeps longer than 10 ms**, even when every P is idle
//!   (Go's sysmon can sleep until woken).

mod builder;
mod context;
mod coop;
mod gstatus;
mod labels;
mod loom;
mod m;
mod metrics;
pub mod net;
mod p;
#[cfg(all(not(loom), feature = "bench-internals"))]
#[doc(hidden)]
pub mod padding_probe;
mod park;
mod runq;
mod runtime;
mod schedtrace;
mod scheduler;
pub mod spsc;
pub mod sync;
mod sysmon;
mod task;
mod timer;
mod trace;

#[cfg(all(test, loom))]
mod loom_models;

pub use builder::{BuildError, Builder, MAX_PROCS};
pub use context::current_g_id;
pub use coop::{PreemptPoint, YieldNow, preempt_point, yield_now};
pub use gstatus::{GState, Goroutine, WaitReason, goroutines};
pub use labels::{Labels, WithLabels, current_labels, with_current_labels, with_labels};
pub use metrics::Metrics;
pub use runq::RunQueueKind;
pub use runtime::{Runtime, spawn, syscall};
pub use schedtrace::SCHEDTRACE_ENV;
pub use task::{JoinError, JoinHandle};
pub use timer::{Elapsed, Sleep, Timeout, sleep, sleep_until, timeout};
pub use trace::{
    EventKind, GRun, RunSlice, SliceEnd, StopReason, Trace, TraceEvent, UserLog, trace_log,
};
