//! Lesson 16: A request traced through two services and the scheduler
//!
//! A frontend and a backend, each with its own runtime, on 127.0.0.1. A
//! client sends requests to the frontend's `/front?path=/work?us=N`, each
//! with a W3C `traceparent`; the frontend parses it, makes a span of its
//! own (the trace id in the G's labels, inherited by the G it spawns for
//! the backend call) and sends `traceparent` on to the backend. Both
//! runtimes record their scheduler trace. Afterwards the lesson joins each
//! trace with the notes of which G worked for which request
//! (`service::reqtrace`) and writes a Chrome trace per service with one
//! track per request: every poll (which P and M ran it, why it stopped),
//! every wait with its reason, and the wait from being readied to running.
//! Perfetto opens them; the book draws the frontend's.
//!
//! It also prints both services' per-route metrics (QPS, P50/P99/P99.9,
//! errors, in flight) as `/metrics` serves them.

use std::net::SocketAddr;

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};

use serde_json::Value;
use service::reqtrace;
use service::{Engine, Options, RuntimeKind, Server};

fn main() {
    let args = Cli::new("lesson-16", "a request traced through two services")
        .number(
            "--requests",
            "N",
            "requests sent through both services",
            40,
            1..=10_000,
        )
        .flag(
            "--write-book",
            "also refresh the book's trace (book/load-testing/data)",
        )
        .parse();
    let n = if args.quick() {
        8
    } else {
        args.number("--requests")
    };

    title(
        "Lesson 16",
        "A request traced through two services and the scheduler",
    );
    explain(&format!(
        "Two services on 127.0.0.1, each on its own runtime with 2 Ps and the scheduler trace on: \
         a frontend whose /front calls a backend over loopback, and the backend. {n} requests go \
         to /front?path=/trace, one connection each, each with its own traceparent; the \
         backend's /trace answers with the trace labels its G, and a G it spawns, carry."
    ));

    // ANCHOR: setup
    reqtrace::enable(true);
    let start = |name: &str, backend: Option<SocketAddr>| {
        Server::start(Options {
            engine: Engine::Full,
            runtime: RuntimeKind::Ours,
            procs: 2,
            name: Some(name.into()),
            backend,
            trace: true,
            ..Options::default()
        })
        .expect("start a service on 127.0.0.1")
    };
    let backend = start("backend", None);
    let front = start("frontend", Some(backend.addr()));
    // ANCHOR_END: setup
    let mut ids = Vec::new();
    for i in 0..n {
        // The first 8 hex digits name the track, so they differ per request.
        let id = format!("{:08x}77b34da6a3ce929d0e0e4736", 0x4bf9_2f00 + i);
        let tp = format!("00-{id}-00f067aa0ba902b7-01");
        let (status, body) = get(front.addr(), "/front?path=/trace", &tp);
        assert_eq!(status, 200, "the frontend answered {status}: {body}");
        ids.push((id, body));
    }
    let metrics = |s: &Server| s.routes().metrics().snapshots();
    let (fm, bm) = (metrics(&front), metrics(&backend));
    let prom = front.routes().metrics_text();
    let (_, ftrace) = front.stop_with_trace().expect("stop the frontend");
    let (_, btrace) = backend.stop_with_trace().expect("stop the backend");
    let (ftrace, btrace) = (
        ftrace.expect("frontend trace"),
        btrace.expect("backend trace"),
    );
    let notes = reqtrace::notes();

    section("One request, as both services saw it");
    let (id, body) = &ids[ids.len() / 2];
    let v: Value = serde_json::from_str(body).expect("/front answers JSON");
    let backend_span: Value =
        serde_json::from_str(v["backend"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
    println!("  trace id        {id}");
    println!("  client's span   00f067aa0ba902b7");
    println!(
        "  frontend's span {} (parent {})",
        v["frontend"]["span_id"], v["frontend"]["parent_id"]
    );
    println!(
        "  backend's span  {} (parent {})",
        backend_span["span_id"], backend_span["parent_id"]
    );
    println!(
        "  a G the backend spawned: trace {} span {}",
        backend_span["spawned"]["trace_id"], backend_span["spawned"]["span_id"]
    );

    // ANCHOR: track
    for (service, trace) in [("frontend", &ftrace), ("backend", &btrace)] {
        let evs = reqtrace::request_events(trace, &notes, service, 3);
        let name = format!("req {}", &id[..8]);
        let tid = evs
            .iter()
            .find(|e| {
                e["name"] == "thread_name" && e["args"]["name"].as_str() == Some(name.as_str())
            })
            .map(|e| e["tid"].clone())
            .expect("a track for the request");
        let mut bars: Vec<&Value> = evs
            .iter()
            .filter(|e| e["ph"] == "X" && e["tid"] == tid)
            .collect();
        bars.sort_by(|a, b| {
            a["ts"]
                .as_f64()
                .partial_cmp(&b["ts"].as_f64())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let gs: Vec<u64> = notes
            .iter()
            .filter(|n| n.service == service && &n.trace_id == id)
            .map(|n| n.g)
            .collect();
        println!("\n  {service}, track `{name}`: Gs {gs:?}");
        let mut t = Table::new(["at", "what", "G", "P/M", "took"]);
        let t0 = bars.first().and_then(|b| b["ts"].as_f64()).unwrap_or(0.0);
        for b in &bars {
            let what = if b["cat"] == "g" {
                format!(
                    "poll, stopped: {}",
                    b["args"]["reason"].as_str().unwrap_or("?")
                )
            } else {
                b["name"].as_str().unwrap_or("?").to_string()
            };
            let pm = if b["cat"] == "g" {
                format!("P{}/M{}", b["args"]["p"], b["args"]["m"])
            } else {
                String::new()
            };
            t.row([
                format!("+{:.0} µs", b["ts"].as_f64().unwrap_or(0.0) - t0),
                what,
                format!("G{}", b["args"]["g"]),
                pm,
                format!("{:.0} µs", b["dur"].as_f64().unwrap_or(0.0)),
            ]);
        }
        t.print();
    }
    // ANCHOR_END: track

    section("Scheduling latency of the requests' Gs (ready -> running)");
    for (service, trace) in [("frontend", &ftrace), ("backend", &btrace)] {
        let ours: Vec<u64> = notes
            .iter()
            .filter(|n| n.service == service)
            .map(|n| n.g)
            .collect();
        let mut waits: Vec<u64> = trace
            .scheduling_latencies()
            .into_iter()
            .filter(|(g, _, _)| ours.contains(g))
            .map(|(_, _, w)| w)
            .collect();
        waits.sort_unstable();
        let q = |p: f64| {
            waits
                .get(((waits.len() as f64 * p) as usize).min(waits.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        println!(
            "  {service}: {} readyings, P50 {:.1} µs, P99 {:.1} µs, max {:.1} µs",
            waits.len(),
            q(0.5) as f64 / 1e3,
            q(0.99) as f64 / 1e3,
            waits.last().copied().unwrap_or(0) as f64 / 1e3
        );
    }

    section("Per-route metrics, as /metrics?format=json serves them");
    let mut t = Table::new([
        "service", "route", "requests", "errors", "P50", "P99", "P99.9",
    ]);
    for (service, snaps) in [("frontend", &fm), ("backend", &bm)] {
        for s in snaps.iter().filter(|s| s.requests > 0) {
            let ms = |us: u64| format!("{:.2} ms", us as f64 / 1000.0);
            t.row([
                service.to_string(),
                s.route.to_string(),
                s.requests.to_string(),
                s.errors.to_string(),
                ms(s.p50_us),
                ms(s.p99_us),
                ms(s.p999_us),
            ]);
        }
    }
    t.print();
    let hist: Vec<&str> = prom
        .lines()
        .filter(|l| l.starts_with("service_request_duration_seconds_bucket{route=\"/front\""))
        .take(6)
        .collect();
    println!("  /metrics (Prometheus), the frontend's /front histogram, first buckets:");
    for l in hist {
        println!("    {l}");
    }
    notice(
        "The trace id is the same in both services and in the G each frontend request spawned for \
         the backend call: it travelled in the Gs' labels and the traceparent header, not in any \
         argument. Each request's track shows what spans alone cannot: the poll that sent the \
         call, the wait on the socket (io) while the backend worked, and how long the G sat \
         runnable after the netpoller readied it before a P ran it.",
    );

    let dir = artefacts::lesson_dir(16).expect("create target/lessons/lesson-16");
    for (service, trace) in [("frontend", &ftrace), ("backend", &btrace)] {
        let json = reqtrace::chrome_json_with_requests(trace, &notes, service);
        let path =
            artefacts::write(&dir, &format!("{service}-trace.json"), &json).expect("write trace");
        wrote(
            &format!("the {service}'s trace with one track per request (Perfetto opens it)"),
            &path,
        );
        if args.flag("--write-book") {
            let data = artefacts::book_dir("load-testing/data").expect("book/load-testing/data");
            let path = artefacts::write(&data, &format!("lesson-16-{service}-trace.json"), &json)
                .expect("write");
            wrote("the book's copy", &path);
        }
    }
}

/// One request on its own connection; (status, body).
fn get(addr: SocketAddr, target: &str, traceparent: &str) -> (u16, String) {
    let header = format!("traceparent: {traceparent}");
    service::probe::request(addr, "GET", target, &[&header]).expect("a request to the frontend")
}
