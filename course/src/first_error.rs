//! The one message a learner should read first, out of a test run's output.
//!
//! `cargo test` on a broken stub prints a wall of text: every compiler error
//! and warning, or for a failing run, each test's captured output with the
//! panics of every thread involved. What a learner needs is the first
//! thing that went wrong, so [`first_error`] picks it out:
//!
//! - **a compile error**: the compiler's first `error` diagnostic, from its
//!   `error[E....]:` line through its source snippet (up to the blank line
//!   that ends it). Warnings and cargo's closing `could not compile` are
//!   skipped.
//! - **a failing test**: the first `---- NAME stdout ----` section, and in
//!   it the panic of the test's own thread (`thread 'NAME' panicked at`).
//!   The graded tests run their body on a helper thread under a time limit,
//!   and the test thread's panic is the grader's sentence ("ex04 is not
//!   implemented yet: ...", "no answer in 20 s: ..."), so that is the one
//!   shown; the helper threads' panics are the raw causes and come first.
//!   If the test thread did not panic, the section's last panic is shown.
//! - **a crash** (a signal, an abort): cargo's `process didn't exit
//!   successfully` line.
//!
//! Messages are cut to [`MAX_LINES`] lines.
//!
//! ```
//! use course::first_error::first_error;
//! let out = "error[E0425]: cannot find value `x` in this scope\n --> src/a.rs:1:5\n\nerror: could not compile `exercises`\n";
//! assert_eq!(first_error(out).unwrap().lines().next(), Some("error[E0425]: cannot find value `x` in this scope"));
//! ```

/// The most lines a first message keeps.
pub const MAX_LINES: usize = 16;

/// The first thing that went wrong in a `cargo test` run's combined output,
/// or `None` if nothing in it looks like a failure.
pub fn first_error(output: &str) -> Option<String> {
    compile_error(output)
        .or_else(|| test_failure(output))
        .or_else(|| crash(output))
        .map(|m| cut(&m))
}

/// The compiler's first error diagnostic.
fn compile_error(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines.iter().position(|l| is_compiler_error_start(l))?;
    let mut out = vec![lines[start]];
    for l in &lines[start + 1..] {
        if l.trim().is_empty() || is_diagnostic_start(l) {
            break;
        }
        out.push(l);
    }
    Some(out.join("\n"))
}

/// `error[E0308]: ...` or `error: ...`, but not cargo's own closing lines.
fn is_compiler_error_start(line: &str) -> bool {
    if line.starts_with("error[") {
        return true;
    }
    let Some(rest) = line.strip_prefix("error: ") else {
        return false;
    };
    ![
        "could not compile",
        "test failed",
        "aborting due to",
        "1 target failed",
        "process didn't exit",
    ]
    .iter()
    .any(|p| rest.starts_with(p))
        && !rest.contains("targets failed")
}

fn is_diagnostic_start(line: &str) -> bool {
    ["error", "warning", "note: ", "help: "]
        .iter()
        .any(|p| line.starts_with(p))
        || line.starts_with("   Compiling ")
}

/// The graded message of the first failing test's section.
fn test_failure(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("---- ") && l.ends_with(" stdout ----"))?;
    let name = lines[start]
        .trim_start_matches("---- ")
        .trim_end_matches(" stdout ----");
    let section: Vec<&str> = lines[start + 1..]
        .iter()
        .take_while(|l| !(l.starts_with("---- ") || l.trim_end() == "failures:"))
        .copied()
        .collect();
    let panics = panics(&section);
    let own = panics.iter().rev().find(|(thread, _)| thread == name);
    let (_, message) = own.or(panics.last())?;
    Some(format!("{name}: {message}"))
}

/// Each `thread 'T' (id) panicked at place:` with its message lines.
fn panics(section: &[&str]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < section.len() {
        let line = section[i];
        i += 1;
        let Some(rest) = line.strip_prefix("thread '") else {
            continue;
        };
        let Some((thread, after)) = rest.split_once('\'') else {
            continue;
        };
        if !after.contains(" panicked at ") {
            continue;
        }
        let mut message = Vec::new();
        while i < section.len() {
            let l = section[i];
            if l.starts_with("note: ")
                || l.starts_with("stack backtrace:")
                || l.starts_with("thread '")
            {
                break;
            }
            message.push(l);
            i += 1;
        }
        while message.last().is_some_and(|l| l.trim().is_empty()) {
            message.pop();
        }
        out.push((thread.to_string(), message.join("\n")));
    }
    out
}

/// cargo's line for a test binary killed by a signal or an abort.
fn crash(output: &str) -> Option<String> {
    output
        .lines()
        .find(|l| l.contains("process didn't exit successfully"))
        .map(|l| l.trim().to_string())
}

