//! Go's `schedule`, `findRunnable`, `stealWork` and `execute`.
//!
//! An M holding a P loops: find a runnable G, run it until it returns
//! `Pending` or finishes, repeat. `find_runnable` looks in Go's order:
//!
//! 1. every 61st time slice, one G from the global queue, so that a P whose
//!    local queue never empties still lets global work in (Go's fairness
//!    check in `schedule`);
//! 2. expired timers, which ready their Gs into this P;
//! 3. `runnext`, then the local run queue (`runqget`). A G from `runnext`
//!    inherits the time slice; if that slice is spent, it goes to the back
//!    of the queue instead, so two Gs waking each other cannot hog the P;
//! 4. the global queue, taking a batch of `min(len/procs + 1, 128)`, then
//!    the network, without blocking, if some G waits on a socket and no
//!    other M is polling (Go's `netpoll(0)` in `findRunnable`): the first G
//!    readied runs here, the rest go in as one batch (`injectglist`);
//! 5. stealing: only if fewer than half the busy Ps already have a spinning
//!    M (`2 × spinning < busy`), up to 4 passes over the other Ps in random
//!    order, taking half of a victim's queue, and its `runnext` on the last
//!    pass only;
//! 6. giving up: release the P (`pidleput`); a spinning M re-checks every
//!    queue after it stops spinning (it may have been the one `wakep`
//!    counted on); then park in `stopm` until handed a P. If Gs wait on
//!    sockets and no M blocks in the poller yet, this M sleeps in
//!    `epoll_wait` instead of on its condvar (`park_idle_m`), until the next
//!    timer or an event, woken early by the eventfd (Go's blocking
//!    `netpoll(delay)` at the end of `findRunnable`).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use super::Shared;
use crate::context::{BUDGET, MachineCtx};
use crate::loom::atomic::{Ordering, fence};
use crate::p::{HeldP, bump, bump_by};
use crate::runq::LOCAL_CAPACITY;
use crate::task::{Notified, RunResult};
use crate::trace::{EventKind, StopReason};
use std::sync::Arc;

/// What `find_runnable` found.
pub(crate) enum Next {
    /// Run this G; `inherit` = it came from `runnext` within the slice.
    Run(Notified, bool),
    /// The runtime is shutting down: the M exits.
    Exit,
}

/// Go's schedule tick interval for the global-queue fairness check.
const GLOBAL_CHECK_INTERVAL: u64 = 61;
/// How long a thief leaves a running victim to run its own `runnext`.
const RUNNEXT_GRACE: std::time::Duration = std::time::Duration::from_micros(3);
/// Go's `stealTries`.
const STEAL_TRIES: usize = 4;

impl Shared {
    /// A worker M's life: Go's `schedule()`, forever, until shutdown.
    pub(crate) fn schedule_loop(self: &Arc<Self>, ctx: &MachineCtx) {
        loop {
            match self.find_runnable(ctx) {
                Next::Run(task, inherit) => {
                    if ctx.spinning.get() {
                        self.reset_spinning(ctx);
                    }
                    self.execute(ctx, task, inherit);
                    // Asked to make way for an M waiting for a P (a
                    // `block_on` root's, or one back from a syscall)?
                    self.make_way_if_asked(ctx);
                }
                Next::Exit => return,
            }
        }
    }

    /// Whether the current time slice is used up: budget spent, or sysmon
    /// asked the P to preempt.
    fn turn_over(&self, ctx: &MachineCtx, pid: usize) -> bool {
        ctx.budget.get() == 0 || self.ps[pid].preempt.load(Ordering::Relaxed)
    }

