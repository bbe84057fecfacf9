//! Lesson 01: Cancellation and deadlines — a request to a slow server with a deadline, and no task left behind
//!
//! Go gives every request a `context.Context` with a deadline; when it
//! expires, whatever waits on the context returns `context.DeadlineExceeded`
//! and the request's goroutine is expected to unwind. Our runtime's version
//! of "wait, but not past the deadline" is `runtime::timeout`, which returns
//! `Err(Elapsed)` and drops the future it was waiting on.
//!
//! Dropping a future cancels it only at an `.await`. A thread blocked in a
//! read syscall is not at an `.await`: it stays blocked until the kernel
//! returns. This lesson shows both halves against a real TCP server on
//! 127.0.0.1 that answers slowly, and then the two honest fixes: shut the
//! socket down when the deadline passes (what Go's HTTP client does when the
//! context is cancelled), or give the socket the deadline itself (Go's
//! `conn.SetDeadline`).

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::slow_server::{SlowServer, request};
use lessons::timeline::Timeline;

use runtime::{Elapsed, Runtime};

fn main() {
    let args = Cli::new("lesson-01", "cancellation and deadlines")
        .number(
            "--delay-ms",
            "MS",
            "how long the server takes to answer",
            400,
            20..=10_000,
        )
        .number(
            "--deadline-ms",
            "MS",
            "the request's deadline",
            100,
            5..=10_000,
        )
        .flag(
            "--write-book",
            "also refresh the book's figure (book/getting-started/img)",
        )
        .parse();
    let (delay, deadline) = if args.quick() {
        (Duration::from_millis(120), Duration::from_millis(30))
    } else {
        (
            Duration::from_millis(args.number("--delay-ms")),
            Duration::from_millis(args.number("--deadline-ms")),
        )
    };
    if deadline >= delay {
        eprintln!(
            "error: --deadline-ms ({} ms) must be shorter than --delay-ms ({} ms), or no request misses its deadline",
            deadline.as_millis(),
            delay.as_millis()
        );
        std::process::exit(2);
    }

    title("Lesson 01", "Cancellation and deadlines");
    explain(&format!(
        "A server on 127.0.0.1 answers every request after {} ms. Our requests have a \
         deadline of {} ms. The runtime runs on 2 Ps.",
        delay.as_millis(),
        deadline.as_millis()
    ));
    let server = SlowServer::start(delay).expect("bind a local TCP port");
    let addr = server.addr();
    let rt = Arc::new(
        Runtime::builder()
            .procs(2)
            .trace(true)
            .build()
            .expect("build the runtime"),
    );

    // The experiments run in a G of their own, as a Go program would run a
    // request handler in a goroutine; the root future only waits for it.
    rt.block_on(async {
        let experiments = runtime::spawn({
            let rt = rt.clone();
            async move {
                deadline_on_async_work(deadline).await;
                abort_from_outside().await;
                request_within_deadline(addr, delay).await;
                naive_deadline(&rt, addr, deadline).await;
                fix_by_shutdown(addr, deadline).await;
                fix_by_socket_deadline(addr, deadline).await;
            }
        });
        experiments.await.expect("the experiments ran");
    });

    section("Is anything left behind?");
    let m = settled_metrics(&rt);
    let mut t = Table::new(["tasks spawned", "tasks completed", "still running"]);
    t.row([
        m.tasks_spawned.to_string(),
        m.tasks_completed.to_string(),
        (m.tasks_spawned - m.tasks_completed).to_string(),
    ]);
    t.print();
    let dir = artefacts::lesson_dir(1).expect("create target/lessons/lesson-01");
    let json = serde_json::to_string_pretty(&m).expect("metrics serialise");
    let path = artefacts::write(&dir, "metrics.json", &json).expect("write metrics.json");
    wrote("the runtime's counters", &path);
    let svg = figure(&rt, deadline);
    let path = artefacts::write(&dir, "timeline.svg", &svg).expect("write timeline.svg");
    wrote("timeline", &path);
    if args.flag("--write-book") {
        let img = artefacts::book_dir("getting-started/img").expect("book/getting-started/img");
        let path = artefacts::write(&img, "lesson-01-timeline.svg", &svg).expect("write svg");
        wrote("the book's figure", &path);
    }
    if m.tasks_spawned == m.tasks_completed {
        println!(
            "no task left behind: spawned = completed = {}",
            m.tasks_spawned
        );
    } else {
        println!(
            "LEFT BEHIND: {} task(s)",
            m.tasks_spawned - m.tasks_completed
        );
        std::process::exit(1);
    }
    notice(
        "cancellation is cooperative. A deadline stops the waiting at once, but work \
         blocked in the kernel stops only when the kernel returns, so a deadline has to \
         reach the I/O itself: a socket deadline, or closing the socket.",
    );
}

