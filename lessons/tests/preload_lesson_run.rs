//! Lesson 27 runs real programs under `LD_PRELOAD`, so what it can show
//! depends on the machine: it needs `libspanalloc.so` built in release and
//! Debian's peer allocators. Where they are, the quick run must show the
//! program's output identical on all four allocators and our allocator's
//! per-class statistics; where they are not, it must say exactly what is
//! missing and how to get it, and exit 0 (it never installs anything).
//! `.ci/preload.sh` builds and installs everything and then runs the lesson,
//! so CI sees the full run too.

mod common;
use common::{quick, run};

const BIN: &str = env!("CARGO_BIN_EXE_lesson-27");

#[test]
fn lesson_27_has_help_and_rejects_bad_flags() {
    let r = run(BIN, &["--help"]);
    assert_eq!(r.code, Some(0), "--help exits 0");
    assert!(r.stdout.contains("--quick") && r.stdout.contains("--program"));
    let r = run(BIN, &["--no-such-flag"]);
    assert_eq!(r.code, Some(2), "an unknown flag exits 2:\n{}", r.stderr);
    assert!(r.stderr.contains("unknown flag `--no-such-flag`"));
    let r = run(BIN, &["--program", "perl"]);
    assert_eq!(r.code, Some(2), "a bad --program exits 2");
    assert!(r.stderr.contains("one of python, sqlite"), "{}", r.stderr);
}

#[test]
fn lesson_27_runs_python_on_four_allocators_or_says_what_is_missing() {
    let out = &quick(BIN);
    if out.contains("is not built") {
        assert!(
            out.contains("cargo build -p allocator-c --release"),
            "{out}"
        );
        return;
    }
    if out.contains("not installed") {
        assert!(out.contains("apt-get install"), "{out}");
        return;
    }
    for alloc in ["glibc", "ours", "mimalloc", "jemalloc"] {
        let row = out
            .lines()
            .find(|l| l.starts_with(alloc) && l.contains(" s "))
            .unwrap_or_else(|| panic!("no table row for {alloc}:\n{out}"));
        assert!(row.ends_with("same as glibc"), "{alloc}: {row}");
    }
    assert!(
        out.contains("What our allocator saw, at the program's peak"),
        "the peak snapshot requested through ctypes is missing:\n{out}"
    );
    assert!(out.contains("thread cache through"), "{out}");
    // Python's small objects: the 64-byte and 32-byte classes hold live
    // objects, counted from spans of their own.
    let class_row = out
        .lines()
        .find(|l| l.starts_with("6 ") && l.contains("64 B"))
        .unwrap_or_else(|| panic!("no row for class 6 (64 B):\n{out}"));
    let cols: Vec<&str> = class_row.split_whitespace().collect();
    let in_use: u64 = cols[5].parse().unwrap();
    let spans: u64 = cols[7].parse().unwrap();
    assert!(
        in_use > 10_000,
        "4 x 10,000 Python objects leave more live 64 B objects: {class_row}"
    );
    assert!(spans > 0, "live objects need spans: {class_row}");
    assert!(out.contains("heap profile: "), "{out}");
}
