//! Runs the memory lessons (09 GC, 10 stacks and escape, 11 layout) in quick
//! mode, checks the conclusions they print, and that a bad flag exits with 2.
//!
//! Each run has a time limit: a lesson that hangs is killed and the test
//! fails naming it. Lesson 11's false-sharing ratio is information, not a
//! test (timing on a loaded machine proves nothing); only its presence is
//! checked.

mod common;
use common::{quick, run};

fn assert_line(out: &str, bin: &str, wanted: &str) {
    assert!(
        out.lines().any(|l| l.contains(wanted)),
        "{bin}: expected a line containing {wanted:?}\n--- output ---\n{out}"
    );
}

fn assert_bad_flag_exits_2(bin: &str) {
    let r = run(bin, &["--help"]);
    let (code, help) = (r.code, r.stdout);
    assert_eq!(code, Some(0), "{bin} --help should exit 0");
    assert!(
        help.contains("--quick") && help.contains("--write-book"),
        "{bin} --help should list its flags:\n{help}"
    );
    let r = run(bin, &["--no-such-flag"]);
    let (code, stdout, stderr) = (r.code, r.stdout, r.stderr);
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
