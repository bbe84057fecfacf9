//! Lesson 15: Coordinated omission — a server that stalls, measured by an open loop, a closed loop and wrk
//!
//! A server freezes for a fifth of every second (a stop-the-world pause, a
//! full disk, a noisy neighbour). How bad is its tail? A closed-loop load
//! generator (each connection waits for its answer before sending the next
//! request, as wrk and most benchmarks do) says: hardly at all. During the
//! pause each connection has one request outstanding, so it records one
//! slow sample, and the thousands of requests that users would have sent
//! during those 200 ms are never sent, so never measured. Gil Tene named
//! this *coordinated omission*: the load generator coordinates with the
//! server to leave out exactly the bad samples.
//!
//! The open loop (wrk2's design, `loadgen`'s default) keeps a schedule:
//! request k of connection i is due at a fixed time, and its latency is
//! counted from then, even if the connection could only send it later.
//! wrk 4 (Debian's) is a closed loop that corrects its histogram after the
//! fact, adding the samples it assumes were missed; it is run too when
//! installed.

use std::process::Command;
use std::time::Duration;

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::svg::{Svg, legend, palette};

use loadgen::{Config, Mode, Point, Report};
use service::{Options, Server, Stall};

const OPEN: &str = "#e15759";
const CLOSED: &str = "#4e79a7";
const STALLED: &str = "#eeeeee";

