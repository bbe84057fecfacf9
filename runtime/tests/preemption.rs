//! Cooperative preemption on one P: budget and sysmon.
#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use runtime::{RunQueueKind, Runtime};

/// A G spinning in a loop WITH a preemption point lets another G on the same
/// P run while it loops: the other G's flag is seen from inside the loop.
#[test]
fn a_loop_with_a_preemption_point_cannot_starve_others_on_one_p() {
    for kind in [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing] {
        let rt = Runtime::builder().procs(1).run_queue(kind).build().unwrap();
        let saw_other = rt.block_on(async {
            runtime::spawn(async {
                let other_ran = Arc::new(AtomicBool::new(false));
                let flag = other_ran.clone();
                let other = runtime::spawn(async move { flag.store(true, SeqCst) });
                let mut saw = false;
                for _ in 0..10_000_000u64 {
                    if other_ran.load(SeqCst) {
                        saw = true;
                        break;
                    }
                    runtime::preempt_point().await;
                }
                other.await.unwrap();
                saw
            })
            .await
            .unwrap()
        });
        assert!(
            saw_other,
            "{kind:?}: the other G never ran while the spinner looped"
        );
        assert!(
            rt.metrics().preemptions_budget >= 1,
            "{kind:?}: {:?}",
            rt.metrics()
        );
    }
}

/// The same loop WITHOUT a preemption point starves the other G: on one P it
/// runs only after the loop has finished (bounded here so the test ends).
#[test]
fn a_loop_without_a_preemption_point_starves_others_on_one_p() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let (saw_during_loop, ran_after) = rt.block_on(async {
        runtime::spawn(async {
            let other_ran = Arc::new(AtomicBool::new(false));
            let flag = other_ran.clone();
            let other = runtime::spawn(async move { flag.store(true, SeqCst) });
            let mut saw = false;
            // ~20 ms of spinning: long enough for sysmon to flag it, but a
            // flag is useless without a preemption point to act on it.
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(20) {
                saw |= other_ran.load(SeqCst);
                std::hint::spin_loop();
            }
            other.await.unwrap();
            (saw, other_ran.load(SeqCst))
        })
        .await
        .unwrap()
    });
    assert!(
        !saw_during_loop,
        "the other G ran during a loop with no preemption point on procs(1)"
    );
    assert!(ran_after, "the other G must run once the loop is done");
}

/// sysmon flags a G that has held its P for more than 10 ms; the G yields at
/// its next preemption point, counted as a sysmon preemption.
#[test]
fn sysmon_asks_a_long_running_g_to_yield() {
    use std::sync::atomic::AtomicU64;
    let rt = Runtime::builder().procs(1).build().unwrap();
    let yielded = rt.block_on(async {
        // Another G on the same P: it can only run when the spinner yields.
        let turns = Arc::new(AtomicU64::new(0));
        let t = turns.clone();
        let other = runtime::spawn(async move {
            loop {
                t.fetch_add(1, SeqCst);
                runtime::yield_now().await;
            }
        });
        let yielded = runtime::spawn(async move {
            // Rounds of 30 ms with no preemption point, then one. The budget
            // (128) is never spent here, so a yield can only be sysmon's.
            // Bounded so that a loaded machine fails instead of hanging.
            for _ in 0..200 {
                let before = turns.load(SeqCst);
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(30) {
                    std::hint::spin_loop();
                }
                runtime::preempt_point().await;
                if turns.load(SeqCst) != before {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap();
        drop(other); // detached; dropped with the runtime
        yielded
    });
    assert!(yielded, "the spinner never yielded at its preemption point");
    let m = rt.metrics();
    assert!(m.preempt_requests >= 1, "sysmon never flagged the G: {m:?}");
    assert!(
        m.preemptions_sysmon >= 1,
        "the G never yielded for sysmon: {m:?}"
    );
    assert_eq!(m.preemptions_budget, 0, "the budget was never spent: {m:?}");
}

/// Two Gs waking each other through runnext inherit the time slice; once it
/// is spent, a third G queued behind them still gets the P.
#[test]
fn a_runnext_ping_pong_does_not_starve_the_local_queue() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let done = rt.block_on(async {
        runtime::spawn(async {
            let third_ran = Arc::new(AtomicBool::new(false));
            let flag = third_ran.clone();
            let third = runtime::spawn(async move { flag.store(true, SeqCst) });
            // Ping-pong: each round spawns a G and awaits it (the spawned G is
            // in runnext, the waiter is woken into runnext when it finishes).
            let mut rounds = 0u32;
            while !third_ran.load(SeqCst) && rounds < 100_000 {
                runtime::spawn(async {}).await.unwrap();
                rounds += 1;
            }
            third.await.unwrap();
            third_ran.load(SeqCst) && rounds < 100_000
        })
        .await
        .unwrap()
    });
    assert!(
        done,
        "the queued G never ran while two Gs ping-ponged through runnext"
    );
}