/// The whole run as a per-P timeline. Each request's read shows as a syscall
/// strip; requests 3 to 5 get a dashed line where their deadline fell.
fn figure(rt: &Runtime, deadline: Duration) -> String {
    let trace = rt.trace().expect("tracing was enabled");
    let mut timeline = Timeline::from_trace(&trace);
    let mut starts: Vec<u64> = timeline.syscalls.iter().map(|s| s.start_ns).collect();
    starts.sort_unstable();
    for (part, start) in starts.iter().enumerate().skip(1).take(3) {
        let at = start + deadline.as_nanos() as u64;
        timeline.notes.push((at, format!("deadline {}", part + 2)));
    }
    timeline.to_svg(&format!(
        "lesson-01: requests 2 to 5, each a read blocked in the kernel; deadline {} ms",
        deadline.as_millis()
    ))
}

/// The runtime's counters once its Ms have finished the bookkeeping of the
/// Gs we already awaited. A JoinHandle is woken at the moment its G returns,
/// a few instructions before the M that ran the G counts it as completed, so
/// we give the Ms up to a second to catch up (a bound, not a guess: a G that
/// is really left behind is still reported).
fn settled_metrics(rt: &Runtime) -> runtime::Metrics {
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        let m = rt.metrics();
        if m.tasks_alive == 0 || Instant::now() > until {
            return m;
        }
        std::thread::yield_now();
    }
}

/// Drops a flag when the future holding it is dropped, so we can see it happen.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn deadline_on_async_work(deadline: Duration) {
    section("1. A deadline on work that awaits");
    // ANCHOR: deadline
    let dropped = Arc::new(AtomicBool::new(false));
    let steps = Arc::new(AtomicU32::new(0));
    let work = {
        let (flag, steps) = (DropFlag(dropped.clone()), steps.clone());
        async move {
            let _flag = flag; // dropped with the future
            loop {
                runtime::sleep(Duration::from_millis(5)).await;
                steps.fetch_add(1, Ordering::SeqCst);
            }
        }
    };
    let started = Instant::now();
    let result: Result<(), Elapsed> = runtime::timeout(deadline, work).await;
    // ANCHOR_END: deadline
    let after = steps.load(Ordering::SeqCst);
    println!(
        "timeout returned {:?} after {} ms; the work had done {after} steps of 5 ms",
        result.map_err(|e| e.to_string()),
        started.elapsed().as_millis()
    );
    println!(
        "the work future was dropped: {}",
        dropped.load(Ordering::SeqCst)
    );
    runtime::sleep(Duration::from_millis(20)).await;
    println!(
        "steps 20 ms later: {} (it no longer runs)",
        steps.load(Ordering::SeqCst)
    );
    notice(
        "the future was stopped at its `.await` and dropped, like a goroutine that \
         returns when it sees `ctx.Done()`. Nothing of it is left.",
    );
}

