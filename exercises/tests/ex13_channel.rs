//! Graded tests of exercise ex13: a channel with wait queues. Functional
//! tests run the channel between Gs of the course's runtime; "the other G is
//! parked" is observed through `Sender::stats()`, never by sleeping. Under
//! `RUSTFLAGS="--cfg loom"` the loom model at the bottom explores every
//! interleaving of a send, a receive and the close (see
//! `.ci/exercises-loom.sh`).

mod common;

#[cfg(not(loom))]
mod graded {
    use super::common::grade;
    use exercises::ex13_channel::{Stats, channel};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    const LIMIT: Duration = Duration::from_secs(30);

    fn on_runtime<R: Send + 'static>(
        procs: usize,
        f: impl std::future::Future<Output = R> + 'static,
    ) -> R {
        runtime::Runtime::builder()
            .procs(procs)
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    /// Yields until `cond` holds, or fails after 10 s with `what`.
    async fn until(what: &str, cond: impl Fn() -> bool) {
        let r = runtime::timeout(Duration::from_secs(10), async {
            while !cond() {
                runtime::yield_now().await;
            }
        })
        .await;
        assert!(
            r.is_ok(),
            "expected {what} within 10 s: is a G parked and never woken?"
        );
    }

    #[test]
    fn an_unbuffered_send_waits_for_a_receiver() {
        grade("ex13", LIMIT, || {
            on_runtime(2, async {
                let (tx, mut rx) = channel::<u32>(0);
                let probe = tx.clone();
                let sent = Arc::new(AtomicBool::new(false));
                let s = sent.clone();
                let h = runtime::spawn(async move {
                    tx.send(5).await;
                    s.store(true, Ordering::SeqCst);
                });
                until("the sender parked on sendq", || probe.stats().sendq == 1).await;
                assert!(
                    !sent.load(Ordering::SeqCst),
                    "an unbuffered send finished with no receiver"
                );
                assert_eq!(
                    probe.stats().buffered,
                    0,
                    "an unbuffered channel buffers nothing"
                );
                assert_eq!(rx.recv().await, Some(5));
                h.await.unwrap();
                assert_eq!(
                    probe.stats(),
                    Stats {
                        buffered: 0,
                        sendq: 0,
                        recvq: 0
                    }
                );
            })
        });
    }

    #[test]
    fn a_send_hands_its_value_straight_to_a_parked_receiver() {
        grade("ex13", LIMIT, || {
            on_runtime(2, async {
                let (tx, mut rx) = channel::<u32>(4);
                let h = runtime::spawn(async move { rx.recv().await });
                until("the receiver parked on recvq", || tx.stats().recvq == 1).await;
                tx.send(8).await;
                assert_eq!(
                    tx.stats(),
                    Stats {
                        buffered: 0,
                        sendq: 0,
                        recvq: 0
                    },
                    "the value must go to the parked receiver, not into the buffer"
                );
                assert_eq!(h.await.unwrap(), Some(8));
            })
        });
    }

    #[test]
    fn a_full_buffer_parks_the_sender_and_a_receive_refills_it_in_order() {
        grade("ex13", LIMIT, || {
            on_runtime(1, async {
                let (tx, mut rx) = channel::<u32>(2);
                tx.send(1).await;
                tx.send(2).await;
                assert_eq!(tx.stats().buffered, 2);
                let tx2 = tx.clone();
                let h = runtime::spawn(async move { tx2.send(3).await });
                until("the third sender parked (buffer full)", || {
                    tx.stats().sendq == 1
                })
                .await;
                assert_eq!(rx.recv().await, Some(1));
                assert_eq!(
                    tx.stats(),
                    Stats {
                        buffered: 2,
                        sendq: 0,
                        recvq: 0
                    },
                    "the parked sender's value moves into the freed slot"
                );
                h.await.unwrap();
                assert_eq!(rx.recv().await, Some(2));
                assert_eq!(rx.recv().await, Some(3), "FIFO across the buffer and sendq");
            })
        });
    }

    #[test]
    fn dropping_every_sender_closes_after_draining() {
        grade("ex13", LIMIT, || {
            on_runtime(2, async {
                let (tx, mut rx) = channel::<u32>(2);
                tx.send(1).await;
                drop(tx);
                assert_eq!(rx.recv().await, Some(1), "buffered values drain first");
                assert_eq!(rx.recv().await, None, "then None: closed");
                let (tx, mut rx) = channel::<u32>(0);
                let probe = tx.clone();
                let h = runtime::spawn(async move { rx.recv().await });
                until("the receiver parked", || probe.stats().recvq == 1).await;
                drop(tx);
                drop(probe);
                assert_eq!(
                    h.await.unwrap(),
                    None,
                    "close releases a parked receiver with None"
                );
            })
        });
    }

    #[test]
    fn many_senders_every_value_arrives_exactly_once() {
        grade("ex13", LIMIT, || {
            on_runtime(4, async {
                for cap in [0, 3] {
                    let (tx, mut rx) = channel::<(u32, u32)>(cap);
                    for s in 0..4 {
                        let tx = tx.clone();
                        runtime::spawn(async move {
                            for i in 0..300 {
                                tx.send((s, i)).await;
                            }
                        });
                    }
                    drop(tx);
                    let mut next = [0u32; 4];
                    while let Some((s, i)) = rx.recv().await {
                        assert_eq!(
                            i, next[s as usize],
                            "cap {cap}: sender {s}'s values out of order"
                        );
                        next[s as usize] += 1;
                    }
                    assert_eq!(next, [300; 4], "cap {cap}: values lost");
                }
            })
        });
    }

    #[test]
    fn a_receive_cancelled_by_a_timeout_leaves_no_waiter_behind() {
        grade("ex13", LIMIT, || {
            on_runtime(2, async {
                let (tx, mut rx) = channel::<u32>(0);
                let r = runtime::timeout(Duration::from_millis(1), rx.recv()).await;
                assert!(r.is_err(), "nothing was sent: the receive must time out");
                assert_eq!(
                    tx.stats().recvq,
                    0,
                    "the cancelled receiver is still on recvq"
                );
                let h = runtime::spawn(async move { rx.recv().await });
                tx.send(2).await;
                assert_eq!(
                    h.await.unwrap(),
                    Some(2),
                    "the channel works after a cancelled wait"
                );
            })
        });
    }
}

/// The loom model: run with `bash .ci/exercises-loom.sh`.
#[cfg(loom)]
mod loom_models {
    use exercises::ex13_channel::channel;
    use loom::future::block_on;
    use loom::thread;

    #[test]
    fn loom_a_rendezvous_and_the_close_race_without_loss_or_duplicates() {
        loom::model(|| {
            let (tx, mut rx) = channel::<u32>(0);
            let tx2 = tx.clone();
            let a = thread::spawn(move || {
                block_on(tx.send(1));
            });
            let b = thread::spawn(move || {
                block_on(tx2.send(2));
            });
            let mut got = [block_on(rx.recv()), block_on(rx.recv())];
            got.sort();
            assert_eq!(got, [Some(1), Some(2)], "each value exactly once");
            a.join().unwrap();
            b.join().unwrap();
            assert_eq!(
                block_on(rx.recv()),
                None,
                "closed once both senders are gone"
            );
        });
    }
}
