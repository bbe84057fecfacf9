//! Lesson 27: Your programs on our allocator — an unmodified Debian program under LD_PRELOAD, its heap read back per size class, beside glibc, mimalloc and jemalloc
//!
//! A C program's `malloc` is a symbol the dynamic loader binds at start-up
//! to the first library that defines it; `LD_PRELOAD` puts a library first.
//! `libspanalloc.so` (the `allocator-c` package) defines the whole C
//! allocation API on top of the course's allocator, so any dynamically
//! linked program runs on it unmodified. This lesson runs one (Debian's
//! `python3` with four threads and `PYTHONMALLOC=malloc`, so that every
//! Python object is a `malloc`; or `sqlite3` building and querying a table)
//! on glibc's malloc, on ours, and on Debian's mimalloc and jemalloc, checks
//! that the output is the same on all four, and measures wall time and peak
//! RSS (the kernel's `ru_maxrss` for the child, from `wait4`).
//!
//! The library writes the heap's statistics and sampled heap profile as
//! JSON when asked: at exit through `SPANALLOC_STATS`, and, for the Python
//! program, at the program's peak, which the script requests itself through
//! `ctypes` (`spanalloc_write_stats`, exported by the library). The lesson
//! reads them back: allocations, frees and bytes in use per size class,
//! spans per class, the page heap, and the profile's estimate of in-use
//! bytes next to the exact count.
//!
//! Needs `cargo build -p allocator-c --release` first, and Debian's
//! `libmimalloc2.0`, `libjemalloc2` and `sqlite3` (`bash .ci/preload.sh`
//! installs them); without them it says what is missing and exits.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use serde_json::Value;

/// The Python program: four threads each build a dict of `N` small objects
/// and keep it; at the peak the script asks the allocator for a snapshot
/// (only ours exports `spanalloc_write_stats`), then prints a checksum.
const PYTHON_SCRIPT: &str = r#"
import ctypes, sys, threading, zlib
n, snapshot = int(sys.argv[1]), sys.argv[2]
kept = [None] * 4
def work(seed):
    d = {}
    for i in range(n):
        d["k%d-%d" % (seed, i)] = [i, str(i) * (i % 4 + 1), (seed, i * 1.5)]
    kept[seed] = d
threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
for t in threads: t.start()
for t in threads: t.join()
write = getattr(ctypes.CDLL(None), "spanalloc_write_stats", None)
if write is not None and snapshot != "-":
    write(snapshot.encode())
crc = 0
for d in kept:
    for k, v in d.items():
        crc = zlib.crc32((k + v[1]).encode(), crc)
print(sum(len(d) for d in kept), "%08x" % crc)
"#;

/// The SQLite program: a table of `N` rows, an index, a grouped query.
fn sqlite_script(rows: u64) -> String {
    format!(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER);\n\
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {rows})\n\
         INSERT INTO t SELECT i, printf('key%06d', (i * 7919) % 10007), i % 97 FROM c;\n\
         CREATE INDEX t_k ON t(k);\n\
         SELECT count(*), sum(v), count(DISTINCT k) FROM t;\n\
         SELECT k, sum(v) FROM t GROUP BY k ORDER BY sum(v) DESC, k LIMIT 3;\n"
    )
}

/// One run of the program: what it printed, how long it took, its peak RSS.
struct Run {
    stdout: Vec<u8>,
    wall: Duration,
    max_rss_kib: i64,
}

