//! fork_join: a binary tree of tasks 14 levels deep (16,383 spawns). Each
//! node spawns its left child and computes its right child itself, so the
//! other worker only has work if it steals: this measures work stealing.
//!
//! Both runtimes run the same workload (`common::fork_join`) with 2 workers
//! in one criterion group, so the figure that matters is the ratio ours / tokio.

use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{Ours, Tokio};

const DEPTH: u32 = 14;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fork_join");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours", |b| {
            b.iter(|| assert_eq!(rt.block_on(common::fork_join::<Ours>(DEPTH)), 1 << DEPTH))
        });
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio", |b| {
            b.iter(|| assert_eq!(rt.block_on(common::fork_join::<Tokio>(DEPTH)), 1 << DEPTH))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
