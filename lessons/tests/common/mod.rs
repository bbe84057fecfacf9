//! Running a lesson binary from a test: with a time limit, so that a lesson
//! that hangs fails its test (naming it) instead of hanging the suite.

#![allow(dead_code)] // each test target uses the part it needs

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A lesson that takes longer than this in quick mode is a failure, even in
/// a debug build on a loaded two-core machine.
pub const LIMIT: Duration = Duration::from_secs(180);

/// What a lesson run left behind.
pub struct Run {
    /// The exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

/// Lessons of one test target run one at a time: each is an experiment that
/// measures something (a wait, a rate, a latency), and on a two-core machine
/// a lesson running beside it would be measured too.
static ONE_LESSON_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `bin` with `args` (without the schedtrace variable, whose lines would
/// mix into the output); kills it and panics if it outlives [`LIMIT`].
pub fn run(bin: &str, args: &[&str]) -> Run {
    // A test that failed holding the turn poisons the lock; the rest still run.
    let _turn = ONE_LESSON_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("RUNTIME_SCHEDTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {bin}: {e}"));
    let pid = child.id();
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let _ = out.read_to_string(&mut stdout);
        let _ = err.read_to_string(&mut stderr);
        let status = child.wait().expect("wait for the lesson");
        let _ = tx.send(Run {
            code: status.code(),
            stdout,
            stderr,
        });
    });
    rx.recv_timeout(LIMIT).unwrap_or_else(|_| {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("{bin} {args:?} did not finish within {LIMIT:?}");
    })
}

/// Runs a lesson with `--quick`, asserts it succeeded, returns its stdout.
pub fn quick(bin: &str) -> String {
    let r = run(bin, &["--quick"]);
    assert_eq!(
        r.code,
        Some(0),
        "{bin} --quick should exit 0\nstdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    r.stdout
}

/// The first line of `out` that contains `needle`; fails naming both.
pub fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
    out.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("expected a line containing {needle:?} in:\n{out}"))
}

/// `bin` rejects an unknown flag with exit 2 and a message naming it, and
/// answers `--help` with exit 0 and a usage that lists `--quick`.
pub fn assert_flags_and_help(bin: &str) {
    let r = run(bin, &["--no-such-flag"]);
    assert_eq!(r.code, Some(2), "{bin}");
    assert!(
        r.stderr.contains("unknown flag `--no-such-flag`"),
        "{}",
        r.stderr
    );
    let r = run(bin, &["--help"]);
    assert_eq!(r.code, Some(0), "{bin}");
    assert!(r.stdout.contains("--quick"), "{}", r.stdout);
}
