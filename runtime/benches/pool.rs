//! pool: 64 Gs on 4 Ps each serve 8 "requests"; a request takes a 64 KiB
//! buffer, writes a 16 KiB response into it, yields once while holding it
//! (as a G waiting on its socket would), checksums it and gives it back.
//!
//! A second group, `pool_get_put`, strips the request down to the pool
//! itself (8 Gs, 2,000 get/put pairs each, one byte written, no yield):
//! the cost of the mechanism alone, where the first group shows what is
//! left of it under real work.
//!
//! Three ways to get the buffer, in one group so that the figures are
//! ratios: `runtime::sync::Pool` (per-P locals), one `Mutex<Vec<Vec<u8>>>`
//! shared by every P (the pool people write first), and no pool (a fresh
//! allocation each request, freed after it). The allocation counts of the
//! same workload are in runtime/tests/pool_allocs.rs (the course allocator
//! counts every 64 KiB buffer, a large object, exactly).

use std::sync::{Arc, Mutex};

use criterion::{Criterion, criterion_group, criterion_main};
use runtime::sync::Pool;

const GS: usize = 64;
const REQUESTS: usize = 8;
#[path = "common/buffers.rs"]
mod buffers;
use buffers::{Buffers, CAP, Locked, NoPool, PerP, RESPONSE};

/// One run of the workload; returns the checksums' sum (checked).
async fn serve<B: Buffers>(bufs: Arc<B>) -> u64 {
    let hs: Vec<_> = (0..GS)
        .map(|g| {
            let bufs = bufs.clone();
            runtime::spawn(async move {
                let mut sum = 0u64;
                for r in 0..REQUESTS {
                    let mut buf = bufs.get();
                    let byte = (g * REQUESTS + r) as u8;
                    buf.resize(RESPONSE, byte);
                    runtime::yield_now().await;
                    sum += buf.iter().map(|&b| u64::from(b)).sum::<u64>();
                    bufs.put(buf);
                }
                sum
            })
        })
        .collect();
    let mut total = 0;
    for h in hs {
        total += h.await.unwrap();
    }
    total
}

/// The get/put pairs alone: 8 Gs, 2,000 each, one byte touched.
async fn churn<B: Buffers>(bufs: Arc<B>) -> u64 {
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let bufs = bufs.clone();
            runtime::spawn(async move {
                let mut n = 0u64;
                for _ in 0..2_000 {
                    let mut buf = bufs.get();
                    buf.push(1);
                    n += std::hint::black_box(&buf).len() as u64;
                    bufs.put(buf);
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for h in hs {
        total += h.await.unwrap();
    }
    total
}

fn expected() -> u64 {
    (0..GS * REQUESTS)
        .map(|i| u64::from(i as u8) * RESPONSE as u64)
        .sum()
}

fn bench(c: &mut Criterion) {
    let rt = runtime::Runtime::builder().procs(4).build().unwrap();
    let want = expected();
    // Made inside the runtime, so that the pool has one local per P.
    let ours = Arc::new(rt.block_on(async { PerP(Pool::new(|| Vec::with_capacity(CAP))) }));
    let locked = Arc::new(Locked(Mutex::new(Vec::new())));
    let none = Arc::new(NoPool);

    let mut group = c.benchmark_group("pool_64k_buffers");
    group.sample_size(20);
    group.bench_function("per_p_pool", |b| {
        b.iter(|| assert_eq!(rt.block_on(serve(ours.clone())), want))
    });
    group.bench_function("mutex_vec", |b| {
        b.iter(|| assert_eq!(rt.block_on(serve(locked.clone())), want))
    });
    group.bench_function("no_pool", |b| {
        b.iter(|| assert_eq!(rt.block_on(serve(none.clone())), want))
    });
    group.finish();

    let mut group = c.benchmark_group("pool_get_put");
    group.sample_size(20);
    group.bench_function("per_p_pool", |b| {
        b.iter(|| assert_eq!(rt.block_on(churn(ours.clone())), 16_000))
    });
    group.bench_function("mutex_vec", |b| {
        b.iter(|| assert_eq!(rt.block_on(churn(locked.clone())), 16_000))
    });
    group.bench_function("no_pool", |b| {
        b.iter(|| assert_eq!(rt.block_on(churn(none.clone())), 16_000))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
