//! chained_spawn: each task spawns the next, 1,000 deep; the cost of spawn-to-run latency with one runnable task at a time.
//!
//! Both runtimes run the same workload (`common::chained_spawn`) with 2 workers in one
//! criterion group, so the figure that matters is the ratio ours / tokio.

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{Ours, Tokio};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("chained_spawn");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours", |b| {
            b.iter(|| rt.block_on(common::chained_spawn::<Ours>(1_000)))
        });
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio", |b| {
            b.iter(|| rt.block_on(common::chained_spawn::<Tokio>(1_000)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
