//! Lesson 22: Moving a hot service onto tasks — the FeaCore rewrite, measured
//!
//! The syllabus' FeaCore service computed features for a model: each request
//! called a few feature stores, then hashed and aggregated what came back.
//! As Python and Celery it was a bounded pool of workers calling the stores
//! one after another; rewritten in Go (a goroutine per request, the calls
//! fanned out on channels, buffers reused, a rate limit) it went from 12k to
//! 87k requests per second and from a P99 of 340 ms to 23 ms.
//!
//! This lesson runs both designs on 127.0.0.1 (`service::feacore`), against
//! the same four loopback feature stores with a fixed service time each:
//!
//! - **before**: the thread-per-connection engine in front of a broker queue
//!   and a pool of `--workers` threads, each calling the stores in turn on
//!   blocking sockets, fresh buffers per request;
//! - **after**: a G per connection on the course runtime, one G per store
//!   call with the answers back on a channel, buffers kept per connection, a
//!   GCRA limit (429 past `--limit`) and a deadline.
//!
//! The load generator drives each the same way: an open loop at a rate both
//! can sustain, an open loop at a rate the pool cannot, and a closed loop for
//! the most each can do, while the CPU profiler samples the process.
//! It prints the before/after table, where the CPU went (the profile's top
//! frames), the stores' count of calls in flight at once, and writes
//! `before.svg`, `after.svg` (flame graphs) and `results.json` to
//! `target/lessons/lesson-22/`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use loadgen::{Config, Mode, Report};
use profiler::{CpuProfile, CpuProfiler, DEFAULT_HZ};
use serde_json::json;
use service::feacore::after::AfterConfig;
use service::feacore::before::BeforeConfig;
use service::feacore::{After, Before, Settings, Stores};

/// The experiment's knobs (from the flags, or the quick run's).
#[derive(Debug, Clone, Copy)]
struct Plan {
    stores: usize,
    service: Duration,
    workers: usize,
    work_bytes: usize,
    rate_ok: u64,
    rate_over: u64,
    limit: u64,
    connections: usize,
    phase: Duration,
}

/// One version's results.
struct Measured {
    name: &'static str,
    phases: Vec<(&'static str, Report)>,
    max_in_flight: u64,
    calls: u64,
    profile: CpuProfile,
    shed: Option<u64>,
    wall: Duration,
}

/// Which part of the process a stack belongs to, from its frames.
fn part_of(stack: &[String]) -> &'static str {
    if stack.iter().any(|f| f.contains("feacore::store::")) {
        "stores"
    } else if stack.iter().any(|f| f.starts_with("loadgen::")) {
        "load generator"
    } else if stack
        .iter()
        .any(|f| f.contains("feacore::") || f.starts_with("service::threads::"))
    {
        "service"
    } else if stack.len() <= 2 {
        // The walk stopped in libc (a syscall wrapper built without frame
        // pointers): the thread was in the kernel, whose part is unknown.
        "in a syscall (stack cut at libc)"
    } else {
        "other"
    }
}

/// One load generator run against `addr`.
fn load(addr: SocketAddr, plan: &Plan, mode: Mode, rate: u64) -> Report {
    let mut cfg = Config::new(addr);
    cfg.path = "/features/42".into();
    cfg.mode = mode;
    cfg.rate = rate as f64;
    cfg.connections = plan.connections;
    cfg.duration = plan.phase;
    cfg.max_requests = 10_000_000;
    cfg.timeout = Duration::from_secs(2);
    cfg.procs = 1;
    loadgen::run(&cfg).expect("the load generator runs").report
}

/// The three phases against one version, all under the CPU profiler.
fn measure(name: &'static str, addr: SocketAddr, stores: &Stores, plan: &Plan) -> Measured {
    stores.reset();
    let started = std::time::Instant::now();
    let p = CpuProfiler::start(DEFAULT_HZ).expect("start the CPU profiler");
    let phases = vec![
        (
            "open, sustainable",
            load(addr, plan, Mode::Open, plan.rate_ok),
        ),
        (
            "open, overloaded",
            load(addr, plan, Mode::Open, plan.rate_over),
        ),
        ("closed loop", load(addr, plan, Mode::Closed, 0)),
    ];
    let profile = p.stop().symbolize();
    let wall = started.elapsed();
    let total = stores.total();
    Measured {
        name,
        phases,
        max_in_flight: total.max_in_flight,
        calls: total.calls,
        profile,
        shed: None,
        wall,
    }
}

