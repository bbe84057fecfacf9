//! How much memory does a parked G cost? Ours against tokio.
//!
//! A goroutine starts with a 2 KiB stack, so a million parked goroutines
//! cost Go about 2 GiB of stack alone. A task in a stackless runtime is only
//! its future's state machine plus a header, so it should be far cheaper. This
//! example measures it for real:
//!
//! 1. build the runtime (its threads are part of the baseline),
//! 2. read the resident set size (`VmRSS` in `/proc/self/status`),
//! 3. spawn 1,000,000 tasks that each park on a gate (a never-ready future
//!    until released), and wait until every one has been polled and parked,
//! 4. read the RSS again: (after - before) / tasks is the cost of one parked
//!    G, including its allocation, its waker and its place in the scheduler,
//! 5. release the gate and join every task, so nothing is leaked.
//!
//! Each runtime is measured in a child process of its own (this same binary,
//! re-run with `--child`), so memory one runtime freed cannot flatter the
//! other. The gate's one waker slot per task is allocated and touched before
//! the first reading, so it is not counted.
//!
//! ```text
//! cargo run --release -p runtime --example parked_gs [-- --tasks N]
//! ```

#[cfg(loom)]
fn main() {
    eprintln!("parked_gs measures real memory; it does nothing under --cfg loom");
}

#[cfg(not(loom))]
fn main() {
    real::main();
}

#[cfg(not(loom))]
mod real {
    use std::future::Future;
    use std::pin::Pin;
    use std::process::{Command, ExitCode};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    const DEFAULT_TASKS: usize = 1_000_000;
    const WORKERS: usize = 2;

