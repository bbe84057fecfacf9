//! Our allocator against mimalloc, turn by turn: a cross-check of the
//! criterion benches for a machine whose speed drifts.
//!
//! Criterion measures one allocator for a few seconds, then the next. On a
//! quiet machine that is fine. On a shared virtual machine the host can
//! make the whole guest 20–40% slower for a few seconds, and then a ratio
//! of two criterion figures says more about which allocator ran during the
//! slow spell than about the allocators. This program takes the same
//! workloads as `benches/allocators.rs` (`batch_1M_x_32B`, `pair_16B`,
//! `pair_64B`), runs them alternately, ours then mimalloc, once per round,
//! and keeps one ratio per round: both sides of a ratio ran within a few
//! milliseconds of each other. It prints the median of the rounds' ratios
//! and their spread (the middle half), and the batch's time split into its
//! allocation and its free phase.
//!
//! Sizes and layouts go through `black_box`, as in the benches, so that
//! neither allocator's size-class lookup is folded away by the compiler.
//!
//! Taking turns is not free of bias. mimalloc gives memory it has not used
//! for 10 ms back to the OS (its `purge_delay`), and our turn lasts longer
//! than that, so its next batch may fault its pages in again, which a
//! criterion run of back-to-back batches rarely sees;
//! `MIMALLOC_PURGE_DELAY=-1` switches that off (on the course's machine it
//! moved the batch's ratio by about 0.03). Read this as the cross-check it
//! is: the criterion groups are the measurement.
//!
//! ```text
//! cargo run -p allocator --release --example interleaved [ROUNDS]
//! ```

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() -> std::process::ExitCode {
    turns::main()
}

#[cfg(not(loom))]
mod turns {
    use allocator::SpanAlloc;
    use std::alloc::{GlobalAlloc, Layout};
    use std::hint::black_box;
    use std::process::ExitCode;
    use std::time::Instant;

    static OURS: SpanAlloc = SpanAlloc::new();
    static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

    const BATCH_OBJECTS: usize = 1_000_000;
    const PAIRS: usize = 1_000_000;
    const DEFAULT_ROUNDS: usize = 41;

    pub fn main() -> ExitCode {
        let rounds = match std::env::args().nth(1) {
            None => DEFAULT_ROUNDS,
            Some(arg) => match arg.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => n,
                _ => {
                    eprintln!("interleaved: ROUNDS must be a number from 1 to 10000, not {arg:?}");
                    return ExitCode::from(2);
                }
            },
        };
        println!("{rounds} rounds, each ours then mimalloc; ours / mimalloc per round:");
        println!("{:<24} {:>8} {:>17}", "workload", "median", "middle half");
        let mut live = Vec::with_capacity(BATCH_OBJECTS);
        let (mut whole, mut allocs, mut frees) = (vec![], vec![], vec![]);
        for _ in 0..rounds {
            let ours = batch(&OURS, &mut live);
            let peer = batch(&MIMALLOC, &mut live);
            whole.push((ours.0 + ours.1) / (peer.0 + peer.1));
            allocs.push(ours.0 / peer.0);
            frees.push(ours.1 / peer.1);
        }
        report("batch_1M_x_32B", &mut whole);
        report("  its allocation phase", &mut allocs);
        report("  its free phase", &mut frees);
        for size in [16, 64] {
            let mut ratios: Vec<f64> = (0..rounds)
                .map(|_| pairs(&OURS, size) / pairs(&MIMALLOC, size))
                .collect();
            report(&format!("pair_{size}B"), &mut ratios);
        }
        ExitCode::SUCCESS
    }

    /// Prints the median and the quartiles of one workload's ratios.
    fn report(name: &str, ratios: &mut [f64]) {
        ratios.sort_by(f64::total_cmp);
        let at = |q: usize| ratios[(ratios.len() - 1) * q / 4];
        println!("{name:<24} {:>7.2}x {:>7.2}x–{:.2}x", at(2), at(1), at(3));
    }

    fn layout(size: usize) -> Layout {
        *black_box(&Layout::from_size_align(black_box(size), 8).expect("valid layout"))
    }

    /// `batch_1M_x_32B`: seconds to allocate the million objects, and to
    /// free them.
    fn batch<A: GlobalAlloc>(alloc: &A, live: &mut Vec<*mut u8>) -> (f64, f64) {
        let layout = layout(32);
        let start = Instant::now();
        for i in 0..BATCH_OBJECTS {
            // SAFETY: a non-zero layout; the pointer is checked before the write.
            unsafe {
                let p = alloc.alloc(layout);
                assert!(!p.is_null(), "out of memory");
                p.write(i as u8);
                live.push(p);
            }
        }
        let allocated = start.elapsed().as_secs_f64();
        let start = Instant::now();
        for p in live.drain(..) {
            // SAFETY: each pointer came from `alloc` with `layout`, freed once.
            unsafe { alloc.dealloc(black_box(p), layout) };
        }
        (allocated, start.elapsed().as_secs_f64())
    }

    /// `pair_<size>B`: seconds for a million alloc/free pairs.
    fn pairs<A: GlobalAlloc>(alloc: &A, size: usize) -> f64 {
        let layout = layout(size);
        let start = Instant::now();
        for _ in 0..PAIRS {
            // SAFETY: a non-zero layout; checked, written within it, freed once.
            unsafe {
                let p = alloc.alloc(layout);
                assert!(!p.is_null(), "out of memory");
                p.write(1);
                alloc.dealloc(black_box(p), layout);
            }
        }
        start.elapsed().as_secs_f64()
    }
}
