//! The `block_on` root: a G locked to its thread (Go's `LockOSThread`, with
//! `lockedm`, `startlockedm` and `stoplockedm`).
//!
//! `Runtime::block_on` polls its future on the calling thread: the future
//! need not be `Send`, so it can never move to another thread. In Go's terms
//! the root is a G whose `lockedm` is that thread, and the thread is an M
//! that runs that G and nothing else. (Go's `main` goroutine is an ordinary
//! G that any M may run; a goroutine that called `runtime.LockOSThread` is
//! the one shaped like our root.)
//!
//! Why the M must run only its root: if it also ran ordinary Gs, a G
//! blocked in `syscall` (or just running long) on that thread would keep
//! the root from being polled after it was woken, say by its `timeout`,
//! until the G returned. Other Ms can run the G's P meanwhile, but none of
//! them can poll the root.
//!
//! The protocol, as in Go's `proc.go`:
//!
//! * To poll the root, its M must hold a P, like any M running a G, so on
//!   `procs(1)` the root and the Gs still run one at a time.
//! * **`stoplockedm`**: the root returned `Pending`. Its M gives its P away
//!   (`releasep`, then `handoffp`: to another M if the P has work, else to
//!   the idle list) and parks. While it sleeps it may be the M that waits
//!   for the earliest timer, and it fires the timers that are due.
//! * **`ready`**: the root's waker finds its M parked. The root is
//!   runnable but only its own M may run it, so the waker finds that M a
//!   P: an idle P, handed over at once, or else the M is queued in
//!   `p_waiters` (where Go would queue the G).
//! * **`startlockedm`**: a P released for lack of work (`pidleput`) goes
//!   to a waiter first. Only then is the root's M unparked: one wake-up
//!   per wait of the root. While every P stays busy, the waiter waits,
//!   but not for long: an M that has just run a G hands its P to the
//!   waiter and stops (`stopm`) when its P is flagged `handoff_wanted`,
//!   which sysmon does once someone has waited 1 ms, and which a root
//!   that yielded does to the P it gives away (it lends the P for one G).
//!
//! Where this differs from Go: Go's `ready` puts a woken G in `runnext`,
//! so its P runs it next, and `schedule` hands the P to the G's locked M
//! right away. Each such hand-off costs two thread switches here (the
//! root's M wakes, and later another M to take the P back); done after
//! every G, it made a ping-pong bench 1.7x slower. Waiting for a P to
//! free up, with sysmon's bound, costs a woken root at most a few ms on a
//! saturated runtime, and nothing when a P is idle.
//!
//! The same queue serves an M coming back from `syscall` without a P (see
//! `syscall.rs`): it too holds a G in the middle of a poll that only it can
//! go on with.
//!
//! The root's state word settles the race between its waker and its M:
//!
//! ```text
//!   RUNNING --wake--> WOKEN            (the M polls again, or re-queues for a P)
//!   RUNNING --stoplockedm--> PARKED --wake--> READY --P handed--> RUNNING
//! ```
//!
//! A timeline on `procs(1)`:
//!
//! ```text
//!   root M:  poll root (P0) --Pending--> stoplockedm: handoffp(P0), park
//!   M2:                                  runs P0's Gs; one wakes the root:
//!                                        no idle P, root M into p_waiters
//!   M2:      out of Gs: pidleput(P0) --> P0 to root M, M2 stopm
//!            (or, after 1 ms, sysmon flags P0 and M2's next G ends with
//!            startlockedm)
//!   root M:  (unparked) poll root (P0) ...
//! ```

use std::sync::Weak;
use std::task::Wake;

use super::Shared;
use crate::context::MachineCtx;
use crate::loom::atomic::{AtomicU8, Ordering};
use crate::m::MHandle;
use std::sync::Arc;

/// Its M polls it (or is about to), and it was not woken since.
const RUNNING: u8 = 0;
/// Woken while its M still holds it: the M looks again after the poll.
const WOKEN: u8 = 1;
/// Its M gave its P away and sleeps until a waker finds it one.
const PARKED: u8 = 2;
/// Woken while parked: a P is on its way to its M.
const READY: u8 = 3;

/// The root future's waker and state: Go's G for the root, locked to the
/// `block_on` thread (its `lockedm`).
pub(crate) struct RootWaker {
    state: AtomicU8,
    m: Arc<MHandle>,
    /// Weak: the runtime's timers and tasks hold this waker.
    shared: Weak<Shared>,
}

impl RootWaker {
    /// The root locked to the M `m`, about to be polled.
    pub(crate) fn new(m: Arc<MHandle>, shared: &Arc<Shared>) -> Arc<Self> {
        Arc::new(RootWaker {
            state: AtomicU8::new(RUNNING),
            m,
            shared: Arc::downgrade(shared),
        })
    }

    /// The M this root is locked to.
    pub(crate) fn m(&self) -> &Arc<MHandle> {
        &self.m
    }

    /// Called by its M right before a poll: not woken (yet).
    pub(crate) fn start_poll(&self) {
        self.state.store(RUNNING, Ordering::SeqCst);
    }

    /// Whether the root was woken since its last poll began.
    pub(crate) fn is_woken(&self) -> bool {
        self.state.load(Ordering::SeqCst) == WOKEN
    }
}

