//! Runs every lesson binary in quick mode and checks that it showed what it
//! claims to show, and that each rejects a bad flag with exit code 2.
//!
//! A lesson is a real experiment on real threads, so these tests check the
//! lesson's own conclusions (the lines it prints after measuring), with
//! bounds loose enough for a loaded two-core machine. Each run has a time
//! limit; a lesson that hangs is killed and the test fails, naming it.

mod common;
use common::{line_with, quick, run};

/// The first whole number after `after` in `line`.
fn number_after(line: &str, after: &str) -> f64 {
    let rest = &line[line
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in {line:?}"))
        + after.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {after:?} in {line:?}"))
}

const LESSONS: [&str; 8] = [
    env!("CARGO_BIN_EXE_lesson-01"),
    env!("CARGO_BIN_EXE_lesson-02"),
    env!("CARGO_BIN_EXE_lesson-03"),
    env!("CARGO_BIN_EXE_lesson-04"),
    env!("CARGO_BIN_EXE_lesson-05"),
    env!("CARGO_BIN_EXE_lesson-06"),
    env!("CARGO_BIN_EXE_lesson-07"),
    env!("CARGO_BIN_EXE_lesson-08"),
];

#[test]
fn every_lesson_rejects_a_bad_flag_with_exit_code_2() {
    for bin in LESSONS {
        let r = run(bin, &["--no-such-flag"]);
        assert_eq!(r.code, Some(2), "{bin}: an unknown flag should exit 2");
        assert!(
            r.stderr.contains("unknown flag `--no-such-flag`") && r.stderr.contains("Usage:"),
            "{bin}: stderr should name the flag and show the usage:\n{}",
            r.stderr
        );
    }
}

#[test]
fn every_lesson_has_help() {
    for bin in LESSONS {
        let r = run(bin, &["--help"]);
        assert_eq!(r.code, Some(0), "{bin} --help should exit 0");
        assert!(
            r.stdout.contains("--quick"),
            "{bin} --help lists --quick:\n{}",
            r.stdout
        );
    }
}

#[test]
fn a_bad_value_is_rejected_with_exit_code_2() {
    let r = run(LESSONS[1], &["--procs", "many"]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("bad value `many` for `--procs`"),
        "{}",
        r.stderr
    );
}

#[test]
fn lesson_01_deadline_fires_and_nothing_is_left_behind() {
    let out = quick(LESSONS[0]);
    line_with(&out, "timeout returned Err(\"deadline has elapsed\")");
    line_with(&out, "the work future was dropped: true");
    line_with(
        &out,
        "the aborted G's handle says cancelled: true; its future was dropped: true",
    );
    let left = line_with(&out, "left behind:");
    assert_eq!(
        number_after(left, "left behind:"),
        1.0,
        "the naive request's G is still blocked"
    );
    line_with(&out, "the abandoned request finished anyway");
    line_with(&out, "socket shut down; the request G finished");
    line_with(&out, "the read itself timed out");
    line_with(&out, "no task left behind: spawned = completed");
}

#[test]
fn lesson_02_gs_spread_over_the_ps_and_the_trace_is_written() {
    let out = quick(LESSONS[1]);
    let spread = line_with(&out, "Ps that ran Gs:");
    assert!(
        number_after(spread, "Ps that ran Gs:") >= 2.0,
        "Gs spawned by one G should reach other Ps: {spread}"
    );
    let spawned = line_with(&out, "Gs spawned");
    assert_eq!(
        number_after(spawned, "Gs spawned"),
        301.0,
        "300 children and their parent"
    );
    line_with(&out, "all 300 Gs finished");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lessons/lesson-02");
    let trace = std::fs::read_to_string(dir.join("trace.json")).expect("trace.json was written");
    let json: serde_json::Value = serde_json::from_str(&trace).expect("trace.json is JSON");
    assert!(
        json["traceEvents"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "trace.json has Chrome trace events"
    );
    let svg = std::fs::read_to_string(dir.join("timeline.svg")).expect("timeline.svg was written");
    assert!(
        svg.starts_with("<svg") && svg.contains("P1"),
        "the SVG has a lane per P"
    );
}

#[test]
fn lesson_03_only_the_cooperative_spinner_lets_the_ticker_in() {
    let out = quick(LESSONS[2]);
    let with = number_after(
        line_with(&out, "with preempt_point: the ticker waited at most"),
        "at most",
    );
    let without = number_after(line_with(&out, "without: the ticker waited"), "waited");
    assert!(
        without >= 50.0,
        "without a preemption point the ticker waits for the whole 60 ms spin, got {without} ms"
    );
    assert!(
        with < without,
        "with preempt_point the ticker should wait less ({with} ms) than without ({without} ms)"
    );
}

#[test]
fn lesson_04_syscall_hands_the_p_off_and_a_plain_block_stalls_it() {
    let out = quick(LESSONS[3]);
    let summary = line_with(&out, "inside syscall:");
    let inside = number_after(summary, "inside syscall:");
    let plain = number_after(summary, "plain call:");
    assert!(
        inside >= 1.0,
        "the ticker ticks while the read blocks inside syscall: {summary}"
    );
    assert_eq!(
        plain, 0.0,
        "a plain blocking read stalls the only P: {summary}"
    );
    let runs: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("ticks while blocked:"))
        .collect();
    assert_eq!(runs.len(), 2, "one summary per run:\n{out}");
    assert!(
        number_after(runs[0], "most Ms at once") >= 2.0,
        "inside syscall, a second M takes the P: {}",
        runs[0]
    );
    assert!(out.contains("SCHED "), "schedtrace lines are printed");
}

#[test]
fn lesson_05_steals_happen_and_the_global_queue_gets_its_turn() {
    let out = quick(LESSONS[4]);
    for backend in ["Go ring:", "crossbeam-deque:"] {
        line_with(&out, backend);
    }
    let waited = number_after(line_with(&out, "local time slices"), "ran after");
    assert!(
        waited <= 62.0,
        "a G in the global queue runs within 61 schedule ticks, it waited {waited}"
    );
    let respawned = number_after(line_with(&out, "re-spawned Gs"), "ran after");
    assert!(
        respawned <= 62.0 * 128.0,
        "with runnext inheritance, within 61 slices of 128 polls, it waited {respawned} Gs"
    );
}

#[test]
fn lesson_06_table_has_67_classes_and_the_walk_predicts_the_allocator() {
    let out = quick(LESSONS[5]);
    line_with(
        &out,
        "67 classes, from 8 B to 32768 B; the largest span is 10 pages",
    );
    line_with(
        &out,
        "prediction matched every allocation (15 of 15 allocations)",
    );
    let svg = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/lessons/lesson-06/span.svg"),
    )
    .expect("span.svg was written");
    assert_eq!(
        svg.matches("slot ").count(),
        2 * 170,
        "two views of a 170-slot span"
    );
}

#[test]
fn lesson_07_follows_the_tiers() {
    let out = quick(LESSONS[6]);
    line_with(
        &out,
        "17 allocations: 14 cache hits, 3 refills from central, 3 central grows from the page heap",
    );
    line_with(&out, "8 frees: 8 remote");
    line_with(
        &out,
        "8 allocations: 1 refill(s) from the partial list, 0 new span(s) from the page heap",
    );
    line_with(
        &out,
        "thread B freed 10000 objects it never allocated; in use afterwards: 0",
    );
}

#[test]
fn lesson_08_runs_all_three_allocators() {
    // Speed is not asserted (that is the benchmarks' job): only that the
    // three ran and the ratios were printed.
    let out = quick(LESSONS[7]);
    for row in ["SpanAlloc:", "System:", "SpanAlloc without thread cache:"] {
        let line = line_with(&out, row);
        assert!(number_after(line, row) > 0.0, "a rate for {row}");
    }
    line_with(&out, "without the thread cache:");
}