fn main() {
    let args = Cli::new("lesson-27", "real programs on our allocator")
        .choice(
            "--program",
            "what to run: python (python3, 4 threads, PYTHONMALLOC=malloc) or sqlite (sqlite3)",
            "python",
            &["python", "sqlite"],
        )
        .number(
            "--objects",
            "N",
            "objects each Python thread keeps, or rows of the SQLite table",
            40_000,
            1_000..=2_000_000,
        )
        .number(
            "--runs",
            "N",
            "runs on each allocator (the median is shown)",
            3,
            1..=15,
        )
        .parse();
    let program = args.choice("--program").to_string();
    let (objects, runs) = if args.quick() {
        (10_000, 1)
    } else {
        (args.number("--objects"), args.number("--runs") as usize)
    };

    title("Lesson 27", "Your programs on our allocator");
    let Some(needs) = find_everything(&program) else {
        return; // find_everything said what is missing and how to get it
    };
    let dir = artefacts::lesson_dir(27).expect("create target/lessons/lesson-27");
    let (cmd, cmd_args, stdin): (PathBuf, Vec<String>, Option<String>) = match program.as_str() {
        "python" => {
            let script = artefacts::write(&dir, "program.py", PYTHON_SCRIPT).expect("write");
            (
                needs.program.clone(),
                vec![
                    script.display().to_string(),
                    objects.to_string(),
                    dir.join("stats-peak.json").display().to_string(),
                ],
                None,
            )
        }
        _ => (
            needs.program.clone(),
            vec![":memory:".to_string()],
            Some(sqlite_script(objects)),
        ),
    };
    explain(&format!(
        "The program: {} {}. It runs {runs} time(s) on each of four allocators, \
         chosen with LD_PRELOAD: none (glibc's malloc), {}, and Debian's mimalloc \
         and jemalloc. The runs are interleaved, so that whatever else the machine \
         is doing falls on all four alike.",
        cmd.display(),
        if program == "python" {
            format!("with 4 threads keeping {objects} objects each, PYTHONMALLOC=malloc")
        } else {
            format!("building a {objects}-row table with an index")
        },
        needs.ours.display()
    ));

    // ANCHOR: preload_run
    let allocators: [(&str, Option<&Path>); 4] = [
        ("glibc", None),
        ("ours", Some(&needs.ours)),
        ("mimalloc", Some(&needs.mimalloc)),
        ("jemalloc", Some(&needs.jemalloc)),
    ];
    let exit_stats = dir.join("stats-exit.json");
    let _ = std::fs::remove_file(&exit_stats);
    let mut measured: Vec<Vec<Run>> = (0..4).map(|_| Vec::new()).collect();
    for round in 0..runs {
        for (i, (name, preload)) in allocators.iter().enumerate() {
            let reporting = *name == "ours" && round == 0;
            let mut c = Command::new(&cmd);
            c.env("PYTHONMALLOC", "malloc");
            if program == "python" && !reporting {
                // Only the reporting run writes the peak snapshot.
                c.args(&cmd_args[..2]).arg("-");
            } else {
                c.args(&cmd_args);
            }
            if let Some(lib) = preload {
                c.env("LD_PRELOAD", lib);
            }
            if reporting {
                // The library's report: at exit, and sampled densely (Go's
                // default rate, 512 KiB, would sample a short run too rarely).
                c.env("SPANALLOC_STATS", &exit_stats)
                    .env("SPANALLOC_PROFILE_RATE", "65536");
            }
            measured[i].push(run(c, stdin.as_deref()));
        }
    }
    // ANCHOR_END: preload_run

    section("The same program on four allocators");
    let reference = measured[0][0].stdout.clone();
    let base_wall = median(measured[0].iter().map(|r| r.wall.as_secs_f64()));
    let base_rss = median(measured[0].iter().map(|r| r.max_rss_kib as f64));
    let mut table = Table::new([
        "allocator",
        "wall (median)",
        "vs glibc",
        "peak RSS",
        "vs glibc",
        "output",
    ]);
    let mut all_same = true;
    let mut json_runs = Vec::new();
    for (i, (name, _)) in allocators.iter().enumerate() {
        let wall = median(measured[i].iter().map(|r| r.wall.as_secs_f64()));
        let rss = median(measured[i].iter().map(|r| r.max_rss_kib as f64));
        let same = measured[i].iter().all(|r| r.stdout == reference);
        all_same &= same;
        table.row([
            name.to_string(),
            format!("{:.3} s", wall),
            format!("{:.2}x", wall / base_wall),
            format!("{:.1} MiB", rss / 1024.0),
            format!("{:.2}x", rss / base_rss),
            if same { "same as glibc" } else { "DIFFERENT" }.to_string(),
        ]);
        json_runs.push(serde_json::json!({
            "allocator": name, "wall_s": wall, "max_rss_kib": rss, "same_output": same,
        }));
    }
    table.print();
    println!(
        "\nprogram output (glibc): {}",
        String::from_utf8_lossy(&reference).trim()
    );
    let path = artefacts::write(
        &dir,
        "runs.json",
        &serde_json::to_string_pretty(&json_runs).unwrap(),
    )
    .expect("write runs.json");
    wrote("the measurements", &path);
    if !all_same {
        eprintln!("error: the program's output differed between allocators (see the table)");
        std::process::exit(1);
    }

    let peak = dir.join("stats-peak.json");
    let (label, report) = if program == "python" && peak.exists() {
        (
            "at the program's peak (requested by the script)",
            read_json(&peak),
        )
    } else {
        ("at exit (SPANALLOC_STATS)", read_json(&exit_stats))
    };
    let Some(report) = report else {
        eprintln!(
            "error: libspanalloc.so wrote no statistics: the preload did not take effect \
             (is {} a build of allocator-c?)",
            needs.ours.display()
        );
        std::process::exit(1);
    };
    section(&format!("What our allocator saw, {label}"));
    show_heap(&report);
    if let Some(exit) = read_json(&exit_stats) {
        let s = &exit["stats"];
        println!(
            "\nat exit: {} allocations, {} frees, {} bytes still in use \
             (what the program never freed before exiting)",
            s["total_allocs"], s["total_frees"], s["in_use_bytes"]
        );
        wrote("the report at exit", &exit_stats);
    }
    if peak.exists() {
        wrote("the report at the peak", &peak);
    }

    notice(
        "the program was never rebuilt: the loader bound its malloc, and glibc's own \
         internal calls, to our library, and the output is byte for byte the same. \
         Small objects land in a handful of size classes (Python's dicts, lists and \
         strings are a few dozen bytes), each served from spans of its own, exactly \
         as the size-class chapter predicts. The sampled profile's estimate of \
         in-use bytes is close to the exact count from the same heap, though it saw \
         only a fraction of the allocations.",
    );
}