/// Frames with their sample counts, the most first.
type Ranked = Vec<(String, u64)>;

/// Samples per part of the process.
fn by_part(p: &CpuProfile) -> BTreeMap<&'static str, u64> {
    let mut m = BTreeMap::new();
    for s in &p.stacks {
        *m.entry(part_of(&s.stack)).or_insert(0) += s.count;
    }
    m
}

/// The service's flat (self) samples per frame, the widest first: the leaf
/// of each of its stacks, and the innermost frame of the service's own code.
fn top_frames(p: &CpuProfile) -> (Ranked, Ranked) {
    let (mut leaf, mut own) = (BTreeMap::new(), BTreeMap::new());
    for s in p.stacks.iter().filter(|s| part_of(&s.stack) == "service") {
        let l = s.stack.last().cloned().unwrap_or_default();
        *leaf.entry(l).or_insert(0) += s.count;
        let o = s
            .stack
            .iter()
            .rev()
            .find(|f| f.contains("service::"))
            .cloned()
            .unwrap_or_default();
        *own.entry(o).or_insert(0) += s.count;
    }
    let sorted = |m: BTreeMap<String, u64>| {
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        v
    };
    (sorted(leaf), sorted(own))
}

/// Folded stacks with the part of the process as the root frame.
fn folded(p: &CpuProfile) -> String {
    let mut out = String::new();
    for s in &p.stacks {
        out.push_str(part_of(&s.stack));
        for f in &s.stack {
            out.push(';');
            out.push_str(&f.replace([';', ' '], "_"));
        }
        out.push_str(&format!(" {}\n", s.count));
    }
    out
}

fn report_json(r: &Report) -> serde_json::Value {
    json!({
        "mode": r.mode, "rate": r.rate, "connections": r.connections, "elapsed_s": r.elapsed_s,
        "requests": r.requests, "errors": r.errors, "errors_by_kind": r.errors_by_kind,
        "not_sent": r.not_sent, "qps": r.qps, "p50_us": r.p50_us, "p99_us": r.p99_us,
        "max_us": r.max_us,
    })
}

