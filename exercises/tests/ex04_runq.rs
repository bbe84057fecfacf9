//! Graded tests of exercise ex04: Go's local run queue.
//!
//! Functional tests run on real threads; under `RUSTFLAGS="--cfg loom"` the
//! loom models at the bottom explore every interleaving of an owner and a
//! thief on a 4-slot ring (see `.ci/exercises-loom.sh`).

#[cfg(not(loom))]
mod common;

#[cfg(not(loom))]
mod functional {
    use super::common::grade;
    use exercises::ex04_runq::{G, GlobalRunQueue, RING_SIZE, RunQueue};
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    const LIMIT: Duration = Duration::from_secs(20);

    fn ids(gs: impl IntoIterator<Item = G>) -> Vec<u64> {
        gs.into_iter().map(G::id).collect()
    }

    fn drain_local(q: &RunQueue) -> Vec<(u64, bool)> {
        std::iter::from_fn(|| q.runqget())
            .map(|(g, inherit)| (g.id(), inherit))
            .collect()
    }

    #[test]
    fn ring_is_fifo() {
        grade("ex04", LIMIT, || {
            let q = RunQueue::new();
            let global = GlobalRunQueue::new();
            for id in 1..=10 {
                q.runqput(G::new(id), false, &global);
            }
            assert_eq!(
                q.len(),
                10,
                "ten runqput calls should leave ten Gs in the ring"
            );
            let got = drain_local(&q);
            let want: Vec<(u64, bool)> = (1..=10).map(|id| (id, false)).collect();
            assert_eq!(
                got, want,
                "the ring should hand Gs back in the order they were put, \
                                   each with inherit_time == false"
            );
            assert!(q.runqget().is_none(), "an empty queue should give None");
            assert!(
                global.is_empty(),
                "nothing should reach the global queue when the ring has room"
            );
        });
    }

    #[test]
    fn ring_wraps_around_many_times() {
        grade("ex04", LIMIT, || {
            let q = RunQueue::new();
            let global = GlobalRunQueue::new();
            let mut next_id = 1;
            let mut expected = 1;
            // Keep the ring about half full while head and tail go round
            // the ring many times.
            for _round in 0..(RING_SIZE * 8) {
                for _ in 0..3 {
                    q.runqput(G::new(next_id), false, &global);
                    next_id += 1;
                }
                for _ in 0..3 {
                    let (g, _) = q.runqget().expect("a G that was put should come back");
                    assert_eq!(
                        g.id(),
                        expected,
                        "wrapping around the ring should keep FIFO order"
                    );
                    expected += 1;
                }
            }
            assert!(
                q.is_empty() && global.is_empty(),
                "every G put should have been taken"
            );
        });
    }

    #[test]
    fn runnext_runs_first_and_inherits_time() {
        grade("ex04", LIMIT, || {
            let q = RunQueue::new();
            let global = GlobalRunQueue::new();
            q.runqput(G::new(1), false, &global);
            q.runqput(G::new(2), false, &global);
            q.runqput(G::new(3), true, &global);
            assert_eq!(
                q.runnext(),
                Some(G::new(3)),
                "runqput(g, next = true) should fill runnext"
            );
            assert_eq!(q.len(), 2, "runnext is not part of the ring");
            assert_eq!(
                drain_local(&q),
                vec![(3, true), (1, false), (2, false)],
                "runqget should take runnext first (inherit_time == true), then the ring in order"
            );
        });
    }

    #[test]
    fn runnext_kicks_the_old_one_to_the_tail() {
        grade("ex04", LIMIT, || {
            let q = RunQueue::new();
            let global = GlobalRunQueue::new();
            q.runqput(G::new(1), false, &global);
            q.runqput(G::new(2), true, &global);
            q.runqput(G::new(3), true, &global);
            assert_eq!(
                q.runnext(),
                Some(G::new(3)),
                "the newest next = true G should sit in runnext"
            );
            assert_eq!(
                q.len(),
                2,
                "the displaced runnext G should have moved into the ring"
            );
            assert_eq!(
                drain_local(&q),
                vec![(3, true), (1, false), (2, false)],
                "the G kicked out of runnext belongs at the tail of the ring, behind G 1"
            );
        });
    }

