//! Graded tests of exercise ex06: CPU-bound work that lets a heartbeat task
//! on the same P run. Fairness is measured by counting heartbeats that
//! happen while the work runs, never by timing.

mod common;

use common::grade;
use exercises::ex06_preemption::{Budget, crunch, mix};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// On a one-P runtime, runs `work` next to a heartbeat task that beats,
/// yields, beats... until the work is done. Returns the work's output and
/// the number of beats that happened while the work ran.
fn with_heartbeat<T, F>(work: impl FnOnce() -> F + Send + 'static) -> (T, u64)
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime::Runtime::builder()
        .procs(1)
        .build()
        .expect("build a one-P runtime");
    rt.block_on(async move {
        let beats = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let heartbeat = {
            let (beats, done) = (beats.clone(), done.clone());
            runtime::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    beats.fetch_add(1, Ordering::SeqCst);
                    runtime::yield_now().await;
                }
            })
        };
        let worker = {
            let beats = beats.clone();
            runtime::spawn(async move {
                let before = beats.load(Ordering::SeqCst);
                let out = work().await;
                let during = beats.load(Ordering::SeqCst) - before;
                done.store(true, Ordering::SeqCst);
                (out, during)
            })
        };
        let result = worker.await.expect("the work task panicked");
        heartbeat.await.expect("the heartbeat task panicked");
        result
    })
}

#[test]
fn budget_counts_its_yields() {
    grade("ex06", LIMIT, || {
        let rt = runtime::Runtime::builder()
            .procs(1)
            .build()
            .expect("build a one-P runtime");
        let yields = rt.block_on(async {
            let mut budget = Budget::new(3);
            for _ in 0..10 {
                budget.spend().await;
            }
            budget.yields()
        });
        assert_eq!(
            yields, 3,
            "10 units with 3 per slice: the 3rd, 6th and 9th spend yield, so 3 yields"
        );
    });
}

#[test]
fn budget_yields_once_per_slice_and_lets_the_heartbeat_in() {
    grade("ex06", LIMIT, || {
        let ((total, yields), beats) = with_heartbeat(|| async {
            let mut budget = Budget::new(100);
            let mut total = 0_u64;
            for i in 0..1_000 {
                total += i;
                budget.spend().await;
            }
            (total, budget.yields())
        });
        assert_eq!(total, 499_500, "the work itself must still be done");
        assert_eq!(yields, 10, "1000 units at 100 per slice make 10 yields");
        assert!(
            (9..=11).contains(&beats),
            "the heartbeat should beat once per yield, about 10 times while the work ran; it beat {beats} times \
             (0 means the work never yielded; many more means it yields more often than once per slice)"
        );
    });
}

#[test]
fn crunch_computes_the_fold() {
    grade("ex06", LIMIT, || {
        let rt = runtime::Runtime::builder()
            .procs(1)
            .build()
            .expect("build a one-P runtime");
        for rounds in [0_u64, 1, 2, 1_000] {
            let want = (0..rounds).fold(0, mix);
            assert_eq!(
                rt.block_on(crunch(rounds)),
                want,
                "crunch({rounds}) should equal (0..{rounds}).fold(0, mix)"
            );
        }
    });
}

#[test]
fn crunch_shares_the_p_with_a_heartbeat() {
    grade("ex06", LIMIT, || {
        const ROUNDS: u64 = 2_000_000;
        let (out, beats) = with_heartbeat(|| crunch(ROUNDS));
        assert_eq!(
            out,
            (0..ROUNDS).fold(0, mix),
            "crunch must still compute the right value"
        );
        assert!(
            beats >= 50,
            "on one P, a heartbeat task should run many times while crunch({ROUNDS}) computes; it ran {beats} times. \
             Without a preemption point in the loop it cannot run at all."
        );
    });
}
