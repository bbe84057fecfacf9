//! Tests of the trace: pairing runs, the Chrome export, the recorder.

use serde_json::Value;

use super::*;

fn ev(ts_ns: u64, p: Option<usize>, m: usize, kind: EventKind) -> TraceEvent {
    TraceEvent { ts_ns, p, m, kind }
}

fn sample() -> Trace {
    use EventKind::*;
    Trace {
        procs: 2,
        events: vec![
            ev(0, Some(0), 0, GoCreate { g: 1 }),
            ev(100, Some(0), 0, GoStart { g: 1 }),
            ev(150, Some(0), 0, GoCreate { g: 2 }),
            ev(
                200,
                Some(1),
                1,
                Steal {
                    from: 0,
                    to: 1,
                    count: 1,
                },
            ),
            ev(210, Some(1), 1, GoStart { g: 2 }),
            ev(
                300,
                Some(0),
                0,
                GoStop {
                    g: 1,
                    reason: StopReason::Yield,
                },
            ),
            ev(310, Some(0), 0, GoStart { g: 1 }),
            ev(400, Some(1), 1, SyscallEnter { g: 2 }),
            ev(420, None, 2, ProcIdle),
            ev(
                450,
                Some(0),
                0,
                GoStop {
                    g: 1,
                    reason: StopReason::Preempt,
                },
            ),
            ev(460, Some(0), 0, ProcIdle),
            ev(500, Some(1), 1, SyscallExit { g: 2 }),
            ev(
                600,
                Some(1),
                1,
                GoStop {
                    g: 2,
                    reason: StopReason::Done,
                },
            ),
            ev(700, Some(0), 0, ProcBusy),
            ev(710, Some(0), 0, GoStart { g: 1 }),
            ev(
                800,
                Some(0),
                0,
                GoStop {
                    g: 1,
                    reason: StopReason::Block,
                },
            ),
            ev(900, Some(0), 0, GoStart { g: 1 }),
        ],
    }
}

fn chrome(trace: &Trace) -> Vec<Value> {
    let parsed: Value =
        serde_json::from_str(&trace.to_chrome_json()).expect("the export is valid JSON");
    assert_eq!(parsed["displayTimeUnit"], "ns");
    parsed["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
        .clone()
}

fn with_ph<'v>(events: &'v [Value], ph: &str) -> Vec<&'v Value> {
    events.iter().filter(|e| e["ph"] == ph).collect()
}