    const USAGE: &str =
        "usage: parked_gs [--tasks N]   (N between 1 and 10000000, default 1000000)";

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let code = match args.as_slice() {
            [] => parent(DEFAULT_TASKS),
            ["--tasks", n] => match parse_tasks(n) {
                Ok(n) => parent(n),
                Err(e) => fail(&e),
            },
            ["--child", which, n] => match parse_tasks(n) {
                Ok(n) => child(which, n),
                Err(e) => fail(&e),
            },
            ["--help" | "-h"] => {
                println!("{USAGE}");
                ExitCode::SUCCESS
            }
            _ => fail(&format!("unexpected arguments {args:?}")),
        };
        std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 2 });
    }

    fn fail(message: &str) -> ExitCode {
        eprintln!("parked_gs: {message}\n{USAGE}");
        ExitCode::FAILURE
    }

    fn parse_tasks(text: &str) -> Result<usize, String> {
        match text.parse::<usize>() {
            Ok(n) if (1..=10_000_000).contains(&n) => Ok(n),
            _ => Err(format!(
                "--tasks wants a number from 1 to 10000000, got {text:?}"
            )),
        }
    }

    /// Runs one child per runtime and prints their reports side by side.
    fn parent(tasks: usize) -> ExitCode {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => return fail(&format!("cannot find this program to re-run it: {e}")),
        };
        println!(
            "{tasks} parked tasks, {WORKERS} workers; RSS from /proc/self/status, each runtime in its own process"
        );
        for which in ["ours", "tokio"] {
            let output = Command::new(&exe)
                .args(["--child", which, &tasks.to_string()])
                .output();
            match output {
                Ok(out) if out.status.success() => {
                    print!("{}", String::from_utf8_lossy(&out.stdout))
                }
                Ok(out) => {
                    eprintln!(
                        "the {which} child failed ({}):\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    );
                    return ExitCode::FAILURE;
                }
                Err(e) => return fail(&format!("cannot run the {which} child: {e}")),
            }
        }
        println!("(Go: about 2048 bytes of stack per parked goroutine, before its g struct)");
        ExitCode::SUCCESS
    }

    fn child(which: &str, tasks: usize) -> ExitCode {
        let gate = Arc::new(Gate::new(tasks));
        let (before, after) = match which {
            "ours" => {
                let rt = runtime::Runtime::builder()
                    .procs(WORKERS)
                    .build()
                    .expect("building our runtime");
                rt.block_on(measure(gate.clone(), |f| drop(runtime::spawn(f))))
            }
            "tokio" => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(WORKERS)
                    .enable_all()
                    .build()
                    .expect("building tokio's runtime");
                rt.block_on(measure(gate.clone(), |f| drop(tokio::spawn(f))))
            }
            other => return fail(&format!("unknown runtime {other:?} (ours or tokio)")),
        };
        assert_eq!(
            gate.finished.load(Ordering::Acquire),
            tasks,
            "every task ran to the end"
        );
        let per_task = (after.saturating_sub(before)) as f64 / tasks as f64;
        println!(
            "{which:>5}: RSS {:.1} MiB before, {:.1} MiB with all parked: {per_task:.0} bytes per parked G",
            before as f64 / (1 << 20) as f64,
            after as f64 / (1 << 20) as f64,
        );
        ExitCode::SUCCESS
    }

    /// Spawns every task through `spawn`, waits until all have parked, reads
    /// RSS before and after, then releases and joins them.
    async fn measure(gate: Arc<Gate>, spawn: impl Fn(ParkedTask)) -> (u64, u64) {
        let before = rss_bytes();
        for index in 0..gate.slots.len() {
            spawn(ParkedTask {
                gate: gate.clone(),
                index,
            });
        }
        WaitFor {
            gate: &gate,
            count: &gate.parked,
        }
        .await;
        let after = rss_bytes();
        gate.release();
        WaitFor {
            gate: &gate,
            count: &gate.finished,
        }
        .await;
        (before, after)
    }

    /// Resident set size in bytes, from the `VmRSS` line (in kB).
    fn rss_bytes() -> u64 {
        let status =
            std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
        let kb: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line in /proc/self/status");
        kb * 1024
    }

    /// Where the tasks park: one waker slot per task, and counters the main
    /// future waits on.
    struct Gate {
        released: AtomicBool,
        slots: Vec<Mutex<Option<Waker>>>,
        parked: AtomicUsize,
        finished: AtomicUsize,
        main: Mutex<Option<Waker>>,
    }

    impl Gate {
        fn new(tasks: usize) -> Self {
            // `collect` writes every slot, so the pages are resident before
            // the first reading.
            Self {
                released: AtomicBool::new(false),
                slots: (0..tasks).map(|_| Mutex::new(None)).collect(),
                parked: AtomicUsize::new(0),
                finished: AtomicUsize::new(0),
                main: Mutex::new(None),
            }
        }

        fn bump(&self, count: &AtomicUsize) {
            let last = count.fetch_add(1, Ordering::AcqRel) + 1 == self.slots.len();
            if last && let Some(waker) = self.main.lock().unwrap().take() {
                waker.wake();
            }
        }

        fn finish_one(&self) {
            self.bump(&self.finished);
        }

        fn release(&self) {
            self.released.store(true, Ordering::Release);
            for slot in &self.slots {
                if let Some(waker) = slot.lock().unwrap().take() {
                    waker.wake();
                }
            }
        }
    }

    /// The task itself: pending until the gate is released, then done. A
    /// hand-written future (an `Arc` and an index) rather than an `async`
    /// block in a `Box`, so the figure is the runtime's cost, not ours.
    struct ParkedTask {
        gate: Arc<Gate>,
        index: usize,
    }

    impl Future for ParkedTask {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let gate = &self.gate;
            let mut slot = gate.slots[self.index].lock().unwrap();
            // Checked under the slot's lock: `release` sets the flag before
            // taking the slot's lock, so either we see it or it sees our waker.
            if gate.released.load(Ordering::Acquire) {
                drop(slot);
                gate.finish_one();
                return Poll::Ready(());
            }
            let first_park = slot.is_none();
            *slot = Some(cx.waker().clone());
            drop(slot);
            if first_park {
                gate.bump(&gate.parked);
            }
            Poll::Pending
        }
    }

    /// Pending until `count` reaches the number of tasks.
    struct WaitFor<'a> {
        gate: &'a Gate,
        count: &'a AtomicUsize,
    }

    impl Future for WaitFor<'_> {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let done = || self.count.load(Ordering::Acquire) == self.gate.slots.len();
            if done() {
                return Poll::Ready(());
            }
            *self.gate.main.lock().unwrap() = Some(cx.waker().clone());
            // Re-check after publishing the waker: the last task may have
            // looked for it just before we stored it.
            if done() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }
}
