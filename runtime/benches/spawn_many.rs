//! spawn_many: spawn 10,000 empty tasks from inside `block_on` and join them all.
//!
//! Both runtimes run the same workload (`common::spawn_many`) with 2 workers in one
//! criterion group, so the figure that matters is the ratio ours / tokio.

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{Ours, Tokio};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_many");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours", |b| {
            b.iter(|| rt.block_on(common::spawn_many::<Ours>(10_000)))
        });
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio", |b| {
            b.iter(|| rt.block_on(common::spawn_many::<Tokio>(10_000)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