#[test]
fn chrome_json_names_every_p_and_m() {
    let events = chrome(&sample());
    let names: Vec<(u64, u64, String)> = with_ph(&events, "M")
        .into_iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| {
            (
                e["pid"].as_u64().unwrap(),
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for expected in [
        (1, 0, "P0"),
        (1, 1, "P1"),
        (2, 0, "M0"),
        (2, 1, "M1"),
        (2, 2, "M2"),
    ] {
        let expected = (expected.0, expected.1, expected.2.to_string());
        assert!(
            names.contains(&expected),
            "missing {expected:?} in {names:?}"
        );
    }
}

#[test]
fn g_runs_become_complete_events_paired_start_to_stop() {
    let events = chrome(&sample());
    assert_no_overlap(&events);
    let runs: Vec<(String, u64, f64, f64, String)> = with_ph(&events, "X")
        .into_iter()
        .filter(|e| e["cat"] == "g")
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["tid"].as_u64().unwrap(),
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
                e["args"]["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = vec![
        ("G1".to_string(), 0, 0.1, 0.2, "yield".to_string()),
        // G2's run is cut by its syscall (400..500): the bar before it
        // ends with "syscall", the bar after it ends with the real reason.
        ("G2".to_string(), 1, 0.21, 0.19, "syscall".to_string()),
        ("G2".to_string(), 1, 0.5, 0.1, "done".to_string()),
        ("G1".to_string(), 0, 0.31, 0.14, "preempt".to_string()),
        ("G1".to_string(), 0, 0.71, 0.09, "block".to_string()),
        // Still running at the end of the trace: a zero-length bar here,
        // since its start is the trace's last event.
        ("G1".to_string(), 0, 0.9, 0.0, "running".to_string()),
    ];
    assert_eq!(
        runs.len(),
        expected.len(),
        "one bar per stretch on a P: {runs:?}"
    );
    for (got, want) in runs.iter().zip(&expected) {
        assert_eq!((&got.0, got.1, &got.4), (&want.0, want.1, &want.4));
        assert!((got.2 - want.2).abs() < 1e-9, "ts µs: {got:?} vs {want:?}");
        assert!((got.3 - want.3).abs() < 1e-9, "dur µs: {got:?} vs {want:?}");
    }
}

/// Bars on one track must not overlap (Perfetto and chrome://tracing
/// draw overlapping, non-nested complete events wrongly).
fn assert_no_overlap(events: &[Value]) {
    let mut bars: Vec<(u64, u64, f64, f64)> = with_ph(events, "X")
        .into_iter()
        .map(|e| {
            let ts = e["ts"].as_f64().unwrap();
            let pid = e["pid"].as_u64().unwrap();
            (
                pid,
                e["tid"].as_u64().unwrap(),
                ts,
                ts + e["dur"].as_f64().unwrap(),
            )
        })
        .collect();
    bars.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
    for pair in bars.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if (a.0, a.1) == (b.0, b.1) {
            assert!(
                a.3 <= b.2 + 1e-9,
                "overlapping bars on one track: {a:?} and {b:?}"
            );
        }
    }
}

#[test]
fn a_g_in_a_syscall_leaves_its_p_to_others_in_the_export() {
    use EventKind::*;
    // G1 blocks in a syscall on P0; M1 takes P0 and runs G2; G1 comes
    // back on P1.
    let trace = Trace {
        procs: 2,
        events: vec![
            ev(0, Some(0), 0, GoStart { g: 1 }),
            ev(100, Some(0), 0, SyscallEnter { g: 1 }),
            ev(150, Some(0), 1, GoStart { g: 2 }),
            ev(
                250,
                Some(0),
                1,
                GoStop {
                    g: 2,
                    reason: StopReason::Done,
                },
            ),
            ev(300, Some(1), 0, SyscallExit { g: 1 }),
            ev(
                400,
                Some(1),
                0,
                GoStop {
                    g: 1,
                    reason: StopReason::Done,
                },
            ),
        ],
    };
    let events = chrome(&trace);
    assert_no_overlap(&events);
    let bars: Vec<(String, u64, u64, String)> = with_ph(&events, "X")
        .into_iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["pid"].as_u64().unwrap(),
                e["tid"].as_u64().unwrap(),
                e["args"]["reason"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let expect = |name: &str, pid, tid, reason: &str| {
        let bar = (name.to_string(), pid, tid, reason.to_string());
        assert!(bars.contains(&bar), "expected {bar:?} among {bars:?}");
    };
    expect("G1", 1, 0, "syscall");
    expect("G2", 1, 0, "done");
    expect("G1", 1, 1, "done");
    expect("syscall", 2, 0, "-");
    assert_eq!(bars.len(), 4, "{bars:?}");
}

#[test]
fn markers_and_flows_are_present() {
    let events = chrome(&sample());
    let instants: Vec<&str> = with_ph(&events, "i")
        .into_iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        instants,
        ["steal", "syscall enter", "preempt", "syscall exit"],
        "instants in time order"
    );
    let steal = with_ph(&events, "i")[0];
    assert_eq!(steal["args"]["count"], 1);
    assert_eq!(steal["tid"], 1, "on the thief's track");

    // G1 and G2 creation flows, plus the steal arrow: three starts, three
    // finishes with matching ids.
    let starts: Vec<u64> = with_ph(&events, "s")
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    let mut finishes: Vec<u64> = with_ph(&events, "f")
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    finishes.sort_unstable();
    let mut sorted_starts = starts.clone();
    sorted_starts.sort_unstable();
    assert_eq!(sorted_starts, finishes);
    assert_eq!(starts.len(), 3);

    let spans: Vec<(&str, u64, u64)> = with_ph(&events, "X")
        .into_iter()
        .filter(|e| e["cat"] == "sched")
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["pid"].as_u64().unwrap(),
                e["tid"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        spans.contains(&("syscall", 2, 1)),
        "syscall bar on M1: {spans:?}"
    );
    assert!(spans.contains(&("idle", 1, 0)), "idle bar on P0: {spans:?}");
}

#[test]
fn stops_by_reason_counts_every_reason() {
    let stops = sample().stops_by_reason();
    assert_eq!(stops[&StopReason::Yield], 1);
    assert_eq!(stops[&StopReason::Preempt], 1);
    assert_eq!(stops[&StopReason::Block], 1);
    assert_eq!(stops[&StopReason::Done], 1);
    let empty = Trace {
        procs: 1,
        events: vec![],
    }
    .stops_by_reason();
    assert_eq!(
        empty.len(),
        StopReason::ALL.len(),
        "all reasons present, even with no events"
    );
    assert!(empty.values().all(|&n| n == 0));
}

#[test]
fn count_and_serde_round_trip() {
    let trace = sample();
    assert_eq!(trace.count(|k| matches!(k, EventKind::GoStart { .. })), 5);
    assert_eq!(trace.count(|k| *k == EventKind::ProcIdle), 2);
    let text = serde_json::to_string(&trace).unwrap();
    let back: Trace = serde_json::from_str(&text).unwrap();
    assert_eq!(back.procs, 2);
    let kinds: Vec<_> = back.events.iter().map(|e| e.kind.clone()).collect();
    let original: Vec<_> = trace.events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, original);
}