    #[test]
    fn overflow_moves_half_plus_one_to_global() {
        grade("ex04", LIMIT, || {
            let q = RunQueue::new();
            let global = GlobalRunQueue::new();
            let size = RING_SIZE as u64;
            for id in 1..=size {
                q.runqput(G::new(id), false, &global);
            }
            assert_eq!(
                q.len(),
                RING_SIZE,
                "the ring should hold exactly {RING_SIZE} Gs"
            );
            assert!(
                global.is_empty(),
                "a ring with room must not spill to the global queue"
            );

            q.runqput(G::new(size + 1), false, &global);
            let mut want_global: Vec<u64> = (1..=size / 2).collect();
            want_global.push(size + 1);
            assert_eq!(
                ids(global.drain()),
                want_global,
                "a full ring should move its first half (oldest first) plus the new G to the global queue"
            );
            let want_local: Vec<(u64, bool)> =
                (size / 2 + 1..=size).map(|id| (id, false)).collect();
            assert_eq!(
                drain_local(&q),
                want_local,
                "the second half should stay in the ring, in order"
            );
        });
    }

    #[test]
    fn overflow_via_kicked_runnext() {
        grade("ex04", LIMIT, || {
            let q = RunQueue::new();
            let global = GlobalRunQueue::new();
            let size = RING_SIZE as u64;
            q.runqput(G::new(1000), true, &global);
            for id in 1..=size {
                q.runqput(G::new(id), false, &global);
            }
            // G 2000 takes runnext; 1000 is kicked to a full ring and
            // overflows with the first half.
            q.runqput(G::new(2000), true, &global);
            let mut want_global: Vec<u64> = (1..=size / 2).collect();
            want_global.push(1000);
            assert_eq!(
                ids(global.drain()),
                want_global,
                "the G kicked out of runnext into a full ring should overflow with half the ring"
            );
            assert_eq!(
                q.runnext(),
                Some(G::new(2000)),
                "the new G should be in runnext"
            );
        });
    }

    #[test]
    fn steal_takes_half_rounded_up() {
        grade("ex04", LIMIT, || {
            for (queued, stolen) in [
                (1_u64, 1_usize),
                (2, 1),
                (7, 4),
                (10, 5),
                (RING_SIZE as u64, RING_SIZE / 2),
            ] {
                let victim = RunQueue::new();
                let thief = RunQueue::new();
                let global = GlobalRunQueue::new();
                for id in 1..=queued {
                    victim.runqput(G::new(id), false, &global);
                }
                let got = thief.runqsteal(&victim, false);
                assert_eq!(
                    got.map(G::id),
                    Some(stolen as u64),
                    "stealing from {queued} Gs should take n - n/2 = {stolen} of them \
                     (the oldest ones) and return the last one taken"
                );
                assert_eq!(
                    thief.len(),
                    stolen - 1,
                    "the other stolen Gs should be in the thief's ring"
                );
                assert_eq!(
                    victim.len(),
                    queued as usize - stolen,
                    "the victim keeps n/2 Gs"
                );
                let thief_ring: Vec<u64> =
                    drain_local(&thief).into_iter().map(|(id, _)| id).collect();
                assert_eq!(
                    thief_ring,
                    (1..stolen as u64).collect::<Vec<_>>(),
                    "stolen Gs keep their order"
                );
                let victim_ring: Vec<u64> =
                    drain_local(&victim).into_iter().map(|(id, _)| id).collect();
                assert_eq!(
                    victim_ring,
                    (stolen as u64 + 1..=queued).collect::<Vec<_>>(),
                    "the victim keeps its newest Gs"
                );
            }
        });
    }

