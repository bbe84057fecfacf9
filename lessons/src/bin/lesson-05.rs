//! Lesson 05: Work stealing and fairness — an unbalanced fork-join on both run-queue backends, and the 61-tick global check
//!
//! Part 1. A fork-join tree that splits its work unevenly (a quarter left,
//! three quarters right) puts most of the work on whichever P happens to hold
//! the big halves. Idle Ps steal half of a busy P's local queue (Go's
//! `runqsteal`, `n - n/2`), so the work spreads out anyway. The lesson runs
//! the same tree on both local run-queue backends: the Go-style 256-slot ring
//! and crossbeam-deque, and counts the steals.
//!
//! Part 2. A P always prefers its own local queue, so a G that keeps
//! spawning Gs locally could keep the global queue waiting forever. Go's
//! `schedule` therefore looks at the global queue first once every 61
//! schedule ticks (`schedtick % 61 == 0`). The lesson parks one G in the
//! global queue behind a flood of local Gs and shows on which tick it ran.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title};
use lessons::timeline::Timeline;
use runtime::{RunQueueKind, Runtime};

fn main() {
    let args = Cli::new("lesson-05", "work stealing and fairness")
        .number("--procs", "N", "number of Ps", 4, 2..=64)
        .number(
            "--work",
            "UNITS",
            "total work in the tree (1 unit ≈ 1 µs)",
            200_000,
            1_000..=100_000_000,
        )
        .choice(
            "--queue",
            "which local run queue to use",
            "both",
            &["both", "ring", "deque"],
        )
        .parse();
    let procs = args.number("--procs") as usize;
    let work = if args.quick() {
        20_000
    } else {
        args.number("--work")
    };
    let backends: Vec<(&str, RunQueueKind)> = match args.choice("--queue") {
        "ring" => vec![("Go ring", RunQueueKind::GoRing)],
        "deque" => vec![("crossbeam-deque", RunQueueKind::CrossbeamDeque)],
        _ => vec![
            ("Go ring", RunQueueKind::GoRing),
            ("crossbeam-deque", RunQueueKind::CrossbeamDeque),
        ],
    };

    title("Lesson 05", "Work stealing and fairness");

    section("1. An unbalanced fork-join");
    explain(&format!(
        "A tree of Gs does {work} units of work (1 unit ≈ 1 µs of spinning): each G \
         splits its share into a quarter and three quarters and spawns both, down to \
         leaves of {LEAF} units. {procs} Ps.",
    ));
    let mut t = Table::new([
        "run queue",
        "time",
        "steals",
        "Gs stolen",
        "busiest P's share of the Gs",
    ]);
    for (name, kind) in &backends {
        let rt = Runtime::builder()
            .procs(procs)
            .run_queue(*kind)
            .trace(true)
            .build()
            .expect("build the runtime");
        let started = Instant::now();
        let sum = rt.block_on(async move { runtime::spawn(tree(work)).await.expect("tree") });
        let elapsed = started.elapsed();
        assert_eq!(sum, work, "the tree did all of its work");
        let m = rt.metrics();
        let timeline = Timeline::from_trace(&rt.trace().expect("tracing was enabled"));
        // Each tree node is one G: count where they ran.
        let gs = timeline.gs_per_p();
        let total: usize = gs.iter().sum();
        let max = gs.iter().copied().max().unwrap_or(0);
        t.row([
            name.to_string(),
            format!("{} ms", elapsed.as_millis()),
            m.steals.to_string(),
            m.stolen_tasks.to_string(),
            format!("{:.0}%", 100.0 * max as f64 / total.max(1) as f64),
        ]);
        let dir = artefacts::lesson_dir(5).expect("create target/lessons/lesson-05");
        let file = if *kind == RunQueueKind::GoRing {
            "fork-join-ring"
        } else {
            "fork-join-deque"
        };
        let svg = timeline.to_svg(&format!(
            "lesson-05: unbalanced fork-join on {procs} Ps, {name}"
        ));
        artefacts::write(&dir, &format!("{file}.svg"), &svg).expect("write the timeline");
        let json = serde_json::to_string_pretty(&m).expect("metrics serialise");
        artefacts::write(&dir, &format!("{file}-metrics.json"), &json).expect("write metrics");
        println!(
            "{name}: {} steals moved {} Gs; tree Gs run per P: {}",
            m.steals,
            m.stolen_tasks,
            gs.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    t.print();
    println!("timelines and counters: target/lessons/lesson-05/fork-join-*.svg, *-metrics.json");
    notice(&format!(
        "every G was spawned by another G, so without stealing the whole tree would \
         run where it started. The busiest P did far less than all of it: idle Ps \
         stole. With {procs} Ps sharing the work evenly, each would have 1/{procs}. The \
         times are information, not a benchmark: `cargo bench -p runtime` compares \
         the two queues properly.",
    ));

    section("2. The global queue is checked every 61 ticks");
    fairness(args.quick());
}

/// Work below this many units is done in place rather than split.
const LEAF: u64 = 500;

// ANCHOR: tree
/// A G that does `units` of work, splitting it a quarter / three quarters.
fn tree(units: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if units <= LEAF {
            spin_units(units);
            return units;
        }
        let quarter = units / 4;
        let small = runtime::spawn(tree(quarter));
        let large = runtime::spawn(tree(units - quarter));
        small.await.expect("small half") + large.await.expect("large half")
    })
}
// ANCHOR_END: tree

