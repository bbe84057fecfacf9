//! Grading progress: runs each exercise's graded tests and sorts the
//! results into done, failing and not started.
//!
//! Each exercise is graded by its own test target, so one run per target
//! (`cargo test -p exercises --no-fail-fast --test <id>`) gives an
//! unambiguous verdict per exercise even when another one does not compile
//! or hangs until its time limit. The first run compiles; the rest reuse it.
//! An exercise whose tests pass is done. One whose tests fail is "not
//! started" while its stub still contains `todo!(`, and "failing" once the
//! learner has replaced every `todo!`. An exercise with no graded test file
//! is reported as such rather than skipped.
//!
//! ```
//! use course::progress::{parse_test_summary, Counts};
//! let out = "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
//! assert_eq!(parse_test_summary(out), Some(Counts { passed: 3, failed: 2 }));
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::catalog::Exercise;
use crate::first_error::first_error;
use crate::run::{Cancel, run};

/// Where an exercise stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Every graded test passes.
    Done,
    /// The stub was worked on (no `todo!(` left) but tests fail.
    Failing,
    /// The stub still contains `todo!(`.
    NotStarted,
    /// No graded test target exists for this id yet.
    NoTests,
}

impl Status {
    /// The word shown in the table.
    pub fn label(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Failing => "failing",
            Status::NotStarted => "not started",
            Status::NoTests => "no tests yet",
        }
    }
}

/// Passed and failed test counts summed over a test run's `test result:` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Tests that passed.
    pub passed: u32,
    /// Tests that failed (including those that hit their time limit).
    pub failed: u32,
}

/// Sums every `test result: ... N passed; M failed; ...` line in cargo's output.
/// `None` if there is none (the target did not build or run).
pub fn parse_test_summary(output: &str) -> Option<Counts> {
    let mut total: Option<Counts> = None;
    for line in output.lines() {
        let Some(rest) = line.trim().strip_prefix("test result:") else {
            continue;
        };
        let mut counts = Counts::default();
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            if let (Some(n), Some(kind)) = (words.next(), words.next())
                && let Ok(n) = n.parse::<u32>()
            {
                match kind {
                    "passed" => counts.passed = n,
                    "failed" => counts.failed = n,
                    _ => {}
                }
            }
        }
        let t = total.get_or_insert_with(Counts::default);
        t.passed += counts.passed;
        t.failed += counts.failed;
    }
    total
}

/// One row of the progress table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The exercise id, e.g. `ex04_runq`.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The verdict.
    pub status: Status,
    /// Test counts, when the tests ran to a summary.
    pub tests: Option<Counts>,
    /// Why it is not done, in one line, when there is something to say.
    pub note: Option<String>,
    /// The first failure message (see [`crate::first_error`]), when not done.
    pub first_failure: Option<String>,
    /// Loom model counts, for a loom-graded exercise whose tests passed.
    pub loom: Option<Counts>,
    /// The bench's ratios, for a measured exercise whose tests passed.
    pub bench: Option<String>,
    /// The command that grades this exercise alone.
    pub command: String,
}

/// Decides the status from the test outcome and the stub's text.
pub fn classify(tests_passed: bool, stub_text: Option<&str>) -> Status {
    if tests_passed {
        Status::Done
    } else if stub_text.is_some_and(|t| t.contains("todo!(")) {
        Status::NotStarted
    } else {
        Status::Failing
    }
}

/// The command a learner types to grade exercise `id` alone.
pub fn test_command(id: &str) -> String {
    format!("cargo test -p exercises --test {id}")
}

/// The command that model-checks a loom-graded exercise, as
/// `.ci/exercises-loom.sh` runs it (without `--features solutions`).
pub fn loom_command(id: &str) -> String {
    format!(
        "RUSTFLAGS=\"--cfg loom\" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
         cargo test -p exercises --release --test {id}"
    )
}

/// True if the exercise's graded test file has loom models (`cfg(loom)`).
pub fn is_loom_graded(ex: &Exercise) -> bool {
    ex.test
        .as_ref()
        .and_then(|p| fs::read_to_string(p).ok())
        .is_some_and(|t| t.contains("cfg(loom)"))
}

/// The target directory cargo uses for `root`: `CARGO_TARGET_DIR` if set.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root.join(p) } else { p })
        .unwrap_or_else(|| root.join("target"))
}

