//! Runs the case-study lessons in quick mode and checks the conclusions they
//! print and the figures they write, and their handling of flags.

mod common;
use common::{line_with, quick, run};

const LESSON_23: &str = env!("CARGO_BIN_EXE_lesson-23");
const LESSON_24: &str = env!("CARGO_BIN_EXE_lesson-24");

#[test]
fn lesson_23_rejects_bad_flags_and_has_help() {
    let r = run(LESSON_23, &["--frames", "0"]);
    assert_eq!(r.code, Some(2), "0 frames is out of range: {}", r.stderr);
    let r = run(LESSON_23, &["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("--frame-kb"), "{}", r.stdout);
}

#[test]
fn lesson_23_first_error_wins_deadline_cancels_limit_holds() {
    let out = quick(LESSON_23);
    line_with(&out, "result: ok");
    line_with(&out, "first error: frame 45 failed its checksum");
    line_with(&out, "result: the group's deadline passed");
    let after: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("members cancelled:"))
        .collect();
    assert_eq!(after.len(), 2, "two cancelled runs reported:\n{out}");
    for l in &after {
        assert!(
            l.ends_with("running after wait: 0"),
            "a member outlived wait: {l}"
        );
    }
    for limit in [1, 2, 4, 12] {
        let l = line_with(&out, &format!("limit {limit}: peak "));
        let peak: usize = l
            .split_whitespace()
            .nth(3)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no peak in {l:?}"));
        assert!(
            (1..=limit).contains(&peak),
            "limit {limit} let {peak} members run at once"
        );
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/lessons/lesson-23/fanout.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).expect("fanout.json is JSON");
    assert_eq!(v["corrupt"]["stats"]["failed"], 1, "{v}");
    assert_eq!(v["deadline"]["stats"]["running"], 0, "{v}");
}

#[test]
fn lesson_24_rejects_bad_flags_and_has_help() {
    let r = run(LESSON_24, &["--mib", "0"]);
    assert_eq!(r.code, Some(2), "0 MiB is out of range: {}", r.stderr);
    let r = run(LESSON_24, &["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("--mib"), "{}", r.stdout);
}

#[test]
fn lesson_24_four_pipelines_agree_and_the_borrowed_ones_copy_nothing() {
    let out = quick(LESSON_24);
    line_with(&out, "checksums agree: true");
    for (pipeline, copied) in [
        ("mmap, borrowed slices, spsc ring", "0.0 MiB"),
        ("read(2) once, borrowed slices, spsc ring", "16.0 MiB"),
        ("read(2) chunks, a Vec per segment, spsc ring", "32.0 MiB"),
        ("mmap, borrowed slices, std sync_channel", "0.0 MiB"),
    ] {
        let l = line_with(&out, pipeline);
        assert!(
            l.contains(copied),
            "{pipeline}: expected {copied} copied in {l:?}"
        );
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/lessons/lesson-24/runs.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).expect("runs.json is JSON");
    let runs = v["runs"].as_array().expect("a list of runs");
    assert_eq!(runs.len(), 4);
    let segs = &runs[0]["segments"];
    assert!(runs.iter().all(|r| &r["segments"] == segs), "{v}");
    // One allocation per segment, plus the read buffer, for the copying run.
    assert_eq!(
        runs[2]["allocations"].as_u64(),
        segs.as_u64().map(|n| n + 1),
        "{v}"
    );
}
