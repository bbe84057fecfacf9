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
use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::catalog::Exercise;

/// Where an exercise stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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

/// Grades one exercise by running its test target with `cargo` in `root`.
pub fn grade(root: &Path, ex: &Exercise) -> Row {
    let command = format!("cargo test -p exercises --test {}", ex.id);
    let base = Row {
        id: ex.id.clone(),
        title: ex.title.clone(),
        status: Status::NoTests,
        tests: None,
        note: None,
        command: command.clone(),
    };
    if ex.test.is_none() {
        return Row {
            note: Some(format!("exercises/tests/{}.rs is missing", ex.id)),
            ..base
        };
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "-p",
            "exercises",
            "--no-fail-fast",
            "--test",
            &ex.id,
        ])
        .env("CARGO_TERM_COLOR", "never")
        .output();
    let stub_text = ex.stub.as_ref().and_then(|p| fs::read_to_string(p).ok());
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            return Row {
                status: classify(false, stub_text.as_deref()),
                note: Some(format!("could not run cargo: {e}")),
                ..base
            };
        }
    };
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let counts = parse_test_summary(&text);
    let passed = output.status.success() && counts.is_some_and(|c| c.failed == 0 && c.passed > 0);
    let status = classify(passed, stub_text.as_deref());
    let note = match (status, counts) {
        (Status::Done, _) => None,
        (_, None) => Some("did not compile or run: see the command's output".to_string()),
        (_, Some(c)) if c.passed == 0 && c.failed == 0 => Some("no graded tests ran".to_string()),
        (_, Some(c)) => Some(format!(
            "{} of {} tests fail",
            c.failed,
            c.passed + c.failed
        )),
    };
    Row {
        status,
        tests: counts,
        note,
        ..base
    }
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
