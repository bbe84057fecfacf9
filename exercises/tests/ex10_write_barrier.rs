//! Graded tests of exercise ex10: the hybrid write barrier, run on adversarial
//! seeded interleavings of the simulated collector.

mod common;

use common::grade;
use exercises::ex10_write_barrier::mode;
use memsim::gc::{BarrierMode, GcConfig, run};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// Seeds (out of the first 10,000) on which `config` frees a reachable object.
fn losing_seeds(config: GcConfig) -> Vec<u64> {
    (0..10_000)
        .filter(|&seed| !run(&config, seed).lost.is_empty())
        .collect()
}

/// Runs your barrier on `seeds` and fails naming the first seed that loses.
fn check(seeds: &[u64], what: &str) {
    assert!(
        !seeds.is_empty(),
        "the grader found no {what} seeds: the simulation changed"
    );
    let yours = GcConfig::bare(mode());
    for &seed in seeds {
        let outcome = run(&yours, seed);
        assert!(
            outcome.lost.is_empty(),
            "seed {seed} ({what}): your barrier let the sweep free reachable object(s) {:?}. \
             Replay it with memsim::gc::run_traced(&GcConfig::bare(mode()), {seed}) and print the trace.",
            outcome.lost
        );
        assert!(
            outcome.sweep.alloc_bits_equal_mark_bits(),
            "seed {seed}: sweep left alloc bits != mark bits"
        );
    }
}

#[test]
fn survives_every_interleaving_that_breaks_a_collector_with_no_barrier() {
    grade("ex10", LIMIT, || {
        let seeds = losing_seeds(GcConfig::canonical(BarrierMode::None));
        check(&seeds, "no-barrier-loses");
    });
}

#[test]
fn survives_every_interleaving_that_breaks_an_insertion_only_barrier() {
    grade("ex10", LIMIT, || {
        let seeds = losing_seeds(GcConfig::bare(BarrierMode::Dijkstra));
        check(&seeds, "Dijkstra-without-re-scan-loses");
    });
}

#[test]
fn survives_every_interleaving_that_breaks_a_deletion_only_barrier() {
    grade("ex10", LIMIT, || {
        let seeds = losing_seeds(GcConfig::bare(BarrierMode::Yuasa));
        check(&seeds, "Yuasa-without-snapshot-loses");
    });
}

#[test]
fn never_frees_a_reachable_object_on_10000_seeds() {
    grade("ex10", LIMIT, || {
        let yours = GcConfig::bare(mode());
        for seed in 10_000..20_000 {
            let outcome = run(&yours, seed);
            assert!(
                outcome.lost.is_empty(),
                "seed {seed}: reachable object(s) {:?} freed",
                outcome.lost
            );
            assert_eq!(
                outcome.stw.total(),
                0,
                "seed {seed}: the hybrid protocol does no stop-the-world stack work"
            );
        }
    });
}
