//! Runs lesson 21 (cache misses under cachegrind; needs valgrind, which
//! `.ci/cachegrind.sh` installs and then runs this test) and checks its
//! conclusions from what it printed.
//! `cargo test -p lessons --features profiling --test cache_lesson_run`.

mod common;
use common::{quick, run};

const LESSON: &str = env!("CARGO_BIN_EXE_lesson-21");

/// (D1, LL) misses of a kernel from its `K: D1 misses A LL misses B` line.
fn misses(out: &str, k: &str) -> (u64, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{k}: D1 misses")))
        .unwrap_or_else(|| panic!("no line for {k} in:\n{out}"));
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

#[test]
fn flags_and_help() {
    let r = run(LESSON, &["--no-such-flag"]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("unknown flag `--no-such-flag`"),
        "{}",
        r.stderr
    );
    let r = run(LESSON, &["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(r.stdout.contains("--quick"), "{}", r.stdout);
}

#[test]
fn columns_and_arrays_of_structs_miss_far_more() {
    let out = quick(LESSON);
    assert!(
        out.contains("hardware counters: "),
        "the probe says what it found:\n{out}"
    );
    let (rows, _) = misses(&out, "rows");
    let (cols, cols_ll) = misses(&out, "cols");
    let (aos, _) = misses(&out, "aos");
    let (soa, _) = misses(&out, "soa");
    // 1024 x 1024 u32 by rows: one miss per 16-element line, ~65 536.
    assert!((50_000..90_000).contains(&rows), "rows: {rows}\n{out}");
    // By columns: about one miss per element, ~1 048 576, most also in LL.
    assert!(cols > 8 * rows, "cols {cols} vs rows {rows}");
    assert!(
        cols_ll > cols / 2,
        "the matrix is twice the LL: {cols_ll} of {cols}"
    );
    // 65 536 records of 64 bytes: one miss each; the keys alone: one per 8.
    assert!(
        (6_000..12_000).contains(&soa),
        "soa: one miss per 8 keys, ~8192: {soa}\n{out}"
    );
    assert!(aos > 4 * soa, "aos {aos} vs soa {soa}");
}
