//! Lesson 08: Why thread caches — a short timed run of SpanAlloc, the system allocator and SpanAlloc without its thread cache
//!
//! The thread cache (Go's `mcache`) takes the lock off the allocation fast
//! path: a thread allocates from a span it holds alone, and goes to the
//! central list, under a lock, once per span rather than once per object.
//! This lesson runs the same allocate-and-free loop on two threads for a few
//! hundred milliseconds with three allocators and prints the rates and their
//! ratios. It is a demonstration, not a measurement: one short run on a shared
//! machine. The measurement is `cargo bench -p allocator`, where criterion
//! runs the same comparison (with mimalloc too) many times.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use allocator::SpanAlloc;
use lessons::artefacts;
use lessons::chart::BarChart;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};

/// The object sizes the loop cycles through (classes 2, 5, 10 and 21 of
/// Go's table: 16, 48, 128 and 512 bytes).
const SIZES: [usize; 4] = [16, 48, 128, 512];
/// Objects held at once by each thread before it frees them all.
const BATCH: usize = 64;

static CACHED: SpanAlloc = SpanAlloc::new();
static UNCACHED: SpanAlloc = SpanAlloc::without_thread_cache();

fn main() {
    let args = Cli::new("lesson-08", "why thread caches")
        .number("--threads", "N", "threads allocating at once", 2, 1..=64)
        .number(
            "--millis",
            "MS",
            "how long each allocator runs",
            300,
            10..=60_000,
        )
        .flag(
            "--write-book",
            "also refresh the book's figure (book/runtime/img)",
        )
        .parse();
    let threads = args.number("--threads") as usize;
    let run_for = Duration::from_millis(if args.quick() {
        40
    } else {
        args.number("--millis")
    });

    title("Lesson 08", "Why thread caches");
    explain(&format!(
        "{threads} threads each allocate {BATCH} objects (cycling through {SIZES:?} \
         bytes), free them, and repeat, for {} ms per allocator. The figure is \
         nanoseconds per allocation and free, per thread. Build profile: {}.",
        run_for.as_millis(),
        if cfg!(debug_assertions) {
            "debug (try --release)"
        } else {
            "release"
        }
    ));

    // ANCHOR: contenders
    let contenders: [(&str, &(dyn GlobalAlloc + Sync)); 3] = [
        ("SpanAlloc", &CACHED),
        ("System", &System),
        ("SpanAlloc without thread cache", &UNCACHED),
    ];
    // ANCHOR_END: contenders
    section("Running");
    let mut results = Vec::new();
    for (name, alloc) in contenders {
        let ns = run(alloc, threads, run_for);
        println!("{name}: {ns:.1} ns per alloc+free");
        results.push((name, ns));
    }

    section("Ratios");
    let base = results[0].1;
    let mut t = Table::new(["allocator", "ns per alloc+free", "relative to SpanAlloc"]);
    for (name, ns) in &results {
        t.row([
            name.to_string(),
            format!("{ns:.1}"),
            format!("{:.2}x", ns / base),
        ]);
    }
    t.print();
    let uncached = results[2].1 / base;
    println!("without the thread cache: {uncached:.1}x the time of SpanAlloc with it");
    if cfg!(debug_assertions) {
        explain(
            "Note: this is a debug build. SpanAlloc is compiled without optimisation and \
             with its checks on; the system allocator is compiled code either way, so the \
             System row is not a fair comparison here. The two SpanAlloc rows are (same \
             build). For all three: cargo run --release --bin lesson-08",
        );
    }
    notice(
        "without a cache every allocation and every free takes its size class's lock, \
         and with two threads the lock's cache line moves between cores on almost every \
         operation. With the cache, the lock is taken once per span. The system \
         allocator (glibc) has per-thread caches too, which is why it stays within a \
         small factor of ours while the lock-per-call variant falls far behind. These \
         are one short run's numbers: `cargo bench -p allocator` is the measurement.",
    );

    let chart = results.iter().fold(
        BarChart::new("ns per alloc+free, per thread (lower is better)"),
        |c, (n, v)| c.bar(n, *v),
    );
    let svg = chart.to_svg();
    let dir = artefacts::lesson_dir(8).expect("create target/lessons/lesson-08");
    let path = artefacts::write(&dir, "rates.svg", &svg).expect("write rates.svg");
    wrote("bar chart", &path);
    if args.flag("--write-book") {
        let img = artefacts::book_dir("runtime/img").expect("book/runtime/img");
        let path = artefacts::write(&img, "lesson-08-rates.svg", &svg).expect("write svg");
        wrote("the book's figure", &path);
    }
}

/// Runs the loop on `threads` threads for `run_for`; returns nanoseconds per
/// alloc+free pair, per thread.
fn run(alloc: &(dyn GlobalAlloc + Sync), threads: usize, run_for: Duration) -> f64 {
    let start = Barrier::new(threads);
    let totals: Vec<(u64, Duration)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| worker(alloc, &start, run_for)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let pairs: u64 = totals.iter().map(|(n, _)| n).sum();
    let time: f64 = totals.iter().map(|(_, d)| d.as_secs_f64()).sum();
    time * 1e9 / pairs.max(1) as f64
}

// ANCHOR: worker
/// One thread's loop: allocate a batch, write to it, free it, until time is up.
fn worker(alloc: &(dyn GlobalAlloc + Sync), start: &Barrier, run_for: Duration) -> (u64, Duration) {
    let layouts = SIZES.map(|s| Layout::from_size_align(s, 8).expect("valid layout"));
    let mut held = Vec::with_capacity(BATCH);
    let mut pairs = 0u64;
    start.wait();
    let began = Instant::now();
    while began.elapsed() < run_for {
        for i in 0..BATCH {
            let layout = layouts[i % layouts.len()];
            // SAFETY: every layout has a non-zero size.
            let p = unsafe { alloc.alloc(layout) };
            assert!(!p.is_null(), "out of memory");
            // SAFETY: p points to at least `layout.size()` writable bytes.
            unsafe { p.write(i as u8) };
            held.push((p, layout));
        }
        for (p, layout) in held.drain(..) {
            // SAFETY: p was allocated above by `alloc` with `layout`, once.
            unsafe { alloc.dealloc(p, layout) };
        }
        pairs += BATCH as u64;
    }
    (pairs, began.elapsed())
}
// ANCHOR_END: worker