#[test]
fn disabled_recorder_records_nothing() {
    let recorder = Recorder::new(false, 2);
    assert!(!recorder.enabled());
    recorder.record(Some(0), 0, EventKind::ProcIdle);
    assert!(recorder.snapshot().events.is_empty());
}

#[test]
fn recorder_merges_threads_in_time_order() {
    let recorder = std::sync::Arc::new(Recorder::new(true, 2));
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..3usize)
        .map(|m| {
            let recorder = recorder.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..1_000u64 {
                    let g = m as u64 * 1_000 + i;
                    recorder.record(Some(m % 2), m, EventKind::GoStart { g });
                    recorder.record(
                        Some(m % 2),
                        m,
                        EventKind::GoStop {
                            g,
                            reason: StopReason::Done,
                        },
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let trace = recorder.snapshot();
    assert_eq!(trace.procs, 2);
    assert_eq!(trace.events.len(), 3 * 2 * 1_000, "no event lost");
    assert!(
        trace.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
        "sorted by time"
    );
    for m in 0..3 {
        let per_m: Vec<_> = trace.events.iter().filter(|e| e.m == m).collect();
        assert_eq!(per_m.len(), 2_000);
        // Each M's own events keep their order: start g, stop g, start g+1 ...
        for (i, pair) in per_m.chunks(2).enumerate() {
            let g = m as u64 * 1_000 + i as u64;
            assert_eq!(pair[0].kind, EventKind::GoStart { g });
            assert_eq!(
                pair[1].kind,
                EventKind::GoStop {
                    g,
                    reason: StopReason::Done
                }
            );
        }
    }
    let runs = trace.runs();
    assert_eq!(runs.len(), 3_000, "one run per start");
    assert!(
        runs.iter().all(|r| r.reason == Some(StopReason::Done)),
        "every start paired with its own stop"
    );
}

/// Runs two Gs that each log twice on a tracing runtime with 2 Ps, and
/// returns the trace with the ids of the Gs.
fn logged_trace() -> (Trace, Vec<u64>) {
    let rt = crate::Runtime::builder()
        .procs(2)
        .trace(true)
        .build()
        .unwrap();
    let gs = rt.block_on(async {
        let mut handles = Vec::new();
        for i in 0..2 {
            handles.push(crate::spawn(async move {
                crate::trace_log("breaker", &format!("closed->open {i}"));
                crate::yield_now().await;
                crate::trace_log("breaker", &format!("open->half_open {i}"));
                crate::current_g_id().expect("on a G")
            }));
        }
        let mut gs = Vec::new();
        for h in handles {
            gs.push(h.await.expect("the G finished"));
        }
        gs
    });
    (rt.trace().expect("tracing is on"), gs)
}

#[test]
fn trace_log_records_on_the_running_g_inside_its_run() {
    let (trace, gs) = logged_trace();
    let logs = trace.user_logs("breaker");
    assert_eq!(logs.len(), 4, "two logs from each of two Gs: {logs:?}");
    assert!(
        trace.user_logs("retry").is_empty(),
        "only the category asked"
    );
    assert_eq!(trace.user_logs("").len(), 4, "'' is every category");
    let runs = trace.runs();
    for (i, &g) in gs.iter().enumerate() {
        let mine: Vec<&str> = logs
            .iter()
            .filter(|(_, l)| l.g == g)
            .map(|(_, l)| l.message.as_str())
            .collect();
        assert_eq!(
            mine,
            [format!("closed->open {i}"), format!("open->half_open {i}")],
            "G{g}'s own logs, in the order it wrote them"
        );
    }
    for (event, log) in &logs {
        let run = runs
            .iter()
            .find(|r| r.g == log.g && (r.start_ns..=r.end_ns).contains(&event.ts_ns))
            .unwrap_or_else(|| {
                panic!(
                    "{log:?} at {} ns is inside no run of G{}",
                    event.ts_ns, log.g
                )
            });
        assert_eq!(
            (event.p, event.m),
            (run.p, run.m),
            "recorded on the P and M that ran G{}",
            log.g
        );
    }
}

#[test]
fn trace_log_outside_a_tracing_runtime_records_nothing() {
    let tracing = crate::Runtime::builder()
        .procs(1)
        .trace(true)
        .build()
        .unwrap();
    assert!(
        super::recorder::any_recording(),
        "the gate is open while a runtime traces"
    );
    let quiet = crate::Runtime::builder().procs(1).build().unwrap();
    quiet.block_on(async {
        crate::spawn(async { crate::trace_log("breaker", "in a runtime that does not trace") })
            .await
            .unwrap();
    });
    crate::trace_log("breaker", "on no runtime at all");
    tracing.block_on(async { crate::trace_log("breaker", "on the root G") });
    let logs = tracing.trace().unwrap();
    let msgs: Vec<(u64, &str)> = logs
        .user_logs("breaker")
        .iter()
        .map(|(_, l)| (l.g, l.message.as_str()))
        .collect();
    assert_eq!(
        msgs,
        [(0, "on the root G")],
        "only the tracing runtime's own G logs into its trace"
    );
    assert!(quiet.trace().is_none());
}

#[test]
fn user_logs_are_instants_on_the_bar_of_their_g() {
    let (trace, gs) = logged_trace();
    let events = chrome(&trace);
    let logs: Vec<&Value> = with_ph(&events, "i")
        .into_iter()
        .filter(|e| e["cat"] == "breaker")
        .collect();
    assert_eq!(logs.len(), 4, "one instant per log: {logs:?}");
    for log in logs {
        let g = log["args"]["g"].as_u64().expect("args.g");
        assert!(gs.contains(&g), "the G that wrote it: {log}");
        assert!(
            log["name"].as_str().is_some_and(|n| n.contains("->")),
            "named after the message: {log}"
        );
        let ts = log["ts"].as_f64().unwrap();
        let on_bar = with_ph(&events, "X").into_iter().any(|bar| {
            let (start, dur) = (bar["ts"].as_f64().unwrap(), bar["dur"].as_f64().unwrap());
            bar["cat"] == "g"
                && bar["args"]["g"] == g
                && bar["pid"] == log["pid"]
                && bar["tid"] == log["tid"]
                && (start..=start + dur).contains(&ts)
        });
        assert!(on_bar, "{log} sits on a bar of G{g} on the same track");
    }
}
