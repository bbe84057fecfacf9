//! Our two run-queue backends side by side: crossbeam-deque ("deque", the default,
//! an unbounded Chase-Lev deque per P) against Go's 256-slot ring with
//! steal-half (`runq::ring`). Same runtime, same workloads, 2 Ps.

use criterion::{Criterion, criterion_group, criterion_main};
use runtime::RunQueueKind;

mod common;
use common::Ours;

fn runtime_with(kind: RunQueueKind) -> runtime::Runtime {
    runtime::Runtime::builder()
        .procs(common::WORKERS)
        .run_queue(kind)
        .build()
        .expect("building our runtime")
}

const BACKENDS: [(&str, RunQueueKind); 2] = [
    ("deque", RunQueueKind::CrossbeamDeque),
    ("go_ring", RunQueueKind::GoRing),
];

fn fork_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("runq_fork_join");
    for (name, kind) in BACKENDS {
        let rt = runtime_with(kind);
        group.bench_function(name, |b| {
            b.iter(|| assert_eq!(rt.block_on(common::fork_join::<Ours>(14)), 1 << 14))
        });
    }
    group.finish();
}

fn spawn_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("runq_spawn_many");
    for (name, kind) in BACKENDS {
        let rt = runtime_with(kind);
        group.bench_function(name, |b| {
            b.iter(|| rt.block_on(common::spawn_many::<Ours>(10_000)))
        });
    }
    group.finish();
}

criterion_group!(benches, fork_join, spawn_many);
criterion_main!(benches);
