//! Runs lessons 16 and 17 (behind the `load-testing` feature) in quick mode
//! and checks their conclusions from what they printed and wrote; each
//! rejects a bad flag with exit code 2 and has `--help`.
//! `cargo test -p lessons --features load-testing --test tracing_breaker_lessons_run`.

mod common;
use common::{assert_flags_and_help, line_with, quick};

const LESSONS: [&str; 2] = [
    env!("CARGO_BIN_EXE_lesson-16"),
    env!("CARGO_BIN_EXE_lesson-17"),
];

#[test]
fn flags_and_help() {
    for bin in LESSONS {
        assert_flags_and_help(bin);
    }
}

#[test]
fn lesson_16_follows_one_trace_through_both_services_and_writes_request_tracks() {
    let out = quick(LESSONS[0]);
    let field = |label: &str| -> String {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} in:\n{out}"));
        line.trim_start()[label.len()..].trim().to_string()
    };
    let trace_id = field("trace id");
    let front = field("frontend's span");
    let back = field("backend's span");
    // frontend's span "X" (parent "00f067aa0ba902b7"); backend's span "Y" (parent "X")
    let span = |s: &str| s.split('"').nth(1).unwrap_or_default().to_string();
    let parent = |s: &str| s.split('"').nth(3).unwrap_or_default().to_string();
    assert_eq!(parent(&front), "00f067aa0ba902b7", "{out}");
    assert_eq!(
        parent(&back),
        span(&front),
        "the backend's parent is the frontend's span:\n{out}"
    );
    assert!(
        field("a G the backend spawned").contains(&trace_id),
        "{out}"
    );
    for service in ["frontend", "backend"] {
        let path = lessons::artefacts::workspace_root()
            .join(format!("target/lessons/lesson-16/{service}-trace.json"));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("the trace file"))
                .expect("JSON");
        let evs = doc["traceEvents"].as_array().expect("traceEvents");
        let track = format!("req {}", &trace_id[..8]);
        let tid = evs
            .iter()
            .find(|e| {
                e["pid"] == 3 && e["name"] == "thread_name" && e["args"]["name"] == track.as_str()
            })
            .unwrap_or_else(|| panic!("{service}: no track {track}"))["tid"]
            .clone();
        let polls = evs
            .iter()
            .filter(|e| e["pid"] == 3 && e["tid"] == tid && e["cat"] == "g")
            .count();
        let waits = evs
            .iter()
            .filter(|e| {
                e["pid"] == 3
                    && e["tid"] == tid
                    && e["name"].as_str().is_some_and(|n| n.starts_with("wait: "))
            })
            .count();
        // Each service's track has at least two Gs' polls: the request's
        // G and the G it spawned. Only the frontend is sure to wait: its
        // call waits on the socket while the backend works. The backend
        // may find its request already read and its spawned G already done
        // when it looks (CI once saw 2 polls and no wait there).
        assert!(polls >= 2, "{service}: {polls} polls, want at least 2");
        if service == "frontend" {
            assert!(
                waits >= 1,
                "frontend: {polls} polls, {waits} waits; its backend call should wait on the socket"
            );
        }
        assert!(
            evs.iter().any(|e| e["pid"] == 1 && e["ph"] == "X"),
            "{service}: the runtime's own P tracks are kept"
        );
    }
    assert!(
        out.contains("service_request_duration_seconds_bucket{route=\"/front\""),
        "{out}"
    );
}

#[test]
fn lesson_17_opens_probes_and_recovers_and_writes_the_timeline() {
    let out = quick(LESSONS[1]);
    let path = lessons::artefacts::workspace_root().join("target/lessons/lesson-17/breaker.json");
    let points: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("breaker.json")).expect("JSON");
    assert!(points.len() >= 20, "{} points", points.len());
    for p in &points {
        for key in ["t_ms", "state", "qps", "p99_us"] {
            assert!(p.get(key).is_some(), "point without {key}: {p}");
        }
    }
    let states: Vec<&str> = points
        .iter()
        .map(|p| p["state"].as_str().unwrap())
        .collect();
    let first_open = states
        .iter()
        .position(|s| *s == "open")
        .unwrap_or_else(|| panic!("never opened: {states:?}"));
    assert!(
        states[..first_open].iter().all(|s| *s == "closed"),
        "{states:?}"
    );
    assert_eq!(
        states.last(),
        Some(&"closed"),
        "recovered by the end: {states:?}\n{out}"
    );
    // The transitions, as printed.
    let trans: Vec<&str> = out.lines().filter(|l| l.contains(" -> ")).collect();
    assert!(
        trans.iter().any(|l| l.ends_with("open -> half_open")),
        "it probed: {trans:?}"
    );
    assert!(
        trans
            .last()
            .is_some_and(|l| l.ends_with("half_open -> closed")),
        "trials closed it: {trans:?}"
    );
    assert!(out.contains("refused by the limiter (429)"), "{out}");
    let trace =
        lessons::artefacts::workspace_root().join("target/lessons/lesson-17/breaker-trace.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(trace).expect("breaker-trace.json"))
            .expect("JSON");
    let marks = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "i")
        .count();
    assert_eq!(marks, trans.len(), "one marker per transition in the trace");
    // The runtime's own trace has the same transitions, written by the
    // breaker on the Gs whose calls moved it.
    let printed: Vec<String> = trans
        .iter()
        .filter_map(|l| l.rsplit(": ").next())
        .map(|t| t.replace(" -> ", "->"))
        .collect();
    let path =
        lessons::artefacts::workspace_root().join("target/lessons/lesson-17/frontend-trace.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("frontend-trace.json"))
            .expect("JSON");
    let in_trace: Vec<String> = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "i" && e["cat"] == "breaker")
        .map(|e| {
            assert!(e["args"]["g"].is_u64(), "on a G: {e}");
            e["name"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(
        in_trace, printed,
        "every transition the lesson printed is in the runtime's trace, in order"
    );
    // Tagged traffic: each stored write in exactly its own store.
    let stored = |row: &str| -> u64 {
        let cells: Vec<&str> = line_with(&out, row).split_whitespace().collect();
        cells[cells.len() - 2].parse().expect("the stored count")
    };
    let (tagged_ok, real_ok) = (stored("tagged (x-load-test)"), stored("real (untagged)"));
    assert!(
        tagged_ok > 0 && real_ok > 0,
        "both kinds were stored:\n{out}"
    );
    assert!(
        line_with(&out, "real store:").contains(&format!(
            "real store: {real_ok} records, 0 of them tagged; shadow store: {tagged_ok} records, 0 of them untagged"
        )),
        "no tagged write in the real store, no real one in the shadow, none lost:\n{out}"
    );
    assert!(
        out.contains("the same, in the same order"),
        "the lesson checked it too:\n{out}"
    );
}
