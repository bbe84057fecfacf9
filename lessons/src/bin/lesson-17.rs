//! Lesson 17: Shaping and circuit breaking — a burst, a backend that breaks, a breaker that opens, probes and recovers
//!
//! Two services on 127.0.0.1: a frontend whose `/front` calls a backend
//! over loopback (our runtime's `TcpStream`, one connection per call), with
//! a GCRA limiter on `/front` and a circuit breaker in front of the
//! backend. The load generator sends a steady open-loop rate, then a burst
//! on top. Midway the backend is broken (every answer a 500, an injected
//! fault), and later repaired. Every 100 ms the lesson samples the
//! breaker's state and the frontend's answers in that interval (their
//! count and P99), and writes the timeline to
//! `target/lessons/lesson-17/breaker.json`, which the book draws. The
//! frontend's runtime records its scheduler trace, and the breaker writes
//! every state change into it (`runtime::trace_log`): the lesson prints
//! them with the G, P and M that made them and writes the trace as
//! `frontend-trace.json`. The burst is tagged load-test traffic
//! (`x-load-test`), and a writer sends PUTs through the frontend to the
//! backend's `/store`, alternately tagged and real: afterwards the lesson
//! reads both of the backend's stores back and counts what landed where.
//!
//! What to notice: the limiter turns the burst's excess into fast 429s
//! instead of a queue; the breaker opens within a window's worth of failed
//! calls, the frontend answers 503 at once while it is open (the backend
//! gets no calls), each probe (half-open) lets three trial calls through,
//! and the open period doubles each time the trials fail, until the
//! backend is repaired and the trials close it. Every tagged write is in
//! the shadow store and every real one in the real store, none crossed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::svg::{Svg, legend};

use loadgen::Config;
use service::breaker::{self, State};
use service::tagging;
use service::{Engine, Limit, Options, RuntimeKind, Server};

/// One sample of the timeline (the book's figure is drawn from these).
#[derive(serde::Serialize, Clone, Copy)]
struct Point {
    t_ms: u64,
    state: &'static str,
    qps: u64,
    p99_us: u64,
}

/// The moments of the scenario, in ms from the start.
struct Script {
    total: u64,
    burst: (u64, u64),
    fault: (u64, u64),
}

