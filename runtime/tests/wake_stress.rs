//! Wakes by value from outside the runtime, racing the Ms that run the woken
//! Gs to completion and free them; then the same while the runtime drops.
//!
//! This binary's global allocator poisons every block it frees, so a read
//! through a pointer into a freed task cell (the scheduler handle `schedule`
//! used to run on after the task was queued) reads garbage and crashes or
//! panics instead of passing by luck. Under AddressSanitizer
//! (`.ci/sanitizers.sh`) the same reads are reported as heap-use-after-free.
//! The loop counts are bounded: a few seconds in a debug build.
#![cfg(not(loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};

use runtime::{RunQueueKind, Runtime};

/// The system allocator, but every freed block is overwritten first.
struct Poisoning;

// SAFETY: forwards to System, which upholds GlobalAlloc's contract; the
// extra write stays inside the block being freed, before it is freed.
unsafe impl GlobalAlloc for Poisoning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract for `layout` (non-zero
        // size), which is all System.alloc asks.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller owns `layout.size()` bytes at `ptr` until the
        // dealloc below returns.
        unsafe {
            std::ptr::write_bytes(ptr, 0xA5, layout.size());
            System.dealloc(ptr, layout)
        }
    }
}

#[global_allocator]
static ALLOC: Poisoning = Poisoning;

/// Pending once, after sending its waker to the waking thread; Ready on
/// the poll that follows the wake.
struct WokenOnce {
    to_waker: Option<mpsc::Sender<Waker>>,
}

impl Future for WokenOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.to_waker.take() {
            Some(tx) => {
                // The waking thread may be gone at shutdown: then nobody wakes.
                let _ = tx.send(cx.waker().clone());
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

/// A thread outside the runtime that wakes, by value, every waker it gets.
fn waking_thread() -> (mpsc::Sender<Waker>, std::thread::JoinHandle<usize>) {
    let (tx, rx) = mpsc::channel::<Waker>();
    let handle = std::thread::spawn(move || {
        let mut woken = 0;
        for w in rx {
            w.wake();
            woken += 1;
        }
        woken
    });
    (tx, handle)
}

/// One runtime of each shape the race was seen on: one P and four, on
/// both run queues.
fn runtimes() -> impl Iterator<Item = (Runtime, String)> {
    [
        (1, RunQueueKind::CrossbeamDeque),
        (1, RunQueueKind::GoRing),
        (4, RunQueueKind::CrossbeamDeque),
        (4, RunQueueKind::GoRing),
    ]
    .into_iter()
    .map(|(procs, kind)| {
        let rt = Runtime::builder()
            .procs(procs)
            .run_queue(kind)
            .build()
            .unwrap();
        (rt, format!("procs({procs}) {kind:?}"))
    })
}

/// Many detached Gs, each woken once by value from outside and then run to
/// completion by whichever M gets it first. Every G must finish.
fn wake_by_value_while_ms_complete_and_free() {
    const GS: usize = 2_000;
    for (rt, shape) in runtimes() {
        let (tx, waker) = waking_thread();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        for _ in 0..GS {
            let to_waker = Some(tx.clone());
            let done = done_tx.clone();
            // Detached: the run queue's entry is the task's last reference.
            drop(rt.spawn(async move {
                WokenOnce { to_waker }.await;
                done.send(()).unwrap();
            }));
        }
        drop(done_tx);
        for i in 0..GS {
            done_rx
                .recv()
                .unwrap_or_else(|_| panic!("{shape}: only {i} of {GS} woken Gs finished"));
        }
        drop(tx);
        assert_eq!(waker.join().unwrap(), GS, "every G was woken once");
        drop(rt);
    }
}

/// The runtime drops while wakes by value are still arriving from outside:
/// each wake finds the runtime shutting down (or shut down) and drops its
/// task, whose cell may hold the last handle on the scheduler.
fn wake_by_value_during_shutdown() {
    const GS: usize = 500;
    for _round in 0..4 {
        for (rt, _shape) in runtimes() {
            let (tx, waker) = waking_thread();
            for _ in 0..GS {
                let to_waker = Some(tx.clone());
                drop(rt.spawn(WokenOnce { to_waker }));
            }
            drop(tx);
            drop(rt); // races the waking thread
            let woken = waker.join().unwrap();
            assert!(woken <= GS, "woke {woken} of {GS} Gs");
        }
    }
}

fn main() {
    wake_by_value_while_ms_complete_and_free();
    println!("test wake_by_value_while_ms_complete_and_free ... ok");
    wake_by_value_during_shutdown();
    println!("test wake_by_value_during_shutdown ... ok");
    println!("2 passed, 0 failed");
}
