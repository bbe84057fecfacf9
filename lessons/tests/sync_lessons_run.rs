//! Runs lesson 13 (channels and locks) in quick mode and checks the
//! conclusions it prints, and its handling of flags.

mod common;
use common::{line_with, quick, run};

const LESSON_13: &str = env!("CARGO_BIN_EXE_lesson-13");

#[test]
fn lesson_13_rejects_bad_flags_and_has_help() {
    let r = run(LESSON_13, &["--no-such-flag"]);
    assert_eq!(r.code, Some(2), "an unknown flag exits 2");
    assert!(
        r.stderr.contains("unknown flag `--no-such-flag`"),
        "{}",
        r.stderr
    );
    let r = run(LESSON_13, &["--gs", "1"]);
    assert_eq!(r.code, Some(2), "one G cannot contend: out of range");
    let r = run(LESSON_13, &["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout.contains("--quick") && r.stdout.contains("--hold-us"),
        "{}",
        r.stdout
    );
}

#[test]
fn lesson_13_hands_off_fills_the_ring_and_starves_the_mutex() {
    let out = quick(LESSON_13);
    line_with(
        &out,
        "the receiver got Some(\"hello\"), then Some(\"world\")",
    );
    // The ring: after 3 sends sendx wrapped to 0; the parked 5 moved in.
    line_with(&out, "try_send(4) refused: true");
    line_with(&out, "drain: [3, 4, 5]");
    let starv = line_with(&out, "starvation mode entered:");
    let n: u64 = starv
        .split_whitespace()
        .nth(3)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no count in {starv:?}"));
    assert!(
        n > 0,
        "the contended mutex never entered starvation mode: {starv}"
    );
    let rec = line_with(&out, "mutex-profile records charged to a holder:");
    assert!(!rec.ends_with(": 0"), "no mutex-profile record: {rec}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lessons/lesson-13");
    for f in ["ring.json", "metrics.json"] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}
