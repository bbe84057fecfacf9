//! Ms and Ps changing hands: Go's `wakep`, `startm`, `stopm`, `handoffp`,
//! `pidleget`, `pidleput`, `acquirep`, `releasep`.
//!
//! The policy, as in Go:
//!
//! * When a G becomes runnable, `wakep` starts (or unparks) one more M only
//!   if there is an idle P for it and no M is already spinning. A spinning M
//!   is one looking for work to steal; one is enough to pick the new G up,
//!   and it will itself wake another when it finds work (`reset_spinning`),
//!   so parallelism ramps up one M at a time instead of in a thundering herd.
//! * An M that finds no work gives its P back (`pidleput`) and parks in
//!   `stopm` until `startm` hands it a P. Ms waiting for a P to continue a G
//!   (back from a syscall) get a released P before the idle list does.
//! * One idle M sleeps with a deadline, the earliest timer's; the others
//!   sleep until woken.

use std::time::Instant;

use super::{Sched, Shared};
use crate::context::MachineCtx;
use crate::loom::atomic::{Ordering, fence};
use crate::m::MHandle;
use crate::p::{HeldP, P_IDLE, P_RUNNING};
use crate::trace::EventKind;
use std::sync::Arc;

impl Shared {
    /// Go's `wakep`: try to get one more M running, spinning, to look for
    /// work, if that can help.
    pub(crate) fn wakep(self: &Arc<Self>) {
        // Pairs with the fence in `find_runnable` after a spinning M gives up:
        // either it sees the work we just queued, or we see it not spinning.
        fence(Ordering::SeqCst);
        if self.npidle.load(Ordering::SeqCst) == 0 {
            return;
        }
        if self.nmspinning.load(Ordering::SeqCst) != 0
            || self
                .nmspinning
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return;
        }
        self.startm(None, true);
    }

    /// Go's `startm`: run P `pid` (or an idle P) on an idle M, creating an M
    /// if none is idle. With `spinning`, the caller already counted the new
    /// M in `nmspinning`.
    pub(crate) fn startm(self: &Arc<Self>, pid: Option<usize>, spinning: bool) {
        let mut s = self.sched.lock();
        let pid = match pid.or_else(|| self.pidleget_locked(&mut s)) {
            Some(pid) => pid,
            None => {
                drop(s);
                if spinning {
                    self.nmspinning.fetch_sub(1, Ordering::SeqCst);
                }
                return;
            }
        };
        if self.is_shutdown() || !self.config.spawn_threads && s.midle.is_empty() {
            let waiter = self.pidleput_locked(&mut s, pid);
            drop(s);
            if spinning {
                self.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            if let Some(w) = waiter {
                w.parker.unpark();
            }
            return;
        }
        let m = s.midle.pop();
        if let Some(m) = &m {
            self.nmidle.fetch_sub(1, Ordering::Relaxed);
            if s.timer_sleeper.as_ref().is_some_and(|t| Arc::ptr_eq(t, m)) {
                s.timer_sleeper = None;
            }
        }
        drop(s);
        match m {
            Some(m) => {
                self.counters.unparks.fetch_add(1, Ordering::Relaxed);
                m.hand_p(pid, spinning);
            }
            None => self.newm(pid, spinning),
        }
    }

    /// Go's `newm`: a new OS thread that starts with P `pid`.
    fn newm(self: &Arc<Self>, pid: usize, spinning: bool) {
        let shared = self.clone();
        let m = Arc::new(MHandle::new(self.new_m_id()));
        self.nthreads.fetch_add(1, Ordering::SeqCst);
        self.counters
            .threads_started
            .fetch_add(1, Ordering::Relaxed);
        let name = format!("runtime-m{}", m.id);
        match crate::loom::spawn_named(name, move || m_main(shared, m, pid, spinning)) {
            Ok(handle) => self.threads.lock().push(handle),
            Err(e) => {
                // Out of threads: give the P back; the work stays queued for
                // the Ms that exist. Go would throw here.
                eprintln!("runtime: failed to start an M thread: {e}");
                self.nthreads.fetch_sub(1, Ordering::SeqCst);
                if spinning {
                    self.nmspinning.fetch_sub(1, Ordering::SeqCst);
                }
                self.pidleput(pid);
            }
        }
    }

    /// Go's `pidleget`: take an idle P, if any (caller holds the lock).
    pub(crate) fn pidleget_locked(&self, s: &mut Sched) -> Option<usize> {
        let pid = s.pidle.pop()?;
        self.npidle.fetch_sub(1, Ordering::SeqCst);
        Some(pid)
    }

    /// Go's `pidleget`, taking the lock.
    pub(crate) fn pidleget(&self) -> Option<usize> {
        let mut s = self.sched.lock();
        self.pidleget_locked(&mut s)
    }

    /// Go's `pidleput`, except that an M waiting for a P gets it directly.
    /// Returns that M, to unpark once the lock is released.
    #[must_use]
    pub(crate) fn pidleput_locked(&self, s: &mut Sched, pid: usize) -> Option<Arc<MHandle>> {
        self.ps[pid].status.store(P_IDLE, Ordering::Release);
        if let Some(w) = s.p_waiters.pop_front() {
            self.np_waiters.fetch_sub(1, Ordering::SeqCst);
            w.hand_p_no_unpark(pid);
            return Some(w);
        }
        s.pidle.push(pid);
        self.npidle.fetch_add(1, Ordering::SeqCst);
        None
    }

    /// `pidleput_locked`, taking the lock.
    pub(crate) fn pidleput(&self, pid: usize) {
        let mut s = self.sched.lock();
        let waiter = self.pidleput_locked(&mut s, pid);
        drop(s);
        if let Some(w) = waiter {
            w.parker.unpark();
        }
    }

    // ANCHOR: acquirep
    /// Go's `acquirep`: this M now holds P `pid`, which it claimed (from
    /// the idle list, `m.nextp`, or a status CAS). Returns the token that
    /// says so; the caller keeps it in its context (`ctx.hold`).
    #[must_use = "the token is the P: hold it (ctx.hold) or release it"]
    pub(crate) fn acquirep(&self, ctx: &MachineCtx, pid: usize) -> HeldP {
        let p = &self.ps[pid];
        let held = p.claim(pid);
        p.locked.store(ctx.locked.get(), Ordering::Relaxed);
        p.status.store(P_RUNNING, Ordering::Release);
        if self.trace.enabled() {
            self.trace.record(Some(pid), ctx.m.id, EventKind::ProcBusy);
        }
        held
    }

    /// Go's `releasep`: this M gives up its P, consuming the token; the
    /// caller decides where the P (its number) goes next.
    pub(crate) fn releasep(&self, ctx: &MachineCtx, held: HeldP) -> usize {
        let pid = self.ps[held.id()].release(held);
        if self.trace.enabled() {
            self.trace.record(Some(pid), ctx.m.id, EventKind::ProcIdle);
        }
        pid
    }
    // ANCHOR_END: acquirep

    /// `releasep` of the P the context holds (panics if none).
    pub(crate) fn releasep_current(&self, ctx: &MachineCtx) -> usize {
        let held = ctx.take_p().expect("releasep without a P");
        self.releasep(ctx, held)
    }

    /// Go's `handoffp`: a P without an M (its M blocked in a syscall, or
    /// left `block_on`). If it has work, start an M for it. If it has none
    /// but nobody is looking for work either (no M spinning, no P idle),
    /// start a spinning M with it: every other P is held by an M that may be
    /// blocked, and work queued behind such an M (a `runnext` whose `wakep`
    /// found no idle P) is found only by stealing. Else idle it.
    ///
    /// Consumes the token of the P: the M leaving `block_on` or the root's
    /// M in `stoplockedm` (`by` = its id, traced as the P going idle), or
    /// sysmon, which claimed the P from a syscall (`by` = `None`).
    pub(crate) fn handoffp(self: &Arc<Self>, held: HeldP, by: Option<usize>) {
        let pid = self.ps[held.id()].release(held);
        if let Some(m) = by
            && self.trace.enabled()
        {
            self.trace.record(Some(pid), m, EventKind::ProcIdle);
        }
        if !self.ps[pid].runq_empty() || self.global_len.load(Ordering::SeqCst) > 0 {
            self.counters.handoffs.fetch_add(1, Ordering::Relaxed);
            self.startm(Some(pid), false);
            return;
        }
        // Pairs with the fence in `wakep`: either its caller sees this P
        // idle below, or we see the work it queued (or its spinning M).
        fence(Ordering::SeqCst);
        // (With one P there is nobody else to steal from.)
        if self.procs() > 1
            && self.nmspinning.load(Ordering::SeqCst) + self.npidle.load(Ordering::SeqCst) == 0
            && self
                .nmspinning
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.counters.handoffs.fetch_add(1, Ordering::Relaxed);
            self.startm(Some(pid), true);
            return;
        }
        // Go: the last running P, and nobody polls the network: start an M
        // to poll it (it blocks in `epoll_wait` once it finds no work).
        if self.netpoll_needs_m() {
            self.startm(Some(pid), false);
            return;
        }
        // Go re-checks the global queue under `sched.lock` before idling
        // the P, and so must we: a G queued by an M without a P (sysmon's
        // poll, an M back from `epoll_wait`, a timer fired off-P) after the
        // check at the top was followed by `start_idle`/`wakep`, which saw
        // no idle P yet and started nobody. Under the lock, either we see
        // that G here, or our `npidle` increment is visible to the
        // `start_idle` that follows its push. (Without this, the reader G
        // of `tests/net.rs` once sat in the global queue with the only P
        // idle, forever: see the loom model in `net/loom_models.rs`.)
        let mut s = self.sched.lock();
        if !s.global.is_empty() {
            drop(s);
            self.counters.handoffs.fetch_add(1, Ordering::Relaxed);
            self.startm(Some(pid), false);
            return;
        }
        let waiter = self.pidleput_locked(&mut s, pid);
        drop(s);
        if let Some(w) = waiter {
            w.parker.unpark();
        }
    }

    /// Blocks the M until it is handed a P (an M that cannot go on
    /// without one: back from a syscall, or about to poll a root future).
    /// It takes an idle P if there is one; otherwise it queues in
    /// `p_waiters`, and the next P released (`pidleput`), or one a busy M
    /// is asked to give up (`startlockedm`), is handed to it.
    pub(crate) fn acquire_p_blocking(&self, ctx: &MachineCtx) -> usize {
        let mut s = self.sched.lock();
        if let Some(pid) = self.pidleget_locked(&mut s) {
            return pid;
        }
        s.p_waiters.push_back(ctx.m.clone());
        self.np_waiters.fetch_add(1, Ordering::SeqCst);
        drop(s);
        self.counters.parks.fetch_add(1, Ordering::Relaxed);
        loop {
            if let Some((pid, _)) = ctx.m.take_nextp() {
                return pid;
            }
            ctx.m.parker.park(None);
        }
    }

    /// Go's `stopm`: park this M (which holds no P) in the idle list until
    /// `startm` hands it a P. Returns `None` if it woke for another reason:
    /// its timer deadline passed, or shutdown. One M at a time sleeps with
    /// the earliest timer's deadline (an idle M, or a `block_on` M waiting
    /// for its root).
    pub(crate) fn stopm(&self, ctx: &MachineCtx) -> Option<(usize, bool)> {
        let m = &ctx.m;
        let mut s = self.sched.lock();
        if self.is_shutdown() {
            return None;
        }
        let deadline = self.take_timer_role(&mut s, m);
        s.midle.push(m.clone());
        self.nmidle.fetch_add(1, Ordering::Relaxed);
        drop(s);
        self.counters.parks.fetch_add(1, Ordering::Relaxed);
        // On the condvar, or in `epoll_wait` if the network needs a poller.
        self.park_idle_m(ctx, deadline);
        if let Some(next) = m.take_nextp() {
            return Some(next);
        }
        // Woken without a P. Leave the idle list, unless `startm` already
        // took us off it: then a P is on its way and we must wait for it.
        let mut s = self.sched.lock();
        Self::drop_timer_role(&mut s, m);
        if let Some(i) = s.midle.iter().position(|x| Arc::ptr_eq(x, m)) {
            s.midle.swap_remove(i);
            self.nmidle.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        drop(s);
        loop {
            if let Some(next) = m.take_nextp() {
                return Some(next);
            }
            m.parker.park(None);
        }
    }

    /// If no M sleeps until the earliest timer yet, `m` (about to park)
    /// takes that role: returns the deadline to park with.
    pub(crate) fn take_timer_role(&self, s: &mut Sched, m: &Arc<MHandle>) -> Option<Instant> {
        match (&s.timer_sleeper, self.timers.next_deadline()) {
            (None, Some(d)) => {
                s.timer_sleeper = Some(m.clone());
                Some(d)
            }
            _ => None,
        }
    }

    /// `m` woke up: it no longer sleeps for the timers. Returns true if it
    /// had that role.
    pub(crate) fn drop_timer_role(s: &mut Sched, m: &Arc<MHandle>) -> bool {
        if s.timer_sleeper.as_ref().is_some_and(|t| Arc::ptr_eq(t, m)) {
            s.timer_sleeper = None;
            return true;
        }
        false
    }

    /// Wakes the M sleeping on the timer deadline (or any idle M, which then
    /// takes that role) because an earlier timer was added, or because the
    /// M that had the role left it.
    pub(crate) fn timers_changed(&self) {
        let s = self.sched.lock();
        let target = match &s.timer_sleeper {
            Some(m) => Some(m.clone()),
            None => s.midle.last().cloned(),
        };
        drop(s);
        if let Some(m) = target {
            m.parker.unpark();
        }
    }

    /// An M leaves for good (shutdown): give back its P and spinning state.
    pub(crate) fn m_exit(&self, ctx: &MachineCtx) {
        if ctx.spinning.replace(false) {
            self.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(held) = ctx.take_p() {
            let pid = self.releasep(ctx, held);
            self.pidleput(pid);
        }
        self.nthreads.fetch_sub(1, Ordering::SeqCst);
    }

    /// Go's `resetspinning`: a spinning M found work and stops spinning; if
    /// it was the last spinner, wake another so that someone keeps looking.
    pub(crate) fn reset_spinning(self: &Arc<Self>, ctx: &MachineCtx) {
        ctx.spinning.set(false);
        if self.nmspinning.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.wakep();
        }
    }
}

/// The body of a worker M's thread (Go's `mstart` then `schedule`).
fn m_main(shared: Arc<Shared>, m: Arc<MHandle>, pid: usize, spinning: bool) {
    let ctx = MachineCtx::new(shared.clone(), m);
    let _enter = ctx.enter();
    ctx.hold(shared.acquirep(&ctx, pid));
    ctx.spinning.set(spinning);
    shared.schedule_loop(&ctx);
    shared.m_exit(&ctx);
}
