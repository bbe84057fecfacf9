//! yield_many: 200 tasks each yield 100 times; the cost of a trip through the run queue.
//!
//! Both runtimes run the same workload (`common::yield_many`) with 2 workers in one
//! criterion group, so the figure that matters is the ratio ours / tokio.

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{Ours, Tokio};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_many");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours", |b| {
            b.iter(|| rt.block_on(common::yield_many::<Ours>(200, 100)))
        });
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio", |b| {
            b.iter(|| rt.block_on(common::yield_many::<Tokio>(200, 100)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