/// What one `cargo test` run said.
struct TestRun {
    passed: bool,
    counts: Option<Counts>,
    first_failure: Option<String>,
}

fn cargo_test(root: &Path, id: &str, loom: bool, cancel: &Cancel) -> io::Result<TestRun> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["test", "-p", "exercises", "--no-fail-fast", "--test", id])
        .env("CARGO_TERM_COLOR", "never")
        .env("RUST_BACKTRACE", "0");
    if loom {
        cmd.arg("--release")
            .env("RUSTFLAGS", "--cfg loom")
            .env("LOOM_MAX_PREEMPTIONS", "2")
            .env("CARGO_TARGET_DIR", target_dir(root).join("loom"));
    }
    let output = run(cmd, cancel)?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    let counts = parse_test_summary(&text);
    let passed = output.status.success() && counts.is_some_and(|c| c.failed == 0 && c.passed > 0);
    let first_failure = if passed {
        None
    } else {
        Some(first_error(&text).unwrap_or_else(|| {
            format!(
                "cargo test exited with {} and no message I recognise: run `{}`",
                output.status,
                test_command(id)
            )
        }))
    };
    Ok(TestRun {
        passed,
        counts,
        first_failure,
    })
}

/// Grades one exercise by running its test target with `cargo` in `root`.
pub fn grade(root: &Path, ex: &Exercise) -> Row {
    grade_with(root, ex, &Cancel::default(), &|_| {}).unwrap_or_else(|e| Row {
        status: Status::Failing,
        note: Some(format!("could not run cargo: {e}")),
        ..blank_row(ex)
    })
}

fn blank_row(ex: &Exercise) -> Row {
    Row {
        id: ex.id.clone(),
        title: ex.title.clone(),
        status: Status::NoTests,
        tests: None,
        note: None,
        first_failure: None,
        loom: None,
        bench: None,
        command: test_command(&ex.id),
    }
}

/// Grades one exercise: its test target, then, for a loom-graded exercise
/// whose tests pass, its loom models (only both together make it done).
///
/// `phase` is told what is about to run ("tests", "loom models"), for a
/// caller that shows progress. An `Interrupted` error means `cancel` stopped
/// the run; other errors mean cargo could not be started.
pub fn grade_with(
    root: &Path,
    ex: &Exercise,
    cancel: &Cancel,
    phase: &dyn Fn(&str),
) -> io::Result<Row> {
    let base = blank_row(ex);
    if ex.test.is_none() {
        return Ok(Row {
            note: Some(format!("exercises/tests/{}.rs is missing", ex.id)),
            ..base
        });
    }
    let stub_text = ex.stub.as_ref().and_then(|p| fs::read_to_string(p).ok());
    phase("tests");
    let plain = cargo_test(root, &ex.id, false, cancel)?;
    let mut row = Row {
        status: classify(plain.passed, stub_text.as_deref()),
        tests: plain.counts,
        first_failure: plain.first_failure,
        ..base
    };
    row.note = match (row.status, plain.counts) {
        (Status::Done, _) => None,
        (_, None) => Some("did not compile or run".to_string()),
        (_, Some(c)) if c.passed == 0 && c.failed == 0 => Some("no graded tests ran".to_string()),
        (_, Some(c)) => Some(format!(
            "{} of {} tests fail",
            c.failed,
            c.passed + c.failed
        )),
    };
    if row.status == Status::Done && is_loom_graded(ex) {
        phase("loom models");
        let loom = cargo_test(root, &ex.id, true, cancel)?;
        row.loom = loom.counts;
        if !loom.passed {
            row.status = Status::Failing;
            row.note = Some(match loom.counts {
                Some(_) => "a loom model found an interleaving that breaks it".to_string(),
                None => "the loom build failed".to_string(),
            });
            row.first_failure = loom.first_failure.map(|m| format!("loom: {m}"));
        }
    }
    if row.status == Status::Done
        && let Some(bench) = crate::measure::bench_file(root, ex)
    {
        phase("bench");
        row.bench = Some(measure(root, &ex.id, &bench, cancel)?);
    }
    Ok(row)
}

