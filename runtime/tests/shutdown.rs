//! Dropping the runtime drops every pending G's future and leaks nothing.
#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use runtime::{RunQueueKind, Runtime};

/// The tests here count threads process-wide, so they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn dropping_the_runtime_drops_every_pending_future() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for kind in [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing] {
        for procs in [1, 3] {
            let drops = Arc::new(AtomicUsize::new(0));
            let rt = Runtime::builder()
                .procs(procs)
                .run_queue(kind)
                .build()
                .unwrap();
            let mut kept = Vec::new();
            rt.block_on(async {
                for _ in 0..50 {
                    // Parked forever on a waker nobody holds.
                    let d = CountDrop(drops.clone());
                    kept.push(runtime::spawn(async move {
                        let _d = d;
                        std::future::pending::<()>().await
                    }));
                    // Parked on a timer an hour away.
                    let d = CountDrop(drops.clone());
                    kept.push(runtime::spawn(async move {
                        let _d = d;
                        runtime::sleep(Duration::from_secs(3600)).await
                    }));
                }
                // Parked on another G's JoinHandle (a waker chain).
                let d = CountDrop(drops.clone());
                let inner = runtime::spawn(std::future::pending::<()>());
                kept.push(runtime::spawn(async move {
                    let _d = d;
                    let _ = inner.await;
                }));
                runtime::yield_now().await;
            });
            // Queued and never polled: spawned from outside, detached.
            for _ in 0..20 {
                let d = CountDrop(drops.clone());
                drop(rt.spawn(async move { drop(d) }));
            }
            let spawned = 50 * 2 + 1 + 20;
            drop(rt);
            assert_eq!(
                drops.load(SeqCst),
                spawned,
                "{kind:?} procs={procs}: every future must be dropped once"
            );
            // Their JoinHandles now report cancellation.
            let check = Runtime::builder().procs(1).build().unwrap();
            check.block_on(async {
                for h in kept {
                    let err = h.await.expect_err("a cancelled task has no output");
                    assert!(err.is_cancelled(), "{err}");
                }
            });
        }
    }
}

/// Threads named `runtime-*` (Ms and sysmon) in this process, via /proc.
fn runtime_threads() -> Option<usize> {
    let dir = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
            .filter(|n| n.starts_with("runtime-"))
            .count(),
    )
}

#[test]
fn a_dropped_runtime_joins_its_threads() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(before) = runtime_threads() else {
        return;
    }; // not Linux
    assert_eq!(
        before, 0,
        "no other runtime may be alive in this test binary"
    );
    let rt = Runtime::builder().procs(4).build().unwrap();
    rt.block_on(async {
        let hs: Vec<_> = (0..100)
            .map(|_| runtime::spawn(async { runtime::syscall(std::thread::yield_now) }))
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    // Ms that ran Gs have named themselves (a thread takes its name when it
    // first runs, so one not yet scheduled by the OS would not show).
    assert!(rt.metrics().threads_started >= 1);
    drop(rt);
    // Joined threads have exited; the kernel may take a moment to drop them
    // from /proc, so look a bounded number of times.
    let mut left = runtime_threads();
    for _ in 0..10_000 {
        if left == Some(0) {
            break;
        }
        std::thread::yield_now();
        left = runtime_threads();
    }
    assert_eq!(left, Some(0), "M threads or sysmon survived the drop");
}

/// G1 is blocked in `syscall` on a channel whose only sender belongs to G2,
/// asleep for an hour. Dropping the runtime must drop G2's future first (and
/// with it the sender), so G1's call returns and its M can be joined; joining
/// the Ms first would wait for G1 forever. (A call that never returns by
/// itself still cannot be interrupted: see `Runtime`'s drop.)
#[test]
fn dropping_the_runtime_does_not_hang_on_a_syscall_that_another_g_would_end() {
    let _alone = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for kind in [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing] {
        let (dropped_tx, dropped_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = Runtime::builder().procs(2).run_queue(kind).build().unwrap();
            let mut g1_slot = None;
            rt.block_on(async {
                let (tx, rx) = std::sync::mpsc::channel::<()>();
                let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
                drop(runtime::spawn(async move {
                    let _only_sender = tx;
                    runtime::sleep(Duration::from_secs(3600)).await
                }));
                let g1 = runtime::spawn(async move {
                    entered_tx.send(()).unwrap();
                    // Err(RecvError) once the sender is dropped.
                    runtime::syscall(|| rx.recv())
                });
                // Blocks P0 until G1 is (about to be) in its syscall.
                entered_rx.recv().unwrap();
                g1_slot = Some(g1);
            });
            drop(rt);
            let _ = dropped_tx.send(g1_slot.expect("the root returned G1's handle"));
        });
        let g1 = dropped_rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "{kind:?}: dropping the runtime hung: it joined the M blocked in G1's \
                     syscall before dropping the sleeping G that held the channel's sender"
                )
            });
        // G1 was mid-poll when the runtime closed: it either finished with
        // the channel's disconnection or was cancelled, nothing else.
        let check = Runtime::builder().procs(1).build().unwrap();
        match check.block_on(g1) {
            Ok(received) => assert!(received.is_err(), "G1 received a value nobody sent"),
            Err(e) => assert!(e.is_cancelled(), "{kind:?}: {e}"),
        }
    }
}
