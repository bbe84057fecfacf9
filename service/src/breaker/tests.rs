//! Scripted scenarios on the breaker's state machine, time handed in.

use super::*;

const MS: Duration = Duration::from_millis(1);

fn cfg() -> Config {
    Config {
        window: WindowKind::Count(10),
        minimum_calls: 5,
        failure_rate_threshold: 50.0,
        slow_call_rate_threshold: 80.0,
        slow_call_duration: 100 * MS,
        wait_in_open: 1000 * MS,
        backoff: 2.0,
        max_wait_in_open: 3000 * MS,
        permitted_calls_in_half_open: 3,
        max_wait_in_half_open: 500 * MS,
    }
}

/// One call at `now` taking `took`, with outcome `ok`; whether it was let in.
fn call(b: &mut BreakerCore, now: Duration, took: Duration, ok: bool) -> bool {
    match b.try_acquire(now) {
        Ok(p) => {
            b.record(p, now + took, ok);
            true
        }
        Err(_) => false,
    }
}

fn trip(b: &mut BreakerCore, now: Duration) {
    for _ in 0..5 {
        call(b, now, Duration::ZERO, false);
    }
    assert_eq!(b.state(now), State::Open);
}

#[test]
fn failures_trip_only_after_the_minimum_calls() {
    let mut b = BreakerCore::new(cfg()).unwrap();
    for _ in 0..4 {
        assert!(call(&mut b, Duration::ZERO, MS, false));
    }
    assert_eq!(
        b.state(Duration::ZERO),
        State::Closed,
        "4 failures < minimum_calls 5"
    );
    assert!(call(&mut b, Duration::ZERO, MS, false));
    assert_eq!(b.state(Duration::ZERO), State::Open);
    assert_eq!(b.try_acquire(10 * MS), Err(Rejected { state: State::Open }));
}

#[test]
fn a_failure_rate_under_the_threshold_keeps_it_closed() {
    let mut b = BreakerCore::new(cfg()).unwrap();
    // 4 failures in 10 = 40 % < 50 %, and it stays that way as the window slides.
    for i in 0..30 {
        call(&mut b, Duration::ZERO, MS, i % 5 < 3);
    }
    assert_eq!(b.state(Duration::ZERO), State::Closed);
    assert_eq!(
        b.totals(Duration::ZERO),
        Totals {
            calls: 10,
            failures: 4,
            slow: 0
        }
    );
}

#[test]
fn slow_successes_trip_it_too() {
    let mut b = BreakerCore::new(cfg()).unwrap();
    for _ in 0..5 {
        call(&mut b, Duration::ZERO, 150 * MS, true);
    }
    assert_eq!(b.state(150 * MS), State::Open, "5 of 5 slower than 100 ms");
}