fn main() {
    let args = Cli::new("lesson-15", "coordinated omission")
        .number(
            "--rate",
            "R",
            "the open loop's requests per second",
            1000,
            50..=50_000,
        )
        .number(
            "--connections",
            "C",
            "connections of each client",
            16,
            1..=1000,
        )
        .number("--seconds", "S", "seconds per run", 3, 1..=60)
        .number(
            "--stall-ms",
            "MS",
            "how long the server freezes, once a second",
            200,
            10..=900,
        )
        .flag(
            "--write-book",
            "also refresh the book's figure (book/load-testing/img)",
        )
        .parse();
    let (every, pause, secs) = if args.quick() {
        (
            Duration::from_millis(500),
            Duration::from_millis(100),
            Duration::from_millis(1000),
        )
    } else {
        (
            Duration::from_secs(1),
            Duration::from_millis(args.number("--stall-ms")),
            Duration::from_secs(args.number("--seconds")),
        )
    };
    let rate = args.number("--rate") as f64;
    let conns = args.number("--connections") as usize;

    title("Lesson 15", "Coordinated omission");
    explain(&format!(
        "A server on 127.0.0.1 answers at once, except during the last {} ms of every {} ms, \
         when it answers nothing until the pause ends: {:.0}% of the time is a stall. Three \
         clients measure it for {:.1} s each, with {conns} connections: our load generator as \
         an open loop at {rate:.0} requests per second, the same as a closed loop, and wrk if \
         it is installed.",
        pause.as_millis(),
        every.as_millis(),
        100.0 * pause.as_secs_f64() / every.as_secs_f64(),
        secs.as_secs_f64()
    ));
    let server = Server::start(Options {
        procs: 1,
        stall: Some(Stall { every, pause }),
        ..Options::default()
    })
    .expect("start the stalling server on 127.0.0.1");

    // ANCHOR: runs
    let mut cfg = Config::new(server.addr());
    cfg.connections = conns;
    cfg.duration = secs;
    cfg.rate = rate;
    cfg.max_requests = (rate * secs.as_secs_f64()) as u64 + conns as u64;
    let open = loadgen::run(&cfg).expect("open loop").report;
    cfg.mode = Mode::Closed;
    cfg.max_requests = 10_000_000;
    let closed = loadgen::run(&cfg).expect("closed loop").report;
    // ANCHOR_END: runs
    let wrk = run_wrk(&format!("http://{}/", server.addr()), conns, secs);
    server.stop().expect("stop the server");

    section("The same server, three clients");
    let ms = |us: u64| format!("{:.1} ms", us as f64 / 1000.0);
    let mut t = Table::new(["client", "requests", "P50", "P99", "max"]);
    t.row([
        "loadgen, open loop (corrected)".into(),
        open.requests.to_string(),
        ms(open.p50_us),
        ms(open.p99_us),
        ms(open.max_us),
    ]);
    match &wrk {
        Some(w) => t.row([
            "wrk (closed, corrected after)".into(),
            w.requests.to_string(),
            ms(w.p50_us),
            ms(w.p99_us),
            ms(w.max_us),
        ]),
        None => t.row(
            [
                "wrk: not installed (bash .ci/wrk.sh installs it)",
                "-",
                "-",
                "-",
                "-",
            ]
            .map(String::from),
        ),
    }
    t.row([
        "loadgen --closed (no correction)".into(),
        closed.requests.to_string(),
        ms(closed.p50_us),
        ms(closed.p99_us),
        ms(closed.max_us),
    ]);
    t.print();
    println!(
        "  open loop: service time P99 {} (from the actual send); sends fell up to {} behind schedule; {} due requests never sent",
        ms(open.service.p99_us),
        ms(open.behind_schedule_us),
        open.not_sent
    );
    notice(&format!(
        "The open loop's P99 is {}, close to the {} ms stall: about {:.0}% of the requests were \
         due while the server was frozen, and each is counted from when it was due. The closed \
         loop's P99 is {}: during each stall its {conns} connections waited once each, so each stall \
         left only {conns} slow samples among its {} requests in all.",
        ms(open.p99_us),
        pause.as_millis(),
        100.0 * pause.as_secs_f64() / every.as_secs_f64(),
        ms(closed.p99_us),
        closed.requests
    ));
    notice(&format!(
        "The closed loop also sent {:.1}x as many requests as the open loop. It measured a \
         server that was fast most of the time; it did not measure the users who arrived during \
         the stall. Its max ({}) is right, and that is the only column that says something is \
         wrong.",
        closed.requests as f64 / open.requests.max(1) as f64,
        ms(closed.max_us)
    ));
    if let Some(w) = &wrk {
        notice(&format!(
            "wrk reports a P99 of {}: it is a closed loop too, but wrk 4 corrects its histogram \
             afterwards, adding the samples a steady rate would have produced (HdrHistogram's \
             recordValueWithExpectedInterval). The correction recovers the tail from the slow \
             samples it did see.",
            ms(w.p99_us)
        ));
    }

    let dir = artefacts::lesson_dir(15).expect("create target/lessons/lesson-15");
    let json = serde_json::json!({
        "stall": {"every_ms": every.as_millis() as u64, "pause_ms": pause.as_millis() as u64},
        "open": open, "closed": closed,
        "wrk": wrk.as_ref().map(|w| serde_json::json!({"requests": w.requests, "p50_us": w.p50_us, "p99_us": w.p99_us, "max_us": w.max_us})),
    });
    let path = artefacts::write(
        &dir,
        "runs.json",
        &serde_json::to_string_pretty(&json).expect("json"),
    )
    .expect("write runs.json");
    wrote("both runs, with their latency series", &path);
    let svg = figure(&open, &closed, every, pause, secs);
    let path = artefacts::write(&dir, "latency-over-time.svg", &svg).expect("write svg");
    wrote("latency over time", &path);
    if args.flag("--write-book") {
        let img = artefacts::book_dir("load-testing/img").expect("book/load-testing/img");
        let path =
            artefacts::write(&img, "lesson-15-latency-over-time.svg", &svg).expect("write svg");
        wrote("the book's figure", &path);
    }
}

/// What wrk printed, if wrk is installed.
struct Wrk {
    requests: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

fn run_wrk(url: &str, conns: usize, secs: Duration) -> Option<Wrk> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{}s", secs.as_secs().max(1)),
            "--latency",
            url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str, col: usize| {
        text.lines()
            .map(str::split_whitespace)
            .map(|w| w.collect::<Vec<_>>())
            .find(|w| w.first() == Some(&label))
            .and_then(|w| w.get(col).map(|v| v.to_string()))
    };
    let us = |v: String| -> Option<u64> {
        let split = v.find(|c: char| c.is_ascii_alphabetic())?;
        let (n, unit) = v.split_at(split);
        let n: f64 = n.parse().ok()?;
        Some(
            (n * match unit {
                "us" => 1.0,
                "ms" => 1e3,
                "s" => 1e6,
                _ => return None,
            }) as u64,
        )
    };
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Wrk {
        requests,
        p50_us: us(field("50%", 1)?)?,
        p99_us: us(field("99%", 1)?)?,
        max_us: us(field("Latency", 3)?)?,
    })
}

