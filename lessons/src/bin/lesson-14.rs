//! Lesson 14: Two HTTP engines — hyper and a fast engine on our runtime, tokio and a thread per connection beside them, under the same load
//!
//! Go's chapter on load testing sets `net/http` (complete, allocates per
//! request) against `fasthttp` (reuses every buffer, trusts the handler not
//! to keep a request). The course has both on its own runtime: the full
//! engine is hyper 1.x through a small adapter (hyper's I/O, executor and
//! timer traits over `runtime::net` and `runtime::sleep`), and the fast
//! engine is our own server on `httparse`, whose request type borrows the
//! connection's buffer so the compiler enforces fasthttp's rule. The peers:
//! the same hyper code on tokio, and blocking `std::net` with a thread per
//! connection.
//!
//! Each server runs on one P (or one tokio worker) and the load generator
//! on its own runtime in the same process. Two measurements per engine:
//! the most requests per second a closed loop gets (saturation), and the
//! P99 at a fixed rate every engine can sustain (open loop, so a slow
//! moment is counted, not omitted).

use std::time::Duration;

use lessons::artefacts;
use lessons::chart::BarChart;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::svg::{Svg, palette};

use loadgen::{Config, Mode};
use service::{Engine, Options, RuntimeKind, Server};

// ANCHOR: engines
const ENGINES: [(&str, Engine, RuntimeKind); 4] = [
    ("fast engine on ours", Engine::Fast, RuntimeKind::Ours),
    ("hyper on ours", Engine::Full, RuntimeKind::Ours),
    ("hyper on tokio", Engine::Full, RuntimeKind::Tokio),
    ("thread per connection", Engine::Threads, RuntimeKind::Ours),
];
// ANCHOR_END: engines

struct Measured {
    name: &'static str,
    qps: f64,
    p99_us: u64,
    p50_us: u64,
    errors: u64,
}

fn main() {
    let args = Cli::new(
        "lesson-14",
        "two HTTP engines and their peers under the same load",
    )
    .number(
        "--connections",
        "C",
        "connections the load generator keeps open",
        32,
        1..=1000,
    )
    .number(
        "--rate",
        "R",
        "requests per second for the P99 measurement",
        2000,
        100..=100_000,
    )
    .number("--seconds", "S", "seconds per measurement", 1, 1..=30)
    .number(
        "--work-us",
        "US",
        "CPU per request (/work?us=N); 0 serves /",
        0,
        0..=10_000,
    )
    .flag(
        "--write-book",
        "also refresh the book's figures (book/load-testing/img)",
    )
    .parse();
    let secs = if args.quick() {
        Duration::from_millis(300)
    } else {
        Duration::from_secs(args.number("--seconds"))
    };
    let conns = args.number("--connections") as usize;
    let rate = args.number("--rate") as f64;
    let path = match args.number("--work-us") {
        0 => "/".to_string(),
        us => format!("/work?us={us}"),
    };

    title(
        "Lesson 14",
        "Two HTTP engines, and their peers, under the same load",
    );
    explain(&format!(
        "Four servers answer {path} on 127.0.0.1, one after the other, each on one P (or one tokio \
         worker). For each, the load generator first runs a closed loop on {conns} connections \
         for {:.1} s (how many requests per second the engine can take), then an open loop at \
         {rate:.0} requests per second (the P99 a user would see at that load). This machine \
         runs the load generator in the same process and shares its cores with other work, so \
         read the ratios, not the absolute numbers; a debug build is several times slower than \
         `--release` (hyper most of all), so run it with `--release` for figures worth quoting.",
        secs.as_secs_f64()
    ));

    // Server on core 0, load generator (this thread and the runtime it
    // starts) on core 1, when there are two.
    let two_cores = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    if two_cores {
        service::server::pin_to_cpu(1).expect("pin the load generator to core 1");
    }
    let mut results = Vec::new();
    for (name, engine, runtime) in ENGINES {
        let cpu = two_cores.then_some(0);
        results.push(measure(
            name,
            (engine, runtime, cpu),
            &path,
            conns,
            rate,
            secs,
        ));
    }

    section("Side by side");
    let mut t = Table::new([
        "engine",
        "closed loop: req/s",
        "open loop: P50",
        "open loop: P99",
        "errors",
    ]);
    for m in &results {
        t.row([
            m.name.to_string(),
            format!("{:.0}", m.qps),
            format!("{:.2} ms", m.p50_us as f64 / 1000.0),
            format!("{:.2} ms", m.p99_us as f64 / 1000.0),
            m.errors.to_string(),
        ]);
    }
    t.print();
    let by = |n: &str| results.iter().find(|m| m.name == n).expect("measured");
    let (fast, hyper_ours, hyper_tokio, threads) = (
        by("fast engine on ours"),
        by("hyper on ours"),
        by("hyper on tokio"),
        by("thread per connection"),
    );
    let ratio = hyper_ours.qps / hyper_tokio.qps.max(1.0);
    notice(&format!(
        "hyper on our runtime took {ratio:.2}x the requests per second of hyper on tokio. The \
         HTTP code is the same, so the difference is the runtime: its netpoller, its \
         scheduler, its timers{}.",
        if ratio < 0.9 {
            "; tokio's I/O driver has had years of tuning that ours has not"
        } else {
            ", and ours holds its own"
        }
    ));
    let fast_ratio = fast.qps / hyper_ours.qps.max(1.0);
    notice(&format!(
        "The fast engine took {fast_ratio:.2}x hyper's requests per second on the same runtime. \
         It allocates nothing per request, writes a batch of pipelined answers at once, and \
         parses only what it needs; what it gives up is everything else hyper does (chunked \
         bodies, HTTP/2, upgrades, timeouts).{}",
        if fast_ratio < 1.1 {
            " When the two are this close, the engines may not be the limit: the load generator \
             (one P on the other core) can be. `.ci/engines.sh` measures with wrk instead."
        } else {
            ""
        }
    ));
    notice(&format!(
        "A thread per connection took {:.2}x the fast engine's rate with {conns} connections on \
         one core. Each request there is a switch between kernel threads; the runtimes switch \
         between Gs in user space and wake from one epoll_wait. Look at the P99 column too: \
         {:.1} ms against {:.1} ms.",
        threads.qps / fast.qps.max(1.0),
        threads.p99_us as f64 / 1000.0,
        fast.p99_us as f64 / 1000.0
    ));

    let dir = artefacts::lesson_dir(14).expect("create target/lessons/lesson-14");
    let json: Vec<serde_json::Value> = results
        .iter()
        .map(|m| serde_json::json!({"engine": m.name, "qps": m.qps, "p50_us": m.p50_us, "p99_us": m.p99_us, "errors": m.errors}))
        .collect();
    let path = artefacts::write(
        &dir,
        "engines.json",
        &serde_json::to_string_pretty(&json).expect("json"),
    )
    .expect("write engines.json");
    wrote("the measurements", &path);
    let chart = results
        .iter()
        .fold(
            BarChart::new("requests per second, closed loop (higher is better)"),
            |c, m| c.bar(m.name, m.qps.round()),
        )
        .to_svg();
    let path = artefacts::write(&dir, "engines-qps.svg", &chart).expect("write svg");
    wrote("the chart", &path);
    let both = figure(&results, rate, conns, secs);
    let path = artefacts::write(&dir, "engines.svg", &both).expect("write svg");
    wrote("the side-by-side figure (QPS and P99)", &path);
    if args.flag("--write-book") {
        let img = artefacts::book_dir("load-testing/img").expect("book/load-testing/img");
        let path = artefacts::write(&img, "lesson-14-engines.svg", &both).expect("write svg");
        wrote("the book's figure", &path);
    }
}

