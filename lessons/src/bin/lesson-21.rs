//! Lesson 21: Cache misses — traversal order and struct layout, in a heat map
//!
//! A CPU profile says which line is slow, not why. Often the why is memory:
//! a load that misses L1 waits a few nanoseconds for L2, one that misses
//! the last level waits ~100 ns for DRAM. Two classic causes:
//!
//! 1. **traversal order**: a row-major matrix read row by row uses every
//!    byte of each 64-byte line it fetches; read column by column, each
//!    access fetches a new line and the lines are evicted before the next
//!    column comes back to them;
//! 2. **struct layout**: summing one field of an array of 64-byte structs
//!    (AoS) fetches a whole line per element; a struct of arrays (SoA)
//!    keeps that field dense, eight `u64`s per line.
//!
//! The lesson first asks the CPU (`perf_event_open`'s cache-miss counter)
//! and says plainly when the counters are absent, as on these VMs. Then it
//! runs each kernel under cachegrind with the cache pinned (a 48 KiB 12-way
//! L1d, 2 MiB 16-way last level, 64-byte lines) and reads the misses per
//! function and per line. Cachegrind cannot show false sharing: it
//! simulates one cache and runs threads one at a time (see the alignment
//! lesson for that, on real cores).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use profiler::cache::{HeatMap, HwCounters, LineCounts, parse_cachegrind, probe_hw_cache_misses};

const N: usize = 1024; // a 1024 x 1024 matrix of u32: 4 MiB, twice the LL
const ITEMS: usize = 1 << 16; // 65536 structs of 64 bytes: 4 MiB

/// The pinned geometry (size, associativity, line size).
const D1: &str = "--D1=49152,12,64";
const LL: &str = "--LL=2097152,16,64";

// ANCHOR: kernels
#[inline(never)]
fn sum_rows(m: &[u32]) -> u64 {
    let mut s = 0u64;
    for i in 0..N {
        for j in 0..N {
            s += m[i * N + j] as u64; // consecutive addresses
        }
    }
    s
}

#[inline(never)]
fn sum_cols(m: &[u32]) -> u64 {
    let mut s = 0u64;
    for j in 0..N {
        for i in 0..N {
            s += m[i * N + j] as u64; // 4 KiB apart: a new line each time
        }
    }
    s
}

/// 64 bytes: the key and seven fields the sum never reads.
#[derive(Clone, Copy, Default)]
struct Record {
    key: u64,
    _rest: [u64; 7],
}

#[inline(never)]
#[allow(clippy::needless_range_loop)] // indexing keeps the loads in this function, even in debug builds
fn sum_aos(v: &[Record]) -> u64 {
    let mut s = 0u64;
    for i in 0..v.len() {
        s += v[i].key; // one 64-byte line per record
    }
    s
}

#[inline(never)]
#[allow(clippy::needless_range_loop)] // as above
fn sum_soa(keys: &[u64]) -> u64 {
    let mut s = 0u64;
    for i in 0..keys.len() {
        s += keys[i]; // eight keys per line
    }
    s
}
// ANCHOR_END: kernels

/// Runs one kernel (the child side, under cachegrind).
fn kernel(name: &str) {
    match name {
        "rows" | "cols" => {
            let m: Vec<u32> = (0..(N * N) as u32).collect();
            let s = if name == "rows" {
                sum_rows(&m)
            } else {
                sum_cols(&m)
            };
            black_box(s);
        }
        "aos" => {
            let v: Vec<Record> = (0..ITEMS as u64)
                .map(|k| Record {
                    key: k,
                    ..Default::default()
                })
                .collect();
            black_box(sum_aos(&v));
        }
        _ => {
            let keys: Vec<u64> = (0..ITEMS as u64).collect();
            black_box(sum_soa(&keys));
        }
    }
}

/// Runs `kernel` under cachegrind, returns its parsed output.
fn cachegrind(valgrind: &Path, dir: &Path, kernel: &str) -> Result<HeatMap, String> {
    let out = dir.join(format!("cachegrind.{kernel}.out"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let r = Command::new(valgrind)
        .args(["--tool=cachegrind", "--cache-sim=yes", D1, LL])
        .arg(format!("--cachegrind-out-file={}", out.display()))
        .arg(&exe)
        .args(["--kernel", kernel])
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    if !r.status.success() {
        return Err(format!(
            "cachegrind failed: {}",
            String::from_utf8_lossy(&r.stderr)
        ));
    }
    parse_cachegrind(&std::fs::read_to_string(&out).map_err(|e| e.to_string())?)
}

fn find_valgrind() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("valgrind"))
            .find(|f| f.is_file())
    })
}