fn main() {
    let args = Cli::new("lesson-17", "shaping and circuit breaking")
        .number(
            "--rate",
            "R",
            "the steady open-loop rate, requests per second",
            150,
            10..=5000,
        )
        .number(
            "--burst-rate",
            "R",
            "the burst's extra requests per second",
            600,
            10..=20_000,
        )
        .number(
            "--limit",
            "R",
            "the GCRA limit on the frontend's /front, per second",
            400,
            10..=100_000,
        )
        .number("--seconds", "S", "how long the whole run lasts", 8, 4..=60)
        .flag(
            "--write-book",
            "also refresh the book's figure (book/load-testing/img)",
        )
        .parse();
    let script = if args.quick() {
        Script {
            total: 3600,
            burst: (500, 1100),
            fault: (1200, 2300),
        }
    } else {
        let t = args.number("--seconds") * 1000;
        Script {
            total: t,
            burst: (t / 8, t / 4),
            fault: (t * 3 / 10, t * 6 / 10),
        }
    };
    let (rate, burst_rate, limit) = (
        args.number("--rate") as f64,
        args.number("--burst-rate") as f64,
        args.number("--limit") as f64,
    );

    title("Lesson 17", "Shaping and circuit breaking");
    explain(&format!(
        "A frontend calls a backend for every request to /front. Load: {rate:.0} req/s for {:.1} s, \
         plus a burst of {burst_rate:.0} req/s from {} to {} ms; the frontend's /front is limited to \
         {limit:.0} req/s (GCRA, bursts of 50). The backend is broken (every answer a 500) from {} to \
         {} ms. A circuit breaker guards the calls: the last 20 calls, at least 10, opens at 50 % \
         failures or 80 % slow (> 250 ms); open 300 ms, doubling per trip up to 4 s; 3 trial calls.",
        script.total as f64 / 1000.0,
        script.burst.0,
        script.burst.1,
        script.fault.0,
        script.fault.1,
    ));

    // The backend's real and shadow stores, empty at the start of each run.
    let store_dir = artefacts::lesson_dir(17)
        .expect("create target/lessons/lesson-17")
        .join("store");
    let _ = std::fs::remove_dir_all(&store_dir);

    // ANCHOR: setup
    let backend = Server::start(Options {
        engine: Engine::Full,
        runtime: RuntimeKind::Ours,
        procs: 1,
        name: Some("backend".into()),
        store_dir: Some(store_dir.clone()),
        ..Options::default()
    })
    .expect("start the backend on 127.0.0.1");
    let front = Server::start(Options {
        engine: Engine::Full,
        runtime: RuntimeKind::Ours,
        procs: 1,
        name: Some("frontend".into()),
        // The runtime's trace: the breaker writes each state change into
        // it (`runtime::trace_log`), on the G whose call caused it.
        trace: true,
        backend: Some(backend.addr()),
        breaker: Some(breaker::Config {
            wait_in_open: Duration::from_millis(300),
            max_wait_in_open: Duration::from_secs(4),
            ..service::server::default_breaker()
        }),
        limits_per_route: vec![(
            "/front".into(),
            Limit::Gcra {
                rate: limit,
                burst: 50,
            },
        )],
        ..Options::default()
    })
    .expect("start the frontend on 127.0.0.1");
    // ANCHOR_END: setup

    let load = |rate: f64, conns: usize, ms: u64| {
        let mut cfg = Config::new(front.addr());
        cfg.path = "/front?path=/work?us=200".into();
        cfg.rate = rate;
        cfg.connections = conns;
        cfg.duration = Duration::from_millis(ms);
        cfg.max_requests = (rate * ms as f64 / 1000.0) as u64 + conns as u64;
        cfg
    };
    let steady = load(rate, 8, script.total);
    let mut burst = load(burst_rate, 16, script.burst.1 - script.burst.0);
    // The burst is the load test's own traffic: tagged, so whatever it
    // writes downstream goes to the shadow store (service::tagging).
    burst.headers = vec![(tagging::HEADER.into(), "lesson-17-burst".into())];
    let t0 = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let (points, reports) = std::thread::scope(|s| {
        let steady = s.spawn(|| loadgen::run(&steady).map(|r| r.report));
        let burst = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(script.burst.0));
            loadgen::run(&burst).map(|r| r.report)
        });
        // Writes through the frontend to the backend's /store, every 40 ms,
        // alternately tagged and real, through the same limiter and breaker.
        let writes = s.spawn(|| writer(front.addr(), script.total));
        // ANCHOR: sample
        let mut points = Vec::new();
        let mut tick = 0u64;
        let metrics = front.routes().metrics();
        let _ = metrics.take_interval("/front");
        while !done.load(Ordering::Relaxed) {
            tick += 1;
            let due = t0 + Duration::from_millis(100 * tick);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            let t_ms = t0.elapsed().as_millis() as u64;
            let fault = (script.fault.0..script.fault.1).contains(&t_ms);
            backend.routes().set_fault(fault);
            let (n, p99_us) = metrics.take_interval("/front").unwrap_or((0, 0));
            // `peek`, not `state`: this thread is outside the runtime, and
            // a transition it caused would be missing from the trace.
            let state = front.routes().breaker().map_or(State::Closed, |b| b.peek());
            points.push(Point {
                t_ms,
                state: state.as_str(),
                qps: n * 10,
                p99_us,
            });
            if t_ms >= script.total + 200 {
                done.store(true, Ordering::Relaxed);
            }
        }
        // ANCHOR_END: sample
        let steady = steady
            .join()
            .expect("steady load thread")
            .expect("steady load");
        let burst = burst
            .join()
            .expect("burst load thread")
            .expect("burst load");
        let writes = writes.join().expect("writer thread");
        (points, (steady, burst, writes))
    });
    let transitions = front
        .routes()
        .breaker()
        .map(|b| b.transitions())
        .unwrap_or_default();
    let fm = front
        .routes()
        .metrics()
        .snapshot("/front")
        .expect("/front metrics");
    let backend_calls = backend
        .routes()
        .metrics()
        .snapshot("/work")
        .map_or(0, |s| s.requests);
    let (_, trace) = front.stop_with_trace().expect("stop the frontend");
    let trace = trace.expect("the frontend's runtime traced");
    backend.stop().expect("stop the backend");

    section("The timeline, every 100 ms (frontend's /front)");
    let mut t = Table::new(["t", "breaker", "answered/s", "P99"]);
    let mut last = "";
    for (i, p) in points.iter().enumerate() {
        // Every 5th sample, and every sample where the state changed.
        if p.state != last || i % 5 == 0 {
            t.row([
                format!("{:>5} ms", p.t_ms),
                p.state.to_string(),
                p.qps.to_string(),
                format!("{:.1} ms", p.p99_us as f64 / 1000.0),
            ]);
        }
        last = p.state;
    }
    t.print();

    section("What the breaker did");
    for tr in &transitions {
        println!(
            "  {:>6.0} ms after it was made: {} -> {}",
            tr.at.as_secs_f64() * 1000.0,
            tr.from,
            tr.to
        );
    }
    section("The same transitions in the frontend runtime's trace");
    let logs = trace.user_logs(breaker::TRACE_CATEGORY);
    let t0_ns = trace.events.first().map_or(0, |e| e.ts_ns);
    for (event, log) in &logs {
        println!(
            "  {:>6.1} ms  G{} on P{} (M{}): {}",
            (event.ts_ns - t0_ns) as f64 / 1e6,
            log.g,
            event.p.map_or("-".to_string(), |p| p.to_string()),
            event.m,
            log.message
        );
    }
    let agree = logs.len() == transitions.len()
        && logs
            .iter()
            .zip(&transitions)
            .all(|((_, l), t)| l.message == breaker::transition_name(t.from, t.to));
    println!(
        "  {} breaker events in the trace, {} transitions in the breaker: {}",
        logs.len(),
        transitions.len(),
        if agree {
            "the same, in the same order"
        } else {
            "they differ"
        }
    );
    let opens = transitions.iter().filter(|t| t.to == State::Open).count();
    let probes = transitions
        .iter()
        .filter(|t| t.to == State::HalfOpen)
        .count();
    let closes = transitions.iter().filter(|t| t.to == State::Closed).count();
    let (steady_r, burst_r, writes) = &reports;
    let sent = |r: &loadgen::Report| r.requests + r.errors;
    println!(
        "  loadgen sent {} steady and {} burst requests; the frontend answered {} on /front: {} \
         refused by the limiter (429), {} with a 5xx (the backend's 500s and the breaker's 503s); \
         the backend served {backend_calls} calls",
        sent(steady_r),
        sent(burst_r),
        fm.requests,
        fm.limited,
        fm.errors
    );
    let open_p99 = points
        .iter()
        .filter(|p| p.state == "open")
        .map(|p| p.p99_us)
        .max()
        .unwrap_or(0);
    let periods: Vec<String> = transitions
        .windows(2)
        .filter(|w| w[0].to == State::Open && w[1].to == State::HalfOpen)
        .map(|w| format!("{:.0} ms", (w[1].at - w[0].at).as_secs_f64() * 1000.0))
        .collect();
    notice(&format!(
        "The breaker opened {opens} time(s), probed {probes} time(s) and closed {closes} time(s). \
         While it was open the frontend failed fast: its P99 in the open intervals was at most \
         {:.1} ms, and of the {} requests it answered on /front only {backend_calls} reached the backend.",
        open_p99 as f64 / 1000.0,
        fm.requests
    ));
    notice(&format!(
        "The open periods were {}: each failed probe doubles it, so a backend that stays broken is \
         asked less and less often. Once it was repaired, the next probe's three trial calls \
         succeeded and the breaker closed. During the burst the GCRA limit answered {} requests \
         with 429 at once instead of queueing them.",
        periods.join(", "),
        fm.limited
    ));

    section("Tagged traffic: the real store and the shadow store");
    let stores = Stores::read(&store_dir);
    let mut t = Table::new(["writes", "sent", "stored (200)", "refused"]);
    for (name, w) in [
        ("tagged (x-load-test)", writes.tagged),
        ("real (untagged)", writes.real),
    ] {
        t.row([
            name.to_string(),
            w.sent.to_string(),
            w.ok.to_string(),
            (w.sent - w.ok).to_string(),
        ]);
    }
    t.print();
    println!(
        "  real store: {} records, {} of them tagged; shadow store: {} records, {} of them untagged",
        stores.real.len(),
        stores
            .real
            .iter()
            .filter(|r| !r.tag.is_empty() || r.key.starts_with("test-"))
            .count(),
        stores.shadow.len(),
        stores
            .shadow
            .iter()
            .filter(|r| r.tag.is_empty() || r.key.starts_with("real-"))
            .count(),
    );
    notice(&format!(
        "Every write the frontend answered 200 landed in exactly one store: the {} tagged ones in \
         the shadow (tag {:?}), the {} real ones in the real store. The tag crossed the frontend's \
         G, the G it spawned for the backend call, and the hop; writes refused by the limiter or \
         the open breaker landed nowhere.",
        writes.tagged.ok,
        stores.shadow.first().map_or("", |r| r.tag.as_str()),
        writes.real.ok
    ));

    let dir = artefacts::lesson_dir(17).expect("create target/lessons/lesson-17");
    let path = artefacts::write(
        &dir,
        "breaker.json",
        &serde_json::to_string_pretty(&points).expect("json"),
    )
    .expect("write breaker.json");
    wrote("the timeline (t_ms, state, qps, p99_us)", &path);
    let path = artefacts::write(
        &dir,
        "breaker-trace.json",
        &breaker_trace(&transitions, &points),
    )
    .expect("write breaker-trace.json");
    wrote(
        "the breaker's states as a Chrome trace (Perfetto opens it)",
        &path,
    );
    let path = artefacts::write(&dir, "frontend-trace.json", &trace.to_chrome_json())
        .expect("write frontend-trace.json");
    wrote(
        "the frontend runtime's trace, each breaker transition an instant on its G (Perfetto)",
        &path,
    );
    let svg = figure(&points, &script);
    let path = artefacts::write(&dir, "breaker.svg", &svg).expect("write svg");
    wrote("the timeline as a figure", &path);
    if args.flag("--write-book") {
        let img = artefacts::book_dir("load-testing/img").expect("book/load-testing/img");
        let path = artefacts::write(&img, "lesson-17-breaker.svg", &svg).expect("write svg");
        wrote("the book's figure", &path);
        let data = artefacts::book_dir("load-testing/data").expect("book/load-testing/data");
        let path = artefacts::write(
            &data,
            "lesson-17-breaker.json",
            &serde_json::to_string(&points).expect("json"),
        )
        .expect("write json");
        wrote("the book's data", &path);
    }
}

