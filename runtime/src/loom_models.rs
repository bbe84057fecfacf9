//! Loom models of the scheduler's concurrent protocols.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! runtime --release --lib loom`. Each model is small on purpose: loom
//! explores every interleaving, so a model with three threads and a handful
//! of atomic steps already covers thousands of executions.
//!
//! * the task state machine: a wake racing with the poll that registered
//!   the waker; a wake and a JoinHandle drop racing with completion;
//! * syscall hand-off: the M returning from a syscall racing with sysmon
//!   retaking its P;
//! * the `block_on` root, a G locked to its M: a G on another M wakes the
//!   root, while the root's M parks, wakes and queues for a P, and the
//!   waking M hands its P over (`startlockedm`) or releases it.
//!
//! (The park/unpark model is next to the `Parker`, in `park.rs`; the ring's
//! models are in `runq/ring.rs`.)

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{Arc, Mutex, thread};
use crate::task::{JoinHandle, Notified, RunResult, Schedule, new_task};

/// A scheduler that just queues woken tasks, and counts its own drops (it
/// lives inside the task cell, so its drop means the cell was freed).
struct TestQueue {
    queue: Arc<Mutex<VecDeque<Notified>>>,
    freed: Arc<AtomicUsize>,
}

impl Schedule for TestQueue {
    fn schedule(&self, task: Notified) {
        self.queue.lock().push_back(task);
    }
}

impl Drop for TestQueue {
    fn drop(&mut self) {
        self.freed.fetch_add(1, SeqCst);
    }
}

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn poll_join<T>(jh: &mut JoinHandle<T>) -> Poll<Result<T, crate::JoinError>> {
    let mut cx = TaskContext::from_waker(Waker::noop());
    Pin::new(jh).poll(&mut cx)
}

/// A future that is Pending on its first poll (after `on_first_poll` ran
/// with its waker) and Ready with `value()` on the next.
struct TwoPolls<F, V> {
    first: Option<F>,
    value: Option<V>,
}

impl<F: FnOnce(&Waker) + Unpin, V: Unpin> Future for TwoPolls<F, V> {
    type Output = V;
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<V> {
        match self.first.take() {
            Some(f) => {
                f(cx.waker());
                Poll::Pending
            }
            None => Poll::Ready(self.value.take().expect("polled after Ready")),
        }
    }
}

/// A waker fires on another thread while the poll that handed it out is
/// still running. Whichever side sees the other, the task is queued exactly
/// once, completes, and its cell is freed once.
#[test]
fn loom_task_wake_while_running() {
    loom::model(|| {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let freed = Arc::new(AtomicUsize::new(0));
        let waker_thread = Arc::new(Mutex::new(None));
        let wt = waker_thread.clone();
        let fut = TwoPolls {
            first: Some(move |w: &Waker| {
                let w = w.clone();
                *wt.lock() = Some(thread::spawn(move || w.wake()));
            }),
            value: Some(7u32),
        };
        let sched = TestQueue {
            queue: queue.clone(),
            freed: freed.clone(),
        };
        let (raw, notified, mut jh) = new_task(fut, sched, 1);
        // SAFETY: no live-task list in this model: drop its reference.
        drop(unsafe { Notified::from_raw(raw) });

        match notified.run() {
            RunResult::Yielded(t) => queue.lock().push_back(t),
            RunResult::Idle => {}
            RunResult::Complete(_) => panic!("completed on the first poll"),
        }
        waker_thread.lock().take().unwrap().join().unwrap();

        let again = queue.lock().pop_front().expect("the woken task was queued");
        assert!(queue.lock().is_empty(), "the task was queued twice");
        match again.run() {
            RunResult::Complete(t) => drop(t),
            _ => panic!("the second poll completes"),
        }
        assert!(matches!(poll_join(&mut jh), Poll::Ready(Ok(7))));
        drop(jh);
        assert_eq!(
            freed.load(SeqCst),
            1,
            "the task cell was not freed exactly once"
        );
    });
}

