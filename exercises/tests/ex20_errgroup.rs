//! Graded tests of exercise ex20: a task group where the first error wins.
//! Whether a member's future is still alive is observed with drop guards
//! (a counter each future holds), never by sleeping; "at most N at once"
//! with a high-water mark the members keep themselves.
#![cfg(not(loom))]

mod common;

use common::grade;
use exercises::ex20_errgroup::Group;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn on<R: Send + 'static>(procs: usize, f: impl Future<Output = R> + 'static) -> R {
    runtime::Runtime::builder()
        .procs(procs)
        .build()
        .expect("a runtime")
        .block_on(f)
}

/// Counts live futures: +1 when made, -1 when dropped (finished or cancelled).
#[derive(Clone, Default)]
struct Live(Arc<AtomicUsize>);

struct Alive(Arc<AtomicUsize>);

impl Live {
    fn enter(&self) -> Alive {
        self.0.fetch_add(1, Ordering::SeqCst);
        Alive(self.0.clone())
    }
    fn now(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn every_member_runs_and_wait_returns_ok() {
    grade("ex20", LIMIT, || {
        on(2, async {
            let ran = Arc::new(AtomicUsize::new(0));
            let mut g = Group::<String>::new();
            for _ in 0..100 {
                let ran = ran.clone();
                g.spawn(async move {
                    runtime::yield_now().await;
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await;
            }
            assert_eq!(g.wait().await, Ok(()), "no member failed");
            assert_eq!(
                ran.load(Ordering::SeqCst),
                100,
                "expected all 100 members to have run when wait returned"
            );
        })
    });
}

#[test]
fn the_first_error_is_returned_and_the_others_are_cancelled() {
    grade("ex20", LIMIT, || {
        on(2, async {
            let live = Live::default();
            let mut g = Group::new();
            for _ in 0..10 {
                let alive = live.enter();
                g.spawn(async move {
                    let _alive = alive;
                    std::future::pending::<Result<(), &str>>().await
                })
                .await;
            }
            g.spawn(async { Err("bad frame 17") }).await;
            assert_eq!(
                g.wait().await,
                Err("bad frame 17"),
                "wait returns the member's error"
            );
            assert_eq!(
                live.now(),
                0,
                "expected every pending member cancelled (its future dropped) once wait returned; {} still alive",
                live.now()
            );
        })
    });
}

#[test]
fn only_the_first_of_several_errors_is_kept() {
    grade("ex20", LIMIT, || {
        on(1, async {
            // One P: the members run in turn. "first" fails before "second"
            // can run again; the gate opens when "first"'s future ends.
            let (go, mut gate) = runtime::sync::channel::<()>(0);
            let mut g = Group::new();
            g.spawn(async move {
                let _go = go;
                runtime::yield_now().await;
                Err("first")
            })
            .await;
            g.spawn(async move {
                let _ = gate.recv().await;
                Err("second")
            })
            .await;
            assert_eq!(
                g.wait().await,
                Err("first"),
                "expected the first error, not a later one"
            );
        })
    });
}

#[test]
fn a_limit_bounds_the_members_running_at_once() {
    grade("ex20", LIMIT, || {
        on(4, async {
            let live = Live::default();
            let peak = Arc::new(AtomicUsize::new(0));
            let mut g = Group::<()>::with_limit(3);
            for _ in 0..40 {
                let (live, peak) = (live.clone(), peak.clone());
                g.spawn(async move {
                    let _alive = live.enter();
                    peak.fetch_max(live.now(), Ordering::SeqCst);
                    for _ in 0..10 {
                        runtime::yield_now().await;
                    }
                    Ok(())
                })
                .await;
            }
            assert_eq!(g.wait().await, Ok(()));
            let peak = peak.load(Ordering::SeqCst);
            assert!(
                peak <= 3,
                "expected at most 3 members at once with with_limit(3), saw {peak}"
            );
            assert!(
                peak >= 2,
                "expected members to overlap on 4 Ps (peak {peak}): is spawn waiting for each to finish?"
            );
        })
    });
}

#[test]
fn wait_returns_only_after_every_member_has_ended() {
    grade("ex20", LIMIT, || {
        on(2, async {
            let live = Live::default();
            let mut g = Group::<()>::new();
            for i in 0..20u64 {
                let alive = live.enter();
                g.spawn(async move {
                    let _alive = alive;
                    runtime::sleep(Duration::from_millis(1 + i % 5)).await;
                    Ok(())
                })
                .await;
            }
            assert_eq!(g.wait().await, Ok(()));
            assert_eq!(
                live.now(),
                0,
                "expected no member alive after wait; {} are",
                live.now()
            );
        })
    });
}

#[test]
fn a_failing_member_stops_a_long_stage_at_its_next_await() {
    grade("ex20", LIMIT, || {
        on(2, async {
            let steps = Arc::new(AtomicUsize::new(0));
            let s = steps.clone();
            let mut g = Group::new();
            g.spawn(async move {
                // A long stage: a million steps, an await between each.
                for _ in 0..1_000_000 {
                    s.fetch_add(1, Ordering::SeqCst);
                    runtime::yield_now().await;
                }
                Ok(())
            })
            .await;
            g.spawn(async {
                runtime::sleep(Duration::from_millis(2)).await;
                Err("watermark failed")
            })
            .await;
            assert_eq!(g.wait().await, Err("watermark failed"));
            let n = steps.load(Ordering::SeqCst);
            assert!(
                n < 1_000_000,
                "expected the long stage cancelled early, but it ran all {n} steps"
            );
        })
    });
}
