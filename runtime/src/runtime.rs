//! The public face: [`Runtime`], [`spawn`], [`syscall`].
//!
//! A `Runtime` owns the Ps, sysmon and (lazily started) Ms. `block_on`
//! turns the calling thread into an M locked to one G, the root future
//! (Go's `LockOSThread`: the G's `lockedm`). That M runs the root and
//! nothing else: it must hold a P to poll it, exactly like an M running a
//! G, so on `procs(1)` only one thing runs at a time, root included; while
//! the root waits, the M gives its P away (`stoplockedm`) and sleeps. When
//! the root is woken, its M is handed an idle P, or the next P to free up
//! (`startlockedm`; sysmon makes a busy P give way after 1 ms). So the root future need not be
//! `Send` (it never leaves the calling thread), and no G can hold up the
//! root by blocking the thread it would run on. Gs run on the runtime's
//! Ms. See `scheduler/lockedm.rs`.
//!
//! Dropping the runtime shuts it down: every M finishes its current poll and
//! exits, sysmon exits, the threads are joined, and every task still alive
//! has its future dropped (its JoinHandle then reports a cancelled
//! `JoinError`). A G that never returns from a poll (a loop with no
//! `.await`) would block the drop, as it blocks its P.

use std::future::Future;
use std::pin::pin;
use std::task::{Poll, Waker};

use crate::Builder;
use crate::builder::BuildError;
use crate::context::{BUDGET, MachineCtx, in_runtime, with_current};
use crate::loom::atomic::Ordering;
use crate::m::MHandle;
use crate::metrics::Metrics;
use crate::p::bump;
use crate::scheduler::{Config, RootWaker, Shared};
use crate::task::JoinHandle;
use crate::trace::{EventKind, StopReason, Trace};
use std::sync::Arc;

/// A G/M/P runtime: `procs` Ps, Ms started on demand, one sysmon thread.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
/// let total = rt.block_on(async {
///     let handles: Vec<_> = (0..10u64).map(|i| runtime::spawn(async move { i * i })).collect();
///     let mut total = 0;
///     for h in handles {
///         total += h.await.unwrap();
///     }
///     total
/// });
/// assert_eq!(total, 285);
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    sysmon: Option<crate::loom::thread::JoinHandle<()>>,
}