/// The breaker's states as Chrome trace events: one bar per state on a
/// "breaker" track (times on the breaker's clock), a marker per
/// transition, and the sampled answered/s and P99 as counters (times on
/// the lesson's clock, which starts a few ms later).
fn breaker_trace(transitions: &[breaker::Transition], points: &[Point]) -> String {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mut events = vec![
        serde_json::json!({"ph": "M", "pid": 4, "name": "process_name", "args": {"name": "circuit breaker"}}),
        serde_json::json!({"ph": "M", "pid": 4, "tid": 0, "name": "thread_name", "args": {"name": "breaker"}}),
    ];
    let mut from = (Duration::ZERO, State::Closed);
    for t in transitions {
        events.push(
            serde_json::json!({"ph": "X", "pid": 4, "tid": 0, "name": from.1.as_str(),
            "ts": us(from.0), "dur": us(t.at - from.0)}),
        );
        events.push(serde_json::json!({"ph": "i", "pid": 4, "tid": 0, "s": "t",
            "name": format!("{} -> {}", t.from, t.to), "ts": us(t.at)}));
        from = (t.at, t.to);
    }
    let end = points
        .last()
        .map_or(from.0, |p| Duration::from_millis(p.t_ms).max(from.0));
    events.push(
        serde_json::json!({"ph": "X", "pid": 4, "tid": 0, "name": from.1.as_str(),
        "ts": us(from.0), "dur": us(end - from.0)}),
    );
    for p in points {
        events.push(serde_json::json!({"ph": "C", "pid": 4, "name": "answered/s", "ts": p.t_ms as f64 * 1e3, "args": {"qps": p.qps}}));
        events.push(serde_json::json!({"ph": "C", "pid": 4, "name": "P99 µs", "ts": p.t_ms as f64 * 1e3, "args": {"p99_us": p.p99_us}}));
    }
    serde_json::json!({"traceEvents": events}).to_string()
}