impl Wake for RootWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::SeqCst);
        loop {
            let next = match state {
                RUNNING => WOKEN,
                PARKED => READY,
                _ => return, // already woken
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => break,
                Err(s) => state = s,
            }
        }
        if state == PARKED {
            // We took it from PARKED: finding its M a P is ours to do.
            match self.shared.upgrade() {
                Some(shared) => {
                    if shared.trace.enabled() {
                        let p = crate::context::with_current(|c| c.and_then(|c| c.pid()));
                        shared.trace_unblock(0, p);
                    }
                    shared.ready_lockedm(&self.m)
                }
                None => self.m.parker.unpark(),
            }
        }
    }
}

impl Shared {
    /// Go's `stoplockedm`: the root cannot go on (it returned `Pending`).
    /// Give the P away, then wait for one again (see `wait_for_p`): the
    /// caller holds a P when this returns.
    pub(crate) fn stoplockedm(self: &Arc<Self>, ctx: &MachineCtx, root: &RootWaker) {
        let held = ctx.take_p().expect("the root's M holds a P");
        if root.is_woken() {
            // The root yielded to the Gs on this P: lend the P for one G,
            // then have it back (`startlockedm`), as a yield would.
            self.ps[held.id()]
                .handoff_wanted
                .store(true, Ordering::Relaxed);
        }
        self.handoffp(held, Some(ctx.m.id));
        self.wait_for_p(ctx, root);
    }

    /// The root's M, without a P, sleeps until its root is woken and the
    /// waker (or an M after it) hands it a P. If the root was woken before
    /// the M could park, the M gets a P itself.
    pub(crate) fn wait_for_p(&self, ctx: &MachineCtx, root: &RootWaker) {
        if root
            .state
            .compare_exchange(RUNNING, PARKED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // WOKEN already: runnable now.
            let pid = self.acquire_p_blocking(ctx);
            ctx.hold(self.acquirep(ctx, pid));
            return;
        }
        let m = &ctx.m;
        loop {
            if let Some((pid, _)) = m.take_nextp() {
                ctx.hold(self.acquirep(ctx, pid));
                return;
            }
            // It may be the only M asleep: let it wait for the timers.
            let deadline = self.take_timer_role(&mut self.sched.lock(), m);
            self.counters.parks.fetch_add(1, Ordering::Relaxed);
            m.parker.park(deadline);
            if deadline.is_none() {
                continue;
            }
            let had_role = Self::drop_timer_role(&mut self.sched.lock(), m);
            if self.timers.due() {
                self.fire_timers();
            }
            if let Some((pid, _)) = m.take_nextp() {
                if had_role && self.timers.next_deadline().is_some() {
                    // Leaving to run the root: an idle M waits for timers.
                    self.timers_changed();
                }
                ctx.hold(self.acquirep(ctx, pid));
                return;
            }
        }
    }

    /// Go's `ready` for a G locked to the parked M `m`: hand `m` an idle P,
    /// or queue it for the next P to come free (`startlockedm`, `pidleput`).
    fn ready_lockedm(&self, m: &Arc<MHandle>) {
        let mut s = self.sched.lock();
        match self.pidleget_locked(&mut s) {
            Some(pid) => {
                drop(s);
                m.hand_p(pid, false);
            }
            None => {
                s.p_waiters.push_back(m.clone());
                self.np_waiters.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Whether anything besides the root wants the P this M holds: Gs in
    /// its queues or the global queue, or an M waiting for a P. If not, a
    /// root that woke itself (a yield) is polled again without a hand-off.
    pub(crate) fn p_wanted(&self, ctx: &MachineCtx) -> bool {
        let pid = ctx.pid().expect("the root's M holds a P");
        !self.ps[pid].runq_empty()
            || self.global_len.load(Ordering::SeqCst) > 0
            || self.np_waiters.load(Ordering::SeqCst) > 0
    }

    /// After a G: if this M's P is flagged `handoff_wanted` (by sysmon, or
    /// lent by a root that yielded), hand it to an M waiting for a P.
    /// Returns true if the P was handed over.
    #[inline]
    pub(crate) fn make_way_if_asked(self: &Arc<Self>, ctx: &MachineCtx) -> bool {
        let Some(pid) = ctx.pid() else {
            return false;
        };
        let p = &self.ps[pid];
        if !p.handoff_wanted.load(Ordering::Relaxed) {
            return false;
        }
        p.handoff_wanted.store(false, Ordering::Relaxed);
        self.startlockedm(ctx)
    }

    /// Go's `startlockedm`, for any M waiting for a P: if one waits, hand
    /// it this M's P. Called by an M that holds a P flagged
    /// `handoff_wanted` after it ran a G. Returns true if the P was handed
    /// over (the M then has none).
    #[inline]
    pub(crate) fn startlockedm(self: &Arc<Self>, ctx: &MachineCtx) -> bool {
        // One load on every schedule; the lock only when someone waits.
        if self.np_waiters.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let waiter = {
            let mut s = self.sched.lock();
            let w = s.p_waiters.pop_front();
            if w.is_some() {
                self.np_waiters.fetch_sub(1, Ordering::SeqCst);
            }
            w
        };
        let Some(waiter) = waiter else {
            return false;
        };
        // A spinning M stops spinning before it runs a G (`reset_spinning`).
        debug_assert!(!ctx.spinning.get(), "startlockedm from a spinning M");
        let pid = self.releasep_current(ctx);
        waiter.hand_p(pid, false);
        true
    }
}
