//! What the CPU profiler costs the code it profiles: the same CPU-bound
//! loop with no profile running and with one running at 100 Hz, in one
//! group, so the figure is a ratio taken in one run. The handler's cost per
//! signal (a frame-pointer walk, a few `process_vm_readv` calls, the label
//! copy) over 10 ms of CPU between signals is the overhead.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

fn work() -> u64 {
    let mut x = 1u64;
    for i in 0..200_000u64 {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
    }
    x
}

fn overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_profiler_overhead");
    g.bench_function("no profile", |b| b.iter(work));
    let p = profiler::CpuProfiler::start(100).expect("start the profiler");
    g.bench_function("profiling at 100 Hz", |b| b.iter(work));
    let raw = p.stop();
    g.finish();
    eprintln!(
        "profile during the bench: {} samples, {} lost, {} threads",
        raw.samples.len(),
        raw.lost,
        raw.threads
    );
}

criterion_group!(benches, overhead);
criterion_main!(benches);
