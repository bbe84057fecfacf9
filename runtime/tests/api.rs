//! The public API's contract: building, spawning, joining, panics, and the
//! misuse messages.
#![cfg(not(loom))]

use runtime::{BuildError, RunQueueKind, Runtime};

const KINDS: [RunQueueKind; 2] = [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing];

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn procs_zero_or_absurd_is_a_clear_error_not_a_panic() {
    for bad in [0, runtime::MAX_PROCS + 1, usize::MAX] {
        let err = Runtime::builder()
            .procs(bad)
            .build()
            .expect_err("bad procs must be refused");
        assert!(matches!(err, BuildError::InvalidProcs { procs } if procs == bad));
        let msg = err.to_string();
        assert!(
            msg.contains(&bad.to_string()),
            "message names the value: {msg}"
        );
        assert!(
            msg.contains("between 1 and 1024"),
            "message names the range: {msg}"
        );
    }
    assert!(Runtime::builder().procs(runtime::MAX_PROCS).build().is_ok());
}

#[test]
fn spawn_outside_a_runtime_panics_with_advice() {
    let err = std::panic::catch_unwind(|| runtime::spawn(async {}))
        .expect_err("spawn outside must panic");
    let msg = panic_message(err);
    assert!(
        msg.contains("outside a runtime") && msg.contains("block_on"),
        "unhelpful message: {msg}"
    );
}

#[test]
fn block_on_inside_a_runtime_panics_with_advice() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let rt2 = Runtime::builder().procs(1).build().unwrap();
    let caught = rt.block_on(async {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt2.block_on(async {})))
    });
    let msg = panic_message(caught.expect_err("nested block_on must panic"));
    assert!(
        msg.contains("inside a runtime") && msg.contains(".await"),
        "unhelpful message: {msg}"
    );
    // The runtime is still usable afterwards.
    assert_eq!(
        rt.block_on(async { runtime::spawn(async { 3 }).await.unwrap() }),
        3
    );
}

#[test]
fn spawned_tasks_return_their_outputs_on_both_queue_kinds() {
    for kind in KINDS {
        for procs in [1, 2, 4] {
            let rt = Runtime::builder()
                .procs(procs)
                .run_queue(kind)
                .build()
                .unwrap();
            let sum = rt.block_on(async {
                let hs: Vec<_> = (0..1000u64)
                    .map(|i| runtime::spawn(async move { i }))
                    .collect();
                let mut s = 0;
                for h in hs {
                    s += h.await.unwrap();
                }
                s
            });
            assert_eq!(sum, 999 * 1000 / 2, "{kind:?} procs={procs}");
            let m = rt.metrics();
            assert_eq!(m.tasks_spawned, 1000);
            assert_eq!(m.tasks_completed, 1000);
        }
    }
}

#[test]
fn a_panicking_task_gives_a_join_error_and_the_runtime_keeps_running() {
    for kind in KINDS {
        let rt = Runtime::builder().procs(2).run_queue(kind).build().unwrap();
        let err = rt
            .block_on(async { runtime::spawn(async { panic!("task exploded") }).await })
            .unwrap_err();
        assert!(err.is_panic(), "{err}");
        assert!(!err.is_cancelled());
        assert_eq!(err.panic_message(), Some("task exploded"));
        assert!(err.to_string().contains("panicked"), "{err}");
        assert!(err.take_panic().is_some());
        // Still running: a new task completes.
        let ok = rt.block_on(async { runtime::spawn(async { "alive" }).await });
        assert_eq!(ok.unwrap(), "alive");
    }
}

#[test]
fn runtime_spawn_works_from_a_plain_thread() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let handles: Vec<_> = std::thread::scope(|s| {
        (0..4u32)
            .map(|i| {
                let rt = &rt;
                s.spawn(move || rt.spawn(async move { i * 10 }))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    });
    let total: u32 = rt.block_on(async {
        let mut t = 0;
        for h in handles {
            t += h.await.unwrap();
        }
        t
    });
    assert_eq!(total, 60);
    assert!(
        rt.metrics().global_queue_pushes >= 4,
        "remote spawns go through the global queue"
    );
}

#[test]
fn a_dropped_join_handle_detaches_the_task_which_still_runs() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    rt.block_on(async move {
        drop(runtime::spawn(async move { tx.send(5).unwrap() }));
        runtime::yield_now().await;
    });
    assert_eq!(rx.recv().unwrap(), 5);
}

#[test]
fn block_on_can_be_called_from_several_threads_at_once() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    std::thread::scope(|s| {
        let ts: Vec<_> = (0..3u64)
            .map(|i| {
                let rt = &rt;
                s.spawn(move || {
                    rt.block_on(async move { runtime::spawn(async move { i + 1 }).await.unwrap() })
                })
            })
            .collect();
        let sum: u64 = ts.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(sum, 6);
    });
}

#[test]
fn the_root_future_need_not_be_send() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let v = rt.block_on(async {
        let local = std::rc::Rc::new(5);
        runtime::yield_now().await;
        *local
    });
    assert_eq!(v, 5);
}

