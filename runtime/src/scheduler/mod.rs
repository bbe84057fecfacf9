//! The scheduler's shared state: Go's `schedt` plus `allp`.
//!
//! Everything every M may touch lives in [`Shared`]:
//!
//! * `ps`: all Ps (Go's `allp`), each with its local run queue and `runnext`.
//! * `sched` (one lock, Go's `sched.lock`): the global run queue, the idle P
//!   list (`pidle`), the idle M list (`midle`), the Ms waiting for a P to
//!   come back from a syscall or to poll a `block_on` root, and which M
//!   sleeps until the next timer.
//! * lock-free mirrors (`npidle`, `nmspinning`, `global_len`, `np_waiters`)
//!   so the hot path (`wakep`, the checks in `findRunnable`) can look
//!   without locking.
//! * the live-task list, timers, the trace recorder and shared counters.
//!
//! The submodules hold the algorithms, named as in Go's proc.go:
//! `proc.rs` (`wakep`, `startm`, `stopm`, `handoffp`, `pidleget`/`pidleput`),
//! `find.rs` (`schedule`, `findrunnable`, `runqsteal`, `execute`),
//! `syscall.rs` (`entersyscall`, `exitsyscall`), and `lockedm.rs`
//! (`startlockedm`, `stoplockedm`: the `block_on` root, a G locked to its
//! thread).

mod counters;
mod find;
mod lockedm;
mod proc;
mod syscall;

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::context::with_current;
use crate::loom::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::loom::Mutex;
use crate::m::MHandle;
use crate::p::{HeldP, P, bump, bump_by};
use crate::runq::RunQueueKind;
use crate::task::{JoinHandle, Notified, OwnedTasks, Schedule, new_task};
use crate::timer::Timers;
use crate::trace::{EventKind, Recorder};
pub(crate) use counters::SharedCounters;

pub(crate) use lockedm::RootWaker;
pub(crate) use syscall::syscall_in_context;

/// Fixed settings of one runtime.
pub(crate) struct Config {
    pub(crate) procs: usize,
    pub(crate) run_queue: RunQueueKind,
    pub(crate) trace: bool,
    pub(crate) schedtrace: Option<Duration>,
    /// False only in loom models, which must not start M threads.
    pub(crate) spawn_threads: bool,
}

/// What `sched.lock` protects.
pub(crate) struct Sched {
    /// Go's `sched.runq`: the global run queue.
    pub(crate) global: VecDeque<Notified>,
    /// Go's `sched.pidle`.
    pub(crate) pidle: Vec<usize>,
    /// Go's `sched.midle`.
    pub(crate) midle: Vec<Arc<MHandle>>,
    /// Ms that must get a P before they can go on (back from a syscall, or
    /// about to poll a root future). A released P goes to them first, and
    /// a busy M hands its P over at its next schedule (`startlockedm`).
    pub(crate) p_waiters: VecDeque<Arc<MHandle>>,
    /// The M that sleeps until the earliest timer, if any: an idle M, or a
    /// `block_on` M waiting for its root to be woken.
    pub(crate) timer_sleeper: Option<Arc<MHandle>>,
    /// Set at shutdown once the queues are drained: nothing may be queued.
    pub(crate) closed: bool,
}

