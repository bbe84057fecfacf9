//! Lesson 24: Zero-copy segments through a lock-free ring — mmap against read(2), borrowed slices, and a ring without a lock
//!
//! An HLS segmenter cuts a transport stream at its keyframes and hands each
//! segment to a packager on another thread. This lesson writes a stream
//! file (188-byte TS packets, a keyframe every 150 to 350 packets) and
//! runs the same cut-and-package pipeline four ways, each best of three:
//!
//! 1. the file **memory-mapped** (`memmap2`), segments handed on as
//!    borrowed `&[u8]` slices of the mapping through `runtime::spsc`'s
//!    lock-free ring: no byte copied in user space;
//! 2. the file **read(2)** into one buffer, then the same borrowed slices:
//!    one copy of the file, from the page cache into the buffer;
//! 3. read(2) in 1 MiB chunks, each segment **copied into its own `Vec`**
//!    and the owned buffers sent: the copy and an allocation per segment,
//!    the way a segmenter that does not think about ownership works;
//! 4. as 1, but through `std::sync::mpsc::sync_channel` (a lock and a
//!    condition variable) instead of the lock-free ring.
//!
//! All four must agree on the checksum; the table shows what each costs.

use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::segments::{self, Packaged, Segments, package, through_ring};

const RING: usize = 64;

fn main() {
    let args = Cli::new("lesson-24", "zero-copy segments through a lock-free ring")
        .number("--mib", "N", "size of the stream file", 64, 1..=4096)
        .parse();
    let mib = if args.quick() {
        16
    } else {
        args.number("--mib") as usize
    };

    title("Lesson 24", "Zero-copy segments through a lock-free ring");
    let dir = artefacts::lesson_dir(24).expect("create target/lessons/lesson-24");
    let path = dir.join("stream.ts");
    let ts = segments::generate(mib << 20);
    std::fs::write(&path, &ts).expect("write the stream file");
    let bytes = ts.len();
    drop(ts);
    explain(&format!(
        "A {mib} MiB transport stream ({} packets of 188 bytes) written to {}; it is now in \
         the page cache, so every run below reads memory, not the disk. Each run cuts it at \
         its keyframes on one thread and packages (checksums) each segment on another.",
        bytes / segments::PACKET,
        path.display()
    ));

    if cfg!(debug_assertions) {
        notice(
            "this is a debug build: unoptimised code hashes each segment slowly, and that \
             hides most of what the pipelines differ in. For the figures the book quotes, run \
             `cargo run --release -p lessons --bin lesson-24`.",
        );
    }
    let runs: [(&str, Pipeline); 4] = [
        ("mmap, borrowed slices, spsc ring", mmap_ring),
        ("read(2) once, borrowed slices, spsc ring", read_ring),
        ("read(2) chunks, a Vec per segment, spsc ring", copied_ring),
        ("mmap, borrowed slices, std sync_channel", mmap_channel),
    ];
    let mut rows = Vec::new();
    for (name, run) in runs {
        let best = (0..3)
            .map(|_| run(&path))
            .min_by_key(|r| r.elapsed)
            .expect("three runs");
        rows.push((name, best));
    }

    section("The four pipelines (best of 3)");
    let mut t = Table::new([
        "pipeline",
        "time",
        "GiB/s",
        "bytes copied",
        "allocations",
        "segments",
    ]);
    for (name, r) in &rows {
        t.row([
            name.to_string(),
            format!("{:.1} ms", r.elapsed.as_secs_f64() * 1e3),
            format!(
                "{:.2}",
                bytes as f64 / r.elapsed.as_secs_f64() / f64::from(1 << 30)
            ),
            mib_str(r.copied),
            r.allocations.to_string(),
            r.done.segments.to_string(),
        ]);
    }
    t.print();
    let first = rows[0].1.done;
    let agree = rows.iter().all(|(_, r)| r.done == first);
    println!(
        "checksums agree: {agree} ({} segments, {} packets, checksum {:016x})",
        first.segments, first.packets, first.checksum
    );
    assert!(agree, "the four pipelines packaged different data");
    let base = rows[0].1.elapsed.as_secs_f64();
    for (name, r) in &rows[1..] {
        println!(
            "{name}: {:.2}x the time of the mmap ring",
            r.elapsed.as_secs_f64() / base
        );
    }
    notice(
        "the borrowed slices copy nothing: a segment is a pointer and a length into the \
         mapping. read(2) into one buffer copies the file once, into fresh pages that must \
         first be faulted in; the per-segment Vec copies it twice and allocates once per \
         segment. The spsc ring takes no lock, but its two threads spin (yielding) while it \
         is full or empty: with a core free for each, that is the cheapest hand-off there \
         is; when the cores are busy with other work, a channel that puts the waiting thread \
         to sleep can win. Compare on your machine; the `segments` bench measures the rings \
         alone.",
    );

    let out = serde_json::json!({
        "mib": mib,
        "ring_capacity": RING,
        "runs": rows.iter().map(|(name, r)| serde_json::json!({
            "pipeline": name,
            "ms": r.elapsed.as_secs_f64() * 1e3,
            "bytes_copied": r.copied,
            "allocations": r.allocations,
            "segments": r.done.segments,
            "checksum": format!("{:016x}", r.done.checksum),
        })).collect::<Vec<_>>(),
    });
    let json = artefacts::write(
        &dir,
        "runs.json",
        &serde_json::to_string_pretty(&out).expect("serialise"),
    )
    .expect("write runs.json");
    wrote("the four runs", &json);
}

