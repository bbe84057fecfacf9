//! Runs the memory lessons (09 GC, 10 stacks and escape, 11 layout) in quick
//! mode, checks the conclusions they print, and that a bad flag exits with 2.
//!
//! Each run has a time limit: a lesson that hangs is killed and the test
//! fails naming it. Lesson 11's false-sharing ratio is information, not a
//! test (timing on a loaded machine proves nothing); only its presence is
//! checked.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Quick mode must finish well within this, even in a debug build.
const LIMIT: Duration = Duration::from_secs(180);

/// Runs `bin` with `args`; returns (exit code, stdout, stderr).
fn run(bin: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin)
        .args(args)
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
        let _ = tx.send((status.code(), stdout, stderr));
    });
    rx.recv_timeout(LIMIT).unwrap_or_else(|_| {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("{bin} {args:?} did not finish within {LIMIT:?}");
    })
}

fn quick(bin: &str) -> String {
    let (code, stdout, stderr) = run(bin, &["--quick"]);
    assert_eq!(
        code,
        Some(0),
        "{bin} --quick should exit 0\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

fn assert_line(out: &str, bin: &str, wanted: &str) {
    assert!(
        out.lines().any(|l| l.contains(wanted)),
        "{bin}: expected a line containing {wanted:?}\n--- output ---\n{out}"
    );
}

fn assert_bad_flag_exits_2(bin: &str) {
    let (code, help, _) = run(bin, &["--help"]);
    assert_eq!(code, Some(0), "{bin} --help should exit 0");
    assert!(
        help.contains("--quick") && help.contains("--write-book"),
        "{bin} --help should list its flags:\n{help}"
    );
    let (code, stdout, stderr) = run(bin, &["--no-such-flag"]);
    assert_eq!(
        code,
        Some(2),
        "{bin} --no-such-flag should exit 2\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("--no-such-flag"),
        "{bin}: the error should name the bad flag, got:\n{stderr}"
    );
}

#[test]
fn lesson_09_finds_a_lost_object_and_hybrid_loses_none() {
    let bin = env!("CARGO_BIN_EXE_lesson-09");
    let out = quick(bin);
    assert_line(&out, bin, "LOST: ");
    assert_line(&out, bin, "hybrid: 0 of 1000 seeds lost an object");
    // The table row for "none" names the lost object; hybrid's says "-".
    let none_row = out
        .lines()
        .find(|l| l.starts_with("none "))
        .expect("a table row for `none`");
    assert!(
        !none_row
            .split_whitespace()
            .nth(1)
            .unwrap_or("-")
            .starts_with('-'),
        "no barrier should lose an object on the shown seed: {none_row}"
    );
    let hybrid_row = out
        .lines()
        .find(|l| l.starts_with("hybrid "))
        .expect("a table row for `hybrid`");
    assert_eq!(
        hybrid_row.split_whitespace().nth(1),
        Some("-"),
        "hybrid should lose nothing: {hybrid_row}"
    );
    assert!(
        out.contains("re-scan G"),
        "the Dijkstra section should show the stack re-scan:\n{out}"
    );
    assert_bad_flag_exits_2(bin);
}

#[test]
fn lesson_10_grows_stacks_correctly_and_agrees_with_go() {
    let bin = env!("CARGO_BIN_EXE_lesson-10");
    let out = quick(bin);
    assert_line(&out, bin, "parent pointers broken: 0");
    assert_line(&out, bin, "-> 2048 B");
    assert_line(
        &out,
        bin,
        "escape analysis: 9 of 9 cases agree with Go's verdicts",
    );
    let seg = out
        .lines()
        .find(|l| l.starts_with("segmented"))
        .expect("a segmented-stack row");
    assert!(
        seg.contains("100001"),
        "a hot split should allocate a segment per call: {seg}"
    );
    let big = out
        .lines()
        .find(|l| l.starts_with("rarely_big(false)"))
        .expect("a rarely_big row");
    let size: usize = big
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a size column");
    assert!(
        size > 16 * 1024,
        "a future holding a 16 KiB local on one path is bigger than 16 KiB: {big}"
    );
    assert_bad_flag_exits_2(bin);
}

#[test]
fn lesson_11_measures_layouts_and_runs_the_false_sharing_experiment() {
    let bin = env!("CARGO_BIN_EXE_lesson-11");
    let out = quick(bin);
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("a row for {name}:\n{out}"))
            .to_string()
    };
    assert!(
        row("ByteIntByteC").contains("size  12"),
        "{}",
        row("ByteIntByteC")
    );
    assert!(
        row("ByteIntByteRust").contains("size   8"),
        "{}",
        row("ByteIntByteRust")
    );
    assert_line(
        &out,
        bin,
        "padded counters:   128 bytes apart, same 64-byte line: false",
    );
    assert_line(&out, bin, "adjacent / padded:");
    assert_bad_flag_exits_2(bin);
}