impl Runtime {
    /// A [`Builder`] to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn start(
        b: Builder,
        schedtrace: Option<std::time::Duration>,
    ) -> Result<Runtime, BuildError> {
        let shared = Arc::new(Shared::new(Config {
            procs: b.procs,
            run_queue: b.run_queue,
            trace: b.trace,
            schedtrace,
            spawn_threads: true,
        }));
        let s2 = shared.clone();
        let sysmon =
            crate::loom::spawn_named("runtime-sysmon".into(), move || crate::sysmon::run(s2))
                .map_err(BuildError::Thread)?;
        Ok(Runtime {
            shared,
            sysmon: Some(sysmon),
        })
    }

    /// Runs `future` to completion on the calling thread, which becomes an
    /// M of this runtime until it returns, locked to `future` (see the
    /// module docs).
    ///
    /// `future` is the root G (G 0 in a trace), locked to the calling
    /// thread as by Go's `LockOSThread`: it need not be `Send`, and this
    /// thread runs nothing else. The thread holds a P only while it polls
    /// `future`; while `future` waits, the P goes to the runtime's other Ms
    /// (`stoplockedm`, `handoffp`), so the Gs it spawned run there, and a G
    /// blocked in [`syscall`] or running long cannot delay the root once it
    /// is woken: the root's M is handed an idle P, or the next P to free up
    /// (`startlockedm`; on a saturated runtime sysmon makes a busy P give
    /// way after about 1 ms).
    ///
    /// # Panics
    /// If called from inside a runtime (a task, or another `block_on`):
    /// blocking an M on a future would stall its P. `.await` the future, or
    /// `spawn` it and await the JoinHandle. A panic of `future` itself
    /// propagates to the caller.
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
    /// assert_eq!(rt.block_on(async { 40 + 2 }), 42);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if in_runtime() {
            panic!(
                "Runtime::block_on was called from inside a runtime (a task or another block_on): \
                 that would block this M and its P. Use `.await` on the future instead, \
                 or runtime::spawn it and await the JoinHandle."
            );
        }
        let shared = &self.shared;
        let m = Arc::new(MHandle::new(shared.new_m_id()));
        shared.nthreads.fetch_add(1, Ordering::SeqCst);
        let root = RootWaker::new(m, shared);
        // G 0 in the goroutine dump, "spawned" where block_on was called.
        let dump = crate::gstatus::RootG::register(shared, std::panic::Location::caller());
        let ctx = MachineCtx::new(shared.clone(), root.m().clone());
        ctx.locked.set(true);
        let _enter = ctx.enter();
        let _leave = Leave(&ctx);
        let waker = Waker::from(root.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut future = pin!(future);
        // The root starts runnable: its M needs a P first.
        let pid = shared.acquire_p_blocking(&ctx);
        ctx.hold(shared.acquirep(&ctx, pid));
        loop {
            root.start_poll();
            let polled = {
                let _polling = dump.root.polling();
                let polled = poll_root(&ctx, future.as_mut(), &mut cx);
                if polled.is_pending() {
                    crate::gstatus::parked_unnamed(&dump.root.info);
                }
                polled
            };
            if let Poll::Ready(v) = polled {
                return v;
            }
            // Woken during its own poll (a yield, a G it woke that finished
            // at once): poll again on the same P if nothing else wants it.
            if root.is_woken() && !shared.p_wanted(&ctx) {
                continue;
            }
            shared.stoplockedm(&ctx, &root);
        }
    }

    /// Spawns a G from outside the runtime (or inside it); see [`spawn`].
    /// From a thread that is not an M, the G goes to the global queue.
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
    /// let h = rt.spawn(async { "done" });
    /// assert_eq!(rt.block_on(h).unwrap(), "done");
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future)
    }

    /// A snapshot of the scheduler's counters.
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
    /// rt.block_on(async { runtime::spawn(async {}).await.unwrap() });
    /// let m = rt.metrics();
    /// assert_eq!((m.procs, m.tasks_spawned, m.tasks_completed), (1, 1, 1));
    /// println!("{}", serde_json::to_string(&m).unwrap());
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// The events recorded so far, if built with `.trace(true)`.
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().procs(1).trace(true).build().unwrap();
    /// rt.block_on(async { runtime::spawn(async {}).await.unwrap() });
    /// let trace = rt.trace().expect("tracing is on");
    /// assert!(trace.events.iter().any(|e| matches!(e.kind, runtime::EventKind::GoCreate { .. })));
    /// let json = trace.to_chrome_json(); // open in https://ui.perfetto.dev
    /// assert!(json.contains("traceEvents"));
    /// ```
    pub fn trace(&self) -> Option<Trace> {
        self.shared
            .trace
            .enabled()
            .then(|| self.shared.trace.snapshot())
    }

    /// One schedtrace line, as Go's `GODEBUG=schedtrace` prints:
    /// `SCHED 12ms: procs=4 idleprocs=1 threads=6 spinningthreads=1 idlethreads=2 runqueue=0 [3 0 1 0]`.
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
    /// assert!(rt.schedtrace_line().contains("procs=2 idleprocs=2"));
    /// ```
    pub fn schedtrace_line(&self) -> String {
        crate::schedtrace::line(&self.shared)
    }

    /// The number of Ps (GOMAXPROCS).
    pub fn procs(&self) -> usize {
        self.shared.procs()
    }
}

/// One poll of the root future (G 0) on the P its M holds: a time slice of
/// its own, traced as G 0.
fn poll_root<F: Future>(
    ctx: &MachineCtx,
    future: std::pin::Pin<&mut F>,
    cx: &mut std::task::Context<'_>,
) -> Poll<F::Output> {
    let shared = &ctx.shared;
    let pid = ctx.pid().expect("the root is polled holding a P");
    let p = &shared.ps[pid];
    bump(&p.schedtick);
    p.preempt.store(false, Ordering::Relaxed);
    ctx.budget.set(BUDGET - 1);
    ctx.current_g.set(0);
    ctx.stop_reason.set(StopReason::Block);
    let tracing = shared.trace.enabled();
    if tracing {
        shared
            .trace
            .record(Some(pid), ctx.m.id, EventKind::GoStart { g: 0 });
    }
    let polled = future.poll(cx);
    ctx.current_g.set(crate::context::NO_G);
    if tracing {
        let reason = if polled.is_ready() {
            StopReason::Done
        } else {
            ctx.stop_reason.get()
        };
        // A syscall inside the poll may have moved the M to another P.
        shared
            .trace
            .record(ctx.pid(), ctx.m.id, EventKind::GoStop { g: 0, reason });
    }
    polled
}

