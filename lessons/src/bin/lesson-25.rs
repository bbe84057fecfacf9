//! Lesson 25: Canary releases judged by the tail
//!
//! The service on 127.0.0.1 (fast engine, our runtime, 2 Ps) serves
//! `/canary/work?us=N` from two versions of the same handler. The lesson
//! starts a rollout (`POST /canary/start`): v2 gets 10% of the traffic, and
//! the controller, a G inside the service, judges v2's P99 against v1's on
//! every tick with a bootstrap bound and a minimum-sample guard, steps the
//! weight up (25%, 50%), promotes, or rolls back to 0%. The course's load
//! generator drives it in the open loop, in short slices, until the rollout
//! is decided or the time is up.
//!
//! Twice: once with a v2 whose 10% of requests spin 2 ms longer (it must be
//! rolled back), once with a v2 identical to v1 (it must be promoted). The
//! lesson prints both decision logs, as `GET /canary` serves them, and
//! writes them to `target/lessons/lesson-25/decisions.json`, with a figure
//! of the weight and the two P99s over time (`rollout.svg`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::svg::{Svg, legend, palette};
use loadgen::{Config, Mode};
use serde_json::{Value, json};
use service::{Engine, Options, RuntimeKind, Server};

/// One rollout: a name and v2's injected regression.
struct Scenario {
    name: &'static str,
    regress_pct: u64,
    regress_us: u64,
}

fn main() {
    let args = Cli::new("lesson-25", "canary releases judged by the tail")
        .number(
            "--rate",
            "N",
            "requests per second (open loop)",
            3000,
            100..=50_000,
        )
        .number(
            "--us",
            "N",
            "µs of work per request (both versions)",
            100,
            0..=10_000,
        )
        .number(
            "--regress-pct",
            "N",
            "the share of v2's requests that are slow, percent",
            10,
            1..=100,
        )
        .number(
            "--regress-us",
            "N",
            "how much longer a slow v2 request works, µs",
            2000,
            1..=100_000,
        )
        .number(
            "--min",
            "N",
            "samples per version before the controller judges",
            400,
            1..=1_000_000,
        )
        .number(
            "--seconds",
            "N",
            "the longest each rollout may run, seconds",
            8,
            1..=120,
        )
        .parse();
    let rate = args.number("--rate");
    let us = args.number("--us");
    let min = args.number("--min");
    let limit = Duration::from_secs(if args.quick() {
        args.number("--seconds").min(8)
    } else {
        args.number("--seconds")
    });
    let scenarios = [
        Scenario {
            name: "regressed v2",
            regress_pct: args.number("--regress-pct"),
            regress_us: args.number("--regress-us"),
        },
        Scenario {
            name: "healthy v2",
            regress_pct: 0,
            regress_us: 0,
        },
    ];

    title("Lesson 25", "Canary releases judged by the tail");
    explain(&format!(
        "The service runs two versions of /canary/work?us={us} (the same busy loop). A rollout \
         sends v2 10% of the traffic, then 25%, then 50%, then all of it, if at each step the \
         controller (a G in the service, waking every 100 ms) can show that v2's P99 is not more \
         than 5% worse than v1's at 99% confidence (a bootstrap bound on the ratio of P99s, \
         over the latencies recorded at that step). Shown worse: back to 0% at once. Fewer than \
         {min} samples per version: \"not enough data\", never healthy. The load generator sends \
         {rate} requests/s in the open loop, in 500 ms slices, until the rollout is decided or \
         {} s have passed.",
        limit.as_secs()
    ));

    let mut runs = Vec::new();
    for s in &scenarios {
        section(&format!(
            "{}: {}",
            s.name,
            if s.regress_pct == 0 {
                "no regression".to_string()
            } else {
                format!(
                    "{}% of its requests take {} µs longer",
                    s.regress_pct, s.regress_us
                )
            }
        ));
        let run = rollout(s, rate, us, min, limit);
        print_log(&run);
        runs.push(run);
    }

    section("Outcome");
    let mut t = Table::new([
        "rollout",
        "outcome",
        "final weight",
        "decided after",
        "P50 v1 / v2",
        "P99 v1 / v2",
        "requests",
    ]);
    for (s, run) in scenarios.iter().zip(&runs) {
        let log = run["canary"]["log"].as_array().cloned().unwrap_or_default();
        let last = log
            .iter()
            .find(|e| e["decision"] == "rollback" || e["decision"] == "promote");
        let pair = |q: &str| {
            last.map_or("-".to_string(), |e| {
                format!("{} / {} µs", e[q]["v1"], e[q]["v2"])
            })
        };
        t.row([
            s.name.to_string(),
            run["canary"]["phase"].as_str().unwrap_or("?").to_string(),
            format!("{}%", run["canary"]["weight"]),
            last.map_or("-".to_string(), |e| format!("{} ms", e["at_ms"])),
            pair("p50_us"),
            pair("p99_us"),
            run["requests"].to_string(),
        ]);
    }
    t.print();
    for (s, run) in scenarios.iter().zip(&runs) {
        println!(
            "outcome of the {}: {}",
            s.name,
            run["canary"]["phase"].as_str().unwrap_or("?")
        );
    }
    notice(
        "The regressed v2 moved only its tail: its median is about v1's (the P50 column), so a \
         dashboard of medians would have shipped it. The ratio of P99s said more than 5% worse \
         (its lower bound above 1.05), so it went back to 0% at its first judged step, having \
         served a tenth of the traffic for a second or two. The healthy v2 went up step by step; \
         each step waited for enough samples before judging (the \"wait\" lines), because a P99 \
         of a handful of requests is their maximum, and no samples at all would otherwise read \
         as no problems. Its intervals are wide: on a busy machine the tail is scheduling noise.",
    );

    let dir = artefacts::lesson_dir(25).expect("create target/lessons/lesson-25");
    let all = json!({
        "rate": rate,
        "work_us": us,
        "min_samples": min,
        "rollouts": scenarios.iter().zip(&runs).map(|(s, r)| json!({"name": s.name, "run": r})).collect::<Vec<_>>(),
    });
    let path = artefacts::write(
        &dir,
        "decisions.json",
        &serde_json::to_string_pretty(&all).expect("JSON"),
    )
    .expect("write decisions.json");
    wrote("both rollouts' decision logs", &path);
    let svg = figure(&scenarios, &runs);
    let path = artefacts::write(&dir, "rollout.svg", &svg).expect("write rollout.svg");
    wrote("the weight and the P99s over time", &path);
}