// ANCHOR: figure
/// The slowest answer per 100 ms of each run, over time, with the stalls
/// shaded: the open loop's spikes fill each stall, the closed loop's are
/// single points.
fn figure(
    open: &Report,
    closed: &Report,
    every: Duration,
    pause: Duration,
    secs: Duration,
) -> String {
    let (w, h, left, top, plot_w, plot_h) = (760.0, 320.0, 60.0, 40.0, 660.0, 220.0);
    let total_ms = secs.as_millis() as f64;
    let max_us = open
        .series
        .iter()
        .chain(&closed.series)
        .map(|p| p.max_us)
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let x = |t_ms: f64| left + plot_w * (t_ms / total_ms).min(1.0);
    let y = |us: f64| top + plot_h * (1.0 - us / max_us);
    let mut svg = Svg::new(w, h);
    svg.text(
        left,
        22.0,
        "slowest answer in each 100 ms, by when the request was due",
        14.0,
        "start",
    );
    let mut t = 0.0;
    while t < total_ms {
        let from = t + (every.as_millis() - pause.as_millis()) as f64;
        let to = (t + every.as_millis() as f64).min(total_ms);
        if from < total_ms {
            svg.rect(
                x(from),
                top,
                x(to) - x(from),
                plot_h,
                STALLED,
                Some("the server is stalled"),
            );
        }
        t += every.as_millis() as f64;
    }
    svg.line(
        left,
        top + plot_h,
        left + plot_w,
        top + plot_h,
        palette::INK,
        1.0,
    );
    svg.line(left, top, left, top + plot_h, palette::INK, 1.0);
    for i in 0..=4 {
        let us = max_us * i as f64 / 4.0;
        svg.text(
            left - 6.0,
            y(us) + 4.0,
            &format!("{:.0} ms", us / 1000.0),
            10.0,
            "end",
        );
    }
    let step_s = if total_ms > 5000.0 { 1000.0 } else { 500.0 };
    let mut t = 0.0;
    while t <= total_ms {
        svg.text(
            x(t),
            top + plot_h + 16.0,
            &format!("{:.1} s", t / 1000.0),
            10.0,
            "middle",
        );
        t += step_s;
    }
    let mut draw = |series: &[Point], colour: &str, name: &str| {
        let pts: Vec<(f64, f64)> = series
            .iter()
            .filter(|p| p.count > 0 && (p.t_ms as f64) < total_ms)
            .map(|p| (x(p.t_ms as f64 + 50.0), y(p.max_us as f64)))
            .collect();
        for pair in pts.windows(2) {
            svg.line(pair[0].0, pair[0].1, pair[1].0, pair[1].1, colour, 2.0);
        }
        for (p, pt) in series
            .iter()
            .filter(|p| p.count > 0 && (p.t_ms as f64) < total_ms)
            .zip(&pts)
        {
            let tip = format!(
                "{name}, {} ms: {} answers, slowest {:.1} ms",
                p.t_ms,
                p.count,
                p.max_us as f64 / 1000.0
            );
            svg.mark(pt.0, pt.1, colour, Some(&tip));
        }
    };
    draw(&open.series, OPEN, "open loop");
    draw(&closed.series, CLOSED, "closed loop");
    legend(
        &mut svg,
        left,
        h - 18.0,
        &[
            (
                OPEN,
                &format!("open loop (P99 {:.0} ms)", open.p99_us as f64 / 1000.0),
            ),
            (
                CLOSED,
                &format!("closed loop (P99 {:.1} ms)", closed.p99_us as f64 / 1000.0),
            ),
            (STALLED, "server stalled"),
        ],
    );
    svg.finish()
}
// ANCHOR_END: figure
