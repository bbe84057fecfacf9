//! Lesson 24's pipeline measured: cut a 16 MiB transport stream at its
//! keyframes and hand every segment to a consumer thread, with the input
//! memory-mapped or read(2) into a buffer, through our `runtime::spsc` ring
//! or through `rtrb` (the well-kept crate with the same design), all four in
//! one criterion group so every figure is a ratio. A second group isolates
//! the rings: a million `u64`s from one thread to another.
//!
//! `cargo bench -p lessons --bench segments -- --warm-up-time 1 --measurement-time 3`

use std::fs::File;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lessons::segments::{Packaged, Segments, generate, package, through_ring};

const RING: usize = 64;

/// The same pipeline as `through_ring`, with rtrb's ring in place of ours.
fn through_rtrb(data: &[u8]) -> Packaged {
    let (mut tx, mut rx) = rtrb::RingBuffer::<&[u8]>::new(RING);
    std::thread::scope(|s| {
        let consumer = s.spawn(move || {
            let mut done = Packaged::default();
            loop {
                match rx.pop() {
                    Ok(seg) => done.add(package(seg)),
                    Err(_) if rx.is_abandoned() && rx.is_empty() => return done,
                    Err(_) => std::thread::yield_now(),
                }
            }
        });
        for seg in Segments::new(data) {
            let mut seg = seg.expect("a well-formed stream");
            while let Err(rtrb::PushError::Full(back)) = tx.push(seg) {
                seg = back;
                std::thread::yield_now();
            }
        }
        drop(tx);
        consumer.join().expect("the consumer thread")
    })
}

fn segments(c: &mut Criterion) {
    let path = std::env::temp_dir().join(format!("segments-bench-{}.ts", std::process::id()));
    let ts = generate(16 << 20);
    std::fs::write(&path, &ts).expect("write the stream");
    let expected = through_ring(&ts, RING).expect("a well-formed stream");
    assert_eq!(
        through_rtrb(&ts),
        expected,
        "both rings package the same data"
    );

    let mut g = c.benchmark_group("segments: cut 16 MiB, hand through a ring of 64");
    g.throughput(Throughput::Bytes(ts.len() as u64));
    g.sample_size(20);
    let map = || {
        let f = File::open(&path).expect("open");
        // SAFETY: the bench wrote the file and nothing changes it while mapped.
        unsafe { memmap2::Mmap::map(&f) }.expect("mmap")
    };
    g.bench_function("mmap, ours", |b| {
        b.iter(|| black_box(through_ring(&map(), RING).unwrap()))
    });
    g.bench_function("mmap, rtrb", |b| b.iter(|| black_box(through_rtrb(&map()))));
    g.bench_function("read(2), ours", |b| {
        b.iter(|| black_box(through_ring(&std::fs::read(&path).unwrap(), RING).unwrap()))
    });
    g.bench_function("read(2), rtrb", |b| {
        b.iter(|| black_box(through_rtrb(&std::fs::read(&path).unwrap())))
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
}

fn rings(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let mut g = c.benchmark_group("spsc: 1M u64 between two threads, ring of 1024");
    g.throughput(Throughput::Elements(N));
    g.sample_size(20);
    g.bench_function("ours", |b| {
        b.iter(|| {
            let (mut tx, mut rx) = runtime::spsc::ring::<u64>(1024).unwrap();
            std::thread::scope(|s| {
                s.spawn(move || {
                    for i in 0..N {
                        let mut v = i;
                        while let Err(back) = tx.push(v) {
                            v = back;
                            std::hint::spin_loop();
                        }
                    }
                });
                let mut sum = 0u64;
                let mut got = 0;
                while got < N {
                    if let Some(v) = rx.pop() {
                        sum = sum.wrapping_add(v);
                        got += 1;
                    } else {
                        std::hint::spin_loop();
                    }
                }
                black_box(sum)
            })
        })
    });
    g.bench_function("rtrb", |b| {
        b.iter(|| {
            let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(1024);
            std::thread::scope(|s| {
                s.spawn(move || {
                    for i in 0..N {
                        let mut v = i;
                        while let Err(rtrb::PushError::Full(back)) = tx.push(v) {
                            v = back;
                            std::hint::spin_loop();
                        }
                    }
                });
                let mut sum = 0u64;
                let mut got = 0;
                while got < N {
                    if let Ok(v) = rx.pop() {
                        sum = sum.wrapping_add(v);
                        got += 1;
                    } else {
                        std::hint::spin_loop();
                    }
                }
                black_box(sum)
            })
        })
    });
    g.finish();
}

criterion_group!(benches, segments, rings);
criterion_main!(benches);