// ANCHOR: rollout
/// Starts a service, starts a rollout, drives it until it is decided (or
/// `limit`), and returns what `/canary` says with the load's totals.
fn rollout(s: &Scenario, rate: u64, us: u64, min: u64, limit: Duration) -> Value {
    let server = Server::start(Options {
        engine: Engine::Fast,
        runtime: RuntimeKind::Ours,
        procs: 2,
        ..Options::default()
    })
    .expect("start the service on 127.0.0.1");
    let start = format!(
        "/canary/start?steps=10,25,50&min={min}&tick_ms=100&patience=80&undecided=40\
         &regress_pct={}&regress_us={}",
        s.regress_pct, s.regress_us
    );
    let (status, body) = http(server.addr(), "POST", &start);
    assert_eq!(status, 200, "POST {start}: {status} {body}");
    let mut cfg = Config::new(server.addr());
    cfg.path = format!("/canary/work?us={us}");
    cfg.mode = Mode::Open;
    cfg.rate = rate as f64;
    cfg.connections = 8;
    cfg.duration = Duration::from_millis(500);
    cfg.max_requests = rate; // at most one second's worth per slice
    let (t0, mut requests, mut errors) = (Instant::now(), 0, 0);
    let canary = loop {
        let r = loadgen::run(&cfg).expect("drive /canary/work").report;
        requests += r.requests;
        errors += r.errors;
        let (_, body) = http(server.addr(), "GET", "/canary");
        let canary: Value = serde_json::from_str(&body).expect("/canary is JSON");
        if canary["phase"] != "analysing" || t0.elapsed() >= limit {
            break canary;
        }
    };
    let metrics = server.routes().metrics_text();
    server.stop().expect("stop the service");
    let canary_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("service_canary_"))
        .collect();
    json!({ "requests": requests, "errors": errors, "canary": canary, "metrics": canary_lines })
}
// ANCHOR_END: rollout

