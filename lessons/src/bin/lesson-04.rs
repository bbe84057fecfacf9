//! Lesson 04: Syscalls and hand-off — a blocking read with and without `syscall`, Ms vs Ps, schedtrace lines
//!
//! A G that makes a blocking system call takes its M (OS thread) into the
//! kernel with it. If the M also keeps its P, no other G can run on that P
//! until the call returns. Go avoids that: `entersyscall` marks the P as
//! being in a syscall, and if the call lasts, `sysmon` retakes the P and
//! `handoffp` gives it to another M; on return, `exitsyscall` tries to get a
//! P back. Our `runtime::syscall(|| ...)` does the same around a closure.
//!
//! The lesson runs, on one P, a ticker G that wants to wake every
//! millisecond next to a G that makes a real blocking read from a slow TCP
//! server: once inside `syscall`, once as a plain call. A sampler thread
//! prints the runtime's schedtrace line (Go's `GODEBUG=schedtrace`) while it
//! happens.

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::slow_server::{SlowServer, request};
use lessons::timeline::Timeline;
use runtime::Runtime;

/// What one run measured.
struct Outcome {
    ticks: u32,
    worst_late: Duration,
    /// The most Ms alive at one time, as the sampler saw it.
    most_threads: usize,
    /// Ps handed to another M (Go's `handoffp`), and taken by sysmon from an
    /// M stuck in a syscall (Go's `retake`).
    handoffs: u64,
    retakes: u64,
    timeline: Timeline,
}

fn main() {
    let args = Cli::new("lesson-04", "syscalls and hand-off")
        .number(
            "--block-ms",
            "MS",
            "how long the blocking read waits",
            200,
            20..=10_000,
        )
        .number(
            "--sample-ms",
            "MS",
            "how often the schedtrace line is printed",
            50,
            1..=10_000,
        )
        .flag(
            "--write-book",
            "also refresh the book's figure (book/runtime/img)",
        )
        .parse();
    let (block, sample) = if args.quick() {
        (Duration::from_millis(60), Duration::from_millis(20))
    } else {
        (
            Duration::from_millis(args.number("--block-ms")),
            Duration::from_millis(args.number("--sample-ms")),
        )
    };

    title("Lesson 04", "Syscalls and hand-off");
    explain(&format!(
        "One P. A ticker G sleeps 1 ms at a time; another G reads from a local TCP \
         server that answers after {} ms. Two runs: the read inside `runtime::syscall`, \
         and the same read called plainly.",
        block.as_millis()
    ));
    let server = SlowServer::start(block).expect("bind a local TCP port");

    section("Run 1: the read inside runtime::syscall");
    let with = run(&server, true, sample);
    section("Run 2: the same read, called plainly");
    let without = run(&server, false, sample);

    section("What the ticker saw");
    let mut t = Table::new([
        "blocking read",
        "ticks while blocked",
        "worst lateness",
        "Ps",
        "most Ms at once",
        "P retaken by sysmon",
        "P handed off",
    ]);
    for (name, o) in [("inside syscall", &with), ("plain call", &without)] {
        t.row([
            name.to_string(),
            o.ticks.to_string(),
            format!("{:.1} ms", o.worst_late.as_secs_f64() * 1e3),
            "1".to_string(),
            o.most_threads.to_string(),
            o.retakes.to_string(),
            o.handoffs.to_string(),
        ]);
    }
    t.print();
    println!(
        "inside syscall: {} ticks while the read blocked; plain call: {} ticks",
        with.ticks, without.ticks
    );
    notice(
        "with one P, the plain blocking call froze every G for the whole read: its M \
         kept the P while it sat in the kernel. Inside `syscall`, the P went to another \
         M and the ticker kept ticking; that is why there are more Ms than Ps. Go \
         does this for every syscall without being asked.",
    );

    section("Artefacts");
    let dir = artefacts::lesson_dir(4).expect("create target/lessons/lesson-04");
    for (file, o, what) in [
        ("inside-syscall.svg", &with, "the read inside syscall"),
        ("plain-call.svg", &without, "the read as a plain call"),
    ] {
        let svg = o.timeline.to_svg(&format!("lesson-04: one P, {what}"));
        let path = artefacts::write(&dir, file, &svg).expect("write svg");
        wrote("timeline", &path);
        if args.flag("--write-book") {
            let img = artefacts::book_dir("runtime/img").expect("book/runtime/img");
            let path =
                artefacts::write(&img, &format!("lesson-04-{file}"), &svg).expect("write svg");
            wrote("the book's figure", &path);
        }
    }
}