/// State shared by all Ms of one runtime.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) ps: Box<[CachePadded<P>]>,
    /// The numbers below `procs` coprime with it (Go's `randomOrder`).
    pub(crate) steal_strides: Box<[usize]>,
    pub(crate) sched: Mutex<Sched>,
    pub(crate) global_len: AtomicUsize,
    pub(crate) npidle: AtomicUsize,
    pub(crate) nmidle: AtomicUsize,
    pub(crate) nmspinning: AtomicUsize,
    /// `p_waiters.len()`, read by every M at each schedule.
    pub(crate) np_waiters: AtomicUsize,
    /// Ms alive (threads running a scheduler loop, including `block_on`).
    pub(crate) nthreads: AtomicUsize,
    pub(crate) owned: OwnedTasks,
    /// Shared with every registered `Sleep` (which removes itself on drop).
    pub(crate) timers: Arc<Timers>,
    pub(crate) trace: Recorder,
    pub(crate) counters: SharedCounters,
    pub(crate) shutdown: AtomicBool,
    next_task_id: AtomicU64,
    next_m_id: AtomicUsize,
    pub(crate) threads: Mutex<Vec<crate::loom::thread::JoinHandle<()>>>,
    pub(crate) start: Instant,
    /// Wakes sysmon early (shutdown).
    pub(crate) sysmon_wake: (Mutex<bool>, crate::loom::Condvar),
    /// The network poller, started by the first socket (see `find.rs`).
    pub(crate) netpoll: std::sync::OnceLock<Arc<crate::net::poller::Poller>>,
    /// The `block_on` roots running now, for the goroutine dump (G 0 each;
    /// a root is no task, so `owned` does not list it).
    pub(crate) roots: Mutex<Vec<Arc<crate::gstatus::RootG>>>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        let procs = config.procs;
        let ps: Box<[CachePadded<P>]> = (0..procs)
            .map(|_| CachePadded::new(P::new(config.run_queue)))
            .collect();
        // All Ps start idle; the list is popped from the end, so P0 goes first.
        let pidle: Vec<usize> = (0..procs).rev().collect();
        fn gcd(a: usize, b: usize) -> usize {
            if b == 0 { a } else { gcd(b, a % b) }
        }
        let steal_strides = (1..=procs).filter(|&i| gcd(i, procs) == 1).collect();
        Shared {
            steal_strides,
            trace: Recorder::new(config.trace, procs),
            config,
            ps,
            sched: Mutex::new(Sched {
                global: VecDeque::new(),
                pidle,
                midle: Vec::new(),
                p_waiters: VecDeque::new(),
                timer_sleeper: None,
                closed: false,
            }),
            global_len: AtomicUsize::new(0),
            npidle: AtomicUsize::new(procs),
            nmidle: AtomicUsize::new(0),
            nmspinning: AtomicUsize::new(0),
            np_waiters: AtomicUsize::new(0),
            nthreads: AtomicUsize::new(0),
            owned: OwnedTasks::new(),
            timers: Arc::new(Timers::new()),
            counters: SharedCounters::default(),
            shutdown: AtomicBool::new(false),
            next_task_id: AtomicU64::new(1),
            next_m_id: AtomicUsize::new(1),
            threads: Mutex::new(Vec::new()),
            start: Instant::now(),
            sysmon_wake: (Mutex::new(false), crate::loom::Condvar::new()),
            netpoll: std::sync::OnceLock::new(),
            roots: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn procs(&self) -> usize {
        self.config.procs
    }

    pub(crate) fn new_m_id(&self) -> usize {
        self.next_m_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Go's `globrunqputbatch`: queue Gs on the global run queue.
    pub(crate) fn global_push(&self, tasks: impl IntoIterator<Item = Notified>) {
        let mut s = self.sched.lock();
        if s.closed {
            drop(s);
            return; // shutdown drained everything: the tasks are dropped here
        }
        let before = s.global.len();
        s.global.extend(tasks);
        let pushed = s.global.len() - before;
        self.global_len.store(s.global.len(), Ordering::SeqCst);
        drop(s);
        self.counters
            .global_pushes
            .fetch_add(pushed as u64, Ordering::Relaxed);
    }

    /// Go's `runqput` on the P `held`, with overflow to the global queue.
    pub(crate) fn runqput(&self, held: &HeldP, task: Notified, next: bool) {
        let p = &self.ps[held.id()];
        p.runqput(held, task, next, &mut |batch| {
            bump_by(&p.counters.overflowed, batch.len() as u64);
            self.global_push(batch)
        });
    }

    /// Go's `ready` (goready): make a G runnable. From an M holding a P of
    /// this runtime it goes to that P's `runnext`; from anywhere else to the
    /// global queue. Either way, `wakep` makes sure an M will look.
    fn ready(self: &Arc<Self>, task: Notified) {
        // Readied by the netpoller: collected into one batch (`injectglist`).
        let Some(task) = find::capture_ready(self, task) else {
            return;
        };
        self.make_runnable(task, true);
    }

    /// `ready` for a G that waited (`unblocked`: traced as `GoUnblock`) or
    /// one just created (`newproc`: its `GoCreate` says it all).
    fn make_runnable(self: &Arc<Self>, task: Notified, unblocked: bool) {
        // On an M of ours holding a P: that P's `runnext`.
        let task = with_current(|ctx| match ctx {
            Some(ctx) if Arc::ptr_eq(&ctx.shared, self) => match &*ctx.held() {
                Some(held) => {
                    if unblocked && self.trace.enabled() {
                        self.trace_unblock(task.id(), Some(held.id()));
                    }
                    self.runqput(held, task, true);
                    None
                }
                None => Some(task),
            },
            _ => Some(task),
        });
        if let Some(task) = task {
            if unblocked && self.trace.enabled() {
                self.trace_unblock(task.id(), None);
            }
            self.global_push([task]);
        }
        self.wakep();
    }

    /// Records who readied G `g` (Go's `GoUnblock`), on P `local` if the
    /// current M holds one of ours.
    pub(crate) fn trace_unblock(&self, g: u64, local: Option<usize>) {
        let (m, by) = with_current(|ctx| match ctx {
            Some(ctx) if std::ptr::eq(&*ctx.shared, self) => {
                let g = ctx.current_g.get();
                (ctx.m.id, (g != crate::context::NO_G).then_some(g))
            }
            _ => (0, None),
        });
        self.trace.record(local, m, EventKind::GoUnblock { g, by });
    }

    /// Go's `newproc`: create a G and put it in `runnext` of the current P.
    #[track_caller]
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self.next_task_id.fetch_add(1, Ordering::Relaxed);
        let (raw, notified, join) = new_task(future, self.clone(), id);
        if !self.owned.bind(raw) {
            // The runtime is shutting down: cancel at once.
            notified.shutdown();
            // SAFETY: the live-list reference that `bind` refused.
            drop(unsafe { Notified::from_raw(raw) });
            return join;
        }
        let (p, m) = with_current(|ctx| match ctx {
            Some(ctx) if Arc::ptr_eq(&ctx.shared, self) => (ctx.pid(), ctx.m.id),
            _ => (None, 0),
        });
        match p {
            Some(pid) => bump(&self.ps[pid].counters.spawned),
            None => {
                self.counters.spawned_remote.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.trace.enabled() {
            self.trace.record(p, m, EventKind::GoCreate { g: id });
        }
        self.make_runnable(notified, false);
        join
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        if self.is_shutdown() {
            drop(task);
            return;
        }
        self.ready(task);
    }

    fn on_complete(&self) {
        let pid = with_current(|ctx| match ctx {
            Some(ctx) if Arc::ptr_eq(&ctx.shared, self) => ctx.pid(),
            _ => None,
        });
        match pid {
            // Only the P's holder bumps its counters: this M.
            Some(pid) => bump(&self.ps[pid].counters.completed),
            None => {
                self.counters
                    .completed_remote
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
