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
//!
//! # Holding a P is a value
//!
//! Go's rule "an M runs Gs only while it holds a P, and only the P's M
//! touches its `runq` from the owner's side" lives in comments and in
//! `m.p`. Here it is [`HeldP`], a token: `acquirep` makes one, `releasep`,
//! `entersyscall` and `handoffp` consume it, and the owner-only operations
//! (`runqput`, `runqget`, stealing *into* this P's queue) take `&HeldP`.
//! The token carries the owner's half of the run queue (crossbeam's
//! `Worker`, or the ring's `RingOwner`), which the P keeps while nobody
//! holds it. It is neither `Clone` nor `Send`: it stays with the M that
//! acquired it, in that M's context (`context.rs`), where wakers running on
//! the M find it. Taking it out of the P is one compare-and-swap, so a bug
//! that had two Ms acquire one P panics instead of racing.
//!
//! ```text
//!   P (shared by all Ms)               HeldP (on the M that holds the P)
//!   runq: Stealer | Ring   <--------   owner: Worker | RingOwner
//!   owner slot: null while held        runqput / runqget / steal into
//! ```

use std::ptr;

use crate::loom::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Ordering};
use crate::runq::{LocalOwner, LocalQueue, RunQueueKind};
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
    /// The owner's half of `runq` while no M holds this P (a pointer from
    /// `Box::into_raw`); null while a [`HeldP`] has it.
    owner: AtomicPtr<LocalOwner>,
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
        let (runq, owner) = LocalQueue::new(kind);
        P {
            status: AtomicU8::new(P_IDLE),
            runnext: AtomicPtr::new(ptr::null_mut()),
            runq,
            owner: AtomicPtr::new(Box::into_raw(Box::new(owner))),
            schedtick: AtomicU64::new(0),
            syscalltick: AtomicU64::new(0),
            preempt: AtomicBool::new(false),
            handoff_wanted: AtomicBool::new(false),
            locked: AtomicBool::new(false),
            counters: PCounters::default(),
        }
    }

    /// Takes the owner's half of this P (P number `id`): the core of Go's
    /// `acquirep`. The caller has claimed the P by the scheduler's protocol
    /// (from the idle list, from `m.nextp`, or by winning the status CAS
    /// after a syscall); this makes that claim a value. Panics if another
    /// M holds the P: a broken protocol is a panic here, never a race.
    pub(crate) fn claim(&self, id: usize) -> HeldP {
        self.try_claim(id)
            .unwrap_or_else(|| panic!("P {id} acquired while another M holds it"))
    }

    /// [`claim`](P::claim), or `None` if the P is held.
    pub(crate) fn try_claim(&self, id: usize) -> Option<HeldP> {
        // Acquire: pairs with the release in `release`, so everything the
        // previous holder did with the owner's half happens-before our use.
        let ptr = self.owner.load(Ordering::Acquire);
        if ptr.is_null() {
            return None;
        }
        self.owner
            .compare_exchange(ptr, ptr::null_mut(), Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // SAFETY: `ptr` came from `Box::into_raw` (in `new` or `release`),
        // and our CAS took it out of the slot: no other copy of it is used
        // until `release` puts it back, so we may own the box.
        let owner = unsafe { Box::from_raw(ptr) };
        Some(HeldP { p: self, id, owner })
    }

    /// Gives the owner's half back to the P (the core of Go's `releasep`);
    /// returns the P's number for whoever takes it next.
    pub(crate) fn release(&self, held: HeldP) -> usize {
        self.check(&held);
        let HeldP { id, owner, .. } = held;
        // Release: pairs with the acquire in `try_claim`.
        self.owner.store(Box::into_raw(owner), Ordering::Release);
        id
    }

    /// Panics unless `held` is the token of this very P.
    #[inline]
    fn check(&self, held: &HeldP) {
        assert!(
            ptr::eq(held.p, self),
            "the token of P {} used on another P",
            held.id
        );
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
    /// Only the holder of this P can call it (`held`).
    pub(crate) fn runqput(
        &self,
        held: &HeldP,
        task: Notified,
        next: bool,
        overflow: &mut dyn FnMut(Vec<Notified>),
    ) {
        self.check(held);
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
        self.runq.push_back(&held.owner, task, overflow)
    }
    // ANCHOR_END: runqput

    /// Go's `runqget`: `runnext` first (returns `inherit = true`: it keeps the
    /// current time slice), then the head of `runq`. Holder only.
    pub(crate) fn runqget(&self, held: &HeldP) -> Option<(Notified, bool)> {
        self.check(held);
        if let Some(t) = self.take_runnext() {
            return Some((t, true));
        }
        self.runq.pop(&held.owner).map(|t| (t, false))
    }

    /// Go's `runqsteal` into this P (held by the caller) from `victim`:
    /// about half of the victim's queue, one G returned to run now, and how
    /// many moved in all.
    pub(crate) fn runqsteal(&self, held: &HeldP, victim: &P) -> Option<(Notified, usize)> {
        self.check(held);
        victim.runq.steal_into(&self.runq, &held.owner)
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

impl Drop for P {
    fn drop(&mut self) {
        // (A load rather than `get_mut`, which loom's atomics lack.)
        let ptr = self.owner.load(Ordering::Acquire);
        if !ptr.is_null() {
            // SAFETY: a non-null slot holds a pointer from `Box::into_raw`
            // that no token has taken (`&mut self`: nobody can now).
            drop(unsafe { Box::from_raw(ptr) });
        }
    }
}

// ANCHOR: heldp
/// Holding a P: Go's `m.p != nil`, as a value (see the module comment).
///
/// Made only by [`P::claim`] (from `acquirep`, `exitsyscall`, sysmon's
/// retake), consumed by [`P::release`] (from `releasep`, `entersyscall`,
/// `handoffp`). Not `Clone`, and not `Send` (the raw pointer): it cannot
/// be copied, nor leave the M that acquired it.
pub(crate) struct HeldP {
    /// Which P this is (compared, never dereferenced).
    p: *const P,
    id: usize,
    /// The owner's half of the P's run queue.
    owner: Box<LocalOwner>,
}
// ANCHOR_END: heldp

impl HeldP {
    /// The P's number (Go's `p.id`).
    pub(crate) fn id(&self) -> usize {
        self.id
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
    /// Gs this P's full local queue sent to the global queue (Go's
    /// `runqputslow` batches, counted in Gs).
    pub(crate) overflowed: AtomicU64,
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
