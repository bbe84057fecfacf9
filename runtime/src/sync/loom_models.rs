//! Loom models of the channel and mutex protocols.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! runtime --release --lib loom_sync`. The Gs are loom threads driving the
//! futures with `loom::future::block_on`, whose waker unparks the loom
//! thread: a lost wake-up shows up as a loom deadlock, a value lost or
//! delivered twice as a failed assertion, two lock holders at once as a
//! loom causality violation on the mutex's `UnsafeCell`.
//!
//! Each model was seen to fail against a deliberately broken variant (named
//! in its comment) before the fix it checks was kept.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::AtomicUsize;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use loom::future::block_on;

use super::{Mutex, channel};
use crate::loom::{Arc, thread};

/// A rendezvous send races a receive, then the close (the last Sender
/// dropped): the receiver gets the value exactly once, then `None`.
///
/// Broken variant that failed: `recv` dropping the channel lock between
/// finding nothing (`RecvStep::Empty`) and queueing its sudog on `recvq`
/// (the queue checked outside the lock). A sender in that window parks on
/// `sendq`, the receiver then parks on `recvq`, and loom reports the
/// deadlock (both threads parked, no wake-up coming).
#[test]
fn loom_sync_rendezvous_send_recv_close() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(0);
        let t = thread::spawn(move || {
            block_on(tx.send(7)).unwrap();
            drop(tx); // closes the channel
        });
        assert_eq!(block_on(rx.recv()), Some(7), "the value arrives once");
        assert_eq!(block_on(rx.recv()), None, "then the channel is closed");
        t.join().unwrap();
    });
}

/// Two senders on a ring of one: both values arrive, each once, whatever
/// the interleaving of the ring, `sendq` and the refill on receive.
#[test]
fn loom_sync_buffered_two_senders_no_loss_no_duplicate() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(1);
        let tx2 = tx.clone();
        let a = thread::spawn(move || block_on(tx.send(1)).unwrap());
        let b = thread::spawn(move || block_on(tx2.send(2)).unwrap());
        let mut got = [block_on(rx.recv()), block_on(rx.recv())];
        got.sort();
        assert_eq!(got, [Some(1), Some(2)]);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(block_on(rx.recv()), None);
    });
}

/// A receive parks, then is cancelled (its future dropped, as under a
/// timeout) while a sender hands it a value: the value must reach the next
/// receive, exactly once.
///
/// Broken variant that failed: `RecvFuture::drop` only taking its sudog
/// off `recvq`, ignoring a value already handed to it (status DONE). When
/// the send lands in the cancelled sudog, the value is dropped with it, the
/// sender closes the channel, and the next receive gets `None`: loom
/// printed the failed `assert_eq!(left: None, right: Some(7))`.
#[test]
fn loom_sync_cancelled_recv_passes_its_value_on() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>(0);
        let t = thread::spawn(move || {
            block_on(tx.send(7)).unwrap();
            drop(tx);
        });
        {
            // One poll parks us on recvq (or takes the value, if the sender
            // came first); dropping the future cancels the wait.
            let mut fut = pin!(rx.recv());
            if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                assert_eq!(v, Some(7));
                t.join().unwrap();
                return;
            }
        }
        assert_eq!(
            block_on(rx.recv()),
            Some(7),
            "the cancelled receive lost the value"
        );
        assert_eq!(block_on(rx.recv()), None, "the value arrived twice");
        t.join().unwrap();
    });
}

/// Executions (over the whole model run) in which a holder saw starvation
/// mode, to show the model reaches the hand-off at all.
static SAW_STARVING: AtomicUsize = AtomicUsize::new(0);

/// Two Gs and the main thread take a mutex whose starvation threshold is
/// zero, so a woken waiter that loses to a barger turns it starving and
/// later unlocks hand it over directly. Every increment must land (no two
/// holders: loom checks the `UnsafeCell` accesses), nobody may be left
/// parked (loom checks for deadlock), and the mutex must be back in normal
/// mode at the end.
///
/// Broken variants that failed:
/// * `hand_off` not leaving starvation mode when it hands the lock to the
///   last waiter: the mutex stays starving with an empty queue, and the next
///   unlock trips `expect("starvation mode implies waiters")`;
/// * the lock slow path queueing on the state it read *before* taking the
///   sema lock (no re-check, a plain `fetch_or` of `WAITERS`): an unlock in
///   between sees no waiter, the waiter parks anyway, loom aborts the run
///   with the deadlock;
/// * (found, not planted) the mutex profile reading the holder's `held_at`
///   after the unlocking CAS had released the lock: loom reported
///   "Causality violation: Concurrent read and write accesses to
///   `UnsafeCell`" against the next holder's write.
#[test]
fn loom_sync_mutex_starvation_hand_off() {
    SAW_STARVING.store(0, std::sync::atomic::Ordering::SeqCst);
    loom::model(|| {
        let m = Arc::new(Mutex::with_threshold(0u32, Duration::ZERO));
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    let mut g = block_on(m.lock());
                    if m.is_starving() {
                        SAW_STARVING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    *g += 1;
                })
            })
            .collect();
        for _ in 0..2 {
            let mut g = block_on(m.lock());
            *g += 10;
        }
        for t in ts {
            t.join().unwrap();
        }
        let g = block_on(m.lock());
        assert_eq!(*g, 22, "an increment was lost");
        assert!(!m.is_starving(), "no waiter left, yet still starving");
    });
    assert!(
        SAW_STARVING.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the model never reached starvation mode"
    );
}