/// What the lesson needs on this machine.
struct Needs {
    ours: PathBuf,
    mimalloc: PathBuf,
    jemalloc: PathBuf,
    program: PathBuf,
}

/// Finds the library, the peers and the program; prints what is missing
/// and how to get it, and returns `None`, if anything is.
fn find_everything(program: &str) -> Option<Needs> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| artefacts::workspace_root().join("target"));
    let ours = target.join("release/libspanalloc.so");
    let mut missing = Vec::new();
    if !ours.exists() {
        println!(
            "libspanalloc.so is not built ({} is missing). Build it with:\n\n    cargo build -p allocator-c --release\n",
            ours.display()
        );
        return None;
    }
    let mimalloc = find_lib("libmimalloc.so.2");
    let jemalloc = find_lib("libjemalloc.so.2");
    if mimalloc.is_none() {
        missing.push("libmimalloc2.0");
    }
    if jemalloc.is_none() {
        missing.push("libjemalloc2");
    }
    let program_path = match program {
        "python" => Some(PathBuf::from("/usr/bin/python3")).filter(|p| p.exists()),
        _ => find_in_path("sqlite3"),
    };
    if program_path.is_none() {
        missing.push(if program == "python" {
            "python3"
        } else {
            "sqlite3"
        });
    }
    if !missing.is_empty() {
        println!(
            "This lesson needs Debian packages that are not installed: {}.\n\
             Install them with\n\n    apt-get install {}\n\n\
             (or run `bash .ci/preload.sh`, which installs what it needs), then run the lesson again.",
            missing.join(", "),
            missing.join(" ")
        );
        return None;
    }
    Some(Needs {
        ours,
        mimalloc: mimalloc?,
        jemalloc: jemalloc?,
        program: program_path?,
    })
}

