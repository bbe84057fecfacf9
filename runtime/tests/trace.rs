//! The event trace records what the scheduler did, and exports it.
#![cfg(not(loom))]

use std::time::Duration;

use runtime::{EventKind, Runtime, StopReason};

#[test]
fn trace_is_off_unless_asked_for() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(async { runtime::spawn(async {}).await.unwrap() });
    assert!(rt.trace().is_none());
}

#[test]
fn the_trace_records_creates_starts_stops_with_reasons_steals_and_syscalls() {
    let rt = Runtime::builder().procs(2).trace(true).build().unwrap();
    rt.block_on(async {
        let yielder = runtime::spawn(async { runtime::yield_now().await });
        let spinner = runtime::spawn(async {
            for _ in 0..300 {
                runtime::preempt_point().await;
            }
        });
        let sleeper = runtime::spawn(runtime::sleep(Duration::from_millis(1)));
        let caller = runtime::spawn(async { runtime::syscall(|| 1) });
        // Work for the idle P to steal.
        let busy: Vec<_> = (0..64)
            .map(|_| {
                runtime::spawn(async {
                    let t = std::time::Instant::now();
                    while t.elapsed() < Duration::from_micros(300) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        yielder.await.unwrap();
        spinner.await.unwrap();
        sleeper.await.unwrap();
        caller.await.unwrap();
        for b in busy {
            b.await.unwrap();
        }
    });
    let trace = rt.trace().expect("trace(true)");
    assert_eq!(trace.procs, 2);
    let count = |f: &dyn Fn(&EventKind) -> bool| trace.events.iter().filter(|e| f(&e.kind)).count();
    assert_eq!(count(&|k| matches!(k, EventKind::GoCreate { .. })), 68);
    assert!(count(&|k| matches!(k, EventKind::GoStart { .. })) >= 68);
    for reason in [
        StopReason::Yield,
        StopReason::Preempt,
        StopReason::Join, // the root awaiting the handles
        StopReason::Done,
    ] {
        assert!(
            count(&|k| matches!(k, EventKind::GoStop { reason: r, .. } if *r == reason)) > 0,
            "no GoStop with reason {reason:?}"
        );
    }
    assert!(
        count(&|k| matches!(k, EventKind::Steal { from, to, count } if from != to && *count >= 1))
            > 0,
        "no steal"
    );
    assert_eq!(count(&|k| matches!(k, EventKind::SyscallEnter { .. })), 1);
    assert_eq!(count(&|k| matches!(k, EventKind::SyscallExit { .. })), 1);
    assert!(count(&|k| matches!(k, EventKind::ProcBusy)) > 0);
    assert!(count(&|k| matches!(k, EventKind::ProcIdle)) > 0);
    assert!(
        trace.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
        "events sorted by time"
    );

    let json: serde_json::Value =
        serde_json::from_str(&trace.to_chrome_json()).expect("valid JSON");
    assert!(
        json["traceEvents"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
}

/// Every wake of a waiting G is a `GoUnblock` naming who woke it, and its
/// next run starts after it: the wait in between is the G's scheduling
/// latency. A wake from inside a G names that G; a timer names none.
#[test]
fn unblocks_name_who_readied_whom_and_measure_the_wait_to_run() {
    let rt = Runtime::builder().procs(2).trace(true).build().unwrap();
    let (sleeper, waiter, wakee) = rt.block_on(async {
        // The deadline is taken at the G's first poll, so it always parks.
        let sleeper = runtime::spawn(async { runtime::sleep(Duration::from_millis(2)).await });
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let waiter = runtime::spawn(async move {
            let mut first = true;
            std::future::poll_fn(move |cx| {
                if std::mem::take(&mut first) {
                    tx.send(cx.waker().clone()).unwrap();
                    std::task::Poll::Pending
                } else {
                    std::task::Poll::Ready(())
                }
            })
            .await
        });
        let waiter_id = waiter.id();
        let waker = loop {
            if let Ok(w) = rx.try_recv() {
                break w;
            }
            runtime::yield_now().await;
        };
        let wakee = runtime::spawn(async move { waker.wake() });
        let ids = (sleeper.id(), waiter_id, wakee.id());
        sleeper.await.unwrap();
        waiter.await.unwrap();
        wakee.await.unwrap();
        ids
    });
    let trace = rt.trace().unwrap();
    let unblocks: Vec<(u64, Option<u64>)> = trace
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::GoUnblock { g, by } => Some((g, by)),
            _ => None,
        })
        .collect();
    assert!(
        unblocks.contains(&(waiter, Some(wakee))),
        "G{waiter} woken by G{wakee} not traced: {unblocks:?}"
    );
    assert!(
        unblocks
            .iter()
            .any(|&(g, by)| g == sleeper && by != Some(sleeper)),
        "the sleeper's timer wake-up not traced: {unblocks:?}"
    );
    assert!(
        !unblocks.iter().any(|&(g, _)| g == wakee),
        "a new G is created, not unblocked: {unblocks:?}"
    );
    let latencies = trace.scheduling_latencies();
    let (_, _, waited) = latencies
        .iter()
        .find(|(g, ..)| *g == waiter)
        .expect("the woken G ran again after its unblock");
    assert!(*waited < 1_000_000_000, "a wait of {waited} ns");
    let json = trace.to_chrome_json();
    assert!(
        json.contains("unblock ("),
        "no unblock arrow in the Chrome JSON"
    );
}

#[test]
fn a_g_waiting_on_a_join_handle_stops_with_reason_join() {
    let rt = Runtime::builder().procs(1).trace(true).build().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = runtime::sync::channel::<()>(0);
        let child = runtime::spawn(async move { rx.recv().await });
        let waiter = runtime::spawn(async move { child.await.unwrap() });
        // One P: the waiter has polled its handle and parked on it before
        // the root runs again and lets the child finish.
        runtime::yield_now().await;
        tx.send(()).await.unwrap();
        assert_eq!(waiter.await.unwrap(), Some(()));
    });
    let trace = rt.trace().unwrap();
    let join_stops = trace
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::GoStop {
                    reason: StopReason::Join,
                    ..
                }
            )
        })
        .count();
    assert!(
        join_stops >= 1,
        "a G parked on a JoinHandle stops with reason join, not io or block: {:?}",
        trace.stops_by_reason()
    );
}
