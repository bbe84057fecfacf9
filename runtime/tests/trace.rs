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
        StopReason::Block,
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
