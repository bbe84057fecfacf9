//! The scheduler's counters, and their sum into [`Metrics`].
//!
//! Per-P counters (`PCounters`, `p.rs`) are written only by the P's holder;
//! the rare events below are shared atomics, bumped by whoever sees them.

use super::Shared;
use crate::loom::atomic::{AtomicU64, Ordering};
use crate::metrics::Metrics;

/// Counters of rare events, shared by every M.
#[derive(Default)]
pub(crate) struct SharedCounters {
    pub(crate) spawned_remote: AtomicU64,
    pub(crate) completed_remote: AtomicU64,
    pub(crate) global_pushes: AtomicU64,
    pub(crate) handoffs: AtomicU64,
    pub(crate) retakes: AtomicU64,
    pub(crate) timers_fired: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) unparks: AtomicU64,
    pub(crate) threads_started: AtomicU64,
    pub(crate) preempt_requests: AtomicU64,
    pub(crate) chan_waits: AtomicU64,
    pub(crate) sync_waits: AtomicU64,
    pub(crate) wait_ns: AtomicU64,
    pub(crate) mutex_starvations: AtomicU64,
    pub(crate) mutex_handoffs: AtomicU64,
}

impl Shared {
    /// Sums the counters into a [`Metrics`] snapshot (`Runtime::metrics`).
    pub(crate) fn metrics(&self) -> Metrics {
        let shared = self;
        let sum = |f: fn(&crate::p::PCounters) -> &AtomicU64| -> u64 {
            shared
                .ps
                .iter()
                .map(|p| f(&p.counters).load(Ordering::Relaxed))
                .sum()
        };
        let c = &shared.counters;
        let net = shared.netpoll.get();
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let spawned = sum(|c| &c.spawned) + r(&c.spawned_remote);
        let completed = sum(|c| &c.completed) + r(&c.completed_remote);
        Metrics {
            procs: shared.procs(),
            idle_procs: shared.npidle.load(Ordering::Relaxed),
            threads: shared.nthreads.load(Ordering::Relaxed),
            idle_threads: shared.nmidle.load(Ordering::Relaxed),
            spinning_threads: shared.nmspinning.load(Ordering::Relaxed),
            threads_started: r(&c.threads_started),
            tasks_spawned: spawned,
            tasks_completed: completed,
            tasks_alive: shared.owned.len(),
            polls: sum(|c| &c.polls),
            steals: sum(|c| &c.steals),
            stolen_tasks: sum(|c| &c.stolen),
            global_queue_pushes: r(&c.global_pushes),
            local_overflows: sum(|c| &c.overflowed),
            global_queue_len: shared.global_len.load(Ordering::Relaxed),
            local_queue_lens: shared.ps.iter().map(|p| p.runq_len()).collect(),
            yields: sum(|c| &c.yields),
            preemptions_budget: sum(|c| &c.preempt_budget),
            preemptions_sysmon: sum(|c| &c.preempt_sysmon),
            preempt_requests: r(&c.preempt_requests),
            syscalls: sum(|c| &c.syscalls),
            handoffs: r(&c.handoffs),
            retakes: r(&c.retakes),
            timers_fired: r(&c.timers_fired),
            timers_pending: shared.timers.len(),
            parks: r(&c.parks),
            unparks: r(&c.unparks),
            netpoll_polls: net.map_or(0, |p| r(&p.polls)),
            netpoll_blocking_polls: net.map_or(0, |p| r(&p.blocking_polls)),
            netpoll_readied: net.map_or(0, |p| r(&p.readied)),
            netpoll_waiters: net.map_or(0, |p| p.waiters().load(Ordering::Relaxed)),
            sockets: net.map_or(0, |p| p.registered()),
            chan_waits: r(&c.chan_waits),
            sync_waits: r(&c.sync_waits),
            wait_ns: r(&c.wait_ns),
            mutex_starvations: r(&c.mutex_starvations),
            mutex_handoffs: r(&c.mutex_handoffs),
        }
    }
}