fn print_log(run: &Value) {
    let mut t = Table::new([
        "at",
        "weight",
        "n v1",
        "n v2",
        "P99 v1",
        "P99 v2",
        "ratio",
        "99% bounds",
        "verdict",
        "decision",
    ]);
    let empty = Vec::new();
    for e in run["canary"]["log"].as_array().unwrap_or(&empty) {
        let f = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
        t.row([
            format!("{} ms", e["at_ms"]),
            format!("{}%", e["weight"]),
            e["samples"]["v1"].to_string(),
            e["samples"]["v2"].to_string(),
            format!("{} µs", e["p99_us"]["v1"]),
            format!("{} µs", e["p99_us"]["v2"]),
            f(&e["ratio"]),
            if e["lower"].is_null() {
                "-".to_string()
            } else {
                format!("{}..{}", f(&e["lower"]), f(&e["upper"]))
            },
            e["verdict"].as_str().unwrap_or("?").to_string(),
            format!(
                "{} -> {}%",
                e["decision"].as_str().unwrap_or("?"),
                e["next_weight"]
            ),
        ]);
    }
    t.print();
    println!(
        "  {} requests sent ({} errors); /metrics: {}",
        run["requests"],
        run["errors"],
        run["metrics"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .filter_map(Value::as_str)
            .filter(|l| l.contains("requests_total") || l.contains("rollback"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// One panel per rollout: v2's weight (a step line) and both P99s over time.
fn figure(scenarios: &[Scenario], runs: &[Value]) -> String {
    let (w, panel_h, left, top) = (640.0, 190.0, 60.0, 40.0);
    let plot_w = w - left - 70.0;
    let mut svg = Svg::new(w, top + panel_h * runs.len() as f64 + 10.0);
    svg.text(
        10.0,
        20.0,
        "v2's weight (%, right) and the P99 of each version (µs, left) at each tick",
        13.0,
        "start",
    );
    legend(
        &mut svg,
        left,
        32.0,
        &[
            (palette::YIELD, "v2's weight"),
            (palette::STEAL, "P99 v1"),
            (palette::PREEMPT, "P99 v2"),
        ],
    );
    for (i, (s, run)) in scenarios.iter().zip(runs).enumerate() {
        let y0 = top + 20.0 + panel_h * i as f64;
        let h = panel_h - 50.0;
        let empty = Vec::new();
        let log = run["canary"]["log"].as_array().unwrap_or(&empty);
        let t_max = log
            .iter()
            .filter_map(|e| e["at_ms"].as_f64())
            .fold(1.0, f64::max);
        let p_max = log
            .iter()
            .flat_map(|e| [e["p99_us"]["v1"].as_f64(), e["p99_us"]["v2"].as_f64()])
            .flatten()
            .fold(1.0, f64::max);
        svg.text(left, y0 - 4.0, s.name, 12.0, "start");
        svg.outline(left, y0, plot_w, h, "#999");
        svg.text(left - 4.0, y0 + 10.0, &format!("{p_max:.0}"), 10.0, "end");
        svg.text(left + plot_w + 4.0, y0 + 10.0, "100%", 10.0, "start");
        svg.text(
            left + plot_w,
            y0 + h + 14.0,
            &format!("{t_max:.0} ms"),
            10.0,
            "end",
        );
        let x = |t: f64| left + plot_w * t / t_max;
        let first = log
            .first()
            .and_then(|e| e["weight"].as_f64())
            .unwrap_or(0.0);
        let (mut prev_w, mut prev_t) = (first, 0.0);
        for e in log {
            let t = e["at_ms"].as_f64().unwrap_or(0.0);
            let y_w = |w: f64| y0 + h - h * w / 100.0;
            svg.line(
                x(prev_t),
                y_w(prev_w),
                x(t),
                y_w(prev_w),
                palette::YIELD,
                2.0,
            );
            let next = e["next_weight"].as_f64().unwrap_or(prev_w);
            svg.line(x(t), y_w(prev_w), x(t), y_w(next), palette::YIELD, 2.0);
            for (key, colour) in [("v1", palette::STEAL), ("v2", palette::PREEMPT)] {
                if let Some(p) = e["p99_us"][key].as_f64().filter(|p| *p > 0.0) {
                    let tip = format!("{key} P99 {p:.0} µs at {t:.0} ms");
                    svg.mark(x(t), y0 + h - h * p / p_max, colour, Some(&tip));
                }
            }
            (prev_w, prev_t) = (next, t);
        }
    }
    svg.finish()
}

/// One request on its own connection: (status, body).
fn http(addr: SocketAddr, method: &str, target: &str) -> (u16, String) {
    service::probe::request(addr, method, target, &[]).expect("a request to the service")
}
