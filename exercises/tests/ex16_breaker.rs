//! Graded tests of exercise ex16: a circuit breaker, driven through
//! scripted scenarios on an injected clock (time is an argument; no test
//! sleeps), including the trial call that never reports (resilience4j#935).

mod common;

use common::grade;
use exercises::ex16_breaker::{Breaker, Config, State};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg() -> Config {
    Config {
        window_size: 10,
        minimum_calls: 5,
        failure_rate_threshold: 50.0,
        slow_call_rate_threshold: 80.0,
        slow_call_duration: ms(100),
        wait_in_open: ms(1000),
        backoff: 2,
        max_wait_in_open: ms(3000),
        permitted_calls_in_half_open: 3,
        max_wait_in_half_open: ms(500),
    }
}

/// One call at `at`, taking `took`; whether it was permitted.
fn call(b: &mut Breaker, at: Duration, took: Duration, ok: bool) -> bool {
    match b.try_acquire(at) {
        Some(p) => {
            b.record(p, at + took, ok);
            true
        }
        None => false,
    }
}

/// Five failures at `at`: the breaker must be open afterwards.
fn trip(b: &mut Breaker, at: Duration) {
    for i in 0..5 {
        assert!(
            call(b, at, Duration::ZERO, false),
            "call {i} while closed must be permitted"
        );
    }
    assert_eq!(
        b.state(at),
        State::Open,
        "5 failures of 5 (minimum_calls 5, 50 %) must open it"
    );
}

#[test]
fn it_opens_on_the_failure_rate_only_after_minimum_calls() {
    grade("ex16", LIMIT, || {
        let mut b = Breaker::new(cfg());
        for _ in 0..4 {
            assert!(call(&mut b, ms(0), ms(1), false));
        }
        assert_eq!(
            b.state(ms(1)),
            State::Closed,
            "4 calls are fewer than minimum_calls (5)"
        );
        assert!(call(&mut b, ms(1), ms(1), false));
        assert_eq!(
            b.state(ms(2)),
            State::Open,
            "the 5th failure reaches minimum_calls at 100 %"
        );
        assert!(
            b.try_acquire(ms(3)).is_none(),
            "an open breaker rejects calls"
        );
    });
}

#[test]
fn it_stays_closed_under_the_threshold_as_the_window_slides() {
    grade("ex16", LIMIT, || {
        let mut b = Breaker::new(cfg());
        // Two failures in every five calls: 40 % in any window of 10, and
        // at most 40 % in the first 5..9 calls too.
        for i in 0..40 {
            assert!(
                call(&mut b, ms(i), ms(1), i % 5 < 3),
                "call {i} must be permitted: 40 % < 50 %"
            );
        }
        assert_eq!(b.state(ms(41)), State::Closed);
        // The last 10 calls hold 4 failures; one more makes 5 of 10 = 50 %.
        assert!(call(&mut b, ms(50), ms(1), false));
        assert_eq!(
            b.state(ms(51)),
            State::Open,
            "5 failures in the last 10 calls (the window slides: 10 calls, not 41)"
        );
    });
}

#[test]
fn slow_calls_open_it_even_when_they_succeed() {
    grade("ex16", LIMIT, || {
        let mut b = Breaker::new(cfg());
        for i in 0..4 {
            call(&mut b, ms(i * 200), ms(150), true);
        }
        assert_eq!(
            b.state(ms(800)),
            State::Closed,
            "4 calls are under minimum_calls"
        );
        call(&mut b, ms(1000), ms(100), true); // exactly 100 ms: not slow
        assert_eq!(
            b.state(ms(1100)),
            State::Open,
            "4 slow of 5 = 80 %, at the slow-call threshold (compare with >=)"
        );
    });
}

#[test]
fn exactly_the_slow_call_duration_is_not_slow() {
    grade("ex16", LIMIT, || {
        let mut b = Breaker::new(cfg());
        for i in 0..10 {
            call(&mut b, ms(i * 200), ms(100), true);
        }
        assert_eq!(
            b.state(ms(2000)),
            State::Closed,
            "calls of exactly slow_call_duration are not slow"
        );
        for i in 0..3 {
            call(&mut b, ms(3000 + i * 200), ms(101), i == 0);
        }
        assert_eq!(
            b.state(ms(4000)),
            State::Closed,
            "3 slow and 2 failed of the last 10: under both thresholds"
        );
    });
}