/// Runs a measured exercise's bench briefly and sums it up in one line.
/// A bench that fails to run is reported, but does not fail the exercise:
/// its tests grade it, the bench only measures it.
fn measure(root: &Path, id: &str, bench: &Path, cancel: &Cancel) -> io::Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(crate::measure::bench_args(id))
        .env("CARGO_TERM_COLOR", "never");
    let output = run(cmd, cancel)?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let results = crate::measure::parse_criterion(&text);
    Ok(crate::measure::ratios(&results).unwrap_or_else(|| {
        format!(
            "{} printed no criterion results: run `cargo {}`",
            bench.display(),
            crate::measure::bench_args(id).join(" ")
        )
    }))
}

/// Formats rows as an aligned text table with a one-line summary.
pub fn table(rows: &[Row]) -> String {
    let id_w = rows.iter().map(|r| r.id.len()).max().unwrap_or(2).max(8);
    let title_w = rows
        .iter()
        .map(|r| r.title.len())
        .max()
        .unwrap_or(5)
        .clamp(5, 40);
    let mut out = format!(
        "{:<id_w$}  {:<title_w$}  {:<12}  {:>5}  note\n",
        "exercise", "title", "status", "tests"
    );
    for r in rows {
        let tests = r
            .tests
            .map(|c| format!("{}/{}", c.passed, c.passed + c.failed))
            .unwrap_or_else(|| "-".into());
        let title: String = r.title.chars().take(title_w).collect();
        out.push_str(&format!(
            "{:<id_w$}  {:<title_w$}  {:<12}  {:>5}  {}\n",
            r.id,
            title,
            r.status.label(),
            tests,
            r.note.as_deref().unwrap_or("")
        ));
    }
    let done = rows.iter().filter(|r| r.status == Status::Done).count();
    out.push_str(&format!("\n{done} of {} exercises done.", rows.len()));
    if let Some(next) = rows
        .iter()
        .find(|r| r.status != Status::Done && r.status != Status::NoTests)
    {
        out.push_str(&format!(
            " Next: {} ({}), `cargo run --bin course -- hint {}`.",
            next.id,
            next.command,
            next.id.split('_').next().unwrap_or(&next.id)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_summed_over_all_result_lines() {
        let out = "running 2 tests\n\
                   test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
                   test result: FAILED. 1 passed; 4 failed; 0 ignored; 0 measured; 0 filtered out\n";
        assert_eq!(
            parse_test_summary(out),
            Some(Counts {
                passed: 3,
                failed: 4
            })
        );
        assert_eq!(parse_test_summary("error[E0425]: cannot find value"), None);
    }

    #[test]
    fn status_depends_on_tests_then_on_todo() {
        assert_eq!(classify(true, Some("todo!()")), Status::Done);
        assert_eq!(
            classify(false, Some("fn f() { todo!(\"write me\") }")),
            Status::NotStarted
        );
        assert_eq!(classify(false, Some("fn f() { 42 }")), Status::Failing);
        assert_eq!(classify(false, None), Status::Failing);
    }

    #[test]
    fn a_missing_test_file_is_reported_not_run() {
        let ex = Exercise {
            id: "ex99_nothing".into(),
            title: "Nothing".into(),
            stub: None,
            solution: None,
            test: None,
            hint: None,
        };
        let row = grade(Path::new("/nonexistent"), &ex);
        assert_eq!(row.status, Status::NoTests);
        assert!(
            row.note
                .unwrap()
                .contains("exercises/tests/ex99_nothing.rs")
        );
    }

    #[test]
    fn table_lists_every_row_and_suggests_the_next_exercise() {
        let row = |id: &str, status| Row {
            id: id.into(),
            title: "T".into(),
            status,
            tests: Some(Counts {
                passed: 1,
                failed: 1,
            }),
            note: None,
            first_failure: None,
            loom: None,
            bench: None,
            command: format!("cargo test -p exercises --test {id}"),
        };
        let t = table(&[
            row("ex01_a", Status::Done),
            row("ex02_b", Status::NotStarted),
        ]);
        assert!(t.contains("ex01_a") && t.contains("done"), "{t}");
        assert!(t.contains("not started"), "{t}");
        assert!(t.contains("1 of 2 exercises done"), "{t}");
        assert!(t.contains("hint ex02"), "{t}");
    }
}
