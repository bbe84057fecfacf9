//! Our limiters against `governor` (GCRA, lock-free, the Rust community's
//! rate limiter), in one criterion group so every figure is a ratio:
//! one `check` per iteration on a limiter that always admits (a huge
//! rate), from one thread and from two threads sharing it. Alone, ours also
//! runs on a coarse clock and with the time handed in, to show how much of
//! a check is reading the clock.
//!
//! `cargo bench -p service --bench limiters -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use service::limiter::{Gcra, TokenBucket, coarse_monotonic};

const RATE: u32 = 1_000_000_000;

fn one_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("limiter_check_1_thread");
    let ours = Gcra::new(f64::from(RATE), 1000).unwrap();
    g.bench_function("ours_gcra", |b| b.iter(|| black_box(ours.try_acquire())));
    // The same check on a cheaper clock, and with no clock at all (time
    // handed in, moving 2 ns per check so every check still admits and
    // takes the compare-and-swap): how much of the cost is the clock.
    let coarse = Gcra::new(f64::from(RATE), 1000).unwrap();
    g.bench_function("ours_gcra_coarse_clock", |b| {
        b.iter(|| black_box(coarse.try_acquire_at(coarse_monotonic())))
    });
    let given = Gcra::new(f64::from(RATE), 1000).unwrap();
    let mut now = Duration::from_secs(1);
    g.bench_function("ours_gcra_time_given", |b| {
        b.iter(|| {
            now += Duration::from_nanos(2);
            black_box(given.try_acquire_at(black_box(now)))
        })
    });
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