/// Completion races with a late wake and with the JoinHandle being dropped.
/// The output is dropped exactly once (by the completing M or the handle),
/// the late wake queues nothing, and the cell is freed once.
#[test]
fn loom_task_wake_after_completion_and_join_handle_dropped() {
    loom::model(|| {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let freed = Arc::new(AtomicUsize::new(0));
        let out_drops = Arc::new(AtomicUsize::new(0));
        let saved = Arc::new(Mutex::new(None::<Waker>));
        let s2 = saved.clone();
        let fut = TwoPolls {
            first: Some(move |w: &Waker| *s2.lock() = Some(w.clone())),
            value: Some(CountDrop(out_drops.clone())),
        };
        let sched = TestQueue {
            queue: queue.clone(),
            freed: freed.clone(),
        };
        let (raw, notified, jh) = new_task(fut, sched, 2);
        // SAFETY: no live-task list in this model: drop its reference.
        drop(unsafe { Notified::from_raw(raw) });
        assert!(matches!(notified.run(), RunResult::Idle));

        let waker = saved.lock().take().unwrap();
        waker.wake_by_ref(); // readies the task: queued once
        let late = thread::spawn(move || waker.wake());
        let dropper = thread::spawn(move || drop(jh));

        let t = queue.lock().pop_front().expect("queued by the first wake");
        match t.run() {
            RunResult::Complete(t) => drop(t),
            _ => panic!("the second poll completes"),
        }
        late.join().unwrap();
        dropper.join().unwrap();
        assert!(
            queue.lock().is_empty(),
            "a wake after completion queued the task"
        );
        assert_eq!(
            out_drops.load(SeqCst),
            1,
            "the output was not dropped exactly once"
        );
        assert_eq!(
            freed.load(SeqCst),
            1,
            "the task cell was not freed exactly once"
        );
    });
}

/// What `ProbedQueue` shares with the model: the queue, how many
/// `schedule` calls are between their first and last step, and how many
/// times the scheduler handle was dropped while one was.
#[derive(Default)]
struct Probe {
    queue: Mutex<VecDeque<Notified>>,
    scheduling: AtomicUsize,
    freed_while_scheduling: AtomicUsize,
}

/// A scheduler handle that notices being dropped (its task cell freed)
/// while a `schedule` call on it is still running.
struct ProbedQueue(Arc<Probe>);

impl Schedule for ProbedQueue {
    fn schedule(&self, task: Notified) {
        // Only `probe` is used after the push: once the task is in the queue
        // another M may run it to completion, and `self` lives in its cell.
        let probe = self.0.clone();
        probe.scheduling.fetch_add(1, SeqCst);
        probe.queue.lock().push_back(task);
        // The runtime's `ready` goes on after the push (`wakep`), still
        // inside the scheduler handle that the task cell holds.
        probe.scheduling.fetch_sub(1, SeqCst);
    }
}

impl Drop for ProbedQueue {
    fn drop(&mut self) {
        // A panic here would be swallowed (the cell drops quietly): count.
        if self.0.scheduling.load(SeqCst) != 0 {
            self.0.freed_while_scheduling.fetch_add(1, SeqCst);
        }
    }
}

/// `Waker::wake` by value while another M takes the task from the queue
/// and runs it to completion. The task cell, and with it the scheduler
/// handle `schedule` runs on, must outlive the whole `schedule` call: the
/// wake keeps its own reference until `schedule` returns and takes a new
/// one for the queue (tokio's `transition_to_notified_by_val`). Handing the
/// waker's only reference to the queue lets the other M free the cell
/// mid-call: the use-after-free this model was written for.
#[test]
fn loom_wake_by_value_while_the_task_completes_on_another_m() {
    loom::model(|| {
        let probe = Arc::new(Probe::default());
        let saved = Arc::new(Mutex::new(None::<Waker>));
        let s2 = saved.clone();
        let fut = TwoPolls {
            first: Some(move |w: &Waker| *s2.lock() = Some(w.clone())),
            value: Some(()),
        };
        let (raw, notified, jh) = new_task(fut, ProbedQueue(probe.clone()), 3);
        // SAFETY: no live-task list in this model: drop its reference.
        drop(unsafe { Notified::from_raw(raw) });
        drop(jh); // detached: the queue's entry will be the last reference
        assert!(matches!(notified.run(), RunResult::Idle));
        let waker = saved.lock().take().expect("the first poll saved its waker");

        let p2 = probe.clone();
        let other_m = thread::spawn(move || {
            let task = p2.queue.lock().pop_front();
            if let Some(task) = task {
                match task.run() {
                    RunResult::Complete(t) => drop(t),
                    _ => panic!("the second poll completes"),
                }
            }
        });
        waker.wake();
        other_m.join().unwrap();
        let left = probe.queue.lock().pop_front();
        if let Some(task) = left {
            match task.run() {
                RunResult::Complete(t) => drop(t),
                _ => panic!("the second poll completes"),
            }
        }
        assert_eq!(
            probe.freed_while_scheduling.load(SeqCst),
            0,
            "the task cell was freed while schedule() was still running on its scheduler handle"
        );
    });
}

