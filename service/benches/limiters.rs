//! Our limiters against `governor` (GCRA, lock-free, the Rust community's
//! rate limiter), in one criterion group so every figure is a ratio:
//! one `check` per iteration on a limiter that always admits (a huge
//! rate), from one thread and from two threads sharing it.
//!
//! `cargo bench -p service --bench limiters -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use service::limiter::{Gcra, TokenBucket};

const RATE: u32 = 1_000_000_000;

fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("limiter_check_1_thread");
    let ours = Gcra::new(f64::from(RATE), 1000).unwrap();
    g.bench_function("ours_gcra", |b| b.iter(|| black_box(ours.try_acquire())));
    let bucket = TokenBucket::new(f64::from(RATE), 1000).unwrap();
    g.bench_function("ours_token_bucket", |b| {
        b.iter(|| black_box(bucket.try_acquire()))
    });
    let gov = RateLimiter::direct(
        Quota::per_second(NonZeroU32::new(RATE).unwrap())
            .allow_burst(NonZeroU32::new(1000).unwrap()),
    );
    g.bench_function("governor", |b| b.iter(|| black_box(gov.check().is_ok())));
    g.finish();
}

/// Two threads hammering one limiter: each iteration is 2 × 1000 checks.
fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("limiter_check_2_threads_x1000");
    fn run(check: Arc<dyn Fn() -> bool + Send + Sync>) {
        std::thread::scope(|s| {
            for _ in 0..2 {
                let check = check.clone();
                s.spawn(move || {
                    for _ in 0..1000 {
                        black_box(check());
                    }
                });
            }
        });
    }
    let ours = Arc::new(Gcra::new(f64::from(RATE), 1000).unwrap());
    g.bench_function("ours_gcra", |b| {
        let o = ours.clone();
        let f: Arc<dyn Fn() -> bool + Send + Sync> = Arc::new(move || o.try_acquire());
        b.iter(|| run(f.clone()))
    });
    let bucket = Arc::new(TokenBucket::new(f64::from(RATE), 1000).unwrap());
    g.bench_function("ours_token_bucket", |b| {
        let o = bucket.clone();
        let f: Arc<dyn Fn() -> bool + Send + Sync> = Arc::new(move || o.try_acquire());
        b.iter(|| run(f.clone()))
    });
    let gov = Arc::new(RateLimiter::direct(
        Quota::per_second(NonZeroU32::new(RATE).unwrap())
            .allow_burst(NonZeroU32::new(1000).unwrap()),
    ));
    g.bench_function("governor", |b| {
        let o = gov.clone();
        let f: Arc<dyn Fn() -> bool + Send + Sync> = Arc::new(move || o.check().is_ok());
        b.iter(|| run(f.clone()))
    });
    g.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