/// Answered/s and P99 over time, on bands coloured by the breaker's state.
fn figure(points: &[Point], script: &Script) -> String {
    let (w, h, left, top, plot_h) = (760.0, 330.0, 60.0, 30.0, 220.0);
    let plot_w = w - left - 20.0;
    let t_max = points.last().map_or(1, |p| p.t_ms).max(1) as f64;
    let x = |t: f64| left + plot_w * t / t_max;
    let q_max = points.iter().map(|p| p.qps).max().unwrap_or(1).max(1) as f64;
    let p_max = points.iter().map(|p| p.p99_us).max().unwrap_or(1).max(1) as f64;
    let mut svg = Svg::new(w, h);
    svg.text(
        w / 2.0,
        16.0,
        "Lesson 17: the breaker's state, answered/s and P99 (every 100 ms)",
        13.0,
        "middle",
    );
    let color = |s: &str| match s {
        "open" => "#f4c7c3",
        "half_open" => "#fce8b2",
        _ => "#d9ead3",
    };
    let mut prev = 0.0;
    for p in points {
        let t = p.t_ms as f64;
        svg.rect(
            x(prev),
            top,
            (x(t) - x(prev)).max(0.5),
            plot_h,
            color(p.state),
            Some(p.state),
        );
        prev = t;
    }
    let mark = |svg: &mut Svg, from: u64, to: u64, label: &str, y: f64| {
        svg.line(x(from as f64), y, x(to as f64), y, "#555555", 3.0);
        svg.text(x(from as f64), y - 4.0, label, 10.0, "start");
    };
    mark(
        &mut svg,
        script.burst.0,
        script.burst.1,
        "burst",
        top + plot_h + 18.0,
    );
    mark(
        &mut svg,
        script.fault.0,
        script.fault.1,
        "backend broken",
        top + plot_h + 36.0,
    );
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let yq = |q: u64| top + plot_h - plot_h * q as f64 / q_max;
        let yp = |p: u64| top + plot_h - plot_h * p as f64 / p_max;
        svg.line(
            x(a.t_ms as f64),
            yq(a.qps),
            x(b.t_ms as f64),
            yq(b.qps),
            "#4e79a7",
            2.0,
        );
        svg.line(
            x(a.t_ms as f64),
            yp(a.p99_us),
            x(b.t_ms as f64),
            yp(b.p99_us),
            "#e15759",
            1.5,
        );
    }
    svg.text(
        left - 6.0,
        top + 10.0,
        &format!("{q_max:.0}/s"),
        10.0,
        "end",
    );
    svg.text(
        left - 6.0,
        top + 24.0,
        &format!("{:.1} ms", p_max / 1000.0),
        10.0,
        "end",
    );
    svg.text(
        left + plot_w,
        top + plot_h + 54.0,
        &format!("{:.1} s", t_max / 1000.0),
        10.0,
        "end",
    );
    legend(
        &mut svg,
        left,
        h - 14.0,
        &[
            ("#4e79a7", "answered/s"),
            ("#e15759", "P99"),
            ("#d9ead3", "closed"),
            ("#f4c7c3", "open"),
            ("#fce8b2", "half-open"),
        ],
    );
    svg.finish()
}

