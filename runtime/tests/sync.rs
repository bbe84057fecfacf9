//! `runtime::sync` on a real runtime: channels (rendezvous, hand-off, ring,
//! FIFO, close and drain, receivers gone, cancellation), Mutex (exclusion
//! under contention, starvation mode, cancellation), RwLock, WaitGroup, and
//! the wait records. Each test runs on 1 and 4 Ps and, where the run queue
//! matters, on both run queues. Nothing sleeps to wait for another G: Gs
//! are joined, or the test yields until a queue length it can observe says
//! the other G is parked (bounded by a timeout, so a bug fails, not hangs).
#![cfg(not(loom))]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use runtime::sync::{
    Mutex, Profile, RwLock, SendError, TryRecvError, TrySendError, WaitGroup, WaitKind, channel,
    try_channel, wait_records,
};
use runtime::{EventKind, RunQueueKind, Runtime, StopReason};

const KINDS: [RunQueueKind; 2] = [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing];

/// Every (procs, run queue) configuration a test runs on.
fn runtimes() -> impl Iterator<Item = (usize, RunQueueKind, Runtime)> {
    [1, 4].into_iter().flat_map(|procs| {
        KINDS.into_iter().map(move |kind| {
            let rt = Runtime::builder()
                .procs(procs)
                .run_queue(kind)
                .build()
                .unwrap();
            (procs, kind, rt)
        })
    })
}

/// Yields until `cond` holds; fails after 10 s instead of hanging.
async fn until(what: &str, cond: impl Fn() -> bool) {
    let r = runtime::timeout(Duration::from_secs(10), async {
        while !cond() {
            runtime::yield_now().await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting until {what}");
}

/// Polls `fut` once with a no-op waker: Some(output) if it was ready.
fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

fn busy(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn an_unbuffered_send_completes_only_when_a_receiver_takes_the_value() {
    for (procs, kind, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = channel::<u32>(0);
            let sent = Arc::new(AtomicBool::new(false));
            let s = sent.clone();
            let probe = tx.clone();
            let h = runtime::spawn(async move {
                tx.send(7).await.unwrap();
                s.store(true, Ordering::SeqCst);
            });
            until("the sender is parked on sendq", || probe.stats().sendq == 1).await;
            assert!(
                !sent.load(Ordering::SeqCst),
                "{procs} Ps, {kind:?}: the send finished with nobody receiving"
            );
            assert_eq!(
                probe.stats().qcount,
                0,
                "an unbuffered channel buffers nothing"
            );
            assert_eq!(rx.recv().await, Some(7));
            h.await.unwrap();
            assert!(sent.load(Ordering::SeqCst));
            assert_eq!(probe.stats().sendq, 0);
        });
    }
}

#[test]
fn a_send_to_a_parked_receiver_goes_straight_to_it_not_through_the_ring() {
    for (procs, _, rt) in runtimes() {
        rt.block_on(async {
            for cap in [0, 4] {
                let (tx, mut rx) = channel::<u32>(cap);
                let h = runtime::spawn(async move { rx.recv().await });
                until("the receiver is parked on recvq", || tx.stats().recvq == 1).await;
                // try_send succeeds even on an unbuffered channel: a receiver waits.
                tx.try_send(9).unwrap();
                let st = tx.stats();
                assert_eq!(
                    (st.recvq, st.qcount, st.sendx),
                    (0, 0, 0),
                    "cap {cap}, {procs} Ps: the value bypassed the ring"
                );
                assert_eq!(h.await.unwrap(), Some(9));
            }
        });
    }
}

#[test]
fn a_buffered_channel_is_a_ring_with_sendx_and_recvx() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = channel::<u32>(3);
        for v in 0..3 {
            tx.try_send(v).unwrap();
        }
        assert!(matches!(tx.try_send(3), Err(TrySendError::Full(3))));
        let st = tx.stats();
        assert_eq!((st.dataqsiz, st.qcount, st.sendx, st.recvx), (3, 3, 0, 0));
        assert_eq!(rx.try_recv(), Ok(0));
        tx.try_send(3).unwrap(); // goes into the freed slot 0
        let st = tx.stats();
        assert_eq!((st.qcount, st.sendx, st.recvx), (3, 1, 1));
        // A parked sender's value moves into the slot a receive frees.
        let tx2 = tx.clone();
        let h = runtime::spawn(async move { tx2.send(4).await });
        until("the sender is parked (ring full)", || tx.stats().sendq == 1).await;
        assert_eq!(rx.recv().await, Some(1));
        let st = tx.stats();
        assert_eq!(
            (st.qcount, st.sendq),
            (3, 0),
            "the parked sender's value took the freed slot"
        );
        h.await.unwrap().unwrap();
        let got: Vec<_> = (0..3).map(|_| rx.try_recv().unwrap()).collect();
        assert_eq!(got, [2, 3, 4]);
    });
}

