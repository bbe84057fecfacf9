//! spawn_many: spawn 10,000 empty tasks from inside `block_on` and join them all.
//!
//! Both runtimes run the same workload (`common::spawn_many`) with 2 workers in one
//! criterion group, so the figure that matters is the ratio ours / tokio.
//!
//! The two runtimes differ in where `block_on` runs its future. Ours holds a
//! P while polling it (as Go's main goroutine runs on a P), so its spawns go
//! to that P's local queue; tokio polls it on the calling thread outside its
//! workers, so its spawns go through the shared inject queue. The `*_in_task`
//! pair does the spawning inside a spawned task on both, which takes that
//! difference out and compares the schedulers' local spawn paths.

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{Exec, Ours, Tokio};

const TASKS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_many");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours", |b| {
            b.iter(|| rt.block_on(common::spawn_many::<Ours>(TASKS)))
        });
        group.bench_function("ours_in_task", |b| {
            b.iter(|| rt.block_on(async { Ours::spawn(common::spawn_many::<Ours>(TASKS)).await }))
        });
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio", |b| {
            b.iter(|| rt.block_on(common::spawn_many::<Tokio>(TASKS)))
        });
        group.bench_function("tokio_in_task", |b| {
            b.iter(|| rt.block_on(async { Tokio::spawn(common::spawn_many::<Tokio>(TASKS)).await }))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