/// About a microsecond of CPU per unit.
fn spin_units(units: u64) {
    let until = Instant::now() + Duration::from_micros(units);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn fairness(quick: bool) {
    let rounds: u64 = if quick { 2_000 } else { 20_000 };
    explain(
        "One P. Two Gs take turns: each does a little work and yields, so the local \
         queue is never empty and every turn starts a new time slice (a schedule \
         tick). While they run, a plain thread outside the runtime spawns one G, which \
         goes to the global queue. We count the local turns it waited.",
    );
    let waited = global_wait(rounds, Hog::Yielders);
    println!("the global G ran after {waited} local time slices (Go's check: every 61 ticks)");
    notice(
        "without the check the global G would wait for the local Gs to finish, here \
         thousands of turns. 61 is Go's number: a prime, so it does not fall into step \
         with programs that do something every 2^k iterations.",
    );

    explain(
        "Second try: one G that re-spawns itself. Each new G goes to `runnext` and \
         inherits the time slice of the G that spawned it, so the tick only advances when \
         a slice's budget of 128 polls is spent.",
    );
    let waited = global_wait(rounds * 10, Hog::Respawner);
    println!(
        "the global G ran after {waited} re-spawned Gs, about {:.0} time slices of 128 polls",
        waited as f64 / 128.0
    );
    notice(
        "ticks count time slices, not Gs. A G started from runnext inherits the slice, \
         so a chain of spawns shares one slice until its budget runs out; the global G \
         still gets in, after 61 slices rather than 61 Gs.",
    );
}

/// The local work that keeps one P busy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hog {
    /// Two Gs that yield to each other.
    Yielders,
    /// One G that spawns its successor and ends.
    Respawner,
}

/// Runs `hog` on one P, injects a G into the global queue from a plain
/// thread once the hog is running, and returns how many local runs happened
/// between the injection and the global G's first run.
fn global_wait(rounds: u64, hog: Hog) -> u64 {
    let rt = Runtime::builder()
        .procs(1)
        .build()
        .expect("build the runtime");
    let local_runs = Arc::new(AtomicU64::new(0));
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        // ANCHOR: fairness
        let injector = scope.spawn(|| {
            let started_rx = started_rx; // moved in: a Receiver is not Sync
            started_rx.recv().expect("the local Gs started");
            let queued_at = local_runs.load(Ordering::SeqCst);
            let runs = local_runs.clone();
            // From a thread that is not an M: the G goes to the global queue.
            let global = rt.spawn(async move { runs.load(Ordering::SeqCst) });
            (queued_at, global)
        });
        rt.block_on(async {
            let hogs: Vec<_> = match hog {
                Hog::Yielders => (0..2)
                    .map(|_| {
                        runtime::spawn(yielder(local_runs.clone(), rounds, started_tx.clone()))
                    })
                    .collect(),
                Hog::Respawner => {
                    let end = Arc::new(ChainEnd::default());
                    let first = runtime::spawn(respawn(
                        local_runs.clone(),
                        rounds,
                        Some(started_tx.clone()),
                        end.clone(),
                    ));
                    // Sleep until the last link: no wake-up of ours in between.
                    end.wait().await;
                    vec![first]
                }
            };
            for h in hogs {
                h.await.expect("local G");
            }
        });
        let (queued_at, global) = injector.join().expect("injector thread");
        let ran_at = rt.block_on(global).expect("global G");
        // ANCHOR_END: fairness
        assert!(
            ran_at < rounds * if hog == Hog::Yielders { 2 } else { 1 },
            "the global G ran only after the local work ended"
        );
        ran_at - queued_at
    })
}

/// A G that counts a turn and yields, `rounds` times.
async fn yielder(runs: Arc<AtomicU64>, rounds: u64, started: std::sync::mpsc::Sender<()>) {
    let _ = started.send(());
    for _ in 0..rounds {
        runs.fetch_add(1, Ordering::SeqCst);
        spin_units(2);
        runtime::yield_now().await;
    }
}

/// A G that counts itself and spawns its successor, `left` more times.
fn respawn(
    runs: Arc<AtomicU64>,
    left: u64,
    started: Option<std::sync::mpsc::Sender<()>>,
    end: Arc<ChainEnd>,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if let Some(tx) = started {
            let _ = tx.send(());
        }
        runs.fetch_add(1, Ordering::SeqCst);
        if left > 0 {
            // Not awaited: the chain goes on without its ancestors.
            drop(runtime::spawn(respawn(runs, left - 1, None, end)));
        } else {
            end.finish();
        }
    })
}

/// Tells the root future that the chain has ended: a flag and a waker, so
/// that the root stays asleep (and off the P) until then.
#[derive(Default)]
struct ChainEnd {
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl ChainEnd {
    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().expect("not poisoned").take() {
            w.wake();
        }
    }

    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            *self.waker.lock().expect("not poisoned") = Some(cx.waker().clone());
            if self.done.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}
