//! Our allocator against its peers, every figure a ratio taken in one run.
//!
//! Each workload is a generic function over `A: GlobalAlloc` and is called with
//! four static allocators in the same criterion group:
//!
//! * `ours`: `SpanAlloc::new()`, the full Go design (thread cache → central
//!   lists → page heap);
//! * `ours-no-cache`: `SpanAlloc::without_thread_cache()`, the same code with
//!   the per-thread cache switched off, so every call takes the central lock.
//!   The gap between these two is the lesson: a thread cache beats a lock;
//! * `system`: `std::alloc::System` (glibc's malloc on this machine);
//! * `mimalloc`: `mimalloc::MiMalloc`, a state-of-the-art allocator.
//!
//! The workloads:
//!
//! * `pair_<size>`: one allocation and its free, back to back, at 16 B, 64 B,
//!   256 B, 1 KiB, 8 KiB, 32 KiB (the largest size class) and 256 KiB (a large
//!   object straight from the page heap). The object's first byte is written,
//!   as a real program would, and the pointer goes through `black_box` so that
//!   the compiler cannot drop the pair. The layout goes through `black_box`
//!   once and then stays in a register, as a real caller's does: no
//!   allocator's size-class lookup is folded away, and none is made to
//!   reload it from memory (captured by reference, the layout was reloaded
//!   after every `black_box(p)`, which cost ours about a sixth of a 16-byte
//!   pair and mimalloc nothing measurable).
//! * `batch_1M_x_32B`: a million 32-byte objects allocated, then all freed. This
//!   is where span refills, central-list traffic and page-heap growth show.
//! * `cross_thread`: a producer thread allocates objects of mixed small sizes and
//!   hands them in batches of 256 to a consumer thread, which checks and frees
//!   them. Every free is a remote free. Batch buffers circulate between the two
//!   threads on bounded channels, so after start-up the handoff itself
//!   allocates nothing and costs the same for every allocator.
//! * `larson`: after Larson and Krishnan's server benchmark: two threads each
//!   keep 1,000 live objects of random sizes (8..=1000 bytes), replace a random
//!   one at each step, and every 1,000 steps pass 64 of their objects to the
//!   other thread, which frees them later as its own.
//! * `realloc_grow`: one buffer grown by `realloc` 64 KiB at a time from
//!   64 KiB to 64 MiB (1023 reallocs), a byte written into each new step, as
//!   a C program appending to a buffer does; then freed. Allocate-copy-free
//!   makes this quadratic; growing in place and `mremap` keep it linear.
//! * `zeroed_3GiB`: `alloc_zeroed` of 3 GiB (C's `calloc(1, 3 GiB)`), one
//!   byte read, freed. Memory fresh from the OS is already zero: clearing it
//!   would fault in every page.
//!
//! The multi-threaded workloads use `iter_custom`: the threads are started once
//! per sample, wait on a barrier, and the clock runs from the barrier to the
//! last join, so thread creation is outside the figure.
//!
//! Run with `cargo bench -p allocator` (about two minutes), or a subset:
//! `cargo bench -p allocator -- pair_64B`. On a machine busy with other work,
//! `ALLOC_BENCH_CLOCK=cpu cargo bench -p allocator` measures CPU time instead
//! of wall time (see `Clock`). The bench binary's own global
//! allocator is the default (System); only the calls under test go to the
//! allocator being measured.

#![cfg_attr(loom, allow(unused))]

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
criterion::criterion_main!(benches::all);

#[cfg(not(loom))]
mod benches {
    use allocator::SpanAlloc;
    use criterion::measurement::{Measurement, ValueFormatter, WallTime};
    use criterion::{BenchmarkGroup, Criterion};
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::hint::black_box;
    use std::sync::OnceLock;
    use std::sync::{Barrier, mpsc};
    use std::time::Duration;

    static OURS: SpanAlloc = SpanAlloc::new();
    static OURS_NO_CACHE: SpanAlloc = SpanAlloc::without_thread_cache();
    static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

