//! Lesson 02: G, M and P — Gs spawned by one G spread over the Ps through the local queue, the global queue and steals
//!
//! One G spawns many small Gs. Each new G goes into the spawning P's local
//! run queue (Go's `runqput`); the most recent one sits in the `runnext`
//! slot. The local queue holds 256: when it is full, half of it moves to the
//! global queue (Go's `runqputslow`). Idle Ps wake up, find the global queue
//! or steal half of a busy P's local queue (Go's `runqsteal`), and soon every
//! P is running Gs it did not create.
//!
//! The run is traced. The lesson counts what each P ran, prints the queue
//! counters, writes the trace as Chrome Trace JSON (open it in Perfetto) and
//! draws a per-P timeline as SVG.

use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::timeline::{Timeline, fmt_ns};
use runtime::{RunQueueKind, Runtime, Trace};

fn main() {
    let args = Cli::new("lesson-02", "G, M and P")
        .number("--procs", "N", "number of Ps (Go's GOMAXPROCS)", 4, 1..=64)
        .number(
            "--tasks",
            "N",
            "how many Gs the first G spawns",
            1_000,
            1..=1_000_000,
        )
        .number(
            "--work-us",
            "US",
            "busy work per G, in microseconds",
            40,
            0..=100_000,
        )
        .choice(
            "--queue",
            "local run queue: Go's 256-slot ring, or crossbeam-deque",
            "ring",
            &["ring", "deque"],
        )
        .flag(
            "--write-book",
            "also refresh the book's copy (book/runtime/data, book/runtime/img)",
        )
        .parse();
    let procs = args.number("--procs") as usize;
    let (tasks, work) = if args.quick() {
        (300, Duration::from_micros(40))
    } else {
        (
            args.number("--tasks") as usize,
            Duration::from_micros(args.number("--work-us")),
        )
    };

    let queue = match args.choice("--queue") {
        "deque" => RunQueueKind::CrossbeamDeque,
        _ => RunQueueKind::GoRing,
    };

    title("Lesson 02", "G, M and P");
    explain(&format!(
        "One G spawns {tasks} Gs on a runtime with {procs} Ps. Each G spins for {} µs, \
         yields once, spins again and finishes. Local run queue: {}. Tracing is on.",
        work.as_micros() / 2,
        if queue == RunQueueKind::GoRing {
            "Go's 256-slot ring"
        } else {
            "crossbeam-deque"
        }
    ));

    // ANCHOR: spawn
    let rt = Runtime::builder()
        .procs(procs)
        .run_queue(queue)
        .trace(true)
        .build()
        .expect("build the runtime");
    let started = Instant::now();
    let total: u64 = rt.block_on(async move {
        let parent = runtime::spawn(async move {
            // Every spawn lands in this P's local queue (or runnext) first.
            let children: Vec<_> = (0..tasks)
                .map(|i| runtime::spawn(small_work(i as u64, work)))
                .collect();
            let mut sum = 0;
            for child in children {
                sum += child.await.expect("child G panicked");
            }
            sum
        });
        parent.await.expect("parent G panicked")
    });
    // ANCHOR_END: spawn
    let elapsed = started.elapsed();
    let expected: u64 = (0..tasks as u64).sum();
    assert_eq!(total, expected, "every child returned its index");
    println!(
        "all {tasks} Gs finished in {} ms (sum of their results: {total})",
        elapsed.as_millis()
    );

    let trace = rt.trace().expect("tracing was enabled");
    let timeline = Timeline::from_trace(&trace);
    let metrics = rt.metrics();

    section("Where the Gs ran");
    let runs = timeline.runs_per_p();
    let gs = timeline.gs_per_p();
    let busy = timeline.busy_ns_per_p();
    let mut t = Table::new(["P", "Gs run", "runs", "busy", "share of Gs"]);
    for p in 0..timeline.procs {
        t.row([
            format!("P{p}"),
            gs[p].to_string(),
            runs[p].to_string(),
            fmt_ns(busy[p]),
            format!("{:.0}%", 100.0 * gs[p] as f64 / tasks.max(1) as f64),
        ]);
    }
    t.print();
    let ps_used = gs.iter().filter(|n| **n > 0).count();
    println!("Ps that ran Gs: {ps_used} of {procs}");

    section("How they got there");
    // ANCHOR: counters
    let steal_events = trace.count(|k| matches!(k, runtime::EventKind::Steal { .. }));
    let mut t = Table::new(["counter", "value", "Go's name"]);
    t.row(["Gs spawned", &metrics.tasks_spawned.to_string(), "newproc"]);
    t.row([
        "Gs moved out of a full local queue",
        &metrics.local_overflows.to_string(),
        "runqputslow",
    ]);
    t.row([
        "Gs put on the global queue (any cause)",
        &metrics.global_queue_pushes.to_string(),
        "globrunqputbatch",
    ]);
    t.row(["steals", &metrics.steals.to_string(), "runqsteal"]);
    t.row([
        "Gs moved by steals",
        &metrics.stolen_tasks.to_string(),
        "runqgrab",
    ]);
    t.row(["steal events in the trace", &steal_events.to_string(), "-"]);
    t.row([
        "Ms (OS threads) started",
        &metrics.threads_started.to_string(),
        "newm",
    ]);
    // ANCHOR_END: counters
    t.print();
    notice(
        "the first G created every other G, so they all started in one P's local queue. \
         The other Ps got theirs from the global queue (the overflow of a full local \
         queue) or by stealing half of a busy P's queue. No G was ever assigned to a P \
         by anyone but the Ps themselves.",
    );

    section("Artefacts");
    let dir = artefacts::lesson_dir(2).expect("create target/lessons/lesson-02");
    let trace_path = dir.join("trace.json");
    trace
        .write_chrome_json(&trace_path)
        .expect("write trace.json");
    wrote(
        "Chrome trace (open in https://ui.perfetto.dev)",
        &trace_path,
    );
    let window_end = figure_window(&timeline, procs);
    let figure = timeline.window(0, window_end);
    let caption = format!(
        "lesson-02: {tasks} Gs spawned by one G on {procs} Ps (first {} of the run)",
        fmt_ns(window_end)
    );
    let svg = figure.to_svg(&caption);
    let svg_path = artefacts::write(&dir, "timeline.svg", &svg).expect("write timeline.svg");
    wrote("per-P timeline", &svg_path);

    if args.flag("--write-book") {
        let small = trim(&trace, window_end);
        let data = artefacts::book_dir("runtime/data").expect("book/runtime/data");
        let path = data.join("lesson-02-trace.json");
        small
            .write_chrome_json(&path)
            .expect("write the book's trace");
        wrote("the book's trace", &path);
        let img = artefacts::book_dir("runtime/img").expect("book/runtime/img");
        let path = artefacts::write(&img, "lesson-02-timeline.svg", &svg).expect("write svg");
        wrote("the book's figure", &path);
    }
    println!(
        "\nOpen the trace: https://ui.perfetto.dev → Open trace file → {}",
        trace_path.display()
    );
}

/// A G's work: spin, yield, spin. Returns its index so the parent can check it.
async fn small_work(i: u64, work: Duration) -> u64 {
    spin(work / 2);
    runtime::yield_now().await;
    spin(work / 2);
    i
}

/// Busy-waits on the clock: real CPU work that takes a known time.
fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// The end of the stretch the figure shows: long enough for about 40 runs per
/// P, so every bar stays readable.
fn figure_window(t: &Timeline, procs: usize) -> u64 {
    let wanted = 40 * procs;
    t.runs
        .get(wanted)
        .map(|r| r.start_ns)
        .unwrap_or_else(|| t.end_ns())
        .max(1)
}

/// The trace cut to its first `until_ns` (since its first event), small
/// enough to ship with the book.
fn trim(trace: &Trace, until_ns: u64) -> Trace {
    let t0 = trace.events.first().map_or(0, |e| e.ts_ns);
    Trace {
        procs: trace.procs,
        events: trace
            .events
            .iter()
            .filter(|e| e.ts_ns - t0 <= until_ns)
            .cloned()
            .collect(),
    }
}