#[test]
fn values_arrive_in_fifo_order_per_sender() {
    for (procs, kind, rt) in runtimes() {
        rt.block_on(async {
            for cap in [0, 1, 16] {
                let (tx, mut rx) = channel::<(usize, u32)>(cap);
                let mut hs = Vec::new();
                for s in 0..3 {
                    let tx = tx.clone();
                    hs.push(runtime::spawn(async move {
                        for i in 0..500 {
                            tx.send((s, i)).await.unwrap();
                        }
                    }));
                }
                drop(tx);
                let mut next = [0u32; 3];
                while let Some((s, i)) = rx.recv().await {
                    assert_eq!(
                        i, next[s],
                        "{procs} Ps, {kind:?}, cap {cap}: sender {s} out of order"
                    );
                    next[s] += 1;
                }
                assert_eq!(next, [500; 3], "every value arrives once");
                for h in hs {
                    h.await.unwrap();
                }
            }
        });
    }
}

#[test]
fn dropping_every_sender_closes_after_the_ring_drains() {
    for (_, _, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = channel::<u32>(3);
            for v in 0..3 {
                tx.send(v).await.unwrap();
            }
            let tx2 = tx.clone();
            drop(tx);
            assert!(!rx.stats().closed, "one Sender is still alive");
            drop(tx2);
            assert!(rx.stats().closed);
            for v in 0..3 {
                assert_eq!(rx.recv().await, Some(v), "buffered values drain first");
            }
            assert_eq!(rx.recv().await, None);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
            // A receiver parked when the last Sender goes is released with None.
            let (tx, mut rx) = channel::<u32>(0);
            let h = runtime::spawn(async move { rx.recv().await });
            until("the receiver is parked", || tx.stats().recvq == 1).await;
            drop(tx);
            assert_eq!(h.await.unwrap(), None);
        });
    }
}

#[test]
fn a_send_after_the_receivers_are_gone_gives_the_value_back() {
    for (_, _, rt) in runtimes() {
        rt.block_on(async {
            let (tx, rx) = channel::<String>(0);
            let probe = tx.clone();
            let h = runtime::spawn(async move { tx.send("parked".to_string()).await });
            until("the sender is parked", || probe.stats().sendq == 1).await;
            drop(rx);
            let err = h.await.unwrap().expect_err("receivers are gone");
            assert_eq!(
                err,
                SendError("parked".to_string()),
                "the parked sender gets its value back"
            );
            assert_eq!(
                probe.send("late".into()).await,
                Err(SendError("late".into()))
            );
            assert!(
                matches!(probe.try_send("try".into()), Err(TrySendError::Closed(v)) if v == "try")
            );
            assert!(probe.is_closed());
            // Buffered values are dropped with the last Receiver.
            let token = Arc::new(());
            let (tx, rx) = channel::<Arc<()>>(2);
            tx.try_send(token.clone()).unwrap();
            tx.try_send(token.clone()).unwrap();
            drop(rx);
            assert_eq!(
                Arc::strong_count(&token),
                1,
                "values left in the ring were not dropped"
            );
        });
    }
}

