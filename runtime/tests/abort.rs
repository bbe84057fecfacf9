//! `JoinHandle::abort`: a G cancelled while queued, running, asleep, or
//! after it finished. A cancelled G's future is dropped at its next poll
//! boundary and its handle reports `is_cancelled()`.
#![cfg(not(loom))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::Duration;

use runtime::{RunQueueKind, Runtime};

struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn kinds() -> [RunQueueKind; 2] {
    [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing]
}

/// On procs(1) the root holds the only P, so a G it spawns is still queued
/// when the root aborts it: it is never polled.
#[test]
fn aborting_a_queued_g_drops_it_unpolled() {
    for kind in kinds() {
        let rt = Runtime::builder().procs(1).run_queue(kind).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicBool::new(false));
        let (d, r) = (CountDrop(drops.clone()), ran.clone());
        let err = rt.block_on(async move {
            let h = runtime::spawn(async move {
                let _d = d;
                r.store(true, SeqCst);
            });
            h.abort();
            h.await.expect_err("an aborted G has no output")
        });
        assert!(err.is_cancelled(), "{kind:?}: {err}");
        assert!(!ran.load(SeqCst), "{kind:?}: the aborted G was polled");
        assert_eq!(drops.load(SeqCst), 1, "{kind:?}: future dropped once");
    }
}

/// The G is in the middle of a poll (on the other P) when it is aborted: the
/// poll finishes, and at that boundary the future is dropped; the code after
/// its next await never runs.
#[test]
fn aborting_a_running_g_cancels_it_at_its_next_poll_boundary() {
    for kind in kinds() {
        let rt = Runtime::builder().procs(2).run_queue(kind).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let past_the_await = Arc::new(AtomicBool::new(false));
        let (d, past) = (CountDrop(drops.clone()), past_the_await.clone());
        let err = rt.block_on(async move {
            let (started_tx, started_rx) = mpsc::channel::<()>();
            let (aborted_tx, aborted_rx) = mpsc::channel::<()>();
            let h = runtime::spawn(async move {
                let _d = d;
                started_tx.send(()).unwrap();
                // Still inside this poll while the root aborts us.
                aborted_rx.recv().unwrap();
                runtime::yield_now().await;
                past.store(true, SeqCst);
            });
            started_rx.recv().unwrap(); // blocks P0; the G runs on P1
            h.abort();
            aborted_tx.send(()).unwrap();
            h.await.expect_err("an aborted G has no output")
        });
        assert!(err.is_cancelled(), "{kind:?}: {err}");
        assert!(
            !past_the_await.load(SeqCst),
            "{kind:?}: the G ran past the poll boundary where it was cancelled"
        );
        assert_eq!(drops.load(SeqCst), 1, "{kind:?}: future dropped once");
    }
}

/// An hour-long sleep ends at once when aborted, and its timer goes.
#[test]
fn aborting_a_sleeping_g_drops_its_future_and_its_timer() {
    for kind in kinds() {
        let rt = Runtime::builder().procs(2).run_queue(kind).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = CountDrop(drops.clone());
        let err = rt.block_on(async move {
            let (asleep_tx, asleep_rx) = mpsc::channel::<()>();
            let h = runtime::spawn(async move {
                let _d = d;
                asleep_tx.send(()).unwrap();
                runtime::sleep(Duration::from_secs(3600)).await;
            });
            // Wait (without blocking the P) until the G has been polled.
            while asleep_rx.try_recv().is_err() {
                runtime::yield_now().await;
            }
            h.abort();
            h.await.expect_err("an aborted G has no output")
        });
        assert!(err.is_cancelled(), "{kind:?}: {err}");
        assert_eq!(drops.load(SeqCst), 1, "{kind:?}: future dropped once");
        assert_eq!(
            rt.metrics().timers_pending,
            0,
            "{kind:?}: the aborted sleep left its timer behind"
        );
    }
}

/// A G that already finished keeps its output.
#[test]
fn aborting_a_finished_g_keeps_its_output() {
    for kind in kinds() {
        let rt = Runtime::builder().procs(2).run_queue(kind).build().unwrap();
        let out = rt.block_on(async {
            let h = runtime::spawn(async { 5 });
            while !h.is_finished() {
                runtime::yield_now().await;
            }
            h.abort();
            h.await
        });
        assert_eq!(out.ok(), Some(5), "{kind:?}");
    }
}
