//! Runs the load-testing lessons (14 and 15, behind the `load-testing`
//! feature) in quick mode and checks their conclusions from what they
//! printed; each rejects a bad flag with exit code 2 and has `--help`.
//! `cargo test -p lessons --features load-testing --test load_lessons_run`.

mod common;
use common::{assert_flags_and_help, quick};

const LESSONS: [&str; 2] = [
    env!("CARGO_BIN_EXE_lesson-14"),
    env!("CARGO_BIN_EXE_lesson-15"),
];

/// The numbers (in ms) in the row of `out`'s table that starts with `label`.
fn row_ms(out: &str, label: &str) -> Vec<f64> {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{out}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[1] == "ms")
        .map(|w| w[0].parse().unwrap())
        .collect()
}

#[test]
fn flags_and_help() {
    for bin in LESSONS {
        assert_flags_and_help(bin);
    }
}

#[test]
fn lesson_14_measures_all_four_engines_without_errors() {
    let out = quick(LESSONS[0]);
    for engine in [
        "fast engine on ours",
        "hyper on ours",
        "hyper on tokio",
        "thread per connection",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(engine))
            .unwrap_or_else(|| panic!("no row for {engine} in:\n{out}"));
        assert!(
            line.trim_end().ends_with(" 0"),
            "{engine} had errors: {line}"
        );
        let qps: f64 = line[engine.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(qps > 100.0, "{engine} answered: {line}");
    }
    assert!(out.contains("engines-qps.svg"), "{out}");
}

#[test]
fn lesson_15_shows_the_stall_only_in_the_open_loop() {
    let out = quick(LESSONS[1]);
    // columns: P50, P99, max
    let open = row_ms(&out, "loadgen, open loop");
    let closed = row_ms(&out, "loadgen --closed");
    assert!(
        open[1] >= 60.0,
        "the open loop's P99 shows the 100 ms stall: {open:?}\n{out}"
    );
    assert!(
        closed[1] * 3.0 < open[1],
        "the closed loop's P99 hides it: {closed:?} vs {open:?}"
    );
    assert!(
        closed[2] >= 60.0,
        "but the closed loop's max still sees it: {closed:?}"
    );
    let svg = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/lessons/lesson-15/latency-over-time.svg"),
    )
    .expect("the figure was written");
    assert!(svg.starts_with("<svg") && svg.contains("server stalled"));
}
