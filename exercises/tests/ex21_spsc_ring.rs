//! Graded tests of exercise ex21: a lock-free single-producer
//! single-consumer ring. Functional tests run on real threads; under
//! `RUSTFLAGS="--cfg loom"` the models at the bottom explore every
//! interleaving of the producer and the consumer on a 2-slot ring (see
//! `.ci/exercises-loom.sh`), where a wrong memory order reads a stale slot.

#[cfg(not(loom))]
mod common;

#[cfg(not(loom))]
mod graded {
    use super::common::grade;
    use exercises::ex21_spsc_ring::{CAPACITY, ring};
    use std::time::Duration;

    const LIMIT: Duration = Duration::from_secs(30);

    #[test]
    fn an_empty_ring_pops_none_and_values_come_out_in_order() {
        grade("ex21", LIMIT, || {
            let (mut tx, mut rx) = ring();
            assert_eq!(rx.pop(), None, "a new ring is empty");
            for v in [5, 6, 7] {
                assert_eq!(tx.push(v), Ok(()), "room in a new ring");
            }
            let got: Vec<u64> = std::iter::from_fn(|| rx.pop()).collect();
            assert_eq!(got, [5, 6, 7], "expected FIFO order");
        });
    }

    #[test]
    fn a_full_ring_gives_the_value_back_until_one_is_popped() {
        grade("ex21", LIMIT, || {
            let (mut tx, mut rx) = ring();
            for v in 0..CAPACITY as u64 {
                assert_eq!(tx.push(v), Ok(()), "slot {v} of {CAPACITY} should be free");
            }
            assert_eq!(tx.push(99), Err(99), "expected a full ring to give 99 back");
            assert_eq!(rx.pop(), Some(0));
            assert_eq!(tx.push(99), Ok(()), "one pop frees one slot");
            assert_eq!(tx.push(100), Err(100), "and only one");
        });
    }

    #[test]
    fn the_indices_wrap_round_the_slots_many_times() {
        grade("ex21", LIMIT, || {
            let (mut tx, mut rx) = ring();
            for round in 0..10 * CAPACITY as u64 {
                tx.push(round).expect("room after every pop");
                tx.push(round + 1_000_000).expect("two values fit");
                assert_eq!(rx.pop(), Some(round));
                assert_eq!(rx.pop(), Some(round + 1_000_000));
            }
            assert_eq!(rx.pop(), None);
        });
    }

    #[test]
    fn a_million_values_cross_two_threads_in_order() {
        grade("ex21", LIMIT, || {
            let (mut tx, mut rx) = ring();
            let n = 1_000_000u64;
            let producer = std::thread::spawn(move || {
                for i in 1..=n {
                    let mut v = i;
                    while let Err(back) = tx.push(v) {
                        v = back;
                        std::thread::yield_now();
                    }
                }
            });
            let mut next = 1;
            while next <= n {
                match rx.pop() {
                    Some(v) => {
                        assert_eq!(v, next, "expected {next}: a value lost, repeated or stale");
                        next += 1;
                    }
                    None => std::thread::yield_now(),
                }
            }
            producer.join().expect("the producer thread");
        });
    }
}

/// Loom models: run with `bash .ci/exercises-loom.sh`. The ring has 2 slots.
#[cfg(loom)]
mod models {
    use exercises::ex21_spsc_ring::{CAPACITY, ring};
    use loom::thread;

    /// Three values through two slots: a consumer that sees a new tail must
    /// see the value behind it, and a slot is refilled only once read.
    #[test]
    fn three_values_through_two_slots() {
        assert_eq!(CAPACITY, 2, "under loom the ring shrinks to 2 slots");
        loom::model(|| {
            let (mut tx, mut rx) = ring();
            let t = thread::spawn(move || {
                for v in [1, 2, 3] {
                    let mut v = v;
                    while let Err(back) = tx.push(v) {
                        v = back;
                        thread::yield_now();
                    }
                }
            });
            let mut got = Vec::new();
            while got.len() < 3 {
                match rx.pop() {
                    Some(v) => got.push(v),
                    None => thread::yield_now(),
                }
            }
            t.join().unwrap();
            assert_eq!(got, [1, 2, 3], "expected 1, 2, 3: a stale or lost slot");
        });
    }
}