/// `JoinHandle::abort` races a wake (on one thread) and an M running the
/// task from the queue (on another). Whatever the order, the task ends
/// exactly once (cancelled, or with its output if its second poll came
/// first), the future's captures are dropped once, and the cell is freed
/// once: abort and wake each take their own queue reference.
#[test]
fn loom_abort_races_a_wake_and_a_running_m() {
    loom::model(|| {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let freed = Arc::new(AtomicUsize::new(0));
        let captured = Arc::new(AtomicUsize::new(0));
        let saved = Arc::new(Mutex::new(None::<Waker>));
        let s2 = saved.clone();
        let capture = CountDrop(captured.clone());
        let fut = TwoPolls {
            first: Some(move |w: &Waker| {
                let _keep = &capture;
                *s2.lock() = Some(w.clone());
            }),
            value: Some(9u32),
        };
        let sched = TestQueue {
            queue: queue.clone(),
            freed: freed.clone(),
        };
        let (raw, notified, mut jh) = new_task(fut, sched, 4);
        // SAFETY: no live-task list in this model: drop its reference.
        drop(unsafe { Notified::from_raw(raw) });
        assert!(matches!(notified.run(), RunResult::Idle));
        let waker = saved.lock().take().unwrap();

        let waking = thread::spawn(move || waker.wake());
        let q2 = queue.clone();
        let m = thread::spawn(move || {
            let task = q2.lock().pop_front();
            if let Some(task) = task {
                match task.run() {
                    RunResult::Complete(t) => drop(t),
                    RunResult::Yielded(t) => q2.lock().push_back(t),
                    RunResult::Idle => {}
                }
            }
        });
        jh.abort();
        waking.join().unwrap();
        m.join().unwrap();
        // Whatever is still queued runs now (each entry owns a reference).
        loop {
            let next = queue.lock().pop_front();
            let Some(task) = next else { break };
            match task.run() {
                RunResult::Complete(t) => drop(t),
                RunResult::Yielded(t) => queue.lock().push_back(t),
                RunResult::Idle => {}
            }
        }
        match poll_join(&mut jh) {
            Poll::Ready(Ok(9)) => {}
            Poll::Ready(Err(e)) => assert!(e.is_cancelled(), "{e}"),
            other => panic!("the task did not end: {:?}", other.map(|r| r.is_ok())),
        }
        drop(jh);
        assert_eq!(captured.load(SeqCst), 1, "the future was not dropped once");
        assert_eq!(freed.load(SeqCst), 1, "the task cell was not freed once");
    });
}

/// Go's entersyscall / retake / exitsyscall on one P. The M comes back from
/// its syscall while sysmon may be retaking the P. In every interleaving
/// exactly one side wins the P's status CAS, the M ends up holding the P
/// (directly, or handed back by `pidleput` after waiting), and afterwards
/// the P is idle with nobody left waiting.
#[test]
fn loom_syscall_handoff_and_return() {
    use crate::context::MachineCtx;
    use crate::m::MHandle;
    use crate::p::P_RUNNING;
    use crate::runq::RunQueueKind;
    use crate::scheduler::{Config, Shared};

    loom::model(|| {
        let shared = std::sync::Arc::new(Shared::new(Config {
            procs: 1,
            run_queue: RunQueueKind::GoRing,
            trace: false,
            schedtrace: None,
            spawn_threads: false,
        }));
        let m = std::sync::Arc::new(MHandle::new(1));
        let ctx = MachineCtx::new(shared.clone(), m);
        let pid = shared.pidleget().expect("one idle P");
        let held = shared.acquirep(&ctx, pid);

        let oldp = shared.entersyscall(&ctx, held);
        let s2 = shared.clone();
        let sysmon = thread::spawn(move || s2.retake_syscall(0));
        ctx.hold(shared.exitsyscall(&ctx, oldp));
        let retaken = sysmon.join().unwrap();

        assert_eq!(ctx.pid(), Some(0), "the M must hold a P after exitsyscall");
        assert_eq!(shared.ps[0].status.load(SeqCst), P_RUNNING);
        assert_eq!(shared.counters.retakes.load(SeqCst), u64::from(retaken));

        let pid = shared.releasep_current(&ctx);
        shared.pidleput(pid);
        let s = shared.sched.lock();
        assert_eq!(s.pidle, vec![0]);
        assert!(s.p_waiters.is_empty());
        assert_eq!(shared.npidle.load(SeqCst), 1);
    });
}

