//! Graded tests of exercise ex05: the order in which `findrunnable` looks
//! for work, on scripted scenarios.

mod common;

use common::grade;
use exercises::ex05_findrunnable::{G, LOCAL_CAPACITY, Model, Next, Source, Timer};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

fn run(g: G, source: Source) -> Next {
    Next::Run {
        g,
        source,
        inherit_time: false,
    }
}

#[test]
fn runnext_then_local_then_global_then_park() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(1);
        m.ps[0].schedtick = 1; // away from the fairness tick
        m.ps[0].runnext = Some(10);
        m.ps[0].local.extend([1, 2]);
        m.global.push_back(100);
        let script = [
            (
                Next::Run {
                    g: 10,
                    source: Source::RunNext,
                    inherit_time: true,
                },
                "runnext comes first",
            ),
            (run(1, Source::Local), "then the head of the local queue"),
            (run(2, Source::Local), "the local queue is FIFO"),
            (
                run(100, Source::Global),
                "then the global queue, once local is empty",
            ),
            (
                Next::Park { wake_at: None },
                "with nothing anywhere and no timers, park without a wake-up time",
            ),
        ];
        for (step, (want, why)) in script.into_iter().enumerate() {
            assert_eq!(m.find_runnable(0), want, "step {}: {why}", step + 1);
        }
    });
}

#[test]
fn runnext_inherits_the_time_slice_and_keeps_the_tick() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(1);
        m.ps[0].schedtick = 60;
        m.ps[0].runnext = Some(5);
        m.ps[0].local.extend([1, 2]);
        m.global.push_back(9);
        assert_eq!(
            m.find_runnable(0),
            Next::Run {
                g: 5,
                source: Source::RunNext,
                inherit_time: true
            },
            "at schedtick 60 (not a multiple of 61) runnext wins"
        );
        assert_eq!(
            m.ps[0].schedtick, 60,
            "a runnext G inherits the time slice: schedtick must not move"
        );
        assert_eq!(
            m.find_runnable(0),
            run(1, Source::Local),
            "then the local queue"
        );
        assert_eq!(
            m.ps[0].schedtick, 61,
            "a G that does not inherit time advances schedtick"
        );
        assert_eq!(
            m.find_runnable(0),
            run(9, Source::GlobalFairness),
            "at schedtick 61 the global queue goes first, although local still has G 2"
        );
        assert_eq!(
            m.find_runnable(0),
            run(2, Source::Local),
            "after the fairness pick, back to local"
        );
    });
}

#[test]
fn fairness_check_at_tick_zero() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(2);
        m.ps[1].runnext = Some(1);
        m.global.push_back(7);
        assert_eq!(
            m.find_runnable(1),
            run(7, Source::GlobalFairness),
            "schedtick starts at 0 and 0 % 61 == 0: the global queue is checked first"
        );
    });
}

#[test]
fn global_queue_every_61_ticks_under_a_busy_local_queue() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(1);
        m.ps[0].schedtick = 1;
        m.ps[0].local.extend(1..=200);
        m.global.extend([1001, 1002, 1003]);
        let mut got = Vec::new();
        for _ in 0..203 {
            match m.find_runnable(0) {
                Next::Run { g, source, .. } => got.push((g, source)),
                Next::Park { .. } => panic!("parked with work left in the local queue"),
            }
        }
        let fair: Vec<(usize, G)> = got
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| *s == Source::GlobalFairness)
            .map(|(i, (g, _))| (i + 1, *g))
            .collect();
        assert_eq!(
            fair,
            vec![(61, 1001), (122, 1002), (183, 1003)],
            "starting at schedtick 1, calls number 61, 122 and 183 should take one global G each"
        );
        let local: Vec<G> = got
            .iter()
            .filter(|(_, s)| *s == Source::Local)
            .map(|(g, _)| *g)
            .collect();
        assert_eq!(
            local,
            (1..=200).collect::<Vec<_>>(),
            "all local Gs run, in order, around them"
        );
    });
}

#[test]
fn global_batch_takes_a_fair_share() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(4);
        m.ps[0].schedtick = 1;
        m.global.extend(1..=10);
        assert_eq!(
            m.find_runnable(0),
            run(1, Source::Global),
            "the head of the global queue runs"
        );
        assert_eq!(
            m.ps[0].local,
            [2, 3],
            "with 10 global Gs and 4 Ps the batch is min(10, 10/4 + 1) = 3: one runs, two move to local"
        );
        assert_eq!(
            m.global,
            (4..=10).collect::<Vec<_>>(),
            "the rest stays global"
        );

        let mut big = Model::new(1);
        big.ps[0].schedtick = 1;
        big.global.extend(1..=300);
        assert_eq!(
            big.find_runnable(0),
            run(1, Source::Global),
            "the head of the global queue runs"
        );
        assert_eq!(
            big.ps[0].local.len(),
            LOCAL_CAPACITY / 2 - 1,
            "a batch is capped at half the local queue (128): 127 Gs move to local"
        );
        assert_eq!(
            big.global.len(),
            300 - LOCAL_CAPACITY / 2,
            "172 Gs stay global"
        );
    });
}