#[test]
fn half_open_lets_a_fixed_number_of_trials_through_and_closes_on_success() {
    let mut b = BreakerCore::new(cfg()).unwrap();
    trip(&mut b, Duration::ZERO);
    assert_eq!(b.state(999 * MS), State::Open);
    let t = 1000 * MS;
    let permits: Vec<Permit> = (0..3).map(|_| b.try_acquire(t).expect("a trial")).collect();
    assert_eq!(b.state(t), State::HalfOpen);
    assert_eq!(
        b.try_acquire(t),
        Err(Rejected {
            state: State::HalfOpen
        }),
        "only 3 trials"
    );
    for p in permits {
        assert!(b.record(p, t + MS, true));
    }
    assert_eq!(b.state(t + MS), State::Closed);
    assert_eq!(b.trips(), 0);
    assert_eq!(b.totals(t + MS).calls, 0, "closing starts a fresh window");
    let states: Vec<(State, State)> = b.transitions().iter().map(|x| (x.from, x.to)).collect();
    assert_eq!(
        states,
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
}

#[test]
fn failed_trials_reopen_it_for_longer_each_time_up_to_the_cap() {
    let mut b = BreakerCore::new(cfg()).unwrap();
    trip(&mut b, Duration::ZERO);
    let mut t = Duration::ZERO;
    let mut periods = Vec::new();
    for _ in 0..4 {
        let opened = b.transitions().last().unwrap().at;
        // Find when it becomes half-open, millisecond by millisecond.
        t = opened;
        while b.state(t) == State::Open {
            t += MS;
        }
        periods.push((t - opened).as_millis());
        for _ in 0..3 {
            call(&mut b, t, MS, false);
        }
        assert_eq!(b.state(t + MS), State::Open);
    }
    assert_eq!(
        periods,
        [1000, 2000, 3000, 3000],
        "1 s, doubled, capped at 3 s"
    );
    assert_eq!(b.trips(), 5);
    let _ = t;
}

#[test]
fn a_lost_trial_call_does_not_leave_it_stuck_half_open() {
    // resilience4j#935: the trial permits are taken, one outcome never comes.
    let mut b = BreakerCore::new(cfg()).unwrap();
    trip(&mut b, Duration::ZERO);
    let t = 1000 * MS;
    let p1 = b.try_acquire(t).unwrap();
    let p2 = b.try_acquire(t).unwrap();
    let _lost = b.try_acquire(t).unwrap(); // never reported
    b.record(p1, t + MS, true);
    b.record(p2, t + MS, true);
    assert_eq!(
        b.state(t + 499 * MS),
        State::HalfOpen,
        "still waiting for the third trial"
    );
    assert!(b.try_acquire(t + 499 * MS).is_err(), "every slot is taken");
    assert_eq!(
        b.state(t + 500 * MS),
        State::Open,
        "max_wait_in_half_open opens it again"
    );
    // The next half-open has fresh slots, and closes on good trials.
    let t2 = b.transitions().last().unwrap().at + 2000 * MS;
    for _ in 0..3 {
        assert!(call(&mut b, t2, MS, true));
    }
    assert_eq!(b.state(t2 + MS), State::Closed);
}

#[test]
fn a_late_outcome_from_before_a_transition_is_ignored() {
    let mut b = BreakerCore::new(cfg()).unwrap();
    let early = b.try_acquire(Duration::ZERO).unwrap(); // let through while closed
    trip(&mut b, Duration::ZERO);
    let t = 1000 * MS;
    let trial = b.try_acquire(t).unwrap();
    assert!(
        !b.record(early, t, true),
        "a closed-state permit cannot count as a trial"
    );
    assert!(b.record(trial, t, true));
    assert_eq!(b.state(t), State::HalfOpen, "one trial of three reported");
}

#[test]
fn a_time_window_forgets_old_failures() {
    let mut b = BreakerCore::new(Config {
        window: WindowKind::Time(1000 * MS),
        ..cfg()
    })
    .unwrap();
    for _ in 0..4 {
        call(&mut b, Duration::ZERO, MS, false);
    }
    // 1.5 s later the four failures have left the window: 1 failure + 4 ok.
    let t = 1500 * MS;
    call(&mut b, t, MS, false);
    for _ in 0..4 {
        call(&mut b, t, MS, true);
    }
    assert_eq!(b.state(t + MS), State::Closed);
    assert_eq!(
        b.totals(t + MS),
        Totals {
            calls: 5,
            failures: 1,
            slow: 0
        }
    );
    for _ in 0..5 {
        call(&mut b, t, MS, false);
    }
    assert_eq!(
        b.state(t + MS),
        State::Open,
        "6 of 10 in the last second failed"
    );
}

#[test]
fn bad_configs_are_refused_with_the_field_named() {
    let cases: [(Config, &str); 9] = [
        (
            Config {
                window: WindowKind::Count(0),
                ..cfg()
            },
            "window",
        ),
        (
            Config {
                minimum_calls: 0,
                ..cfg()
            },
            "minimum_calls",
        ),
        (
            Config {
                minimum_calls: 11,
                ..cfg()
            },
            "minimum_calls",
        ),
        (
            Config {
                failure_rate_threshold: -1.0,
                ..cfg()
            },
            "failure_rate_threshold",
        ),
        (
            Config {
                slow_call_rate_threshold: f64::NAN,
                ..cfg()
            },
            "slow_call_rate_threshold",
        ),
        (
            Config {
                wait_in_open: Duration::ZERO,
                ..cfg()
            },
            "wait_in_open",
        ),
        (
            Config {
                backoff: 0.5,
                ..cfg()
            },
            "backoff",
        ),
        (
            Config {
                permitted_calls_in_half_open: 0,
                ..cfg()
            },
            "permitted_calls_in_half_open",
        ),
        (
            Config {
                max_wait_in_half_open: Duration::ZERO,
                ..cfg()
            },
            "max_wait_in_half_open",
        ),
    ];
    for (c, field) in cases {
        let e = BreakerCore::new(c).unwrap_err();
        assert!(e.to_string().contains(field), "{e} should name {field}");
    }
}

#[test]
fn the_shared_breaker_reports_its_state_in_prometheus_format() {
    let clock = std::sync::Arc::new(ManualClock::default());
    let b = Breaker::new(cfg(), clock.clone()).unwrap();
    for _ in 0..5 {
        let p = b.try_acquire().unwrap();
        b.record(p, false);
    }
    clock.advance(1000 * MS);
    assert_eq!(b.state(), State::HalfOpen);
    let text = b.prometheus("backend");
    assert!(
        text.contains("service_breaker_state{breaker=\"backend\",state=\"half_open\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("service_breaker_transitions_total{breaker=\"backend\",to=\"open\"} 1\n"),
        "{text}"
    );
}

#[test]
fn every_state_change_is_in_the_runtime_trace_on_the_g_that_caused_it() {
    let rt = runtime::Runtime::builder()
        .procs(1)
        .trace(true)
        .build()
        .unwrap();
    let (g, transitions) = rt.block_on(async {
        runtime::spawn(async {
            let mut b = BreakerCore::new(cfg()).unwrap();
            trip(&mut b, Duration::ZERO); // closed -> open
            b.state(1000 * MS); // open -> half_open
            for _ in 0..3 {
                call(&mut b, 1000 * MS, Duration::ZERO, true); // the trials close it
            }
            (runtime::current_g_id().unwrap(), b.transitions().to_vec())
        })
        .await
        .unwrap()
    });
    let trace = rt.trace().unwrap();
    let logged: Vec<(u64, &str)> = trace
        .user_logs(TRACE_CATEGORY)
        .iter()
        .map(|(_, l)| (l.g, l.message.as_str()))
        .collect();
    assert_eq!(
        logged,
        [
            (g, "closed->open"),
            (g, "open->half_open"),
            (g, "half_open->closed")
        ],
        "one trace event per transition, on the G that drove the breaker"
    );
    let names: Vec<&str> = transitions
        .iter()
        .map(|t| transition_name(t.from, t.to))
        .collect();
    assert_eq!(
        names,
        logged.iter().map(|(_, m)| *m).collect::<Vec<_>>(),
        "the trace and the breaker's own list agree"
    );
}