/// A frame name cut to a table's width.
fn short(f: &str) -> String {
    if f.chars().count() > 72 {
        format!("{}…", f.chars().take(71).collect::<String>())
    } else {
        f.to_string()
    }
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let args = Cli::new("lesson-22", "moving a hot service onto tasks")
        .number(
            "--stores",
            "N",
            "feature stores each request calls",
            4,
            1..=16,
        )
        .number(
            "--service-us",
            "US",
            "each store call's service time, µs",
            2000,
            100..=100_000,
        )
        .number(
            "--workers",
            "N",
            "the pool's worker threads (before)",
            8,
            1..=256,
        )
        .number(
            "--work-kb",
            "KB",
            "scratch work per request, KiB",
            8,
            1..=1024,
        )
        .number(
            "--rate-ok",
            "R",
            "the open loop both sustain, requests/s",
            300,
            10..=100_000,
        )
        .number(
            "--rate-over",
            "R",
            "the open loop the pool cannot sustain, requests/s",
            2000,
            10..=200_000,
        )
        .number(
            "--limit",
            "R",
            "the task version's GCRA limit, requests/s",
            4000,
            10..=1_000_000,
        )
        .number(
            "--connections",
            "N",
            "load generator connections",
            32,
            1..=1024,
        )
        .number(
            "--phase-ms",
            "MS",
            "each load phase's length",
            1000,
            100..=60_000,
        )
        .flag(
            "--write-book",
            "also copy the flame graphs to the book (book/case-studies/img)",
        )
        .parse();
    let plan = if args.quick() {
        Plan {
            stores: 4,
            service: Duration::from_millis(5),
            workers: 8,
            work_bytes: 4 * 1024,
            rate_ok: 150,
            rate_over: 1000,
            limit: 2500,
            connections: 32,
            phase: Duration::from_millis(600),
        }
    } else {
        Plan {
            stores: args.number("--stores") as usize,
            service: Duration::from_micros(args.number("--service-us")),
            workers: args.number("--workers") as usize,
            work_bytes: args.number("--work-kb") as usize * 1024,
            rate_ok: args.number("--rate-ok"),
            rate_over: args.number("--rate-over"),
            limit: args.number("--limit"),
            connections: args.number("--connections") as usize,
            phase: Duration::from_millis(args.number("--phase-ms")),
        }
    };
    let capacity = plan.workers as f64 / (plan.stores as f64 * plan.service.as_secs_f64());
    title("Lesson 22", "Moving a hot service onto tasks");
    explain(&format!(
        "{} feature stores on 127.0.0.1, {} µs per call. Before: a pool of {} worker threads \
         calling the stores one after another (at most {:.0} requests/s, whatever the CPU). \
         After: a G per connection, the {} calls of a request on {} Gs at once, a GCRA limit \
         of {}/s. Each gets {} connections: open loop at {}/s, at {}/s, then a closed \
         loop, {} ms each, under the CPU profiler.",
        plan.stores,
        plan.service.as_micros(),
        plan.workers,
        capacity,
        plan.stores,
        plan.stores,
        plan.limit,
        plan.connections,
        plan.rate_ok,
        plan.rate_over,
        plan.phase.as_millis(),
    ));
    let load_before = load_average();
    let settings = Settings {
        work_bytes: plan.work_bytes,
    };
    let stores = Stores::start(plan.stores, plan.service).expect("start the stores");
    let dir = artefacts::lesson_dir(22).expect("create target/lessons/lesson-22");

    let before = Before::start(
        stores.addrs(),
        BeforeConfig {
            workers: plan.workers,
            queue: 4096,
            settings,
        },
    )
    .expect("start the thread-pool version");
    let b = measure("before", before.addr(), &stores, &plan);
    before.stop();

    let after = After::start(
        stores.addrs(),
        AfterConfig {
            procs: 2,
            rate: plan.limit as f64,
            burst: (plan.limit / 10).max(1) as u32,
            deadline: Duration::from_millis(500),
            settings,
        },
    )
    .expect("start the task version");
    let mut a = measure("after", after.addr(), &stores, &plan);
    a.shed = Some(after.stats().shed);
    after.stop();
    stores.stop();
    let load_after = load_average();

    section("Before and after, the same load");
    let mut t = Table::new([
        "phase", "version", "QPS", "P50 ms", "P99 ms", "answered", "errors", "not sent",
    ]);
    for i in 0..b.phases.len() {
        for m in [&b, &a] {
            let (phase, r) = &m.phases[i];
            t.row([
                phase.to_string(),
                m.name.to_string(),
                format!("{:.0}", r.qps),
                ms(r.p50_us),
                ms(r.p99_us),
                r.requests.to_string(),
                r.errors.to_string(),
                r.not_sent.to_string(),
            ]);
        }
    }
    t.print();
    for m in [&b, &a] {
        for (phase, r) in &m.phases {
            println!(
                "result {} {phase}: qps={:.0} p50_us={} p99_us={} answered={} errors={}",
                m.name, r.qps, r.p50_us, r.p99_us, r.requests, r.errors
            );
        }
    }
    println!("load average: {load_before} before the runs, {load_after} after");
    notice(&format!(
        "at {}/s both keep up; at {}/s the pool cannot (it does at most {:.0}/s), so its \
         requests queue and the P99 is the queue; the task version's answer takes about one \
         store call, not {}. In the closed loop the pool is capped by its workers, the tasks by \
         the CPU and the limit.",
        plan.rate_ok, plan.rate_over, capacity, plan.stores
    ));

    section("Fan-out: calls in flight at the stores");
    let mut t = Table::new(["version", "store calls", "most in flight at once"]);
    for m in [&b, &a] {
        t.row([
            m.name.to_string(),
            m.calls.to_string(),
            m.max_in_flight.to_string(),
        ]);
        println!("in flight {}: max={}", m.name, m.max_in_flight);
    }
    t.print();
    notice(&format!(
        "the pool can never have more than its {} workers' calls in flight; the task version \
         has up to {} calls per request out at once, and as many requests as are open.",
        plan.workers, plan.stores
    ));
    if let Some(shed) = a.shed {
        println!("after: {shed} requests shed by the limiter (429)");
    }

    section("Where the CPU went (all three phases)");
    let mut json_profiles = serde_json::Map::new();
    for m in [&b, &a] {
        let parts = by_part(&m.profile);
        let total = m.profile.samples().max(1);
        let answered = m.phases.iter().map(|(_, r)| r.requests).sum::<u64>().max(1);
        let service = parts.get("service").copied().unwrap_or(0);
        let mut t = Table::new(["part", "samples", "share"]);
        for (p, n) in &parts {
            t.row([
                format!("{} {p}", m.name),
                n.to_string(),
                format!("{:.0}%", 100.0 * *n as f64 / total as f64),
            ]);
        }
        t.print();
        let (leaf, own) = top_frames(&m.profile);
        let mut t = Table::new([
            format!("{}: service's hottest leaf frames", m.name),
            "samples".into(),
        ]);
        for (f, n) in leaf.iter().take(5) {
            t.row([short(f), n.to_string()]);
        }
        t.print();
        let mut t = Table::new([
            format!("{}: innermost service:: frame", m.name),
            "samples".into(),
        ]);
        for (f, n) in own.iter().take(5) {
            t.row([short(f), n.to_string()]);
        }
        t.print();
        let per_k = 1000.0 * service as f64 / answered as f64;
        println!(
            "cpu {}: service samples={service} per 1000 answered={per_k:.2}",
            m.name
        );
        // A sample is one profiling period of CPU on some thread: samples x
        // period over wall time x cores is how busy the machine was.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let busy = m.profile.samples() as f64 * m.profile.period_ns as f64
            / (m.wall.as_nanos() as f64 * cores as f64);
        println!(
            "busy {}: {:.0}% of {cores} cores over {:.1} s (the whole process)",
            m.name,
            100.0 * busy,
            m.wall.as_secs_f64()
        );
        let svg = profiler::flame::svg(
            &folded(&m.profile),
            &format!("lesson 22: {} (all three phases)", m.name),
            1200,
        )
        .expect("fold the stacks");
        let path = artefacts::write(&dir, &format!("{}.svg", m.name), &svg).expect("write the svg");
        wrote(&format!("the flame graph, {}", m.name), &path);
        if args.flag("--write-book") {
            let book = artefacts::book_dir("case-studies/img").expect("create the book's img");
            let path = artefacts::write(&book, &format!("lesson-22-{}.svg", m.name), &svg)
                .expect("write the book's svg");
            wrote("a copy for the book", &path);
        }
        json_profiles.insert(
            m.name.into(),
            json!({
                "samples": m.profile.samples(),
                "by_part": parts,
                "service_samples_per_1000": per_k,
                "busy_share_of_cores": busy,
                "wall_s": m.wall.as_secs_f64(),
                "top_leaf": leaf.iter().take(8).collect::<Vec<_>>(),
                "top_service_frames": own.iter().take(8).collect::<Vec<_>>(),
            }),
        );
    }
    notice(
        "a CPU profile shows CPU, not waiting: the pool's workers spend most of each request \
         blocked in read(2) on a store, which costs no samples, so the process is mostly idle \
         while the pool is at its ceiling (the busy line). Most samples of both versions are \
         in syscalls (the stack walk stops in libc): a request here is mostly socket work. The \
         service's own widest frames are the work, compute::aggregate and compute::spread; \
         the tasks won by not waiting in line, not by doing less.",
    );

    let versions: Vec<serde_json::Value> = [&b, &a]
        .iter()
        .map(|m| {
            json!({
                "name": m.name,
                "phases": m.phases.iter().map(|(p, r)| json!({"phase": p, "report": report_json(r)})).collect::<Vec<_>>(),
                "store_calls": m.calls,
                "max_in_flight": m.max_in_flight,
                "shed": m.shed,
            })
        })
        .collect();
    let results = json!({
        "plan": {
            "stores": plan.stores, "service_us": plan.service.as_micros() as u64,
            "workers": plan.workers, "work_bytes": plan.work_bytes, "rate_ok": plan.rate_ok,
            "rate_over": plan.rate_over, "limit": plan.limit, "connections": plan.connections,
            "phase_ms": plan.phase.as_millis() as u64, "pool_capacity_per_s": capacity,
        },
        "load_average": { "before": load_before, "after": load_after },
        "versions": versions,
        "profiles": json_profiles,
    });
    let path = artefacts::write(
        &dir,
        "results.json",
        &serde_json::to_string_pretty(&results).expect("serialise"),
    )
    .expect("write results.json");
    wrote("the numbers", &path);
}