async fn abort_from_outside() {
    section("2. Cancelling another G: abort");
    // ANCHOR: abort
    let dropped = Arc::new(AtomicBool::new(false));
    let steps = Arc::new(AtomicU32::new(0));
    let worker = runtime::spawn({
        let (flag, steps) = (DropFlag(dropped.clone()), steps.clone());
        async move {
            let _flag = flag; // dropped with the G's future
            loop {
                runtime::sleep(Duration::from_millis(5)).await;
                steps.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    runtime::sleep(Duration::from_millis(20)).await;
    worker.abort(); // its future is dropped at its next poll boundary
    let result = worker.await;
    // ANCHOR_END: abort
    let cancelled = result.as_ref().is_err_and(|e| e.is_cancelled());
    println!(
        "the aborted G's handle says cancelled: {cancelled}; its future was dropped: {}",
        dropped.load(Ordering::SeqCst)
    );
    let after = steps.load(Ordering::SeqCst);
    runtime::sleep(Duration::from_millis(20)).await;
    println!(
        "steps at the abort: {after}; 20 ms later: {} (it no longer runs)",
        steps.load(Ordering::SeqCst)
    );
    notice(
        "`abort` is how a parent stops a G it spawned (the first error of a fan-out \
         cancels the rest). Like a timeout it takes effect at an `.await`: a G stuck \
         inside a blocking call is cancelled only when the call returns.",
    );
}

async fn request_within_deadline(addr: SocketAddr, delay: Duration) {
    section("3. A request that meets a generous deadline");
    let generous = delay * 3;
    let started = Instant::now();
    let handle = runtime::spawn(async move {
        let conn = TcpStream::connect(addr)?;
        runtime::syscall(|| request(&conn, "GET /generous"))
    });
    let result = runtime::timeout(generous, handle).await;
    match result {
        Ok(Ok(Ok(reply))) => println!(
            "reply after {} ms (deadline {} ms): {reply}",
            started.elapsed().as_millis(),
            generous.as_millis()
        ),
        other => println!("unexpected: {other:?}"),
    }
}

async fn naive_deadline(rt: &Runtime, addr: SocketAddr, deadline: Duration) {
    section("4. A request that misses its deadline, cancelled the naive way");
    let started = Instant::now();
    // ANCHOR: naive
    let mut handle = runtime::spawn(async move {
        let conn = TcpStream::connect(addr)?;
        // The G's M blocks in read(2) until the server answers.
        runtime::syscall(|| request(&conn, "GET /naive"))
    });
    let result = runtime::timeout(deadline, &mut handle).await;
    // ANCHOR_END: naive
    println!(
        "timeout returned {:?} after {} ms",
        result
            .as_ref()
            .map(|_| "the reply")
            .map_err(|e| e.to_string()),
        started.elapsed().as_millis(),
    );
    let m = rt.metrics();
    println!(
        "left behind: {} task(s) still running (blocked in read, holding a thread)",
        m.tasks_alive - 1 // minus the G running this experiment
    );
    let late = handle.await;
    println!(
        "the abandoned request finished anyway after {} ms: {:?}",
        started.elapsed().as_millis(),
        late.map(|r| r.map_err(|e| e.to_string()))
    );
    notice(
        "the deadline ended our wait, not the request. The G stayed blocked in read(2) \
         until the server answered, and its reply went to nobody. In Go this is the \
         goroutine leak of a request made without a context.",
    );
}

async fn fix_by_shutdown(addr: SocketAddr, deadline: Duration) {
    section("5. Fix: when the deadline passes, shut the socket down");
    let started = Instant::now();
    // ANCHOR: fix_shutdown
    let conn = TcpStream::connect(addr).expect("connect");
    let for_the_g = conn.try_clone().expect("clone the socket handle");
    let mut handle =
        runtime::spawn(async move { runtime::syscall(|| request(&for_the_g, "GET /shutdown")) });
    if runtime::timeout(deadline, &mut handle).await.is_err() {
        // Wakes the blocked read(2): it returns 0 bytes, the request fails.
        conn.shutdown(Shutdown::Both).expect("shutdown");
    }
    let outcome = handle.await;
    // ANCHOR_END: fix_shutdown
    println!(
        "deadline passed; socket shut down; the request G finished after {} ms with: {:?}",
        started.elapsed().as_millis(),
        outcome.map(|r| r.map_err(|e| e.to_string()))
    );
    notice(
        "closing the connection is how Go's HTTP client cancels a request whose \
         context is done: the blocked read returns an error and the goroutine unwinds.",
    );
}

async fn fix_by_socket_deadline(addr: SocketAddr, deadline: Duration) {
    section("6. Fix: give the socket the deadline itself");
    let started = Instant::now();
    // ANCHOR: fix_deadline
    let handle = runtime::spawn(async move {
        let conn = TcpStream::connect(addr)?;
        conn.set_read_timeout(Some(deadline))?; // Go: conn.SetReadDeadline
        runtime::syscall(|| request(&conn, "GET /socket-deadline"))
    });
    let outcome = handle.await;
    // ANCHOR_END: fix_deadline
    let shown = match &outcome {
        Ok(Err(e)) => format!("Err({:?}: {e})", e.kind()),
        other => format!("{other:?}"),
    };
    println!(
        "the read itself timed out after {} ms: {shown}",
        started.elapsed().as_millis()
    );
    notice(
        "with the deadline on the socket, the kernel ends the read at the deadline; \
         no second G has to watch the clock.",
    );
}