/// A way to run the pipeline over the stream file.
type Pipeline = fn(&std::path::Path) -> Run;

/// One pipeline run.
struct Run {
    elapsed: Duration,
    done: Packaged,
    /// Bytes copied in user space (the kernel's copy for read(2) included).
    copied: usize,
    /// Heap allocations made for the data (buffers), not counting the ring.
    allocations: usize,
}

fn mmap_ring(path: &std::path::Path) -> Run {
    let start = Instant::now();
    let file = File::open(path).expect("open the stream");
    // SAFETY: the lesson wrote this file and nothing modifies or truncates
    // it while it is mapped (a shrinking file would fault the reader).
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("mmap the stream");
    let done = through_ring(&map, RING).expect("a well-formed stream");
    Run {
        elapsed: start.elapsed(),
        done,
        copied: 0,
        allocations: 0,
    }
}

fn read_ring(path: &std::path::Path) -> Run {
    let start = Instant::now();
    let data = std::fs::read(path).expect("read the stream");
    let done = through_ring(&data, RING).expect("a well-formed stream");
    Run {
        elapsed: start.elapsed(),
        copied: data.len(),
        done,
        allocations: 1,
    }
}

fn copied_ring(path: &std::path::Path) -> Run {
    let start = Instant::now();
    let mut file = File::open(path).expect("open the stream");
    let (mut tx, mut rx) = runtime::spsc::ring::<Vec<u8>>(RING).expect("capacity");
    let (mut copied, mut allocations) = (0, 1);
    let done = std::thread::scope(|s| {
        let consumer = s.spawn(move || {
            let mut done = Packaged::default();
            loop {
                match rx.pop() {
                    Some(seg) => done.add(package(&seg)),
                    None if rx.is_abandoned() && rx.is_empty() => return done,
                    None => std::thread::yield_now(),
                }
            }
        });
        // Read 1 MiB at a time; a segment may straddle chunks, so keep the
        // unfinished tail and cut only whole segments (those followed by a
        // keyframe, or at the end of the file).
        let mut buf = Vec::with_capacity(2 << 20);
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut chunk).expect("read(2)");
            copied += n;
            buf.extend_from_slice(&chunk[..n]);
            let at_end = n == 0;
            let mut cut = 0;
            // Mid-file, the buffer ends inside a packet or a segment: keep
            // the last (maybe unfinished) segment for the next round.
            let mut whole = Vec::new();
            for seg in Segments::new(&buf) {
                match seg {
                    Ok(seg) => whole.push(seg),
                    Err(segments::CutError::Truncated { .. }) if !at_end => break,
                    Err(e) => panic!("a well-formed stream: {e}"),
                }
            }
            if !at_end {
                whole.pop();
            }
            for seg in whole {
                cut += seg.len();
                let mut owned = seg.to_vec(); // the copy this pipeline pays
                copied += owned.len();
                allocations += 1;
                while let Err(back) = tx.push(owned) {
                    owned = back;
                    std::thread::yield_now();
                }
            }
            buf.drain(..cut);
            if at_end {
                break;
            }
        }
        drop(tx);
        consumer.join().expect("the consumer thread")
    });
    Run {
        elapsed: start.elapsed(),
        done,
        copied,
        allocations,
    }
}

fn mmap_channel(path: &std::path::Path) -> Run {
    let start = Instant::now();
    let file = File::open(path).expect("open the stream");
    // SAFETY: as in `mmap_ring`: the file is ours and unchanged while mapped.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("mmap the stream");
    let (tx, rx) = std::sync::mpsc::sync_channel::<&[u8]>(RING);
    let done = std::thread::scope(|s| {
        let consumer = s.spawn(move || {
            let mut done = Packaged::default();
            for seg in rx {
                done.add(package(seg));
            }
            done
        });
        for seg in Segments::new(&map) {
            tx.send(seg.expect("a well-formed stream"))
                .expect("the consumer is alive");
        }
        drop(tx);
        consumer.join().expect("the consumer thread")
    });
    Run {
        elapsed: start.elapsed(),
        done,
        copied: 0,
        allocations: 0,
    }
}

fn mib_str(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}