fn main() {
    let args = Cli::new("lesson-21", "cache misses")
        .choice(
            "--kernel",
            "run one kernel and exit (what cachegrind runs)",
            "none",
            &["none", "rows", "cols", "aos", "soa"],
        )
        .parse();
    if args.choice("--kernel") != "none" {
        kernel(args.choice("--kernel"));
        return;
    }
    title(
        "Lesson 21",
        "Cache misses: traversal order and struct layout",
    );
    section("Hardware counters");
    match probe_hw_cache_misses() {
        HwCounters::Available(n) => {
            println!("hardware counters: available ({n} cache misses over a probe loop)")
        }
        HwCounters::Absent(why) => println!("hardware counters: absent: {why}"),
    }
    let Some(valgrind) = find_valgrind() else {
        eprintln!(
            "lesson-21: valgrind not found; `bash .ci/cachegrind.sh` installs it (Debian's valgrind)"
        );
        std::process::exit(1);
    };
    explain(&format!(
        "Each kernel runs under cachegrind ({D1} {LL}): a {N}x{N} u32 matrix (4 MiB) summed by \
         rows and by columns, and {ITEMS} 64-byte records (4 MiB) whose key is summed as an \
         array of structs and as a dense array of keys."
    ));
    let dir = artefacts::lesson_dir(21).expect("create target/lessons/lesson-21");
    let mut t = Table::new([
        "kernel",
        "function",
        "data reads",
        "D1 misses",
        "LL misses",
        "D1 miss rate",
    ]);
    let mut rows = Vec::new();
    let mut cols_map = None;
    for (k, f) in [
        ("rows", "sum_rows"),
        ("cols", "sum_cols"),
        ("aos", "sum_aos"),
        ("soa", "sum_soa"),
    ] {
        let m = match cachegrind(&valgrind, &dir, k) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("lesson-21: {e}");
                std::process::exit(1);
            }
        };
        let c = m
            .by_function()
            .into_iter()
            .filter(|(name, _)| name.contains(f))
            .fold(LineCounts::default(), |mut a, (_, c)| {
                a.dr += c.dr;
                a.d1mr += c.d1mr;
                a.dlmr += c.dlmr;
                a.dw += c.dw;
                a.d1mw += c.d1mw;
                a.dlmw += c.dlmw;
                a
            });
        t.row([
            k.to_string(),
            f.to_string(),
            c.dr.to_string(),
            c.d1().to_string(),
            c.ll().to_string(),
            format!("{:.1}%", 100.0 * c.d1mr as f64 / c.dr.max(1) as f64),
        ]);
        println!("{k}: D1 misses {} LL misses {}", c.d1(), c.ll());
        rows.push((format!("{k}: {f}"), c));
        if k == "cols" {
            cols_map = Some(m);
        }
    }
    section("Misses per kernel (the kernel's own function)");
    t.print();
    let svg = HeatMap::svg(&rows, "lesson 21: misses per kernel");
    let path = artefacts::write(&dir, "heatmap-kernels.svg", &svg).expect("write");
    wrote("the heat map per kernel", &path);
    if let Some(m) = cols_map {
        section("sum_cols line by line");
        let mut t = Table::new(["file:line", "data reads", "D1 misses", "LL misses"]);
        let lines: Vec<(String, LineCounts)> = m
            .lines_of("sum_cols")
            .into_iter()
            .take(5)
            .map(|(f, l, c)| {
                let short = f.rsplit('/').next().unwrap_or(&f).to_string();
                (format!("{short}:{l}"), c)
            })
            .collect();
        for (l, c) in &lines {
            t.row([
                l.clone(),
                c.dr.to_string(),
                c.d1().to_string(),
                c.ll().to_string(),
            ]);
        }
        t.print();
        let svg = HeatMap::svg(&lines, "lesson 21: sum_cols by line");
        let path = artefacts::write(&dir, "heatmap-sum_cols-lines.svg", &svg).expect("write");
        wrote("the heat map of sum_cols by line", &path);
    }
    notice(
        "the same additions, the same bytes: by columns every read is a D1 miss and most are \
         LL misses too; by rows one read in sixteen misses (a 64-byte line holds sixteen u32). \
         Summing one field of 64-byte records misses once per record; the same keys packed \
         densely miss once per eight.",
    );
}