fn run(server: &SlowServer, inside_syscall: bool, sample: Duration) -> Outcome {
    let rt = Runtime::builder()
        .procs(1)
        .trace(true)
        .build()
        .expect("build the runtime");
    let addr = server.addr();
    let done = AtomicBool::new(false);
    let most_threads = AtomicUsize::new(0);
    let (ticks, worst_late) = std::thread::scope(|scope| {
        // The sampler is an ordinary thread outside the runtime, like Go's
        // schedtrace output, which sysmon prints on a timer.
        scope.spawn(|| {
            let start = Instant::now();
            while !done.load(Ordering::Acquire) {
                most_threads.fetch_max(rt.metrics().threads, Ordering::Relaxed);
                println!(
                    "  [{:>4} ms] {}",
                    start.elapsed().as_millis(),
                    rt.schedtrace_line()
                );
                std::thread::park_timeout(sample);
            }
        });
        let (sleeps, (started, finished)) = rt.block_on(async {
            let blocking = Arc::new(AtomicBool::new(true));
            // The ticker records when each 1 ms sleep was asked for and when
            // it actually woke up.
            let ticker = {
                let blocking = blocking.clone();
                runtime::spawn(async move {
                    let mut sleeps = Vec::new();
                    while blocking.load(Ordering::Acquire) {
                        let asked = Instant::now();
                        runtime::sleep(Duration::from_millis(1)).await;
                        sleeps.push((asked, Instant::now()));
                    }
                    sleeps
                })
            };
            runtime::yield_now().await;
            // ANCHOR: blocking_read
            let reader = runtime::spawn(async move {
                let conn = TcpStream::connect(addr).expect("connect");
                let started = Instant::now();
                let reply = if inside_syscall {
                    // entersyscall: the P is handed to another M while we wait.
                    runtime::syscall(|| request(&conn, "GET /"))
                } else {
                    // The M blocks in read(2) and keeps its P.
                    request(&conn, "GET /")
                };
                let finished = Instant::now();
                blocking.store(false, Ordering::Release);
                (reply, started, finished)
            });
            // ANCHOR_END: blocking_read
            let (reply, started, finished) = reader.await.expect("reader panicked");
            let reply = reply.expect("read a reply");
            assert!(reply.starts_with("200 OK"), "unexpected reply {reply}");
            let sleeps = ticker.await.expect("ticker panicked");
            (sleeps, (started, finished))
        });
        // Ticks that happened while the read was blocked, and the worst
        // lateness of any sleep that overlapped the read.
        let ticks = sleeps
            .iter()
            .filter(|(_, woke)| *woke > started && *woke < finished)
            .count();
        let worst = sleeps
            .iter()
            .filter(|(asked, woke)| *asked < finished && *woke > started)
            .map(|(asked, woke)| {
                woke.duration_since(*asked)
                    .saturating_sub(Duration::from_millis(1))
            })
            .max()
            .unwrap_or_default();
        let result = (ticks as u32, worst);
        done.store(true, Ordering::Release);
        result
    });
    let m = rt.metrics();
    println!(
        "ticks while blocked: {}, worst lateness {:.1} ms, most Ms at once {}, Ps 1",
        ticks,
        worst_late.as_secs_f64() * 1e3,
        most_threads.load(Ordering::Relaxed)
    );
    let trace = rt.trace().expect("tracing was enabled");
    Outcome {
        ticks,
        worst_late,
        most_threads: most_threads.load(Ordering::Relaxed),
        handoffs: m.handoffs,
        retakes: m.retakes,
        timeline: Timeline::from_trace(&trace),
    }
}
