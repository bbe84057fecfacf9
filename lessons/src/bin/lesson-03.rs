//! Lesson 03: Preemption — on one P, a spinning G with and without a preemption point, and what sysmon did
//!
//! With one P (Go's `GOMAXPROCS=1`) only one G runs at a time. A second G,
//! a "ticker" that wants to wake every millisecond, can run only when the
//! spinning G gives the P back. Go forces that: `sysmon` notices a goroutine
//! that has run for more than 10 ms and preempts it (since Go 1.14, even a
//! loop with no function calls, with a signal). Our runtime is cooperative:
//! sysmon (or the poll budget) only *asks*, and the G yields at its next
//! `preempt_point().await`. A loop with no preemption point is never
//! preempted. This lesson runs both loops and measures what the ticker saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::timeline::{Stop, Timeline};
use runtime::Runtime;

/// What one run measured.
struct Outcome {
    /// The ticker's longest wait for the P between two of its turns.
    worst_late: Duration,
    /// How many turns it got while the spinner spun.
    turns: u32,
    /// Preemptions counted by the runtime, by cause.
    by_budget: u64,
    by_sysmon: u64,
    /// The spinner's G id in the trace (the G that ran longest).
    spinner: u64,
    /// The whole run as the trace saw it.
    timeline: Timeline,
}

fn main() {
    let args = Cli::new("lesson-03", "preemption")
        .number(
            "--spin-ms",
            "MS",
            "how long the spinning G spins",
            200,
            20..=10_000,
        )
        .flag(
            "--write-book",
            "also refresh the book's figure (book/runtime/img)",
        )
        .parse();
    let spin_for = if args.quick() {
        Duration::from_millis(60)
    } else {
        Duration::from_millis(args.number("--spin-ms"))
    };

    title("Lesson 03", "Preemption");
    explain(&format!(
        "One P. A spinner G spins for {} ms. A ticker G is always ready to run: \
         each turn it notes how long it waited since its last turn, then yields. \
         Two runs: the spinner calls `preempt_point().await` in its loop, or it does not.",
        spin_for.as_millis()
    ));

    let coop = run(spin_for, true);
    let hog = run(spin_for, false);

    section("What the ticker saw");
    let mut t = Table::new([
        "spinner",
        "ticker turns",
        "longest wait",
        "preempted (budget)",
        "preempted (sysmon)",
        "spinner's runs",
    ]);
    for (name, o) in [("with preempt_point", &coop), ("without", &hog)] {
        t.row([
            name.to_string(),
            o.turns.to_string(),
            format!("{:.1} ms", o.worst_late.as_secs_f64() * 1e3),
            o.by_budget.to_string(),
            o.by_sysmon.to_string(),
            o.timeline.runs_of(o.spinner).len().to_string(),
        ]);
    }
    t.print();
    println!(
        "with preempt_point: the ticker waited at most {:.1} ms for the P",
        coop.worst_late.as_secs_f64() * 1e3
    );
    println!(
        "without: the ticker waited {:.1} ms for the P, the whole spin",
        hog.worst_late.as_secs_f64() * 1e3
    );

    section("Stop reasons in the trace");
    let mut t = Table::new(["spinner", "yield", "preempt", "block", "done"]);
    for (name, o) in [("with preempt_point", &coop), ("without", &hog)] {
        let stops = o.timeline.stops();
        let n = |s| stops.get(&s).copied().unwrap_or(0).to_string();
        t.row([
            name.to_string(),
            n(Stop::Yield),
            n(Stop::Preempt),
            n(Stop::Block),
            n(Stop::Done),
        ]);
    }
    t.print();
    notice(
        "sysmon asks a G that has run for 10 ms to yield, but only a G that reaches a \
         preemption point can say yes. Without one, the ticker starves for the whole \
         spin, and so would every other G on this P. Go closes that gap with \
         asynchronous preemption (a signal); a cooperative runtime cannot.",
    );

    section("Artefacts");
    let dir = artefacts::lesson_dir(3).expect("create target/lessons/lesson-03");
    for (file, o, what) in [
        (
            "with-preempt-point.svg",
            &coop,
            "with preempt_point().await",
        ),
        (
            "without-preempt-point.svg",
            &hog,
            "without a preemption point",
        ),
    ] {
        let svg = o
            .timeline
            .to_svg(&format!("lesson-03: one P, spinner {what}"));
        let path = artefacts::write(&dir, file, &svg).expect("write svg");
        wrote("timeline", &path);
        if args.flag("--write-book") {
            let img = artefacts::book_dir("runtime/img").expect("book/runtime/img");
            let path =
                artefacts::write(&img, &format!("lesson-03-{file}"), &svg).expect("write svg");
            wrote("the book's figure", &path);
        }
    }
}

fn run(spin_for: Duration, cooperative: bool) -> Outcome {
    let rt = Runtime::builder()
        .procs(1)
        .trace(true)
        .build()
        .expect("build the runtime");
    let (worst_late, turns) = rt.block_on(async move {
        let spinning = Arc::new(AtomicBool::new(true));
        // ANCHOR: experiment
        let spinner = {
            let spinning = spinning.clone();
            runtime::spawn(async move {
                spin(spin_for, cooperative).await;
                spinning.store(false, Ordering::Release);
            })
        };
        // The ticker is always ready to run: it records the gap since its
        // last turn and yields, so each of its turns needs the P back.
        let ticker = runtime::spawn(async move {
            let (mut worst, mut turns) = (Duration::ZERO, 0u32);
            while spinning.load(Ordering::Acquire) {
                turns += 1;
                let gave_up_the_p = Instant::now();
                runtime::yield_now().await;
                worst = worst.max(gave_up_the_p.elapsed());
            }
            (worst, turns)
        });
        // ANCHOR_END: experiment
        spinner.await.expect("spinner panicked");
        ticker.await.expect("ticker panicked")
    });
    let m = rt.metrics();
    let trace = rt.trace().expect("tracing was enabled");
    let timeline = Timeline::from_trace(&trace);
    // The spinner is the G with the most running time.
    let mut time_by_g = std::collections::BTreeMap::<u64, u64>::new();
    for r in &timeline.runs {
        *time_by_g.entry(r.g).or_default() += r.end_ns - r.start_ns;
    }
    let spinner = time_by_g
        .iter()
        .max_by_key(|(_, t)| **t)
        .map_or(0, |(g, _)| *g);
    Outcome {
        worst_late,
        turns,
        by_budget: m.preemptions_budget,
        by_sysmon: m.preemptions_sysmon,
        spinner,
        timeline,
    }
}

// ANCHOR: spin
/// Spins for `d`. The cooperative version offers the scheduler a chance to
/// take the P back on every iteration; `preempt_point` costs a load and a
/// branch unless the runtime has asked this G to yield.
async fn spin(d: Duration, cooperative: bool) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        // 100 µs of work between two preemption points.
        let step = Instant::now() + Duration::from_micros(100);
        while Instant::now() < step {
            std::hint::spin_loop();
        }
        if cooperative {
            runtime::preempt_point().await;
        }
    }
}
// ANCHOR_END: spin