    // ANCHOR: find_runnable
    /// Go's `findRunnable`. Blocks (parks the M) until there is something
    /// to do; returns with the M holding a P unless it returns `Exit`.
    pub(crate) fn find_runnable(self: &Arc<Self>, ctx: &MachineCtx) -> Next {
        loop {
            if self.is_shutdown() {
                return Next::Exit;
            }
            let guard = ctx.held();
            let Some(held) = guard.as_ref() else {
                drop(guard);
                match self.idle_without_p(ctx) {
                    Some(next) => return next,
                    None => continue,
                }
            };
            let pid = held.id();
            let p = &self.ps[pid];
            if p.schedtick
                .load(Ordering::Relaxed)
                .is_multiple_of(GLOBAL_CHECK_INTERVAL)
                && self.global_len.load(Ordering::Relaxed) > 0
                && let Some(t) = self.globrunqget(held, 1)
            {
                return Next::Run(t, false);
            }
            if self.timers.due() {
                self.fire_timers();
            }
            if let Some((t, inherit)) = p.runqget(held) {
                if inherit && self.turn_over(ctx, pid) {
                    self.runqput(held, t, false);
                    ctx.budget.set(0);
                    continue;
                }
                return Next::Run(t, inherit);
            }
            if self.global_len.load(Ordering::Relaxed) > 0
                && let Some(t) = self.globrunqget(held, 0)
            {
                return Next::Run(t, false);
            }
            if let Some(t) = self.netpoll_nonblocking(ctx, held) {
                return Next::Run(t, false);
            }
            if !ctx.spinning.get() {
                let busy = self.procs() - self.npidle.load(Ordering::SeqCst);
                if 2 * self.nmspinning.load(Ordering::SeqCst) < busy {
                    ctx.spinning.set(true);
                    self.nmspinning.fetch_add(1, Ordering::SeqCst);
                }
            }
            if ctx.spinning.get()
                && let Some(t) = self.steal_work(ctx, held)
            {
                return Next::Run(t, false);
            }

            // Nothing to do: give the P back.
            let mut s = self.sched.lock();
            if !s.global.is_empty() {
                let batch = self.globrunqget_locked(&mut s, 0);
                drop(s);
                return Next::Run(self.take_batch(held, batch), false);
            }
            drop(guard);
            let pid = self.releasep_current(ctx);
            let waiter = self.pidleput_locked(&mut s, pid);
            drop(s);
            if let Some(w) = waiter {
                w.parker.unpark();
            }
            if ctx.spinning.replace(false) {
                self.nmspinning.fetch_sub(1, Ordering::SeqCst);
                // Pairs with the fence in `wakep`: a G queued just before
                // it saw us spinning is seen by this re-check.
                fence(Ordering::SeqCst);
                if self.any_work()
                    && let Some(pid) = self.pidleget()
                {
                    ctx.hold(self.acquirep(ctx, pid));
                    ctx.spinning.set(true);
                    self.nmspinning.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
            }
        }
    }
    // ANCHOR_END: find_runnable

    /// The M has no P: park until handed one, or until a timer is due, or
    /// shutdown. `None` means "look again".
    fn idle_without_p(self: &Arc<Self>, ctx: &MachineCtx) -> Option<Next> {
        if self.is_shutdown() {
            return Some(Next::Exit);
        }
        match self.stopm(ctx) {
            Some((pid, spinning)) => {
                ctx.hold(self.acquirep(ctx, pid));
                ctx.spinning.set(spinning);
            }
            None => {
                if self.is_shutdown() {
                    return Some(Next::Exit);
                }
                let timers_due = self.timers.due();
                if timers_due || self.global_len.load(Ordering::SeqCst) > 0 {
                    match self.pidleget() {
                        // With a P, the next round fires the timers into it.
                        Some(pid) => ctx.hold(self.acquirep(ctx, pid)),
                        // Every P is busy: fire now; the Gs go to the global
                        // queue and the busy Ps pick them up.
                        None if timers_due => self.fire_timers(),
                        None => {}
                    }
                }
            }
        }
        None
    }

    /// Any G queued anywhere (Go's re-check in `findRunnable` after
    /// dropping spinning)?
    fn any_work(&self) -> bool {
        self.global_len.load(Ordering::SeqCst) > 0 || self.ps.iter().any(|p| !p.runq_empty())
    }

    /// Go's `globrunqget`: up to `max` (0 = no limit) Gs from the global
    /// queue; one is returned, the rest go to the local queue of `held`.
    fn globrunqget(&self, held: &HeldP, max: usize) -> Option<Notified> {
        let mut s = self.sched.lock();
        let batch = self.globrunqget_locked(&mut s, max);
        drop(s);
        if batch.is_empty() {
            None
        } else {
            Some(self.take_batch(held, batch))
        }
    }

    fn globrunqget_locked(&self, s: &mut super::Sched, max: usize) -> Vec<Notified> {
        let len = s.global.len();
        let mut n = (len / self.procs() + 1).min(len).min(LOCAL_CAPACITY / 2);
        if max > 0 {
            n = n.min(max);
        }
        let batch: Vec<Notified> = s.global.drain(..n).collect();
        self.global_len.store(s.global.len(), Ordering::SeqCst);
        batch
    }

    /// Keeps the first G of a batch to run, queues the rest locally.
    fn take_batch(&self, held: &HeldP, batch: Vec<Notified>) -> Notified {
        let mut it = batch.into_iter();
        let first = it.next().expect("a non-empty batch");
        for t in it {
            self.runqput(held, t, false);
        }
        first
    }

    // ANCHOR: steal_work
    /// Go's `stealWork`: 4 passes over the other Ps in random order.
    fn steal_work(&self, ctx: &MachineCtx, held: &HeldP) -> Option<Notified> {
        let pid = held.id();
        let n = self.procs();
        if n == 1 {
            return None;
        }
        let me = &self.ps[pid];
        for pass in 0..STEAL_TRIES {
            let last = pass == STEAL_TRIES - 1;
            // Go's `stealOrder`: a random start and a random stride coprime
            // with n visit every P once, in a different order each pass.
            let r = ctx.rand();
            let stride = self.steal_strides[(r >> 32) as usize % self.steal_strides.len()];
            let mut v = (r as usize) % n;
            for _ in 0..n {
                v = (v + stride) % n;
                if v == pid {
                    continue;
                }
                let victim = &self.ps[v];
                let stolen = me.runqsteal(held, victim).or_else(|| {
                    if last {
                        Self::steal_runnext(victim)
                    } else {
                        None
                    }
                });
                if let Some((t, count)) = stolen {
                    bump(&me.counters.steals);
                    bump_by(&me.counters.stolen, count as u64);
                    if self.trace.enabled() {
                        self.trace.record(
                            Some(pid),
                            ctx.m.id,
                            EventKind::Steal {
                                from: v,
                                to: pid,
                                count,
                            },
                        );
                    }
                    return Some(t);
                }
            }
        }
        None
    }
    // ANCHOR_END: steal_work

    /// Takes a victim's `runnext` (last steal pass only). If the victim is
    /// running, first give it about 3 µs to get to that G itself, as Go does
    /// (`usleep(3)` in `runqgrab`): the G was readied to run next on that P,
    /// and moving it would only add a cross-thread hop. Not when the victim
    /// is held by a `block_on` root's M, which runs nothing but its root.
    fn steal_runnext(victim: &crate::p::P) -> Option<(Notified, usize)> {
        if !victim.has_runnext() {
            return None;
        }
        // A root's M runs only its root: it never gets to that G itself.
        if victim.status.load(Ordering::Relaxed) == crate::p::P_RUNNING
            && !victim.locked.load(Ordering::Relaxed)
        {
            let start = Instant::now();
            while start.elapsed() < RUNNEXT_GRACE {
                crate::loom::spin_loop();
            }
        }
        victim.take_runnext().map(|t| (t, 1))
    }

    /// Fires expired timers; their wakers ready the sleeping Gs.
    pub(crate) fn fire_timers(&self) {
        let n = self.timers.fire_due(Instant::now());
        if n > 0 {
            self.counters
                .timers_fired
                .fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Go's `execute`: run one G for one poll on the current P.
    pub(crate) fn execute(&self, ctx: &MachineCtx, task: Notified, inherit: bool) {
        let pid = ctx.pid().expect("execute without a P");
        let p = &self.ps[pid];
        if !inherit {
            p.begin_slice();
            ctx.budget.set(BUDGET);
        }
        ctx.budget.set(ctx.budget.get().saturating_sub(1));
        p.count_poll();
        let g = task.id();
        ctx.current_g.set(g);
        ctx.stop_reason.set(StopReason::Block);
        let tracing = self.trace.enabled();
        if tracing {
            self.trace
                .record(Some(pid), ctx.m.id, EventKind::GoStart { g });
        }
        // The G's labels are this thread's for the poll (a clone: the task
        // may be freed by the time the poll returns, the slot must not be).
        // Between polls the slot is empty, so a G without labels needs no
        // install at all: no thread-local write on the common path.
        let labels = task.labels().cloned();
        let installed = labels
            .as_ref()
            .map(|set| crate::labels::Installed::new(Some(set)));
        let result = task.run();
        drop(installed);
        drop(labels);
        // A syscall inside the poll may have moved this M to another P.
        let guard = ctx.held();
        let held = guard.as_ref().expect("an M always holds a P after a poll");
        let pid = held.id();
        let reason = match result {
            // The wait reason the G's last await named (`gstatus::park`), or Block.
            RunResult::Idle => ctx.stop_reason.get(),
            RunResult::Yielded(t) => {
                let reason = ctx.stop_reason.get();
                self.runqput(held, t, false);
                reason
            }
            RunResult::Complete(t) => {
                self.owned.remove(&t);
                drop(t);
                StopReason::Done
            }
        };
        if tracing {
            self.trace
                .record(Some(pid), ctx.m.id, EventKind::GoStop { g, reason });
        }
        ctx.current_g.set(crate::context::NO_G);
    }
}

// The netpoller in the scheduler: Go's `netpoll` calls in `findRunnable`,
// `injectglist`, and `handoffp`'s "someone must poll the network".

thread_local! {
    /// While a poll's wakers run on this thread, the Gs they ready for this
    /// runtime are collected here instead of queued one by one.
    static CAPTURE: RefCell<Option<(*const Shared, Vec<Notified>)>> = const { RefCell::new(None) };
}

/// Called by `Shared::ready`: if this thread is running a poll's wakers for
/// `shared`, keep `task` for the batch and return `None`.
#[inline]
pub(crate) fn capture_ready(shared: &Arc<Shared>, task: Notified) -> Option<Notified> {
    let mut task = Some(task);
    let _ = CAPTURE.try_with(|c| {
        if let Some((owner, batch)) = &mut *c.borrow_mut()
            && std::ptr::eq(*owner, Arc::as_ptr(shared))
            && let Some(t) = task.take()
        {
            if shared.trace.enabled() {
                // Readied by the network: `by` is whatever G this M runs
                // (none, for a poll in `findRunnable`).
                shared.trace_unblock(t.id(), None);
            }
            batch.push(t);
        }
    });
    task
}

impl Shared {
    /// The runtime's poller, started by the first socket (Go's
    /// `netpollGenericInit`).
    pub(crate) fn netpoller(&self) -> std::io::Result<Arc<crate::net::poller::Poller>> {
        if let Some(p) = self.netpoll.get() {
            return Ok(p.clone());
        }
        if self.is_shutdown() {
            return Err(std::io::Error::other("the runtime is shutting down"));
        }
        // Two first sockets at once: one poller wins, the other is closed.
        let _ = self
            .netpoll
            .set(Arc::new(crate::net::poller::Poller::new()?));
        Ok(self.netpoll.get().expect("set just above").clone())
    }

    /// Wakes the Gs a poll found ready, and returns those of this runtime
    /// as one batch (a `block_on` root is readied by its own waker). Traces
    /// the poll if it readied anyone or blocked.
    fn readied_by_poll(
        &self,
        p: Option<usize>,
        m: usize,
        polled: crate::net::poller::Polled,
        waited: Option<Duration>,
    ) -> Vec<Notified> {
        let readied = polled.wakers.len();
        if readied == 0 && waited.is_none() {
            return Vec::new();
        }
        let _ = CAPTURE.try_with(|c| {
            *c.borrow_mut() = Some((self as *const Shared, Vec::with_capacity(readied)))
        });
        for w in polled.wakers {
            w.wake();
        }
        let batch = CAPTURE
            .try_with(|c| c.borrow_mut().take())
            .ok()
            .flatten()
            .map_or_else(Vec::new, |(_, b)| b);
        if self.trace.enabled() {
            let waited_ns = waited.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            self.trace.record(
                p,
                m,
                EventKind::NetPoll {
                    readied,
                    events: polled.events,
                    waited_ns,
                },
            );
        }
        batch
    }

    // ANCHOR: netpoll_nonblocking
    /// Go's `netpoll(0)` in `findRunnable`: only while some G waits on a
    /// socket, only one M at a time, and not while an M is blocked in
    /// `epoll_wait` (that M sees the events). The first G readied is the
    /// one to run; the others go in as a batch.
    fn netpoll_nonblocking(self: &Arc<Self>, ctx: &MachineCtx, held: &HeldP) -> Option<Notified> {
        let pid = held.id();
        let poller = self.netpoll.get()?;
        if !poller.any_waiters() || !poller.try_begin_poll() {
            return None;
        }
        let polled = poller.netpoll(Some(Duration::ZERO), false);
        poller.end_poll();
        let mut batch = self.readied_by_poll(Some(pid), ctx.m.id, polled, None);
        if batch.is_empty() {
            return None;
        }
        let first = batch.swap_remove(0);
        self.injectglist(Some(held), batch);
        Some(first)
    }
    // ANCHOR_END: netpoll_nonblocking

    // ANCHOR: park_idle_m
    /// How an idle M without a P sleeps (called by `stopm`). If Gs wait on
    /// sockets and no M is blocked in the poller, this one blocks in
    /// `epoll_wait` until `deadline` (the next timer, if it has the timer
    /// role), a socket event, or an `unpark` (which writes the eventfd);
    /// the Gs it finds ready go to the global queue and idle Ps get Ms
    /// for them. Otherwise it sleeps on its condvar.
    pub(crate) fn park_idle_m(&self, ctx: &MachineCtx, deadline: Option<Instant>) {
        let m = &ctx.m;
        let poller = match self.netpoll.get() {
            Some(p) if p.any_waiters() && !self.is_shutdown() && p.try_begin_block() => p,
            _ => return m.parker.park(deadline),
        };
        let start = Instant::now();
        let polled = m.parker.park_polling(deadline, poller);
        poller.end_block();
        let batch = self.readied_by_poll(None, m.id, polled, Some(start.elapsed()));
        ctx.shared.injectglist(None, batch);
    }
    // ANCHOR_END: park_idle_m

    /// sysmon's poll: if Gs wait on sockets and nobody polled for
    /// `after`, poll without blocking and inject what is ready.
    pub(crate) fn sysmon_netpoll(self: &Arc<Self>, now: Instant, after: Duration) -> usize {
        let Some(poller) = self.netpoll.get() else {
            return 0;
        };
        if !poller.any_waiters() || poller.since_last_poll(now) < after || !poller.try_begin_poll()
        {
            return 0;
        }
        let polled = poller.netpoll(Some(Duration::ZERO), false);
        poller.end_poll();
        let batch = self.readied_by_poll(None, 0, polled, None);
        let n = batch.len();
        self.injectglist(None, batch);
        n
    }

    /// Go's `handoffp` check: the P being handed off has no work, but it is
    /// the last one not idle and Gs wait on sockets with no M blocked in
    /// the poller: someone must run to poll the network.
    pub(crate) fn netpoll_needs_m(&self) -> bool {
        self.netpoll.get().is_some_and(|p| {
            p.any_waiters()
                && !p.is_blocked()
                && self.npidle.load(Ordering::SeqCst) + 1 >= self.procs()
        })
    }

    // ANCHOR: injectglist
    /// Go's `injectglist`: make a batch of Gs runnable at once. Without a
    /// P (sysmon, an M back from `epoll_wait`) they all go to the global
    /// queue and as many idle Ps as there are Gs get an M. With a P, one G
    /// per idle P goes to the global queue (and those Ps get Ms); the rest
    /// go to this P's local queue.
    pub(crate) fn injectglist(self: &Arc<Self>, held: Option<&HeldP>, batch: Vec<Notified>) {
        let n = batch.len();
        if n == 0 {
            return;
        }
        let Some(held) = held else {
            self.global_push(batch);
            self.start_idle(n);
            return;
        };
        let to_global = self.npidle.load(Ordering::SeqCst).min(n);
        let mut it = batch.into_iter();
        if to_global > 0 {
            self.global_push(it.by_ref().take(to_global));
            self.start_idle(to_global);
        }
        for t in it {
            self.runqput(held, t, false);
        }
    }
    // ANCHOR_END: injectglist

    /// Go's `startIdle`: up to `n` idle Ps get an M.
    fn start_idle(self: &Arc<Self>, n: usize) {
        for _ in 0..n {
            if self.npidle.load(Ordering::SeqCst) == 0 {
                break;
            }
            self.startm(None, false);
        }
    }
}
