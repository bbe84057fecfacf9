//! M: an OS thread that runs the scheduler (Go's `m` in runtime2.go).
//!
//! An M runs Gs only while it holds a P. Ms are created on demand by
//! `startm` when there is a P with work and no idle M to give it to (Go's
//! `newm`), and are never destroyed before shutdown: an M without work parks
//! in the idle list (`stopm`) and is reused. So the thread count is `procs`
//! plus the Ms blocked in `syscall` (whose Ps were handed to new Ms), plus
//! threads inside `block_on`, plus sysmon.
//!
//! The thread's body, `m_main`, is with the scheduler (`scheduler/proc.rs`,
//! beside `newm`, which starts it); this file is the M's shared half.
//!
//! Handing an M a P is a two-step: the giver stores the P's id in
//! `MHandle::nextp` (Go's `m.nextp`), then unparks it.

use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::park::Parker;

const NO_P: usize = usize::MAX;

/// The shared half of an M: how to wake it and what it was handed.
#[derive(Debug)]
pub(crate) struct MHandle {
    pub(crate) id: usize,
    pub(crate) parker: Parker,
    nextp: AtomicUsize,
    next_spinning: AtomicBool,
}

impl MHandle {
    pub(crate) fn new(id: usize) -> Self {
        MHandle {
            id,
            parker: Parker::new(),
            nextp: AtomicUsize::new(NO_P),
            next_spinning: AtomicBool::new(false),
        }
    }

    /// Go's `m.nextp = p`: the P this M must take when it wakes.
    pub(crate) fn hand_p(&self, pid: usize, spinning: bool) {
        self.next_spinning.store(spinning, Ordering::Relaxed);
        self.nextp.store(pid, Ordering::Release);
        self.parker.unpark();
    }

    /// Like `hand_p`, for a caller that holds the sched lock and unparks
    /// the M after releasing it.
    pub(crate) fn hand_p_no_unpark(&self, pid: usize) {
        self.next_spinning.store(false, Ordering::Relaxed);
        self.nextp.store(pid, Ordering::Release);
    }

    /// The P handed over, if any, and whether to start spinning.
    pub(crate) fn take_nextp(&self) -> Option<(usize, bool)> {
        // Only this M consumes `nextp`, and a giver stores it at most once
        // per registration (it took the M off an idle or waiting list under
        // the sched lock), so a load and a store suffice. (A swap would do
        // too, but loom 0.7 can return a stale value from a swap that follows
        // an earlier swap by the same thread; the load keeps the model sound.)
        let pid = self.nextp.load(Ordering::Acquire);
        if pid != NO_P {
            self.nextp.store(NO_P, Ordering::Relaxed);
        }
        (pid != NO_P).then(|| (pid, self.next_spinning.load(Ordering::Relaxed)))
    }
}