#[test]
fn expired_timers_fire_earliest_first() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(1);
        m.ps[0].schedtick = 1;
        m.now = 100;
        m.ps[0].timers = vec![
            Timer { when: 150, g: 7 },
            Timer { when: 50, g: 8 },
            Timer { when: 100, g: 9 },
        ];
        assert_eq!(
            m.find_runnable(0),
            run(8, Source::Timer),
            "the earliest expired timer's G runs"
        );
        assert_eq!(
            m.ps[0].local,
            [9],
            "the other expired timer's G joins the local queue"
        );
        assert_eq!(
            m.ps[0].timers,
            [Timer { when: 150, g: 7 }],
            "a timer not yet due stays"
        );
        assert_eq!(
            m.find_runnable(0),
            run(9, Source::Local),
            "G 9 now runs from the local queue"
        );
        assert_eq!(
            m.find_runnable(0),
            Next::Park { wake_at: Some(150) },
            "with only a pending timer left, park until it is due"
        );
        m.now = 150;
        assert_eq!(
            m.find_runnable(0),
            run(7, Source::Timer),
            "at its time the timer fires"
        );
    });
}

#[test]
fn timers_come_after_the_global_queue() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(1);
        m.ps[0].schedtick = 1;
        m.now = 10;
        m.ps[0].timers = vec![Timer { when: 5, g: 3 }];
        m.global.push_back(1);
        assert_eq!(
            m.find_runnable(0),
            run(1, Source::Global),
            "the global queue comes before timers"
        );
        assert_eq!(
            m.find_runnable(0),
            run(3, Source::Timer),
            "then the expired timer"
        );
    });
}

#[test]
fn steal_half_from_the_next_p_with_work() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(3);
        m.ps[0].schedtick = 1;
        m.ps[1].local.extend([1, 2, 3, 4, 5]);
        m.ps[2].local.extend([6, 7]);
        assert_eq!(
            m.find_runnable(0),
            run(3, Source::Steal { victim: 1 }),
            "P0 tries P1 first and steals n - n/2 = 3 of its 5 Gs, running the last one stolen"
        );
        assert_eq!(
            m.ps[0].local,
            [1, 2],
            "the other stolen Gs land in the thief's local queue"
        );
        assert_eq!(m.ps[1].local, [4, 5], "the victim keeps the newest n/2");
        assert_eq!(
            m.ps[2].local,
            [6, 7],
            "one steal takes from one victim only"
        );
    });
}

#[test]
fn steal_order_wraps_around() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(3);
        m.ps[2].schedtick = 1;
        m.ps[0].local.push_back(1);
        m.ps[1].local.push_back(2);
        assert_eq!(
            m.find_runnable(2),
            run(1, Source::Steal { victim: 0 }),
            "P2 visits P0 then P1 (p + 1 wrapping around), so it steals from P0"
        );
    });
}

#[test]
fn runnext_is_stolen_only_as_a_last_resort() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(3);
        m.ps[0].schedtick = 1;
        m.ps[1].runnext = Some(5);
        m.ps[2].local.push_back(6);
        assert_eq!(
            m.find_runnable(0),
            run(6, Source::Steal { victim: 2 }),
            "a local queue anywhere beats stealing a runnext, even from an earlier victim"
        );
        assert_eq!(
            m.find_runnable(0),
            run(5, Source::Steal { victim: 1 }),
            "with no local work anywhere, steal P1's runnext"
        );
        assert_eq!(m.ps[1].runnext, None, "a stolen runnext is gone from its P");
        assert_eq!(
            m.find_runnable(0),
            Next::Park { wake_at: None },
            "nothing left: park"
        );
    });
}

#[test]
fn park_ignores_other_ps_timers() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(2);
        m.ps[0].schedtick = 1;
        m.now = 0;
        m.ps[1].timers.push(Timer { when: 5, g: 1 });
        m.ps[0].timers.push(Timer { when: 40, g: 2 });
        m.ps[0].timers.push(Timer { when: 30, g: 3 });
        assert_eq!(
            m.find_runnable(0),
            Next::Park { wake_at: Some(30) },
            "park until this P's earliest timer (30); P1's timers are P1's business in this model"
        );
        assert_eq!(m.ps[0].schedtick, 1, "parking does not advance schedtick");
    });
}

#[test]
fn every_g_runs_exactly_once_across_ps() {
    grade("ex05", LIMIT, || {
        let mut m = Model::new(3);
        m.ps[0].local.extend(1..=40);
        m.ps[1].runnext = Some(41);
        m.global.extend(42..=90);
        m.now = 1_000;
        m.ps[2].timers.extend((91..=100).map(|g| Timer {
            when: u64::from(g),
            g,
        }));
        let mut ran = Vec::new();
        let mut idle_in_a_row = 0;
        let mut p = 0;
        while idle_in_a_row < 3 {
            match m.find_runnable(p) {
                Next::Run { g, .. } => {
                    ran.push(g);
                    idle_in_a_row = 0;
                }
                Next::Park { .. } => idle_in_a_row += 1,
            }
            p = (p + 1) % 3;
            assert!(
                ran.len() <= 100,
                "more Gs ran than exist: some G ran twice ({ran:?})"
            );
        }
        ran.sort_unstable();
        assert_eq!(
            ran,
            (1..=100).collect::<Vec<_>>(),
            "every G should run exactly once, then all Ps park"
        );
    });
}
