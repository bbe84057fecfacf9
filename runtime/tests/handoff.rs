//! A P handed off with work elsewhere and nobody looking for it: Go's
//! `handoffp` starts a spinning M when no M spins and no P is idle, so a G
//! queued behind a blocked thread is stolen instead of stranded.
#![cfg(not(loom))]

use std::sync::mpsc;
use std::time::Duration;

use runtime::{RunQueueKind, Runtime};

/// On procs(2): while the root's M holds P0 (blocked inside the root's
/// poll), G1 runs on P1, spawns G2 into P1's `runnext` (its `wakep` finds no
/// idle P, so it starts nobody), and then blocks its thread until G2 has
/// run. The root then waits, and its M hands P0 off with no work on it.
/// Only a spinning M started by that hand-off can steal G2 from P1; without
/// it G2 waits for G1, which waits for G2.
#[test]
fn a_handed_off_p_starts_a_spinning_m_for_work_queued_behind_a_blocked_thread() {
    for kind in [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing] {
        for round in 0..20 {
            let (result_tx, result_rx) = mpsc::channel();
            // The scenario runs on a thread of its own so that a lost
            // wake-up fails this test instead of hanging it.
            std::thread::spawn(move || {
                let rt = Runtime::builder().procs(2).run_queue(kind).build().unwrap();
                let v = rt.block_on(async {
                    let (spawned_tx, spawned_rx) = mpsc::channel::<()>();
                    let g1 = runtime::spawn(async move {
                        let (ran_tx, ran_rx) = mpsc::channel::<()>();
                        let g2 = runtime::spawn(async move { ran_tx.send(()).unwrap() });
                        spawned_tx.send(()).unwrap();
                        // Blocks this M's thread (not a `syscall`: sysmon
                        // cannot take P1 back), until G2 has run.
                        ran_rx.recv().unwrap();
                        g2.await.unwrap();
                        7
                    });
                    // Hold P0 until G1 has queued G2 and is about to block.
                    spawned_rx.recv().unwrap();
                    g1.await.unwrap()
                });
                let _ = result_tx.send(v);
                drop(rt);
            });
            match result_rx.recv_timeout(Duration::from_secs(20)) {
                Ok(v) => assert_eq!(v, 7),
                Err(_) => panic!(
                    "{kind:?}, round {round}: G2 never ran: P0 was handed off with nobody \
                     spinning while G2 sat in P1's runnext behind G1's blocked thread"
                ),
            }
        }
    }
}