#[test]
fn a_full_local_queue_overflows_half_to_the_global_queue() {
    for kind in KINDS {
        let rt = Runtime::builder().procs(1).run_queue(kind).build().unwrap();
        rt.block_on(async {
            // 1000 spawns without yielding: the 256-slot local queue must overflow.
            let hs: Vec<_> = (0..1000).map(|_| runtime::spawn(async {})).collect();
            for h in hs {
                h.await.unwrap();
            }
        });
        let m = rt.metrics();
        assert!(
            m.local_overflows >= 129,
            "{kind:?}: expected runqputslow to move half a queue, got {m:?}"
        );
        assert_eq!(m.tasks_completed, 1000);
    }
}

#[test]
fn idle_ps_steal_from_a_busy_one() {
    for kind in KINDS {
        let rt = Runtime::builder().procs(2).run_queue(kind).build().unwrap();
        // All Gs start on the root's P; the other P only gets work by
        // stealing. On a loaded machine the second M may start late, so try
        // a bounded number of batches.
        for _ in 0..20 {
            if rt.metrics().steals > 0 {
                break;
            }
            rt.block_on(async {
                let hs: Vec<_> = (0..200)
                    .map(|_| {
                        runtime::spawn(async {
                            let t = std::time::Instant::now();
                            while t.elapsed() < std::time::Duration::from_micros(200) {
                                std::hint::spin_loop();
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.await.unwrap();
                }
            });
        }
        let m = rt.metrics();
        assert!(
            m.steals > 0 && m.stolen_tasks >= m.steals,
            "{kind:?}: no steal in {m:?}"
        );
    }
}

#[test]
fn the_global_queue_is_checked_even_when_the_local_queue_never_empties() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let rt = Runtime::builder().procs(1).build().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let (running_tx, running_rx) = std::sync::mpsc::channel();
    let f = flag.clone();
    let yielder = rt.spawn(async move {
        running_tx.send(()).unwrap();
        // Always re-queued on the local queue, so that queue never empties.
        for _ in 0..1_000_000u32 {
            if f.load(SeqCst) {
                return true;
            }
            runtime::yield_now().await;
        }
        false
    });
    running_rx.recv().unwrap();
    // From a plain thread, so it goes to the global queue while the yielder loops.
    let f = flag.clone();
    let injected = rt.spawn(async move { f.store(true, SeqCst) });
    assert!(
        rt.block_on(yielder).unwrap(),
        "the global-queue G never ran while the yielder looped"
    );
    rt.block_on(injected).unwrap();
}

/// On procs(1) only one thing runs at a time, the root future included:
/// no two work sections ever overlap, whichever G or root runs them.
#[test]
fn on_one_p_the_root_and_the_gs_never_run_at_the_same_time() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    fn section(running: &AtomicUsize, max: &AtomicUsize) {
        let now = running.fetch_add(1, SeqCst) + 1;
        max.fetch_max(now, SeqCst);
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_micros(50) {
            std::hint::spin_loop();
        }
        running.fetch_sub(1, SeqCst);
    }
    let rt = Runtime::builder().procs(1).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (r, m) = (running.clone(), max.clone());
                runtime::spawn(async move {
                    for _ in 0..20 {
                        section(&r, &m);
                        runtime::yield_now().await;
                    }
                })
            })
            .collect();
        for _ in 0..20 {
            section(&running, &max);
            runtime::yield_now().await;
        }
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(max.load(SeqCst), 1, "two things ran at once on one P");
    // And on two Ps they do overlap, so the check above can fail.
    let rt = Runtime::builder().procs(2).build().unwrap();
    let max2 = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (r, m) = (running.clone(), max2.clone());
                runtime::spawn(async move {
                    // Until an overlap is seen (bounded: a few seconds at most).
                    for _ in 0..10_000 {
                        if m.load(SeqCst) >= 2 {
                            break;
                        }
                        section(&r, &m);
                        runtime::yield_now().await;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(max2.load(SeqCst), 2, "two Ps never ran two Gs at once");
}

/// A woken root gets a P even when no P ever runs out of work: on procs(1)
/// a G yields in a loop until the root, woken by its timer, stops it. The
/// root waits for a P to free up; as none does, sysmon makes the busy P
/// give way. (Without that, the G would run until its bound and report
/// that the root never stopped it.)
#[test]
fn a_woken_root_gets_a_p_from_a_runtime_that_never_idles() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::{Duration, Instant};
    let rt = Runtime::builder().procs(1).build().unwrap();
    let stopped_by_root = rt.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let busy = runtime::spawn(async move {
            // The bound only turns a regression into a failure, not a hang.
            let start = Instant::now();
            while !s2.load(SeqCst) && start.elapsed() < Duration::from_secs(20) {
                runtime::yield_now().await;
            }
            s2.load(SeqCst)
        });
        runtime::sleep(Duration::from_millis(2)).await;
        stop.store(true, SeqCst);
        busy.await.unwrap()
    });
    assert!(
        stopped_by_root,
        "the root never got the P back from a G that kept yielding"
    );
}