    #[test]
    fn steal_runnext_only_when_asked() {
        grade("ex04", LIMIT, || {
            let victim = RunQueue::new();
            let thief = RunQueue::new();
            let global = GlobalRunQueue::new();
            victim.runqput(G::new(7), true, &global);
            assert_eq!(
                thief.runqsteal(&victim, false),
                None,
                "with steal_runnext == false a thief must leave runnext alone"
            );
            assert_eq!(
                victim.runnext(),
                Some(G::new(7)),
                "runnext should still be there"
            );
            assert_eq!(
                thief.runqsteal(&victim, true),
                Some(G::new(7)),
                "with steal_runnext == true and an empty ring, the thief takes runnext"
            );
            assert_eq!(
                victim.runnext(),
                None,
                "a stolen runnext is gone from the victim"
            );
            assert_eq!(victim.runqget(), None, "the victim has nothing left");
            assert_eq!(
                thief.runqsteal(&victim, true),
                None,
                "nothing to steal from an empty queue"
            );
        });
    }

    #[test]
    fn steal_prefers_the_ring_over_runnext() {
        grade("ex04", LIMIT, || {
            let victim = RunQueue::new();
            let thief = RunQueue::new();
            let global = GlobalRunQueue::new();
            victim.runqput(G::new(1), false, &global);
            victim.runqput(G::new(2), true, &global);
            assert_eq!(
                thief.runqsteal(&victim, true),
                Some(G::new(1)),
                "while the ring has Gs, a thief takes from the ring, not runnext"
            );
            assert_eq!(
                victim.runnext(),
                Some(G::new(2)),
                "runnext stays with its owner"
            );
        });
    }

    /// One owner puts Gs (with and without runnext, overflowing to global)
    /// and runs them, while thieves steal; every G must be run exactly once.
    #[test]
    fn no_g_lost_or_duplicated_under_real_threads() {
        grade("ex04", Duration::from_secs(60), || {
            const TOTAL: u64 = 200_000;
            const THIEVES: usize = 2;
            let owner_q = Arc::new(RunQueue::new());
            let global = Arc::new(GlobalRunQueue::new());
            // Fail fast in the learner's own thread if the stub is untouched.
            owner_q.runqput(G::new(1), false, &global);
            let ran = Arc::new(AtomicUsize::new(0));
            let start = Arc::new(Barrier::new(THIEVES + 1));

            let thieves: Vec<_> = (0..THIEVES)
                .map(|_| {
                    let (victim, ran, start) = (owner_q.clone(), ran.clone(), start.clone());
                    std::thread::spawn(move || {
                        let own = RunQueue::new();
                        let mut seen = Vec::new();
                        start.wait();
                        while ran.load(Ordering::Acquire) < TOTAL as usize {
                            // A thief steals only when its own queue is empty, as in Go.
                            match own.runqget() {
                                Some((g, _)) => seen.push(g.id()),
                                None => match own.runqsteal(&victim, true) {
                                    Some(g) => seen.push(g.id()),
                                    None => {
                                        std::thread::yield_now();
                                        continue;
                                    }
                                },
                            }
                            ran.fetch_add(1, Ordering::AcqRel);
                        }
                        seen
                    })
                })
                .collect();

            let mut seen = Vec::new();
            start.wait();
            let run_one = |g: G, seen: &mut Vec<u64>| {
                seen.push(g.id());
                ran.fetch_add(1, Ordering::AcqRel);
            };
            for id in 2..=TOTAL {
                owner_q.runqput(G::new(id), id % 5 == 0, &global);
                if id % 3 == 0
                    && let Some((g, _)) = owner_q.runqget()
                {
                    run_one(g, &mut seen);
                }
            }
            while ran.load(Ordering::Acquire) < TOTAL as usize {
                if let Some((g, _)) = owner_q.runqget() {
                    run_one(g, &mut seen);
                } else if let Some(g) = global.pop() {
                    run_one(g, &mut seen);
                } else {
                    std::thread::yield_now();
                }
            }
            for t in thieves {
                seen.extend(t.join().expect("a thief thread panicked"));
            }
            let unique: HashSet<u64> = seen.iter().copied().collect();
            assert_eq!(
                seen.len(),
                TOTAL as usize,
                "{TOTAL} Gs were put, {} runs happened: some G ran twice",
                seen.len()
            );
            assert_eq!(
                unique.len(),
                TOTAL as usize,
                "every G should run exactly once"
            );
            assert!(
                unique.iter().all(|id| (1..=TOTAL).contains(id)),
                "only Gs that were put may run"
            );
        });
    }
}

