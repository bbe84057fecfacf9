//! Blocking calls hand their P to another M (Go's entersyscall/handoffp).
#![cfg(not(loom))]

use std::sync::mpsc;
use std::time::Duration;

use runtime::{RunQueueKind, Runtime};

/// On procs(1), G1 blocks in `syscall` until G2 has run. G2 can only run if
/// G1's P was handed to another M while G1's thread was blocked; without the
/// hand-off, G1's wait times out.
#[test]
fn a_blocked_syscall_hands_its_p_to_another_m_on_one_p() {
    for kind in [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing] {
        let rt = Runtime::builder().procs(1).run_queue(kind).build().unwrap();
        let (g2_ran, g1_result) = rt.block_on(async {
            let (tx, rx) = mpsc::channel::<()>();
            let g2 = runtime::spawn(async move { tx.send(()).unwrap() });
            let g1 = runtime::spawn(async move {
                // A generous bound only so that a broken hand-off fails
                // instead of hanging; the hand-off takes one sysmon tick.
                runtime::syscall(|| rx.recv_timeout(Duration::from_secs(20)))
            });
            let r = g1.await.unwrap();
            (g2.await.is_ok(), r)
        });
        assert!(g2_ran);
        assert!(
            g1_result.is_ok(),
            "{kind:?}: G2 never ran while G1 was blocked in a syscall"
        );
        let m = rt.metrics();
        assert_eq!(m.syscalls, 1);
        assert!(
            m.retakes >= 1,
            "{kind:?}: sysmon did not retake the P: {m:?}"
        );
        assert!(m.handoffs >= 1, "{kind:?}: the P was not handed off: {m:?}");
        assert!(
            m.threads_started >= 1,
            "{kind:?}: a second M was needed: {m:?}"
        );
    }
}

/// A short syscall keeps its P (the fast path of exitsyscall) and the G
/// carries on.
#[test]
fn a_short_syscall_returns_its_value_and_keeps_running() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let v = rt.block_on(async {
        let mut total = 0;
        for i in 0..100 {
            total += runtime::syscall(|| i);
        }
        total
    });
    assert_eq!(v, 4950);
    assert_eq!(rt.metrics().syscalls, 100);
}

/// Many Gs blocking at once on procs(2): all of them complete, and more Ms
/// than Ps exist while they block.
#[test]
fn many_blocking_gs_complete_and_need_more_ms_than_ps() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let n = 6;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    rt.block_on(async {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let b = barrier.clone();
                // Each G blocks until all n are blocked at once: impossible
                // unless Ps are handed to new Ms.
                runtime::spawn(async move { runtime::syscall(|| b.wait()) })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    let m = rt.metrics();
    // The block_on thread is an M too, so n - 1 started Ms at least.
    assert!(
        m.threads_started as usize + 1 >= n,
        "{n} Gs blocked together need {n} Ms: {m:?}"
    );
    assert_eq!(m.syscalls, n as u64);
}

/// A panic inside the blocking call still gives the P back (the M exits the
/// syscall state while unwinding) and surfaces as the task's JoinError.
#[test]
fn a_panicking_syscall_exits_the_syscall_state() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let err = rt.block_on(async {
        runtime::spawn(async { runtime::syscall(|| panic!("read failed")) }).await
    });
    assert!(err.unwrap_err().is_panic());
    assert_eq!(
        rt.block_on(async { runtime::spawn(async { 1 }).await.unwrap() }),
        1
    );
}

/// The root future is a G locked to the `block_on` thread, which runs
/// nothing else: a G blocked in `syscall` cannot be holding that thread, so
/// the root's `timeout` fires while the G is still blocked. (When the
/// `block_on` thread also ran Gs, the G below blocked it, and the root could
/// not see its timeout until the G returned.)
#[test]
fn the_root_times_out_while_a_g_it_spawned_is_blocked_in_a_syscall() {
    for procs in [1, 2] {
        let rt = Runtime::builder().procs(procs).trace(true).build().unwrap();
        let (release, blocked) = mpsc::channel::<()>();
        let (elapsed, joined) = rt.block_on(async move {
            let g = runtime::spawn(async move {
                // Released only after the root's timeout returned. The bound
                // only turns a regression into a failure instead of a hang.
                runtime::syscall(|| blocked.recv_timeout(Duration::from_secs(20)))
            });
            let mut g = std::pin::pin!(g);
            let r = runtime::timeout(Duration::from_millis(10), g.as_mut()).await;
            let elapsed = r.is_err();
            release.send(()).unwrap();
            (elapsed, g.await.unwrap())
        });
        assert!(
            elapsed,
            "procs({procs}): the G finished before the root's timeout"
        );
        assert_eq!(
            joined,
            Ok(()),
            "procs({procs}): the root's timeout did not fire while the G was blocked"
        );
        let trace = rt.trace().expect("trace(true)");
        let root_done = trace.events.iter().any(|e| {
            matches!(
                e.kind,
                runtime::EventKind::GoStop {
                    g: 0,
                    reason: runtime::StopReason::Done
                }
            )
        });
        assert!(root_done, "procs({procs}): the root is G 0 in the trace");
    }
}