    /// Calls `$bench` once per allocator, with the allocator's name and a
    /// `&'static` reference to it, so that every group holds the same four.
    macro_rules! for_each_allocator {
        ($bench:ident ( $group:expr $(, $arg:expr)* )) => {
            $bench($group, "ours", &OURS $(, $arg)*);
            $bench($group, "ours-no-cache", &OURS_NO_CACHE $(, $arg)*);
            $bench($group, "system", &System $(, $arg)*);
            $bench($group, "mimalloc", &MIMALLOC $(, $arg)*);
        };
    }

    criterion::criterion_group! {
        name = all;
        // Short defaults keep `cargo bench -p allocator` near two minutes;
        // `--warm-up-time` and `--measurement-time` on the command line win.
        config = Criterion::default()
            .with_measurement(Clock)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(1));
        targets = pairs, batch, cross_thread, larson, realloc_grow, zeroed
    }

    // ---- the clock ---------------------------------------------------------

    /// Whether `ALLOC_BENCH_CLOCK=cpu` asked for CPU time instead of wall time.
    fn cpu_clock() -> bool {
        static CPU: OnceLock<bool> = OnceLock::new();
        *CPU.get_or_init(|| match std::env::var("ALLOC_BENCH_CLOCK").as_deref() {
            Ok("cpu") => true,
            Ok("wall") | Err(_) => false,
            Ok(other) => panic!("ALLOC_BENCH_CLOCK must be `wall` or `cpu`, not {other:?}"),
        })
    }

    /// Now, on the chosen clock: `CLOCK_MONOTONIC` (wall time, the default),
    /// or `CLOCK_PROCESS_CPUTIME_ID` (CPU time of all the process's threads).
    fn now() -> Duration {
        let clock = if cpu_clock() {
            libc::CLOCK_PROCESS_CPUTIME_ID
        } else {
            libc::CLOCK_MONOTONIC
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec and both clocks exist on
        // Linux; the return value is checked.
        let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime failed");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Criterion's measurement, on the clock `now` reads.
    ///
    /// Wall time is what a program feels, and the default. On a machine busy
    /// with other work, wall time mostly measures the other work: there
    /// `ALLOC_BENCH_CLOCK=cpu` measures the CPU time the benchmark itself
    /// used. For the multi-threaded workloads that is total work, not latency
    /// (a thread asleep on a lock costs no CPU), so read the two together.
    /// Groups are named `cpu_<group>` then, so each clock keeps its own
    /// criterion baselines.
    pub struct Clock;

    impl Measurement for Clock {
        type Intermediate = Duration;
        type Value = Duration;

        fn start(&self) -> Duration {
            now()
        }
        fn end(&self, start: Duration) -> Duration {
            now().saturating_sub(start)
        }
        fn add(&self, a: &Duration, b: &Duration) -> Duration {
            *a + *b
        }
        fn zero(&self) -> Duration {
            Duration::ZERO
        }
        fn to_f64(&self, value: &Duration) -> f64 {
            value.as_nanos() as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            static NANOSECONDS: WallTime = WallTime;
            NANOSECONDS.formatter()
        }
    }

    /// A group named for the clock in use.
    fn group<'c>(c: &'c mut Criterion<Clock>, name: &str) -> BenchmarkGroup<'c, Clock> {
        if cpu_clock() {
            c.benchmark_group(format!("cpu_{name}"))
        } else {
            c.benchmark_group(name)
        }
    }

    // ---- alloc/free pairs -------------------------------------------------

    const PAIR_SIZES: [(usize, &str); 7] = [
        (16, "16B"),
        (64, "64B"),
        (256, "256B"),
        (1024, "1KiB"),
        (8 * 1024, "8KiB"),
        (32 * 1024, "32KiB"),
        (256 * 1024, "256KiB"),
    ];

    fn pairs(c: &mut Criterion<Clock>) {
        for (size, label) in PAIR_SIZES {
            let mut group = group(c, &format!("pair_{label}"));
            let layout = Layout::from_size_align(size, 8).expect("valid layout");
            for_each_allocator!(bench_pair(&mut group, layout));
            group.finish();
        }
    }

    fn bench_pair<A: GlobalAlloc>(
        group: &mut BenchmarkGroup<'_, Clock>,
        name: &str,
        alloc: &'static A,
        layout: Layout,
    ) {
        group.bench_function(name, |b| {
            let layout = *black_box(&layout);
            b.iter(move || {
                // SAFETY: `layout` has a non-zero size; the pointer is checked
                // for null before the write and freed with the same layout.
                unsafe {
                    let p = alloc.alloc(layout);
                    assert!(!p.is_null(), "{name}: out of memory");
                    p.write(1);
                    alloc.dealloc(black_box(p), layout);
                }
            })
        });
    }

    // ---- a batch of a million small objects ------------------------------

    const BATCH_OBJECTS: usize = 1_000_000;
    const BATCH_SIZE: usize = 32;

    fn batch(c: &mut Criterion<Clock>) {
        let mut group = group(c, "batch_1M_x_32B");
        // One iteration is tens of milliseconds: ten samples are plenty.
        group.sample_size(10);
        for_each_allocator!(bench_batch(&mut group));
        group.finish();
    }

    fn bench_batch<A: GlobalAlloc>(
        group: &mut BenchmarkGroup<'_, Clock>,
        name: &str,
        alloc: &'static A,
    ) {
        let layout = Layout::from_size_align(BATCH_SIZE, 8).expect("valid layout");
        // The pointer array is allocated once, outside the measurement.
        let mut live: Vec<*mut u8> = Vec::with_capacity(BATCH_OBJECTS);
        group.bench_function(name, |b| {
            let (layout, live) = (*black_box(&layout), &mut live);
            b.iter(move || {
                for i in 0..BATCH_OBJECTS {
                    // SAFETY: non-zero size; checked for null before the write.
                    unsafe {
                        let p = alloc.alloc(layout);
                        assert!(!p.is_null(), "{name}: out of memory");
                        p.write(i as u8);
                        live.push(p);
                    }
                }
                for p in live.drain(..) {
                    // SAFETY: every pointer came from `alloc` with `layout`
                    // and is freed exactly once (drain empties the array).
                    unsafe { alloc.dealloc(black_box(p), layout) };
                }
            })
        });
    }

    // ---- a buffer growing by realloc --------------------------------------

    const GROW_STEP: usize = 64 * 1024;
    const GROW_TO: usize = 64 << 20;

    fn realloc_grow(c: &mut Criterion<Clock>) {
        let mut group = group(c, "realloc_grow");
        group.sample_size(10);
        for_each_allocator!(bench_realloc_grow(&mut group));
        group.finish();
    }

    fn bench_realloc_grow<A: GlobalAlloc>(
        group: &mut BenchmarkGroup<'_, Clock>,
        name: &str,
        alloc: &'static A,
    ) {
        group.bench_function(name, |b| {
            b.iter(|| {
                // SAFETY: writes stay inside the current size; each realloc
                // gives up the old pointer; freed once with its last layout.
                unsafe {
                    let mut size = GROW_STEP;
                    let mut p = alloc.alloc(Layout::from_size_align(size, 16).unwrap());
                    assert!(!p.is_null(), "{name}: out of memory");
                    p.write(1);
                    while size < GROW_TO {
                        let layout = Layout::from_size_align(size, 16).unwrap();
                        p = alloc.realloc(p, layout, size + GROW_STEP);
                        assert!(!p.is_null(), "{name}: out of memory");
                        p.add(size).write(1);
                        size += GROW_STEP;
                    }
                    alloc.dealloc(black_box(p), Layout::from_size_align(size, 16).unwrap());
                }
            })
        });
    }

    // ---- a huge zeroed allocation -----------------------------------------

    fn zeroed(c: &mut Criterion<Clock>) {
        let mut group = group(c, "zeroed_3GiB");
        group.sample_size(10);
        for_each_allocator!(bench_zeroed(&mut group));
        group.finish();
    }

    fn bench_zeroed<A: GlobalAlloc>(
        group: &mut BenchmarkGroup<'_, Clock>,
        name: &str,
        alloc: &'static A,
    ) {
        let layout = Layout::from_size_align(3 << 30, 16).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                // SAFETY: a non-zero layout; one byte read inside the block,
                // which is freed once with the same layout.
                unsafe {
                    let p = alloc.alloc_zeroed(layout);
                    assert!(!p.is_null(), "{name}: out of memory");
                    assert_eq!(p.add(1 << 30).read_volatile(), 0);
                    alloc.dealloc(black_box(p), layout);
                }
            })
        });
    }

    // ---- producer/consumer: every free is a cross-thread free -------------

    /// Objects handed over per iteration.
    const CROSS_OBJECTS: usize = 20_000;
    /// Objects per handoff.
    const CROSS_BATCH: usize = 256;
    /// Buffers in circulation between producer and consumer.
    const CROSS_BUFFERS: usize = 4;
    /// Mixed small sizes, cycled through by the producer.
    const CROSS_SIZES: [usize; 8] = [16, 32, 48, 64, 128, 256, 512, 1024];

    /// A pointer moving from producer to consumer, with the size it was
    /// allocated with (alignment is always 8).
    struct Handed {
        addr: usize,
        size: usize,
    }

    fn cross_thread(c: &mut Criterion<Clock>) {
        let mut group = group(c, "cross_thread");
        group.sample_size(10);
        for_each_allocator!(bench_cross_thread(&mut group));
        group.finish();
    }

    fn bench_cross_thread<A: GlobalAlloc + Sync>(
        group: &mut BenchmarkGroup<'_, Clock>,
        name: &str,
        alloc: &'static A,
    ) {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| run_cross_thread(alloc, iters as usize * CROSS_OBJECTS))
        });
    }

    fn run_cross_thread<A: GlobalAlloc + Sync>(alloc: &'static A, objects: usize) -> Duration {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<Handed>>(CROSS_BUFFERS);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<Handed>>(CROSS_BUFFERS);
        for _ in 0..CROSS_BUFFERS {
            empty_tx
                .send(Vec::with_capacity(CROSS_BATCH))
                .expect("receiver alive");
        }
        let start_line = &Barrier::new(3);
        let start = std::thread::scope(|s| {
            s.spawn(move || {
                start_line.wait();
                let mut made = 0;
                while made < objects {
                    let mut buffer = empty_rx.recv().expect("consumer alive");
                    let n = CROSS_BATCH.min(objects - made);
                    for i in made..made + n {
                        let size = CROSS_SIZES[i % CROSS_SIZES.len()];
                        let layout = Layout::from_size_align(size, 8).expect("valid layout");
                        // SAFETY: non-zero size; checked for null before the write.
                        let p = unsafe { alloc.alloc(layout) };
                        assert!(!p.is_null(), "out of memory");
                        // SAFETY: `p` is a fresh allocation of `size` ≥ 1 bytes.
                        unsafe { p.write(size as u8) };
                        buffer.push(Handed {
                            addr: p as usize,
                            size,
                        });
                    }
                    made += n;
                    full_tx.send(buffer).expect("consumer alive");
                }
                // Dropping `full_tx` here tells the consumer to stop.
                drop(full_tx);
            });
            s.spawn(move || {
                start_line.wait();
                for mut buffer in full_rx.iter() {
                    for Handed { addr, size } in buffer.drain(..) {
                        let p = addr as *mut u8;
                        // SAFETY: the producer allocated `p` with this size and
                        // alignment 8, wrote its first byte, and handed it over
                        // exactly once; it is freed exactly once, here.
                        unsafe {
                            assert_eq!(p.read(), size as u8, "object changed in transit");
                            let layout = Layout::from_size_align_unchecked(size, 8);
                            alloc.dealloc(p, layout);
                        }
                    }
                    // The producer may already be done; then the buffer is
                    // simply dropped.
                    let _ = empty_tx.send(buffer);
                }
            });
            start_line.wait();
            // Leaving the scope joins both threads: the clock stops after the
            // last free.
            now()
        });
        now().saturating_sub(start)
    }

    // ---- larson: random sizes, random frees, objects change hands ---------

    const LARSON_THREADS: usize = 2;
    const LARSON_SLOTS: usize = 1_000;
    /// Replacements per thread per iteration.
    const LARSON_STEPS: usize = 20_000;
    /// Steps between handoffs, and objects per handoff.
    const LARSON_ROUND: usize = 1_000;
    const LARSON_HANDOFF: usize = 64;
    const LARSON_MIN: usize = 8;
    const LARSON_MAX: usize = 1_000;

    fn larson(c: &mut Criterion<Clock>) {
        let mut group = group(c, "larson");
        group.sample_size(10);
        for_each_allocator!(bench_larson(&mut group));
        group.finish();
    }

    fn bench_larson<A: GlobalAlloc + Sync>(
        group: &mut BenchmarkGroup<'_, Clock>,
        name: &str,
        alloc: &'static A,
    ) {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| run_larson(alloc, iters as usize * LARSON_STEPS))
        });
    }

    /// A xorshift64 generator: the same sequence for every allocator.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn larson_layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).expect("valid layout")
    }

    fn run_larson<A: GlobalAlloc + Sync>(alloc: &'static A, steps: usize) -> Duration {
        // Thread t sends to thread t + 1 (mod n) and receives from t - 1. Every
        // channel has room for every batch a thread will ever send, so a send
        // never blocks; a receive waits only for the neighbour's matching send.
        let rounds = steps / LARSON_ROUND;
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..LARSON_THREADS)
            .map(|_| mpsc::sync_channel::<Vec<Handed>>(rounds + 1))
            .unzip();
        let start_line = Barrier::new(LARSON_THREADS + 1);
        let start = std::thread::scope(|s| {
            for (t, rx) in receivers.into_iter().enumerate() {
                let tx = senders[(t + 1) % LARSON_THREADS].clone();
                let start_line = &start_line;
                s.spawn(move || {
                    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                    let mut slots: Vec<Handed> = Vec::with_capacity(LARSON_SLOTS);
                    let mut spare: Vec<Handed> = Vec::with_capacity(LARSON_HANDOFF);
                    let fresh = |rng: &mut XorShift| {
                        let size = LARSON_MIN + rng.below(LARSON_MAX - LARSON_MIN + 1);
                        // SAFETY: non-zero size; checked for null before the write.
                        let p = unsafe { alloc.alloc(larson_layout(size)) };
                        assert!(!p.is_null(), "out of memory");
                        // SAFETY: `p` is a fresh allocation of `size` ≥ 8 bytes.
                        unsafe { p.write(size as u8) };
                        Handed {
                            addr: p as usize,
                            size,
                        }
                    };
                    let free = |h: Handed| {
                        let p = h.addr as *mut u8;
                        // SAFETY: every `Handed` came from `fresh` with this
                        // size, is owned by exactly one slot or batch, and is
                        // consumed (freed) exactly once.
                        unsafe {
                            debug_assert_eq!(p.read(), h.size as u8);
                            alloc.dealloc(p, larson_layout(h.size));
                        }
                    };
                    start_line.wait();
                    for _ in 0..LARSON_SLOTS {
                        slots.push(fresh(&mut rng));
                    }
                    for step in 1..=steps {
                        let i = rng.below(LARSON_SLOTS);
                        let old = std::mem::replace(&mut slots[i], fresh(&mut rng));
                        free(old);
                        if step % LARSON_ROUND == 0 {
                            // Hand 64 random objects to the neighbour ...
                            for _ in 0..LARSON_HANDOFF {
                                let i = rng.below(LARSON_SLOTS);
                                spare.push(std::mem::replace(&mut slots[i], fresh(&mut rng)));
                            }
                            tx.send(spare).expect("neighbour alive");
                            // ... and adopt the neighbour's: each takes the
                            // place of one of ours, which is freed.
                            let mut adopted = rx.recv().expect("neighbour alive");
                            for h in adopted.drain(..) {
                                let i = rng.below(LARSON_SLOTS);
                                free(std::mem::replace(&mut slots[i], h));
                            }
                            spare = adopted;
                        }
                    }
                    for h in slots.drain(..) {
                        free(h);
                    }
                });
            }
            drop(senders);
            start_line.wait();
            now()
        });
        now().saturating_sub(start)
    }
}