/// Loom models: run with `bash .ci/exercises-loom.sh`. The ring has 4 slots.
#[cfg(loom)]
mod models {
    use exercises::ex04_runq::{G, GlobalRunQueue, RING_SIZE, RunQueue};
    use loom::sync::Arc;
    use loom::thread;

    fn sorted(mut v: Vec<u64>) -> Vec<u64> {
        v.sort_unstable();
        v
    }

    /// The owner takes from its ring while a thief steals half of it.
    #[test]
    fn owner_get_races_a_steal() {
        assert_eq!(RING_SIZE, 4, "under loom the ring shrinks to 4 slots");
        loom::model(|| {
            let global = GlobalRunQueue::new();
            let owner = Arc::new(RunQueue::new());
            for id in 1..=3 {
                owner.runqput(G::new(id), false, &global);
            }
            let victim = owner.clone();
            let thief = thread::spawn(move || {
                let own = RunQueue::new();
                let mut got: Vec<u64> = own
                    .runqsteal(&victim, false)
                    .into_iter()
                    .map(G::id)
                    .collect();
                got.extend(std::iter::from_fn(|| own.runqget()).map(|(g, _)| g.id()));
                got
            });
            let mut seen: Vec<u64> = std::iter::from_fn(|| owner.runqget())
                .map(|(g, _)| g.id())
                .collect();
            seen.extend(thief.join().unwrap());
            assert_eq!(sorted(seen), vec![1, 2, 3], "each G taken exactly once");
        });
    }

    /// The owner puts into `runnext` while a thief tries to steal it.
    #[test]
    fn runnext_put_races_a_steal() {
        loom::model(|| {
            let global = GlobalRunQueue::new();
            let owner = Arc::new(RunQueue::new());
            owner.runqput(G::new(1), true, &global);
            let victim = owner.clone();
            let thief = thread::spawn(move || {
                let own = RunQueue::new();
                let mut got: Vec<u64> = own
                    .runqsteal(&victim, true)
                    .into_iter()
                    .map(G::id)
                    .collect();
                got.extend(std::iter::from_fn(|| own.runqget()).map(|(g, _)| g.id()));
                got
            });
            owner.runqput(G::new(2), true, &global);
            let mut seen: Vec<u64> = std::iter::from_fn(|| owner.runqget())
                .map(|(g, _)| g.id())
                .collect();
            seen.extend(thief.join().unwrap());
            seen.extend(global.drain().into_iter().map(G::id));
            assert_eq!(sorted(seen), vec![1, 2], "each G taken exactly once");
        });
    }

    /// The owner overflows its full ring into the global queue while a
    /// thief steals from it: the overflow CAS and the steal CAS race.
    #[test]
    fn overflow_races_a_steal() {
        loom::model(|| {
            let global = Arc::new(GlobalRunQueue::new());
            let owner = Arc::new(RunQueue::new());
            for id in 1..=4 {
                owner.runqput(G::new(id), false, &global);
            }
            let victim = owner.clone();
            let thief = thread::spawn(move || {
                let own = RunQueue::new();
                let mut got: Vec<u64> = own
                    .runqsteal(&victim, false)
                    .into_iter()
                    .map(G::id)
                    .collect();
                got.extend(std::iter::from_fn(|| own.runqget()).map(|(g, _)| g.id()));
                got
            });
            owner.runqput(G::new(5), false, &global);
            let mut seen = thief.join().unwrap();
            seen.extend(std::iter::from_fn(|| owner.runqget()).map(|(g, _)| g.id()));
            seen.extend(global.drain().into_iter().map(G::id));
            assert_eq!(
                sorted(seen),
                vec![1, 2, 3, 4, 5],
                "each G taken exactly once"
            );
        });
    }
}
