//! False sharing, measured: two threads each increment their own counter.
//! In `adjacent` the two counters share a cache line; in `cache_padded` each
//! sits in its own (crossbeam's `CachePadded`). Both run in one group, so the
//! ratio between them is taken in one run on one machine.
//!
//! One criterion iteration is 1,000 increments on each of the two threads;
//! the threads are spawned once per sample (`iter_custom`), and the time is
//! measured from a common start barrier to both joins.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use memsim::layout::{AdjacentCounters, PaddedCounters, hammer};

/// Increments per thread per criterion iteration.
const PER_ITER: u64 = 1_000;

fn false_sharing(c: &mut Criterion) {
    let mut group = c.benchmark_group("false_sharing");
    group.throughput(Throughput::Elements(2 * PER_ITER));
    group.bench_function("adjacent", |b| {
        b.iter_custom(|iters| hammer(&AdjacentCounters::default(), iters * PER_ITER))
    });
    group.bench_function("cache_padded", |b| {
        b.iter_custom(|iters| hammer(&PaddedCounters::default(), iters * PER_ITER))
    });
    group.finish();
}

criterion_group!(benches, false_sharing);
criterion_main!(benches);
