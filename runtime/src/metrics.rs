//! Counters: what the scheduler did, for lessons and tests, as plain data.
//!
//! The counting lives with the scheduler (`scheduler/counters.rs`): hot
//! counters (polls, spawns, steals, preemptions) in each P, bumped by the
//! P's holder without a locked instruction; rare ones (parks, hand-offs,
//! timers) shared atomics. [`Runtime::metrics`] sums them into a
//! [`Metrics`] snapshot, which serialises with serde, so a lesson can
//! print it as JSON. The figures are read without stopping the world, so a
//! snapshot taken while Gs run is approximately, not exactly, consistent.
//!
//! [`Runtime::metrics`]: crate::Runtime::metrics

use serde::Serialize;

/// Counters shared by all Ms (events too rare to be worth per-P slots).
/// A snapshot of the runtime's counters (see [`Runtime::metrics`]).
///
/// [`Runtime::metrics`]: crate::Runtime::metrics
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Metrics {
    /// Number of Ps (Go's GOMAXPROCS).
    pub procs: usize,
    /// Ps in the idle list (Go's `sched.npidle`).
    pub idle_procs: usize,
    /// Ms alive: scheduler threads, including threads inside `block_on`,
    /// not counting sysmon (Go's `mcount()` minus sysmon).
    pub threads: usize,
    /// Ms parked in the idle list (Go's `sched.nmidle`).
    pub idle_threads: usize,
    /// Ms spinning, looking for work to steal (Go's `sched.nmspinning`).
    pub spinning_threads: usize,
    /// M threads ever started (Go's `newm` calls).
    pub threads_started: u64,
    /// Gs spawned.
    pub tasks_spawned: u64,
    /// Gs that ran to completion (or panicked).
    pub tasks_completed: u64,
    /// Gs alive: spawned, not yet completed (Go's `runtime.NumGoroutine`).
    pub tasks_alive: usize,
    /// Polls of Gs (each is one run of a G on a P).
    pub polls: u64,
    /// Successful steals (Go's `runqsteal` that got something).
    pub steals: u64,
    /// Gs moved by those steals.
    pub stolen_tasks: u64,
    /// Gs pushed onto the global queue (remote wakes, local overflow).
    pub global_queue_pushes: u64,
    /// Of those, Gs moved there by a full local queue (Go's `runqputslow`).
    pub local_overflows: u64,
    /// Gs waiting in the global queue now (Go's `sched.runqsize`).
    pub global_queue_len: usize,
    /// Gs waiting in each P's local queue now, `runnext` included.
    pub local_queue_lens: Vec<usize>,
    /// `yield_now` calls.
    pub yields: u64,
    /// Gs that yielded at a preemption point because their budget was spent.
    pub preemptions_budget: u64,
    /// Gs that yielded at a preemption point because sysmon asked them to.
    pub preemptions_sysmon: u64,
    /// Times sysmon flagged a P whose G ran for more than 10 ms.
    pub preempt_requests: u64,
    /// `syscall` calls made on an M holding a P.
    pub syscalls: u64,
    /// Ps handed to another M because they had work (Go's `handoffp`).
    pub handoffs: u64,
    /// Ps taken by sysmon from an M blocked in a syscall (Go's `retake`).
    pub retakes: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Timers registered and pending now.
    pub timers_pending: usize,
    /// Times an M parked (idle, or waiting for a P).
    pub parks: u64,
    /// Times an idle M was woken and handed a P.
    pub unparks: u64,
    /// Times the netpoller ran `epoll_wait` (Go's `netpoll`), blocking or not.
    pub netpoll_polls: u64,
    /// Of those, the polls of an idle M blocked in `epoll_wait` until an
    /// event, a timer or a wake-up.
    pub netpoll_blocking_polls: u64,
    /// Gs readied by the netpoller (their socket became ready).
    pub netpoll_readied: u64,
    /// Gs waiting on a socket now (Go's `netpollWaiters`).
    pub netpoll_waiters: usize,
    /// Sockets registered with the poller now.
    pub sockets: usize,
    /// Channel sends and receives that parked a G, counted when the wait
    /// ended (Go's block profile events with `waitReasonChan*`).
    pub chan_waits: u64,
    /// `Mutex`, `RwLock` and `WaitGroup` waits that parked a G.
    pub sync_waits: u64,
    /// Total time Gs spent parked in those waits, in nanoseconds (what Go's
    /// block profile sums).
    pub wait_ns: u64,
    /// Times a `runtime::sync::Mutex` entered starvation mode (a waiter
    /// passed over for more than 1 ms).
    pub mutex_starvations: u64,
    /// Times a starving mutex was handed directly to its front waiter.
    pub mutex_handoffs: u64,
}