/// Leaves `block_on` (also on panic): give the P away, uncount the M.
struct Leave<'a>(&'a MachineCtx);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let ctx = self.0;
        let shared = &ctx.shared;
        if ctx.spinning.replace(false) {
            shared.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        if let Some(held) = ctx.take_p() {
            shared.handoffp(held, Some(ctx.m.id));
        }
        shared.nthreads.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Runtime {
    /// Shuts the runtime down: every G's future is dropped, every M and
    /// sysmon joined.
    ///
    /// The futures go first, while the Ms may still run: a G blocked in
    /// [`syscall`] may be waiting for something another G's future holds (a
    /// channel's sender in a sleeping G), and joining its M before dropping
    /// that future would wait forever. A G that is being polled at that
    /// moment keeps its future until its poll returns; a second pass drops
    /// it once every M has exited.
    ///
    /// What still cannot be interrupted, as in Go: a blocking call that never
    /// returns by itself (a read from a pipe nobody writes to). Go's runtime
    /// exits the process without waiting for such a thread; a dropped
    /// `Runtime` joins its Ms, so it waits for that call.
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.shutdown.store(true, Ordering::SeqCst);
        {
            let (lock, cvar) = &shared.sysmon_wake;
            *lock.lock() = true;
            cvar.notify_all();
        }
        // Drop every future that is not being polled (the state machine
        // keeps a running one for its M), and refuse new Gs.
        let tasks = shared.owned.close_and_take_all();
        for t in &tasks {
            t.shutdown();
        }
        // Wake every idle M and join every M thread, until none is left
        // (an M may be mid-start while we look).
        loop {
            let idle: Vec<_> = shared.sched.lock().midle.clone();
            for m in idle {
                m.parker.unpark();
            }
            let handles = std::mem::take(&mut *shared.threads.lock());
            if handles.is_empty() {
                break;
            }
            let me = crate::loom::thread::current().id();
            for h in handles {
                // A runtime dropped from inside one of its own Ms (moved into
                // a task) cannot join that thread; it exits on its own.
                if h.thread().id() != me {
                    let _ = h.join();
                }
            }
        }
        if let Some(h) = self.sysmon.take() {
            let _ = h.join();
        }
        // No M runs now: the futures that were mid-poll above go too, then
        // every queue entry and timer (they only hold references).
        for t in &tasks {
            t.shutdown();
        }
        drop(tasks);
        // Their sockets were closed with them; fail the waits of any socket
        // still open outside the runtime, and close epoll.
        if let Some(poller) = shared.netpoll.get() {
            poller.close();
        }
        let global = {
            let mut s = shared.sched.lock();
            s.closed = true;
            std::mem::take(&mut s.global)
        };
        shared.global_len.store(0, Ordering::SeqCst);
        drop(global);
        for (pid, p) in shared.ps.iter().enumerate() {
            drop(p.take_runnext());
            // Every M has exited and given its P back; a P still held
            // (an M that panicked holding it) keeps its Gs.
            if let Some(held) = p.try_claim(pid) {
                while let Some((t, _)) = p.runqget(&held) {
                    drop(t);
                }
                p.release(held);
            }
        }
        shared.timers.close();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("procs", &self.procs())
            .finish()
    }
}

/// Starts a new G running `future` and returns its [`JoinHandle`] (Go's
/// `go` statement, `newproc`). The G goes to the current P's `runnext`, so
/// it runs soon on this P, or is stolen by an idle one.
///
/// # Panics
/// If called outside a runtime: use it inside `Runtime::block_on` or a
/// task, or call `Runtime::spawn` on the runtime itself.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
/// let v = rt.block_on(async { runtime::spawn(async { 1 + 1 }).await });
/// assert_eq!(v.unwrap(), 2);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match with_current(|ctx| ctx.map(|c| c.shared.clone())) {
        Some(shared) => shared.spawn(future),
        None => panic!(
            "runtime::spawn was called outside a runtime: call it from inside Runtime::block_on \
             or a spawned task, or use Runtime::spawn(&rt, future) from plain threads"
        ),
    }
}

/// Runs a blocking call `f` without stalling the P (Go's `entersyscall` /
/// `exitsyscall`).
///
/// While `f` blocks this thread, the P is left in the syscall state; after
/// one sysmon tick, sysmon hands it to another M (`handoffp`), so other Gs
/// keep running even on `procs(1)`. When `f` returns, the M takes its P back
/// if it is still free, or another idle P, or waits for one. Outside a
/// runtime, `f` just runs.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let n = rt.block_on(async {
///     runtime::syscall(|| std::thread::sleep(std::time::Duration::from_millis(1)));
///     7
/// });
/// assert_eq!(n, 7);
/// assert_eq!(rt.metrics().syscalls, 1);
/// ```
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    crate::scheduler::syscall_in_context(f)
}