fn cut(message: &str) -> String {
    let lines: Vec<&str> = message.lines().collect();
    if lines.len() <= MAX_LINES {
        return message.to_string();
    }
    format!(
        "{}\n... ({} more lines: run the command to see them all)",
        lines[..MAX_LINES].join("\n"),
        lines.len() - MAX_LINES
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPILE: &str = "\
   Compiling exercises v0.1.0 (/w/exercises)
warning: unused variable: `y`
 --> exercises/src/ex01_timeouts.rs:3:9
  |
3 |     let y = 1;
  |         ^ help: if this is intentional, prefix it with an underscore: `_y`

error[E0308]: mismatched types
  --> exercises/src/ex01_timeouts.rs:110:28
   |
110 | pub fn broken() -> u32 { \"not a number\" }
   |                    ---   ^^^^^^^^^^^^^^ expected `u32`, found `&str`
   |                    |
   |                    expected `u32` because of return type

error[E0425]: cannot find value `z` in this scope
 --> exercises/src/ex01_timeouts.rs:4:5

Some errors have detailed explanations: E0308, E0425.
error: could not compile `exercises` (lib) due to 2 previous errors; 1 warning emitted
";

    #[test]
    fn a_compile_error_gives_the_first_error_with_its_snippet_only() {
        let m = first_error(COMPILE).unwrap();
        assert!(m.starts_with("error[E0308]: mismatched types"), "{m}");
        assert!(m.contains("expected `u32`, found `&str`"), "{m}");
        assert!(!m.contains("E0425"), "only the first error: {m}");
        assert!(!m.contains("unused variable"), "no warnings: {m}");
        assert!(!m.contains("could not compile"), "{m}");
    }

    #[test]
    fn an_error_without_a_code_is_found_but_cargos_summary_is_not() {
        let out = "error: expected one of `!` or `::`, found `}`\n --> a.rs:1:1\n\nerror: could not compile `x`\n";
        assert_eq!(
            first_error(out).unwrap(),
            "error: expected one of `!` or `::`, found `}`\n --> a.rs:1:1"
        );
        assert_eq!(
            first_error("error: could not compile `x` due to 1 previous error\n"),
            None
        );
    }

    const FAILING: &str = "\
running 2 tests
test a_fast_answer_arrives ... FAILED
test a_refused_connection_is_not_a_timeout ... FAILED

failures:

---- a_refused_connection_is_not_a_timeout stdout ----

thread 'runtime-m1' (21240) panicked at exercises/src/ex01_timeouts.rs:101:5:
not yet implemented: spawn the blocking exchange
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

thread 'a_refused_connection_is_not_a_timeout' (21237) panicked at exercises/tests/common/mod.rs:56:13:
ex01 panicked: fetch did not return within 10s
Hint: cargo run --bin course -- hint ex01
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

thread 'ex01-graded-body' (21238) panicked at exercises/tests/ex01_timeouts.rs:92:9:
a late helper panic

---- a_fast_answer_arrives stdout ----

thread 'a_fast_answer_arrives' (21235) panicked at exercises/tests/common/mod.rs:56:13:
the second test's message

failures:
    a_fast_answer_arrives
    a_refused_connection_is_not_a_timeout

test result: FAILED. 0 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 10.01s
";

    #[test]
    fn a_failing_test_gives_the_graders_message_of_the_first_section() {
        let m = first_error(FAILING).unwrap();
        assert_eq!(
            m,
            "a_refused_connection_is_not_a_timeout: ex01 panicked: fetch did not return within 10s\n\
             Hint: cargo run --bin course -- hint ex01"
        );
    }

    #[test]
    fn without_a_panic_of_the_test_thread_the_last_panic_is_shown() {
        let out = "---- t stdout ----\nthread 'helper' (1) panicked at a.rs:1:1:\nfirst\nthread 'other' panicked at b.rs:2:2:\nsecond\n\nfailures:\n";
        assert_eq!(first_error(out).unwrap(), "t: second");
    }

    #[test]
    fn a_time_limit_message_is_shown_as_the_grader_wrote_it() {
        let out = "---- ring_is_fifo stdout ----\n\nthread 'ring_is_fifo' (7) panicked at exercises/tests/common/mod.rs:58:13:\nex04: no answer in 20 s: is something waiting forever?\nHint: cargo run --bin course -- hint ex04\n";
        assert!(
            first_error(out)
                .unwrap()
                .contains("ex04: no answer in 20 s")
        );
    }

    #[test]
    fn a_crash_and_a_clean_run() {
        let out = "error: test failed, to rerun pass `-p exercises --test ex11`\n\nCaused by:\n  process didn't exit successfully: `/t/ex11-1` (signal: 11, SIGSEGV: invalid memory reference)\n";
        assert!(first_error(out).unwrap().contains("SIGSEGV"));
        assert_eq!(
            first_error("test result: ok. 3 passed; 0 failed; 0 ignored\n"),
            None
        );
    }

    #[test]
    fn long_messages_are_cut() {
        let body: Vec<String> = (0..40).map(|i| format!("line {i}")).collect();
        let out = format!(
            "---- t stdout ----\nthread 't' panicked at a.rs:1:1:\n{}\n",
            body.join("\n")
        );
        let m = first_error(&out).unwrap();
        assert_eq!(m.lines().count(), MAX_LINES + 1, "{m}");
        assert!(m.ends_with("(24 more lines: run the command to see them all)"));
    }
}
