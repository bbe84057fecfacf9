//! Runs the profiling lessons (18 to 20, behind the `profiling` feature) in
//! quick mode and checks their conclusions from what they printed; each
//! rejects a bad flag with exit code 2 and has `--help`.
//! `cargo test -p lessons --features profiling --test profiling_lessons_run`.

mod common;
use common::{assert_flags_and_help, quick};

const LESSONS: [&str; 3] = [
    env!("CARGO_BIN_EXE_lesson-18"),
    env!("CARGO_BIN_EXE_lesson-20"),
    env!("CARGO_BIN_EXE_lesson-19"),
];

/// The two numbers of a line `route R: B samples before, A after`.
fn before_after(out: &str, route: &str) -> (u64, u64) {
    let prefix = format!("route {route}: ");
    let line = out
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no line for {route} in:\n{out}"));
    let nums: Vec<u64> = line[prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn flags_and_help() {
    for bin in LESSONS {
        assert_flags_and_help(bin);
    }
}

#[test]
fn lesson_18_names_the_quadratic_function_and_the_fix_cuts_search() {
    let out = quick(LESSONS[0]);
    let hot = out
        .lines()
        .find_map(|l| l.strip_prefix("hot function: "))
        .unwrap_or_else(|| panic!("no hot function in:\n{out}"));
    assert!(
        hot.contains("dedupe_quadratic"),
        "hot function {hot}:\n{out}"
    );
    let (search_before, search_after) = before_after(&out, "/search");
    let (home_before, _) = before_after(&out, "/home");
    assert!(
        search_before > home_before,
        "/search (a quarter of the requests) should take most samples: {search_before} vs {home_before}\n{out}"
    );
    assert!(
        search_after * 2 < search_before,
        "the fix should at least halve /search's samples: {search_before} -> {search_after}\n{out}"
    );
    let dir = lessons::artefacts::lesson_dir(18).unwrap();
    let folded = std::fs::read_to_string(dir.join("cpu-before.folded")).unwrap();
    assert!(
        folded.lines().any(|l| l.starts_with("route=/search;")),
        "{folded}"
    );
    let p = profiler::decode(&std::fs::read(dir.join("cpu-before.pb.gz")).unwrap()).unwrap();
    assert!(!p.sample.is_empty());
}

/// The two numbers of a line `LABEL: one lock A ns, sharded B ns`.
fn one_and_sharded(out: &str, label: &str) -> (u64, u64) {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no line {label:?} in:\n{out}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn lesson_20_sharding_makes_both_profiles_fall() {
    let out = quick(LESSONS[1]);
    let (b1, b2) = one_and_sharded(&out, "block delay:");
    let (m1, m2) = one_and_sharded(&out, "mutex delay:");
    assert!(
        b1 > 0 && m1 > 0,
        "one lock is contended in both profiles:\n{out}"
    );
    assert!(
        b2 * 10 < b1,
        "sharding cuts the block delay tenfold at least: {b1} -> {b2}\n{out}"
    );
    assert!(m2 * 10 < m1, "and the mutex delay: {m1} -> {m2}\n{out}");
    let (n1, n2) = one_and_sharded(&out, "updates counted:");
    assert_eq!(n1, n2, "the same work both ways");
    assert_eq!(n1, 8 * 150);
}

#[test]
fn lesson_19_the_heap_diff_names_the_cache_that_never_evicts() {
    let out = quick(LESSONS[2]);
    let line = out
        .lines()
        .find(|l| l.starts_with("leak: "))
        .unwrap_or_else(|| panic!("no leak line in:\n{out}"));
    let leak: i64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        line.contains("render_page") || line.contains("get_or_render"),
        "{line}"
    );
    // 6000 pages of 4 KiB kept: about 24 MiB, estimated from ~48 samples.
    assert!((12 << 20..48 << 20).contains(&leak), "{leak} bytes:\n{out}");
    let fixed: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("after the fix: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no after-the-fix line in:\n{out}"));
    assert!(
        fixed < leak / 8,
        "the bounded cache keeps little: {fixed} vs {leak}"
    );
}