#[test]
fn half_open_permits_exactly_the_trials_and_closes_when_they_pass() {
    grade("ex16", LIMIT, || {
        let mut b = Breaker::new(cfg());
        trip(&mut b, ms(0));
        assert_eq!(
            b.state(ms(999)),
            State::Open,
            "the first open period is 1000 ms"
        );
        assert!(b.try_acquire(ms(999)).is_none());
        let t = ms(1000);
        let permits: Vec<_> = (0..3)
            .map(|i| {
                b.try_acquire(t)
                    .unwrap_or_else(|| panic!("trial {i} must be permitted at 1000 ms"))
            })
            .collect();
        assert_eq!(b.state(t), State::HalfOpen);
        assert!(
            b.try_acquire(t).is_none(),
            "only permitted_calls_in_half_open (3) trials"
        );
        let mut it = permits.into_iter();
        b.record(it.next().unwrap(), t + ms(1), true);
        b.record(it.next().unwrap(), t + ms(1), true);
        assert_eq!(
            b.state(t + ms(1)),
            State::HalfOpen,
            "2 of 3 trials reported: not decided yet"
        );
        b.record(it.next().unwrap(), t + ms(2), true);
        assert_eq!(b.state(t + ms(2)), State::Closed, "3 good trials close it");
        // Closing starts afresh: 4 failures are again under minimum_calls.
        for _ in 0..4 {
            call(&mut b, t + ms(3), ms(1), false);
        }
        assert_eq!(
            b.state(t + ms(5)),
            State::Closed,
            "closing must clear the window"
        );
        call(&mut b, t + ms(5), ms(1), false);
        assert_eq!(b.state(t + ms(6)), State::Open);
        // ...and the trip count: this open period is 1000 ms again, not 2000.
        assert_eq!(b.state(t + ms(1005)), State::Open);
        assert_eq!(
            b.state(t + ms(1006)),
            State::HalfOpen,
            "closing resets the backoff"
        );
    });
}

#[test]
fn failed_trials_reopen_it_for_longer_each_time_up_to_the_cap() {
    grade("ex16", LIMIT, || {
        let mut b = Breaker::new(cfg());
        assert_eq!(b.open_period(1), ms(1000));
        assert_eq!(b.open_period(2), ms(2000));
        assert_eq!(b.open_period(3), ms(3000), "capped at max_wait_in_open");
        assert_eq!(b.open_period(200), ms(3000), "no overflow for many trips");
        trip(&mut b, ms(0));
        let mut opened = ms(0);
        for (round, want) in [1000u64, 2000, 3000, 3000].into_iter().enumerate() {
            assert_eq!(
                b.state(opened + ms(want - 1)),
                State::Open,
                "round {round}: still open 1 ms before {want} ms"
            );
            let t = opened + ms(want);
            assert_eq!(
                b.state(t),
                State::HalfOpen,
                "round {round}: half-open after {want} ms"
            );
            for _ in 0..3 {
                assert!(call(&mut b, t, ms(1), false));
            }
            assert_eq!(
                b.state(t + ms(1)),
                State::Open,
                "round {round}: 3 failed trials reopen it"
            );
            opened = t + ms(1);
        }
    });
}

#[test]
fn a_trial_that_never_reports_does_not_leave_it_stuck_half_open() {
    grade("ex16", LIMIT, || {
        let mut b = Breaker::new(cfg());
        trip(&mut b, ms(0));
        let t = ms(1000);
        let p1 = b.try_acquire(t).expect("trial 1");
        let p2 = b.try_acquire(t).expect("trial 2");
        let _lost = b.try_acquire(t).expect("trial 3 (its outcome never comes)");
        b.record(p1, t + ms(10), true);
        b.record(p2, t + ms(10), true);
        assert_eq!(
            b.state(t + ms(499)),
            State::HalfOpen,
            "waiting for the third trial"
        );
        assert!(
            b.try_acquire(t + ms(499)).is_none(),
            "every trial slot is taken"
        );
        assert_eq!(
            b.state(t + ms(500)),
            State::Open,
            "after max_wait_in_half_open (500 ms) it must open again, not stay stuck"
        );
        // That was the second trip: 2000 ms open, then fresh trial slots.
        assert_eq!(b.state(t + ms(2499)), State::Open);
        let t2 = t + ms(2500);
        for i in 0..3 {
            assert!(
                call(&mut b, t2, ms(1), true),
                "fresh trial {i} after the stuck half-open"
            );
        }
        assert_eq!(b.state(t2 + ms(1)), State::Closed);
    });
}

#[test]
fn an_outcome_from_before_a_state_change_is_ignored() {
    grade("ex16", LIMIT, || {
        let mut b = Breaker::new(cfg());
        let early = b.try_acquire(ms(0)).expect("closed permits");
        trip(&mut b, ms(0));
        let t = ms(1000);
        let trial1 = b.try_acquire(t).expect("trial 1");
        let trial2 = b.try_acquire(t).expect("trial 2");
        b.record(early, t, true); // permitted while closed: must not count as a trial
        b.record(trial1, t, true);
        b.record(trial2, t, true);
        assert_eq!(
            b.state(t),
            State::HalfOpen,
            "only 2 real trials of 3 have reported (a permit from the closed state is stale)"
        );
        // A late success while open must not close it either.
        let mut b = Breaker::new(cfg());
        let early = b.try_acquire(ms(0)).unwrap();
        trip(&mut b, ms(0));
        b.record(early, ms(10), true);
        assert_eq!(b.state(ms(10)), State::Open);
    });
}