/// Writes sent and stored (answered 200), for one kind of traffic.
#[derive(Clone, Copy, Default)]
struct Sent {
    sent: u64,
    ok: u64,
}

/// What the writer did.
#[derive(Clone, Copy, Default)]
struct Writes {
    tagged: Sent,
    real: Sent,
}

/// Sends a PUT to `/front?path=/store?key=...` every 40 ms for `ms`,
/// alternately tagged (`x-load-test`, key `test-N`) and real (key
/// `real-N`), one connection each (loadgen sends only GETs).
fn writer(front: SocketAddr, ms: u64) -> Writes {
    let t0 = Instant::now();
    let mut w = Writes::default();
    for i in 0u64.. {
        let due = t0 + Duration::from_millis(40 * i);
        if due > t0 + Duration::from_millis(ms) {
            break;
        }
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let tagged = i % 2 == 0;
        let (key, header) = if tagged {
            (
                format!("test-{i}"),
                format!("{}: lesson-17\r\n", tagging::HEADER),
            )
        } else {
            (format!("real-{i}"), String::new())
        };
        let body = format!("write {i}");
        let status = put(
            front,
            &format!("/front?path=/store?key={key}"),
            &header,
            &body,
        );
        let kind = if tagged { &mut w.tagged } else { &mut w.real };
        kind.sent += 1;
        kind.ok += u64::from(status == 200);
    }
    w
}

/// One PUT on its own connection; its status (0 if there was no answer).
fn put(addr: SocketAddr, target: &str, headers: &str, body: &str) -> u16 {
    let Ok(mut c) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!(
        "PUT {target} HTTP/1.1\r\nHost: lesson\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut out = Vec::new();
    if c.write_all(req.as_bytes()).is_err() || c.read_to_end(&mut out).is_err() {
        return 0;
    }
    out.get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// One record of a store.
struct Record {
    key: String,
    tag: String,
}

/// The backend's two stores, read back from their files after the run.
struct Stores {
    real: Vec<Record>,
    shadow: Vec<Record>,
}

impl Stores {
    fn read(dir: &std::path::Path) -> Stores {
        let stores = service::store::Stores::open(dir).expect("open the stores");
        let read = |s: &service::store::Store| -> Vec<Record> {
            s.records()
                .expect("read a store")
                .into_iter()
                .map(|(key, _, tag)| Record { key, tag })
                .collect()
        };
        Stores {
            real: read(&stores.real),
            shadow: read(&stores.shadow),
        }
    }
}