/// The engines side by side: closed-loop QPS on the left (longer is
/// better), open-loop P99 at `rate` on the right (shorter is better), one
/// row per engine, every bar labelled with its measured value.
fn figure(results: &[Measured], rate: f64, conns: usize, secs: Duration) -> String {
    let (label_w, panel_w, gap, row_h, top) = (170.0, 250.0, 90.0, 28.0, 58.0);
    let width = label_w + 2.0 * panel_w + gap + 70.0;
    let height = top + row_h * results.len() as f64 + 30.0;
    let mut svg = Svg::new(width, height);
    svg.text(
        10.0,
        20.0,
        &format!(
            "Four engines, each on one P (or one tokio worker), {conns} connections, {:.1} s per measurement",
            secs.as_secs_f64()
        ),
        13.0,
        "start",
    );
    type Value = fn(&Measured) -> f64;
    let panels: [(&str, f64, Value, &str); 2] = [
        (
            "requests per second, closed loop (longer is better)",
            label_w,
            |m| m.qps,
            palette::YIELD,
        ),
        (
            &format!("P99 in ms at {rate:.0} req/s, open loop (shorter is better)"),
            label_w + panel_w + gap,
            |m| m.p99_us as f64 / 1000.0,
            palette::PREEMPT,
        ),
    ];
    for (heading, x, value, colour) in &panels {
        svg.text(*x, top - 14.0, heading, 11.0, "start");
        let max = results.iter().map(value).fold(0.0, f64::max);
        for (i, m) in results.iter().enumerate() {
            let y = top + row_h * i as f64;
            let v = value(m);
            let w = if max > 0.0 {
                (panel_w - 10.0) * v / max
            } else {
                0.0
            };
            let shown = if v >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            };
            svg.rect(
                *x,
                y + 4.0,
                w,
                row_h - 10.0,
                colour,
                Some(&format!("{}: {shown}", m.name)),
            );
            svg.text(*x + w + 4.0, y + 17.0, &shown, 11.0, "start");
        }
    }
    for (i, m) in results.iter().enumerate() {
        svg.text(
            label_w - 8.0,
            top + row_h * i as f64 + 17.0,
            m.name,
            12.0,
            "end",
        );
    }
    svg.text(
        10.0,
        height - 10.0,
        "Drawn by lesson-14 from its own run; numbers from one shared 2-core machine.",
        10.0,
        "start",
    );
    svg.finish()
}

// ANCHOR: measure
fn measure(
    name: &'static str,
    (engine, runtime, cpu): (Engine, RuntimeKind, Option<usize>),
    path: &str,
    conns: usize,
    rate: f64,
    secs: Duration,
) -> Measured {
    let server = Server::start(Options {
        engine,
        runtime,
        procs: 1,
        cpu,
        ..Options::default()
    })
    .expect("start a server on 127.0.0.1");
    let mut cfg = Config::new(server.addr());
    cfg.path = path.to_string();
    cfg.connections = conns;
    cfg.duration = secs;
    cfg.mode = Mode::Closed;
    cfg.max_requests = 10_000_000;
    let closed = loadgen::run(&cfg).expect("closed loop").report;
    cfg.mode = Mode::Open;
    cfg.rate = rate;
    cfg.max_requests = (rate * secs.as_secs_f64()) as u64 + conns as u64;
    let open = loadgen::run(&cfg).expect("open loop").report;
    server.stop().expect("stop the server");
    println!(
        "  {name:<22} {:>8.0} req/s closed loop; P99 {:>7.2} ms at {rate:.0}/s",
        closed.qps,
        open.p99_us as f64 / 1000.0
    );
    Measured {
        name,
        qps: closed.qps,
        p99_us: open.p99_us,
        p50_us: open.p50_us,
        errors: closed.errors + open.errors,
    }
}
// ANCHOR_END: measure
