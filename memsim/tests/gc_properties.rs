//! Property tests for the GC simulation: thousands of seeded interleavings per
//! barrier mode. A correct protocol never frees a reachable object; the broken
//! ones must lose objects on some seed, or these tests could not fail.

use memsim::gc::{BarrierMode, GcConfig, run};

/// Seeds per mode: at least 10,000, as the course promises.
const SEEDS: u64 = 10_000;

/// Runs `SEEDS` cycles; returns (seeds that lost an object, first such seed,
/// total STW units, cycles whose sweep left alloc bits != mark bits).
fn sweep_seeds(config: &GcConfig) -> (u64, Option<u64>, usize, u64) {
    let mut losing = 0;
    let mut first = None;
    let mut stw = 0;
    let mut bad_bits = 0;
    for seed in 0..SEEDS {
        let outcome = run(config, seed);
        if !outcome.lost.is_empty() {
            losing += 1;
            first.get_or_insert(seed);
        }
        if !outcome.sweep.alloc_bits_equal_mark_bits() {
            bad_bits += 1;
        }
        stw += outcome.stw.total();
    }
    (losing, first, stw, bad_bits)
}

fn assert_safe(config: GcConfig) {
    let (losing, first, stw, bad_bits) = sweep_seeds(&config);
    println!(
        "{}: {SEEDS} seeds, {losing} lost an object, {stw} STW units in all",
        config.label()
    );
    assert_eq!(
        losing,
        0,
        "{}: expected no reachable object freed in {SEEDS} seeds, first loss at seed {first:?}",
        config.label()
    );
    assert_eq!(
        bad_bits,
        0,
        "{}: after sweep every span's alloc bits should equal its mark bits",
        config.label()
    );
}

fn assert_unsafe(config: GcConfig) {
    // Finding one losing seed is enough; stop there.
    let first = (0..SEEDS).find(|&seed| {
        let outcome = run(&config, seed);
        assert!(
            outcome.sweep.alloc_bits_equal_mark_bits(),
            "{}: seed {seed}: sweep must still leave alloc bits == mark bits",
            config.label()
        );
        !outcome.lost.is_empty()
    });
    println!(
        "{}: first seed that lost an object: {first:?}",
        config.label()
    );
    assert!(
        first.is_some(),
        "{}: expected some seed to free a reachable object; none did in {SEEDS} seeds",
        config.label()
    );
}

#[test]
fn hybrid_barrier_never_frees_a_reachable_object() {
    assert_safe(GcConfig::canonical(BarrierMode::Hybrid));
}

#[test]
fn hybrid_barrier_needs_no_stop_the_world_stack_work() {
    let config = GcConfig::canonical(BarrierMode::Hybrid);
    for seed in 0..1000 {
        let outcome = run(&config, seed);
        assert_eq!(
            outcome.stw.start_stack_slots + outcome.stw.termination_stack_slots,
            0,
            "seed {seed}"
        );
    }
}

#[test]
fn dijkstra_with_stack_rescan_never_frees_a_reachable_object() {
    assert_safe(GcConfig::canonical(BarrierMode::Dijkstra));
}

#[test]
fn yuasa_with_stack_snapshot_never_frees_a_reachable_object() {
    assert_safe(GcConfig::canonical(BarrierMode::Yuasa));
}

#[test]
fn no_barrier_loses_objects_on_some_seed() {
    assert_unsafe(GcConfig::canonical(BarrierMode::None));
}

#[test]
fn dijkstra_without_stack_rescan_loses_objects_on_some_seed() {
    assert_unsafe(GcConfig::bare(BarrierMode::Dijkstra));
}

#[test]
fn yuasa_without_stack_snapshot_loses_objects_on_some_seed() {
    assert_unsafe(GcConfig::bare(BarrierMode::Yuasa));
}

/// A barrier that shades nothing: what an unfinished ex10 amounts to.
fn shade_nothing(
    _: &mut memsim::gc::Shader<'_>,
    _: Option<memsim::gc::ObjRef>,
    _: Option<memsim::gc::ObjRef>,
) {
}

#[test]
fn a_custom_barrier_that_shades_nothing_loses_objects_on_some_seed() {
    assert_unsafe(GcConfig::bare(BarrierMode::Custom(
        "shade nothing",
        shade_nothing,
    )));
}
