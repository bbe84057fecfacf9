//! ping_pong: 64 pairs of tasks send a number back and forth 100 times over a mutex-and-waker channel; the cost of a wake-up.
//! ping_pong_root: the `block_on` root and one task do the same 1000 times; the cost of waking the root.
//!
//! Both runtimes run the same workload (`common::ping_pong`) with 2 workers in one
//! criterion group, so the figure that matters is the ratio ours / tokio.

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{Ours, Tokio};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ping_pong");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours", |b| {
            b.iter(|| rt.block_on(common::ping_pong::<Ours>(64, 100)))
        });
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio", |b| {
            b.iter(|| rt.block_on(common::ping_pong::<Tokio>(64, 100)))
        });
    }
    group.finish();

    // The same exchange with the root future as one side: each round trip
    // parks and wakes the `block_on` root, a G locked to its thread.
    let mut group = c.benchmark_group("ping_pong_root");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours", |b| {
            b.iter(|| rt.block_on(common::root_ping_pong::<Ours>(1000)))
        });
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio", |b| {
            b.iter(|| rt.block_on(common::root_ping_pong::<Tokio>(1000)))
        });
    }
    {
        let rt = common::ours_runtime();
        group.bench_function("ours_tokio_mpsc", |b| {
            b.iter(|| rt.block_on(common::root_ping_pong_mpsc::<Ours>(1000)))
        });
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio_tokio_mpsc", |b| {
            b.iter(|| rt.block_on(common::root_ping_pong_mpsc::<Tokio>(1000)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