#[test]
fn cancelled_waits_leave_the_queues_clean() {
    for (procs, kind, rt) in runtimes() {
        rt.block_on(async {
            let (tx, mut rx) = channel::<u32>(0);
            let r = runtime::timeout(Duration::from_millis(1), rx.recv()).await;
            assert!(r.is_err());
            assert_eq!(
                rx.stats().recvq,
                0,
                "{procs} Ps, {kind:?}: a cancelled recv stayed on recvq"
            );
            let r = runtime::timeout(Duration::from_millis(1), tx.send(5)).await;
            assert!(r.is_err());
            assert_eq!(tx.stats().sendq, 0, "a cancelled send stayed on sendq");
            assert_eq!(
                rx.try_recv(),
                Err(TryRecvError::Empty),
                "a cancelled send delivered its value"
            );
            // The channel still works both ways.
            let h = runtime::spawn(async move { rx.recv().await });
            tx.send(6).await.unwrap();
            assert_eq!(h.await.unwrap(), Some(6));
        });
    }
}

#[test]
fn a_value_handed_to_a_receive_that_is_then_dropped_goes_to_the_next_receive() {
    for (procs, kind, rt) in runtimes() {
        rt.block_on(async {
            for cap in [0, 2] {
                let (tx, mut rx) = channel::<u32>(cap);
                {
                    let mut parked = Box::pin(rx.recv());
                    assert!(
                        poll_once(parked.as_mut()).is_none(),
                        "nothing sent yet: it parks"
                    );
                    assert_eq!(tx.stats().recvq, 1);
                    tx.try_send(1).unwrap(); // straight into the parked sudog
                    tx.try_send(2).ok(); // buffered (cap 2), or refused (cap 0)
                    // dropped here, before it was polled again: cancelled
                }
                let next = runtime::timeout(Duration::from_secs(10), rx.recv()).await;
                assert_eq!(
                    next,
                    Ok(Some(1)),
                    "{procs} Ps, {kind:?}, cap {cap}: the handed value was lost"
                );
                if cap > 0 {
                    assert_eq!(
                        rx.recv().await,
                        Some(2),
                        "order kept behind the returned value"
                    );
                }
                assert_eq!(
                    rx.try_recv(),
                    Err(TryRecvError::Empty),
                    "nothing delivered twice"
                );
            }
        });
    }
}

#[test]
fn a_woken_lock_that_is_dropped_passes_the_wake_up_on() {
    for (procs, kind, rt) in runtimes() {
        rt.block_on(async {
            let m = Arc::new(Mutex::new(0));
            let held = m.lock().await;
            let mut first = Box::pin(m.lock());
            assert!(poll_once(first.as_mut()).is_none(), "held: it queues");
            let m2 = m.clone();
            let second = runtime::spawn(async move { *m2.lock().await += 1 });
            until("the second locker is queued", || m.waiters() == 2).await;
            drop(held); // wakes `first`, which will never compete
            drop(first); // ... so its wake-up must go to `second`
            let r = runtime::timeout(Duration::from_secs(10), second).await;
            assert!(
                r.is_ok(),
                "{procs} Ps, {kind:?}: the second locker was never woken"
            );
            assert_eq!(*m.lock().await, 1);
            assert_eq!(m.waiters(), 0);
        });
    }
}

#[test]
fn receives_cancelled_by_timeouts_lose_no_value_and_duplicate_none() {
    for (procs, kind, rt) in runtimes() {
        rt.block_on(async {
            for cap in [0, 2] {
                let (tx, mut rx) = channel::<u32>(cap);
                const N: u32 = 2000;
                let h = runtime::spawn(async move {
                    for i in 0..N {
                        tx.send(i).await.unwrap();
                        if i % 3 == 0 {
                            runtime::yield_now().await;
                        }
                    }
                });
                let mut got = Vec::new();
                let mut cancelled = 0;
                loop {
                    match runtime::timeout(Duration::from_micros(20), rx.recv()).await {
                        Ok(Some(v)) => got.push(v),
                        Ok(None) => break,
                        Err(_) => cancelled += 1,
                    }
                }
                h.await.unwrap();
                let want: Vec<u32> = (0..N).collect();
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{procs} Ps, {kind:?}, cap {cap}: {cancelled} cancelled receives"
                );
                assert_eq!(got, want, "every value exactly once, in order");
            }
        });
    }
}

