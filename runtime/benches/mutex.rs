//! mutex: 8 Gs each take one mutex 1,000 times to bump a counter, on 2
//! workers: a contended lock, where waiters park and unlocks wake them (and,
//! for ours, where Go's normal mode lets a running G barge in).
//!
//! Ours (`runtime::sync::Mutex`) against `tokio::sync::Mutex` (a fair,
//! FIFO semaphore) in one group, so the figure that matters is the ratio.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

const TASKS: u64 = 8;
const LOCKS: u64 = 1_000;

async fn ours() {
    let m = Arc::new(runtime::sync::Mutex::new(0u64));
    let hs: Vec<_> = (0..TASKS)
        .map(|_| {
            let m = m.clone();
            runtime::spawn(async move {
                for _ in 0..LOCKS {
                    *m.lock().await += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(*m.lock().await, TASKS * LOCKS);
}

async fn tokio_mutex() {
    let m = Arc::new(tokio::sync::Mutex::new(0u64));
    let hs: Vec<_> = (0..TASKS)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move {
                for _ in 0..LOCKS {
                    *m.lock().await += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(*m.lock().await, TASKS * LOCKS);
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_contended");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours", |b| b.iter(|| rt.block_on(ours())));
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio", |b| b.iter(|| rt.block_on(tokio_mutex())));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