/// The root's M (this thread) has given its P away and waits for one
/// (`stoplockedm`). Another M holds the only P, flagged by sysmon to make
/// way, and runs a G that wakes the root; then it hands its P to a waiting
/// M if it sees one (`startlockedm`), or else runs out of work and
/// releases the P (`pidleput`). The wake may land before the root's M parks (the root is
/// WOKEN: its M queues for a P itself) or after (PARKED: the waker queues
/// it). In every interleaving the root's M ends up holding the P, nobody
/// is left waiting, and the other M holds none.
#[test]
fn loom_locked_root_gets_the_p_back_from_a_busy_m() {
    use crate::context::MachineCtx;
    use crate::m::MHandle;
    use crate::p::P_RUNNING;
    use crate::runq::RunQueueKind;
    use crate::scheduler::{Config, RootWaker, Shared};
    use std::task::Wake;

    loom::model(|| {
        let shared = std::sync::Arc::new(Shared::new(Config {
            procs: 1,
            run_queue: RunQueueKind::GoRing,
            trace: false,
            schedtrace: None,
            spawn_threads: false,
        }));
        let root_m = std::sync::Arc::new(MHandle::new(1));
        let root = RootWaker::new(root_m.clone(), &shared);
        let ctx = MachineCtx::new(shared.clone(), root_m);
        let pid = shared.pidleget().expect("one idle P");
        shared.ps[pid].handoff_wanted.store(true, SeqCst); // as sysmon would

        let (s2, r2) = (shared.clone(), root.clone());
        let other_m = thread::spawn(move || {
            let ctx = MachineCtx::new(s2.clone(), std::sync::Arc::new(MHandle::new(2)));
            ctx.hold(s2.acquirep(&ctx, pid));
            r2.wake_by_ref(); // the G it runs wakes the root
            let handed = s2.make_way_if_asked(&ctx);
            if !handed {
                let pid = s2.releasep_current(&ctx);
                s2.pidleput(pid);
            }
            ctx.pid()
        });
        shared.wait_for_p(&ctx, &root);
        let other_p = other_m.join().unwrap();

        assert_eq!(ctx.pid(), Some(0), "the root's M must hold the P");
        assert_eq!(other_p, None, "the other M gave its P away");
        assert_eq!(shared.ps[0].status.load(SeqCst), P_RUNNING);
        let s = shared.sched.lock();
        assert!(s.p_waiters.is_empty() && s.pidle.is_empty());
        assert_eq!(shared.np_waiters.load(SeqCst), 0);
        assert_eq!(shared.npidle.load(SeqCst), 0);
    });
}

/// A JoinHandle is polled on another thread while the task completes. The
/// poller either reads the output at once, or left a waker that the
/// completion wakes: a join is never lost.
#[test]
fn loom_join_handle_poll_races_completion() {
    use std::task::Wake;
    struct Flag(AtomicUsize);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    loom::model(|| {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let freed = Arc::new(AtomicUsize::new(0));
        let sched = TestQueue {
            queue,
            freed: freed.clone(),
        };
        let (raw, notified, mut jh) = new_task(async { 5u8 }, sched, 3);
        // SAFETY: no live-task list in this model: drop its reference.
        drop(unsafe { Notified::from_raw(raw) });
        let joiner = thread::spawn(move || {
            let flag = std::sync::Arc::new(Flag(AtomicUsize::new(0)));
            let waker = Waker::from(flag.clone());
            let mut cx = TaskContext::from_waker(&waker);
            let first = Pin::new(&mut jh).poll(&mut cx);
            (first.is_ready(), flag, jh)
        });
        assert!(matches!(notified.run(), RunResult::Complete(_)));
        let (ready, flag, mut jh) = joiner.join().unwrap();
        if !ready {
            assert_eq!(
                flag.0.load(SeqCst),
                1,
                "the completion did not wake the joiner"
            );
            assert!(matches!(poll_join(&mut jh), Poll::Ready(Ok(5))));
        }
        drop(jh);
        assert_eq!(freed.load(SeqCst), 1);
    });
}
