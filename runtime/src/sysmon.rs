//! sysmon: the monitor thread that runs without a P (Go's `sysmon`).
//!
//! Go's sysmon wakes up periodically, starting at 20 µs and doubling its
//! sleep after 50 rounds in which it did nothing, up to 10 ms. Each round it
//! `retake`s:
//!
//! * a P in `_Psyscall` whose `syscalltick` has not moved since the previous
//!   round (the call has lasted a whole tick) is taken from its blocked M and
//!   handed to another (`handoffp`), unless it has no work, other Ps are
//!   free to take new work, and the call is younger than 10 ms;
//! * a P in `_Prunning` whose `schedtick` has not moved for 10 ms (one G, or
//!   a chain of `runnext` Gs, has held it that long) is asked to preempt: its
//!   G yields at its next preemption point.
//!
//! It polls the network if Gs wait on sockets and nobody has polled for
//! 10 ms (every M busy running Gs), and injects what it readied.
//!
//! It also asks busy Ps to make way for an M waiting for a P (a woken
//! `block_on` root, or an M back from a syscall; see
//! `scheduler/lockedm.rs`), fires timers that are overdue because every M
//! is busy, and prints the schedtrace line when asked to.

use std::time::{Duration, Instant};

use crate::loom::atomic::Ordering;
use crate::p::{P_RUNNING, P_SYSCALL};
use crate::scheduler::Shared;
use std::sync::Arc;

const MIN_DELAY: Duration = Duration::from_micros(20);
const MAX_DELAY: Duration = Duration::from_millis(10);
/// Go's `forcePreemptNS`.
pub(crate) const PREEMPT_AFTER: Duration = Duration::from_millis(10);
const IDLE_ROUNDS_BEFORE_BACKOFF: u32 = 50;
/// Go's sysmon polls the network if nobody has for 10 ms.
const NETPOLL_AFTER: Duration = Duration::from_millis(10);
/// How long an M may wait for a P while every P is busy before sysmon asks
/// the busy Ps to make way. Not Go's: Go queues such a G (see
/// `scheduler/lockedm.rs`). Handing a P over costs two thread switches, so
/// a waiter that a P will soon free anyway is left to wait a little.
const HANDOFF_AFTER: Duration = Duration::from_millis(1);

/// What sysmon remembers about a P between rounds (Go's `sysmontick`).
#[derive(Clone, Copy)]
struct PTicks {
    schedtick: u64,
    schedwhen: Instant,
    syscalltick: u64,
    syscallwhen: Instant,
}

/// sysmon's loop, until shutdown.
pub(crate) fn run(shared: Arc<Shared>) {
    let now = Instant::now();
    let mut ticks = vec![
        PTicks {
            schedtick: 0,
            schedwhen: now,
            syscalltick: 0,
            syscallwhen: now
        };
        shared.procs()
    ];
    let mut delay = MIN_DELAY;
    let mut idle_rounds = 0u32;
    let mut waiting_since = None;
    let mut next_trace = shared.config.schedtrace.map(|every| now + every);
    loop {
        {
            let (lock, cvar) = &shared.sysmon_wake;
            let mut stop = lock.lock();
            if !*stop {
                crate::loom::wait_until(cvar, &mut stop, Instant::now() + delay);
            }
            if *stop {
                return;
            }
        }
        let now = Instant::now();
        ask_for_a_p(&shared, &mut waiting_since, now);
        let readied = shared.sysmon_netpoll(now, NETPOLL_AFTER);
        if retake(&shared, &mut ticks, now) + readied == 0 {
            idle_rounds = idle_rounds.saturating_add(1);
        } else {
            idle_rounds = 0;
        }
        delay = if idle_rounds <= IDLE_ROUNDS_BEFORE_BACKOFF {
            MIN_DELAY
        } else {
            (delay * 2).min(MAX_DELAY)
        };

        // Timers due for more than a millisecond: no M got to them.
        if shared.timers.due_at(now - Duration::from_millis(1)) {
            shared.fire_timers();
        }
        if let (Some(at), Some(every)) = (next_trace, shared.config.schedtrace)
            && now >= at
        {
            eprintln!("{}", crate::schedtrace::line(&shared));
            next_trace = Some(now + every);
        }
    }
}

// ANCHOR: retake
/// Go's `retake`. Returns how many Ps were taken from syscalls.
fn retake(shared: &Arc<Shared>, ticks: &mut [PTicks], now: Instant) -> usize {
    let mut retaken = 0;
    for (pid, p) in shared.ps.iter().enumerate() {
        let t = &mut ticks[pid];
        match p.status.load(Ordering::Acquire) {
            P_RUNNING => {
                let tick = p.schedtick.load(Ordering::Relaxed);
                if t.schedtick != tick {
                    t.schedtick = tick;
                    t.schedwhen = now;
                } else if now.duration_since(t.schedwhen) >= PREEMPT_AFTER
                    && !p.preempt.load(Ordering::Relaxed)
                {
                    p.preempt.store(true, Ordering::Relaxed);
                    shared
                        .counters
                        .preempt_requests
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
            P_SYSCALL => {
                let tick = p.syscalltick.load(Ordering::Relaxed);
                if t.syscalltick != tick {
                    t.syscalltick = tick;
                    t.syscallwhen = now;
                    continue;
                }
                let others_free = shared.nmspinning.load(Ordering::SeqCst)
                    + shared.npidle.load(Ordering::SeqCst)
                    > 0;
                if p.runq_empty()
                    && others_free
                    && now.duration_since(t.syscallwhen) < PREEMPT_AFTER
                {
                    continue;
                }
                if shared.retake_syscall(pid) {
                    retaken += 1;
                }
            }
            _ => {}
        }
    }
    retaken
}
// ANCHOR_END: retake

/// An M has waited for a P for `HANDOFF_AFTER` while every P stayed busy
/// (a woken `block_on` root, or an M back from a syscall): ask the busy Ps
/// to hand theirs over after their current G (`startlockedm`). Usually a P
/// runs out of work first and goes to the waiter at once (`pidleput`);
/// this bounds the wait when none does. `waiting_since` is when sysmon
/// first saw someone waiting.
fn ask_for_a_p(shared: &Shared, waiting_since: &mut Option<Instant>, now: Instant) {
    if shared.np_waiters.load(Ordering::SeqCst) == 0 {
        *waiting_since = None;
        return;
    }
    let since = *waiting_since.get_or_insert(now);
    if now.duration_since(since) < HANDOFF_AFTER {
        return;
    }
    for p in shared.ps.iter() {
        if p.status.load(Ordering::Relaxed) == P_RUNNING {
            p.handoff_wanted.store(true, Ordering::Relaxed);
        }
    }
    *waiting_since = None;
}