fn find_lib(name: &str) -> Option<PathBuf> {
    [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ]
    .iter()
    .map(|d| Path::new(d).join(name))
    .find(|p| p.exists())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.exists())
}

/// Runs `c` to completion (feeding it `stdin`), timing it and taking its
/// peak RSS from `wait4`. Exits the lesson if the program fails.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also returns its peak RSS"
)]
fn run(mut c: Command, stdin: Option<&str>) -> Run {
    c.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped());
    let start = Instant::now();
    let mut child = c.spawn().unwrap_or_else(|e| {
        eprintln!("error: could not start {c:?}: {e}");
        std::process::exit(1);
    });
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("feed the program");
    }
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_end(&mut stdout)
        .expect("read the program's output");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child (std's Child never reaped it) and
    // writes its status and resource usage into our locals.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if pid < 0 || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        eprintln!("error: {c:?} failed (wait status {status:#x})");
        std::process::exit(1);
    }
    Run {
        stdout,
        wall,
        max_rss_kib: usage.ru_maxrss,
    }
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// Prints the heap: totals, the page heap, the busiest size classes, and
/// the profile's estimate beside the exact figures.
fn show_heap(report: &Value) {
    let s = &report["stats"];
    let pages = &s["pages"];
    println!(
        "process {} ({}), thread cache through {} TLS",
        report["pid"],
        report["program"].as_str().unwrap_or("?"),
        report["tls"].as_str().unwrap_or("?")
    );
    println!(
        "{} allocations, {} frees, {:.1} MiB in live objects; page heap: {:.1} MiB in spans, \
         {:.1} MiB free, {:.1} MiB returned to the OS, {} arena(s)",
        num(&s["total_allocs"]),
        num(&s["total_frees"]),
        mib(num(&s["in_use_bytes"])),
        mib(num(&pages["in_use_bytes"])),
        mib(num(&pages["free_bytes"])),
        mib(num(&pages["released_bytes"])),
        num(&pages["arenas"]),
    );
    let mut classes: Vec<&Value> = s["classes"].as_array().into_iter().flatten().collect();
    classes.sort_by_key(|c| std::cmp::Reverse(num(&c["in_use_bytes"])));
    let profile: Vec<&Value> = report["profile"]["records"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let estimate = |class: u64| {
        profile
            .iter()
            .find(|r| num(&r["class"]) == class)
            .map(|r| num(&r["inuse_bytes"]))
            .unwrap_or(0)
    };
    println!("\nthe size classes holding the most live bytes:");
    let mut t = Table::new([
        "class",
        "object size",
        "allocs",
        "frees",
        "in use",
        "in-use bytes",
        "spans",
        "profile's estimate",
    ]);
    for c in classes.iter().take(8) {
        t.row([
            num(&c["class"]).to_string(),
            format!("{} B", num(&c["object_size"])),
            num(&c["allocs"]).to_string(),
            num(&c["frees"]).to_string(),
            num(&c["in_use_objects"]).to_string(),
            num(&c["in_use_bytes"]).to_string(),
            num(&c["spans"]).to_string(),
            estimate(num(&c["class"])).to_string(),
        ]);
    }
    let large = &s["large"];
    t.row([
        "large".to_string(),
        "> 32 KiB".to_string(),
        num(&large["allocs"]).to_string(),
        num(&large["frees"]).to_string(),
        num(&large["in_use_objects"]).to_string(),
        num(&large["in_use_bytes"]).to_string(),
        "-".to_string(),
        estimate(0).to_string(),
    ]);
    t.print();
    let p = &report["profile"];
    let est_total: u64 = profile.iter().map(|r| num(&r["inuse_bytes"])).sum();
    println!(
        "\nheap profile: {} samples at one per {} bytes on average; estimated in-use \
         {:.1} MiB against {:.1} MiB counted exactly",
        num(&p["samples"]),
        num(&p["sample_rate"]),
        mib(est_total),
        mib(num(&s["in_use_bytes"])),
    );
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
