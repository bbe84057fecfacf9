//! P: a processor, the right to run Gs (Go's `p` in runtime2.go).
//!
//! There are exactly `procs` Ps (Go's GOMAXPROCS). An M must hold a P to run
//! Gs, so `procs` bounds how many Gs run at once however many Ms (threads)
//! exist. A P carries what a G needs to be scheduled cheaply:
//!
//! * `runq`: the local run queue, pushed and popped only by the owning M,
//!   stolen from by others (see `runq/`).
//! * `runnext`: one G that runs next, ahead of `runq`: the G most recently
//!   readied or spawned by the running G. It inherits the current time slice,
//!   so a pair of Gs that ping-pong do not wait behind the whole queue.
//! * `status`: Go's `_Pidle`, `_Prunning`, `_Psyscall`. Who moves the status
//!   owns the P: `pidleget` takes an idle P, `entersyscall` leaves it in
//!   `_Psyscall` for either its M (back from the call, by CAS) or sysmon
//!   (retaking it, by CAS) to claim. Exactly one CAS wins.
//! * `schedtick` / `syscalltick`: counters sysmon compares between its rounds
//!   to tell that a G has run too long or a syscall has blocked too long.
//! * `preempt` / `handoff_wanted`: sysmon's requests to the P's M: yield at
//!   the next preemption point; hand the P to an M waiting for one.
//! * per-P counters, written only by the owner (no contended atomics on the
//!   hot path), summed by `Runtime::metrics`.

use std::ptr;

use crate::loom::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};
use crate::runq::{LocalQueue, RunQueueKind};
use crate::task::{Header, Notified};

/// Go's `_Pidle`: in the idle list (or in transit to an M).
pub(crate) const P_IDLE: u8 = 0;
/// Go's `_Prunning`: owned by an M running Gs.
pub(crate) const P_RUNNING: u8 = 1;
/// Go's `_Psyscall`: its M is blocked in `syscall`; up for retaking.
pub(crate) const P_SYSCALL: u8 = 2;

/// One P.
pub(crate) struct P {
    pub(crate) status: AtomicU8,
    runnext: AtomicPtr<Header>,
    pub(crate) runq: LocalQueue,
    /// Incremented at every new time slice (Go's `p.schedtick`).
    pub(crate) schedtick: AtomicU64,
    /// Incremented at every syscall entry and exit (Go's `p.syscalltick`).
    pub(crate) syscalltick: AtomicU64,
    /// Set by sysmon: the running G should yield at its next preemption point
    /// (Go's `gp.preempt`, kept on the P since the P knows which G runs).
    pub(crate) preempt: AtomicBool,
    /// Set by sysmon: an M waits for a P (a `block_on` root's, or one back
    /// from a syscall); this P's M hands it over after its current G
    /// (`startlockedm`).
    pub(crate) handoff_wanted: AtomicBool,
    /// Held by a `block_on` root's M, which runs only its root: a G in this
    /// P's `runnext` will not be run by this P's M, so a thief need not
    /// give that M time to get to it (`steal_runnext`).
    pub(crate) locked: AtomicBool,
    pub(crate) counters: PCounters,
}

impl P {
    pub(crate) fn new(kind: RunQueueKind) -> Self {
        P {
            status: AtomicU8::new(P_IDLE),
            runnext: AtomicPtr::new(ptr::null_mut()),
            runq: LocalQueue::new(kind),
            schedtick: AtomicU64::new(0),
            syscalltick: AtomicU64::new(0),
            preempt: AtomicBool::new(false),
            handoff_wanted: AtomicBool::new(false),
            locked: AtomicBool::new(false),
            counters: PCounters::default(),
        }
    }

    /// Starts a new time slice on this P (the P side of Go's `execute`):
    /// sysmon sees `schedtick` move, and a preemption request for the
    /// previous G is dropped.
    #[inline]
    pub(crate) fn begin_slice(&self) {
        bump(&self.schedtick);
        if self.preempt.load(Ordering::Relaxed) {
            self.preempt.store(false, Ordering::Relaxed);
        }
    }

    /// Counts one poll of a G on this P.
    #[inline]
    pub(crate) fn count_poll(&self) {
        bump(&self.counters.polls);
    }

    // ANCHOR: runqput
    /// Go's `runqput`: with `next`, `task` goes to `runnext` and the G there
    /// before is kicked to the tail of `runq`; overflow goes to `global`.
    ///
    /// # Safety
    /// The caller's M must own this P.
    pub(crate) unsafe fn runqput(
        &self,
        task: Notified,
        next: bool,
        overflow: &mut dyn FnMut(Vec<Notified>),
    ) {
        let task = if next {
            let old = self
                .runnext
                .swap(task.into_raw().as_ptr(), Ordering::AcqRel);
            match ptr::NonNull::new(old) {
                None => return,
                // SAFETY: runnext holds a reference, now ours.
                Some(old) => unsafe { Notified::from_raw(old) },
            }
        } else {
            task
        };
        // SAFETY: forwarded from the caller.
        unsafe { self.runq.push_back(task, overflow) }
    }
    // ANCHOR_END: runqput

    /// Go's `runqget`: `runnext` first (returns `inherit = true`: it keeps the
    /// current time slice), then the head of `runq`.
    ///
    /// # Safety
    /// The caller's M must own this P.
    pub(crate) unsafe fn runqget(&self) -> Option<(Notified, bool)> {
        if let Some(t) = self.take_runnext() {
            return Some((t, true));
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.runq.pop() }.map(|t| (t, false))
    }

    /// Whether a G waits in `runnext`.
    pub(crate) fn has_runnext(&self) -> bool {
        !self.runnext.load(Ordering::Relaxed).is_null()
    }

    /// Takes `runnext` (the owner, or a thief on its last steal pass).
    pub(crate) fn take_runnext(&self) -> Option<Notified> {
        if self.runnext.load(Ordering::Relaxed).is_null() {
            return None;
        }
        let p = self.runnext.swap(ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: a non-null runnext is a reference we now own.
        ptr::NonNull::new(p).map(|p| unsafe { Notified::from_raw(p) })
    }

    /// Go's `runqempty`: no G in `runq` nor `runnext`.
    pub(crate) fn runq_empty(&self) -> bool {
        self.runq.is_empty() && self.runnext.load(Ordering::Acquire).is_null()
    }

    /// Queued Gs, `runnext` included.
    pub(crate) fn runq_len(&self) -> usize {
        self.runq.len() + usize::from(!self.runnext.load(Ordering::Acquire).is_null())
    }
}

/// Counters kept per P. Only the P's owner writes them, so a bump is a plain
/// load and store (no locked instruction); `metrics()` reads them from any
/// thread.
#[derive(Default)]
pub(crate) struct PCounters {
    pub(crate) spawned: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) stolen: AtomicU64,
    pub(crate) yields: AtomicU64,
    pub(crate) preempt_budget: AtomicU64,
    pub(crate) preempt_sysmon: AtomicU64,
    pub(crate) syscalls: AtomicU64,
    pub(crate) global_pushes: AtomicU64,
}

/// Adds one to an owner-only counter.
#[inline]
pub(crate) fn bump(c: &AtomicU64) {
    bump_by(c, 1);
}

/// Adds `n` to an owner-only counter.
#[inline]
pub(crate) fn bump_by(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}
