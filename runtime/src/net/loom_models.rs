//! Loom models of the poll descriptor's wait protocol (`pd.rs`): the
//! poller making a socket ready while a G parks on it; and of the Gs a
//! poll readied reaching an M (`injectglist` racing `handoffp`).
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! runtime --release --lib loom`. epoll itself is not in the model: the
//! race is between two atomic steps of the G (publish the waker, CAS to
//! WAIT) and the poller's swap to READY, and that is what loom permutes.
//!
//! * `loom_readiness_racing_park_never_loses_the_wakeup`: in every order,
//!   the G either sees the readiness or is woken, and the count of waiters
//!   ends at zero;
//! * `loom_a_repoll_with_a_new_waker_racing_readiness`: a G polled again
//!   (a `timeout`'s timer woke it) swaps its waker while the poller readies
//!   it: one of the two polls returns ready, or a waker is woken;
//! * `loom_cancel_racing_readiness_counts_the_waiter_once`: a timed-out
//!   read withdraws while the poller readies it: the count never goes
//!   below zero or stays above it;
//! * `loom_broken_park_without_cas_loses_the_wakeup`: the deliberately
//!   broken variant, checked READY first and then plainly stored WAIT, no
//!   CAS. Loom finds the interleaving where the poller's READY lands between
//!   the check and the store, is overwritten, and nobody wakes the G. The
//!   test expects that failure;
//! * `loom_a_poll_injecting_while_the_root_hands_off_its_p_loses_no_g`:
//!   past the descriptor, the G a poll readied goes to the global queue
//!   from an M without a P while the root's M idles the only P
//!   (`handoffp`): one of them must start an M for it. Seen failing
//!   (one preemption is enough) before `handoffp` re-checked the global
//!   queue under the sched lock.

use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use super::pd::{Dir, NIL, PollDesc, READY, WAIT};
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::loom::{Arc, thread};

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: StdArc<Self>) {
        self.0.store(true, SeqCst);
    }
}

fn flag() -> (StdArc<Flag>, Waker) {
    let f = StdArc::new(Flag(AtomicBool::new(false)));
    (f.clone(), Waker::from(f))
}

/// The poller's side: `netpollready` for one event.
fn poller_thread(pd: Arc<PollDesc>, waiters: Arc<AtomicUsize>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        if let Some(w) = pd.set_ready(Dir::Read, &waiters) {
            w.wake();
        }
    })
}

#[test]
fn loom_readiness_racing_park_never_loses_the_wakeup() {
    loom::model(|| {
        let pd = Arc::new(PollDesc::new(0, 0, 1));
        let waiters = Arc::new(AtomicUsize::new(0));
        let t = poller_thread(pd.clone(), waiters.clone());
        let (woken, waker) = flag();
        let mut cx = Context::from_waker(&waker);
        let r = pd.poll_wait(Dir::Read, &mut cx, &waiters);
        t.join().unwrap();
        match r {
            Poll::Ready(Ok(())) => {}
            Poll::Pending => assert!(
                woken.0.load(SeqCst),
                "lost wake-up: the G parked and the poller did not wake it"
            ),
            Poll::Ready(Err(e)) => panic!("an open descriptor failed: {e}"),
        }
        assert_eq!(waiters.load(SeqCst), 0, "a waiter is still counted");
    });
}

#[test]
fn loom_a_repoll_with_a_new_waker_racing_readiness() {
    loom::model(|| {
        let pd = Arc::new(PollDesc::new(0, 0, 1));
        let waiters = Arc::new(AtomicUsize::new(0));
        let (first, w1) = flag();
        assert!(
            pd.poll_wait(Dir::Read, &mut Context::from_waker(&w1), &waiters)
                .is_pending()
        );
        let t = poller_thread(pd.clone(), waiters.clone());
        let (second, w2) = flag();
        let r = pd.poll_wait(Dir::Read, &mut Context::from_waker(&w2), &waiters);
        t.join().unwrap();
        if r.is_pending() {
            assert!(
                first.0.load(SeqCst) || second.0.load(SeqCst),
                "lost wake-up: the re-polled G parked and no waker of it was woken"
            );
        }
        assert_eq!(waiters.load(SeqCst), 0);
    });
}

#[test]
fn loom_cancel_racing_readiness_counts_the_waiter_once() {
    loom::model(|| {
        let pd = Arc::new(PollDesc::new(0, 0, 1));
        let waiters = Arc::new(AtomicUsize::new(0));
        let (_f, w) = flag();
        assert!(
            pd.poll_wait(Dir::Read, &mut Context::from_waker(&w), &waiters)
                .is_pending()
        );
        let t = poller_thread(pd.clone(), waiters.clone());
        pd.cancel_wait(Dir::Read, &waiters);
        t.join().unwrap();
        assert_eq!(waiters.load(SeqCst), 0, "the waiter count is off");
    });
}

// ANCHOR: broken
/// The broken variant: look for READY, publish the waker, then *store*
/// WAIT. A READY that the poller swapped in after the look is overwritten,
/// and the poller, having found no waiter, woke nobody.
fn poll_wait_without_cas(pd: &PollDesc, cx: &mut Context<'_>, waiters: &AtomicUsize) -> Poll<()> {
    let h = pd.half(Dir::Read);
    if h.state.load(SeqCst) == READY {
        h.state.store(NIL, SeqCst);
        return Poll::Ready(());
    }
    *h.waker.lock() = Some(cx.waker().clone());
    h.state.store(WAIT, SeqCst); // no CAS: the bug
    waiters.fetch_add(1, SeqCst);
    Poll::Pending
}
// ANCHOR_END: broken

#[test]
#[should_panic(expected = "lost wake-up")]
fn loom_broken_park_without_cas_loses_the_wakeup() {
    loom::model(|| {
        let pd = Arc::new(PollDesc::new(0, 0, 1));
        let waiters = Arc::new(AtomicUsize::new(0));
        let t = poller_thread(pd.clone(), waiters.clone());
        let (woken, waker) = flag();
        let r = poll_wait_without_cas(&pd, &mut Context::from_waker(&waker), &waiters);
        t.join().unwrap();
        if r.is_pending() {
            assert!(
                woken.0.load(SeqCst),
                "lost wake-up: the G parked and the poller did not wake it"
            );
        }
    });
}

/// A scheduler for a task that is only queued, never woken.
struct NoSched;

impl crate::task::Schedule for NoSched {
    fn schedule(&self, task: crate::task::Notified) {
        drop(task);
    }
}

// ANCHOR: inject_vs_handoffp
/// The hang once seen in `a_g_blocked_on_a_read_holds_no_p_on_procs_1`
/// (`tests/net.rs`), on `procs(1)`: an M back from `epoll_wait` without a
/// P (or sysmon, after its poll) injects the reader it readied into the
/// global queue (`injectglist(None, ..)`), while the root's M gives the
/// only P away (`stoplockedm` -> `handoffp`). `start_idle` starts an M
/// only if it sees an idle P; `handoffp` starts one only if it sees work.
/// In every order one of them must see the other: the G is never left in
/// the global queue with the P idle and no M handed it (nothing else would
/// ever look: the waiter count is already zero, so sysmon and the idle Ms
/// no longer poll, and the root waits for that G).
///
/// Before the fix `handoffp` read `global_len` first and idled the P
/// later, with no re-check under the sched lock; loom found the order
/// "handoffp sees no work; the G is queued; start_idle sees no idle P;
/// handoffp idles the P".
#[test]
fn loom_a_poll_injecting_while_the_root_hands_off_its_p_loses_no_g() {
    use crate::context::MachineCtx;
    use crate::m::MHandle;
    use crate::runq::RunQueueKind;
    use crate::scheduler::{Config, Shared};
    use crate::task::{Notified, new_task};

    loom::model(|| {
        let shared = StdArc::new(Shared::new(Config {
            procs: 1,
            run_queue: RunQueueKind::GoRing,
            trace: false,
            schedtrace: None,
            spawn_threads: false,
        }));
        // The root's M holds the only P; the polling M is on the idle list
        // (it is, while it sleeps in `epoll_wait` inside `stopm`).
        let root_m = StdArc::new(MHandle::new(1));
        let ctx = MachineCtx::new(shared.clone(), root_m);
        let pid = shared.pidleget().expect("one idle P");
        ctx.hold(shared.acquirep(&ctx, pid));
        let poll_m = StdArc::new(MHandle::new(2));
        shared.sched.lock().midle.push(poll_m.clone());

        let (raw, reader, jh) = new_task(async {}, NoSched, 1);
        // SAFETY: no live-task list in this model: drop its reference.
        drop(unsafe { Notified::from_raw(raw) });
        drop(jh);

        let s2 = shared.clone();
        let poller = thread::spawn(move || s2.injectglist(None, vec![reader]));
        // The root returned Pending: `stoplockedm` gives the P away.
        let held = ctx.take_p().expect("the root's M holds the P");
        shared.handoffp(held, Some(ctx.m.id));
        poller.join().unwrap();

        let queued = shared.global_len.load(SeqCst);
        let idle = shared.npidle.load(SeqCst);
        let handed = poll_m.take_nextp().is_some();
        assert_eq!(queued, 1, "the readied G is in the global queue");
        assert!(
            handed && idle == 0,
            "lost wake-up: the readied G sits in the global queue, the only P \
             is idle ({idle} idle) and no M was handed it (handed: {handed})"
        );
        let tasks: Vec<_> = shared.sched.lock().global.drain(..).collect();
        drop(tasks);
    });
}
// ANCHOR_END: inject_vs_handoffp