#[test]
fn an_impossible_capacity_is_an_error_or_a_clear_panic_at_construction() {
    let err = try_channel::<u64>(usize::MAX).expect_err("usize::MAX slots of 8 bytes");
    assert_eq!((err.cap, err.elem_size), (usize::MAX, 8));
    assert!(err.to_string().contains("capacity out of range"), "{err}");
    let p = std::panic::catch_unwind(|| channel::<u64>(usize::MAX)).expect_err("must panic");
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("capacity out of range"),
        "unclear panic: {msg}"
    );
    // The runtime is untouched: a channel still works on it.
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = channel::<u64>(1);
        tx.send(1).await.unwrap();
        assert_eq!(rx.recv().await, Some(1));
    });
}

#[test]
fn a_contended_mutex_loses_no_increment() {
    for (procs, kind, rt) in runtimes() {
        let total = rt.block_on(async {
            let m = Arc::new(Mutex::new(0u64));
            let hs: Vec<_> = (0..16)
                .map(|g| {
                    let m = m.clone();
                    runtime::spawn(async move {
                        for i in 0..300 {
                            let mut guard = m.lock().await;
                            let v = *guard;
                            if (i + g) % 7 == 0 {
                                runtime::yield_now().await; // hold it across a park
                            }
                            *guard = v + 1; // a lost update if two Gs were inside
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
            *m.lock().await
        });
        assert_eq!(total, 16 * 300, "{procs} Ps, {kind:?}");
        assert!(
            rt.metrics().sync_waits > 0,
            "{procs} Ps: no G ever waited for the lock"
        );
    }
}

#[test]
fn a_waiter_passed_over_for_a_millisecond_turns_the_mutex_starving() {
    for (procs, kind, rt) in runtimes() {
        let n = rt.block_on(async {
            let m = Arc::new(Mutex::new(0u32));
            let hs: Vec<_> = (0..3)
                .map(|_| {
                    let m = m.clone();
                    runtime::spawn(async move {
                        for _ in 0..60 {
                            let mut g = m.lock().await;
                            busy(Duration::from_micros(100));
                            runtime::yield_now().await; // woken waiters run, and lose
                            *g += 1;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
            assert!(
                !m.is_starving(),
                "the last waiter out leaves starvation mode"
            );
            *m.lock().await
        });
        assert_eq!(n, 180);
        let mm = rt.metrics();
        assert!(
            mm.mutex_starvations > 0,
            "{procs} Ps, {kind:?}: never entered starvation mode: {mm:?}"
        );
        assert!(
            mm.mutex_handoffs > 0,
            "{procs} Ps, {kind:?}: starvation mode never handed the lock over"
        );
    }
}

#[test]
fn a_cancelled_lock_leaves_the_mutex_usable() {
    for (_, _, rt) in runtimes() {
        rt.block_on(async {
            let m = Arc::new(Mutex::new(1));
            let g = m.lock().await;
            let m2 = m.clone();
            let h = runtime::spawn(async move {
                runtime::timeout(Duration::from_millis(1), m2.lock())
                    .await
                    .is_err()
            });
            assert!(h.await.unwrap(), "the lock was held: the timeout must fire");
            assert_eq!(m.waiters(), 0, "the cancelled waiter left the queue");
            assert!(m.try_lock().is_none());
            drop(g);
            assert_eq!(*m.try_lock().expect("free again"), 1);
        });
    }
}

#[test]
fn rwlock_readers_share_and_a_queued_writer_holds_new_readers_back() {
    for (procs, _, rt) in runtimes() {
        rt.block_on(async {
            let l = Arc::new(RwLock::new(0));
            let r1 = l.read().await;
            let r2 = poll_once(l.read()).expect("readers share the lock");
            assert!(poll_once(l.write()).is_none(), "a writer waits for readers");
            let l2 = l.clone();
            let w = runtime::spawn(async move { *l2.write().await += 1 });
            // Wait until the writer is queued: a fresh read then must wait.
            until("the writer is queued", || poll_once(l.read()).is_none()).await;
            drop((r1, r2));
            w.await.unwrap();
            assert_eq!(*l.read().await, 1, "{procs} Ps: the writer went first");
            // Writers alternate with readers under contention: no one starves.
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    let l = l.clone();
                    runtime::spawn(async move {
                        for _ in 0..200 {
                            if i % 2 == 0 {
                                *l.write().await += 1;
                            } else {
                                let v = *l.read().await;
                                assert!(v >= 1);
                            }
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
            assert_eq!(*l.read().await, 1 + 4 * 200);
        });
    }
}

#[test]
fn a_waitgroup_releases_its_waiters_at_zero() {
    for (procs, kind, rt) in runtimes() {
        rt.block_on(async {
            let wg = Arc::new(WaitGroup::new());
            let done = Arc::new(AtomicU64::new(0));
            wg.add(10);
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let (wg, done) = (wg.clone(), done.clone());
                    runtime::spawn(async move {
                        wg.wait().await;
                        done.load(Ordering::SeqCst)
                    })
                })
                .collect();
            for _ in 0..10 {
                let (wg, done) = (wg.clone(), done.clone());
                runtime::spawn(async move {
                    done.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                });
            }
            for w in waiters {
                assert_eq!(
                    w.await.unwrap(),
                    10,
                    "{procs} Ps, {kind:?}: a waiter ran before every done()"
                );
            }
            assert_eq!(wg.count(), 0);
            let r = runtime::timeout(Duration::from_millis(1), async {
                wg.add(1);
                wg.wait().await
            })
            .await;
            assert!(r.is_err(), "count 1: wait must not finish");
            wg.done();
            wg.wait().await;
        });
    }
    let wg = WaitGroup::new();
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wg.done()))
        .expect_err("done below zero");
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("negative WaitGroup counter"), "{msg}");
}

#[test]
fn waits_are_counted_recorded_by_call_site_and_traced() {
    let rt = Runtime::builder().procs(2).trace(true).build().unwrap();
    let line = rt.block_on(async {
        let (tx, mut rx) = channel::<u32>(0);
        let h = runtime::spawn(async move {
            let line = line!() + 1;
            let v = rx.recv().await;
            (v, line)
        });
        until("the receiver is parked", || tx.stats().recvq == 1).await;
        tx.send(1).await.unwrap();
        let (v, line) = h.await.unwrap();
        assert_eq!(v, Some(1));
        // Mutex contention, charged to the holder's lock() site.
        let m = Arc::new(Mutex::new(()));
        let g = m.lock().await;
        let m2 = m.clone();
        let w = runtime::spawn(async move { drop(m2.lock().await) });
        until("the locker is queued", || m.waiters() == 1).await;
        drop(g);
        w.await.unwrap();
        // The root G itself parks on a channel and on a lock, so that the
        // trace shows its stops with those reasons.
        let (tx, mut rx) = channel::<u32>(0);
        let probe = tx.clone();
        let s = runtime::spawn(async move {
            until("the root is parked on recvq", || probe.stats().recvq == 1).await;
            tx.send(2).await.unwrap();
        });
        assert_eq!(rx.recv().await, Some(2));
        s.await.unwrap();
        let held = Arc::new(Mutex::new(()));
        let (ready_tx, mut ready_rx) = channel::<()>(0);
        let h2 = held.clone();
        let s = runtime::spawn(async move {
            let g = h2.lock().await;
            ready_tx.send(()).await.unwrap();
            until("the root is queued on the lock", || h2.waiters() == 1).await;
            drop(g);
        });
        ready_rx.recv().await.unwrap();
        drop(held.lock().await);
        s.await.unwrap();
        line
    });
    let m = rt.metrics();
    assert!(
        m.chan_waits >= 1 && m.sync_waits >= 1 && m.wait_ns > 0,
        "{m:?}"
    );
    let records = wait_records();
    let here = |r: &&runtime::sync::WaitRecord| r.location.file().ends_with("sync.rs");
    let recv = records
        .iter()
        .filter(here)
        .find(|r| r.kind == WaitKind::ChanRecv && r.location.line() == line)
        .unwrap_or_else(|| panic!("no block record for the recv on line {line}: {records:?}"));
    assert!(recv.profile == Profile::Block && recv.count >= 1 && recv.total_ns > 0);
    assert!(
        records
            .iter()
            .filter(here)
            .any(|r| r.profile == Profile::Mutex && r.kind == WaitKind::Mutex),
        "no mutex-profile record charged to a holder in this file"
    );
    let trace = rt.trace().unwrap();
    for reason in [StopReason::Chan, StopReason::Sync] {
        assert!(
            trace
                .events
                .iter()
                .any(|e| matches!(e.kind, EventKind::GoStop { g: 0, reason: r } if r == reason)),
            "no GoStop of the root with reason {reason:?}"
        );
    }
}

#[test]
fn operations_that_never_wait_still_let_other_gs_run() {
    // One P: the spawned G can only run when the root gives the P up.
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(async {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        runtime::spawn(async move { r.store(true, Ordering::SeqCst) });
        let (tx, mut rx) = channel::<u32>(1024);
        for i in 0..1000 {
            tx.try_send(i).unwrap();
        }
        let mut seen_at = None;
        for i in 0..1000 {
            assert_eq!(rx.recv().await, Some(i)); // always ready: never parks
            if seen_at.is_none() && ran.load(Ordering::SeqCst) {
                seen_at = Some(i);
            }
        }
        let at = seen_at.expect("1,000 ready receives never gave the other G a turn");
        assert!(
            at < 300,
            "the other G waited for {at} receives (budget 128)"
        );
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        runtime::spawn(async move { r.store(true, Ordering::SeqCst) });
        let mut seen = false;
        for i in 0..1000 {
            tx.send(i).await.unwrap(); // room in the ring: never parks
            seen |= ran.load(Ordering::SeqCst);
        }
        assert!(
            seen,
            "1,000 sends that never wait never gave the other G a turn"
        );
        let m = Mutex::new(0);
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        runtime::spawn(async move { r.store(true, Ordering::SeqCst) });
        let mut seen = false;
        for _ in 0..1000 {
            *m.lock().await += 1; // uncontended: never parks
            seen |= ran.load(Ordering::SeqCst);
        }
        assert!(
            seen,
            "1,000 uncontended locks never gave the other G a turn"
        );
    });
}

static CONTENDED_LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The lock site of `mutex_delay_is_charged_once`, in a function of its own
/// so its records are told apart from every other test's.
async fn contended_turn(m: &Mutex<u64>) {
    CONTENDED_LINE.store(line!() + 1, Ordering::Relaxed);
    let mut g = m.lock().await;
    *g += 1;
    // Hold the lock across a yield: the work under the lock that makes
    // the others queue.
    runtime::yield_now().await;
}

/// The mutex profile charges each waiter's delay once (Go 1.22's
/// accounting, go#61015): the total charged to the lock site cannot exceed
/// what the waiters could have waited, 7 Gs queued for the whole run at
/// most. Charging every queued waiter from its first queueing at every
/// contended unlock counted the same wait many times over (about 80x the
/// wall time in lesson 20).
#[test]
fn mutex_delay_is_charged_once() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let m = Arc::new(Mutex::new(0u64));
    let start = Instant::now();
    rt.block_on({
        let m = m.clone();
        async move {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let m = m.clone();
                    runtime::spawn(async move {
                        for _ in 0..100 {
                            contended_turn(&m).await;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        }
    });
    let wall = start.elapsed();
    let rt_m = rt.metrics();
    let charged: u64 = wait_records()
        .iter()
        .filter(|r| r.profile == Profile::Mutex && r.location.file().ends_with("sync.rs"))
        .filter(|r| r.location.line() == CONTENDED_LINE.load(Ordering::Relaxed))
        .map(|r| r.total_ns)
        .sum();
    assert!(
        charged > 0,
        "the lock was contended, so something is charged: {rt_m:?}"
    );
    let bound = 7 * wall.as_nanos() as u64;
    assert!(
        charged <= bound,
        "charged {} ms of mutex delay in {} ms of wall time with at most 7 waiters \
         (bound {} ms): waits counted more than once",
        charged / 1_000_000,
        wall.as_millis(),
        bound / 1_000_000
    );
}
