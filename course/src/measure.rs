//! Measured exercises: a criterion bench next to the graded tests.
//!
//! An exercise can come with `exercises/benches/<id>.rs`, a criterion bench
//! that puts the learner's code and a peer in one group (the project's rule:
//! every speed figure is a ratio taken in one run). Once such an exercise's
//! tests pass, the grader runs the bench briefly
//! (`--warm-up-time 1 --measurement-time 3`) and reports each function's
//! median time as a ratio to the group's first function. No exercise has a
//! bench yet; this is where one plugs in.
//!
//! Criterion prints each result as a name and a `time: [low median high]`
//! triple, the name on the same line or, when it is long, on the line
//! before; [`parse_criterion`] reads both forms.
//!
//! ```
//! let out = "runq/ours               time:   [10.0 ns 12.0 ns 14.0 ns]\n\
//!            runq/crossbeam          time:   [20.0 ns 24.0 ns 28.0 ns]\n";
//! let got = course::measure::parse_criterion(out);
//! assert_eq!(got, [("runq/ours".to_string(), 12.0), ("runq/crossbeam".to_string(), 24.0)]);
//! assert_eq!(course::measure::ratios(&got).unwrap(), "runq/ours 12.0 ns; runq/crossbeam 24.0 ns (2.00× runq/ours)");
//! ```

use std::path::{Path, PathBuf};

use crate::catalog::Exercise;

/// The bench of exercise `ex`, if it has one.
pub fn bench_file(root: &Path, ex: &Exercise) -> Option<PathBuf> {
    let p = root.join("exercises/benches").join(format!("{}.rs", ex.id));
    p.is_file().then_some(p)
}

/// The arguments of the short bench run, after `cargo`.
pub fn bench_args(id: &str) -> Vec<String> {
    [
        "bench",
        "-p",
        "exercises",
        "--bench",
        id,
        "--",
        "--warm-up-time",
        "1",
        "--measurement-time",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Each `(name, median in nanoseconds)` criterion printed, in order.
pub fn parse_criterion(output: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut previous = "";
    for line in output.lines() {
        if let Some((before, after)) = line.split_once("time:")
            && let Some(inside) = after
                .trim()
                .strip_prefix('[')
                .and_then(|r| r.split(']').next())
        {
            let name = match before.trim() {
                "" => previous.trim(),
                n => n,
            };
            let words: Vec<&str> = inside.split_whitespace().collect();
            if let [_, _, median, unit, _, _] = words[..]
                && let (Ok(v), Some(scale)) = (median.parse::<f64>(), nanos_per(unit))
                && !name.is_empty()
            {
                out.push((name.to_string(), v * scale));
            }
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    out
}

fn nanos_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "ps" => 1e-3,
        "ns" => 1.0,
        "µs" | "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    })
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// One line: every result, each after the first as a ratio to the first;
/// `None` if there were no results.
pub fn ratios(results: &[(String, f64)]) -> Option<String> {
    let (first, base) = results.first()?;
    let mut parts = vec![format!("{first} {}", human(*base))];
    for (name, t) in &results[1..] {
        parts.push(format!("{name} {} ({:.2}× {first})", human(*t), t / base));
    }
    Some(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_name_layouts_and_all_units_are_read() {
        let out = "\
Benchmarking spawn/ours: Warming up for 1.0000 s
spawn/ours              time:   [140.12 ns 150.00 ns 160.50 ns]
                        change: [-1.0% +0.5% +2.0%] (p = 0.50 > 0.05)
spawn/a-very-long-peer-name-that-criterion-wraps
                        time:   [0.2900 µs 0.3000 µs 0.3100 µs]
big/ms                  time:   [1.0 ms 2.0 ms 3.0 ms]
tiny                    time:   [500 ps 600 ps 700 ps]
garbage                 time:   [not a number]
";
        let got = parse_criterion(out);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "spawn/ours",
                "spawn/a-very-long-peer-name-that-criterion-wraps",
                "big/ms",
                "tiny"
            ]
        );
        let times: Vec<f64> = got.iter().map(|(_, t)| *t).collect();
        assert_eq!(times, [150.0, 300.0, 2e6, 0.6]);
    }

    #[test]
    fn ratios_are_to_the_first_result() {
        let r = ratios(&[("a".into(), 100.0), ("b".into(), 250.0)]).unwrap();
        assert_eq!(r, "a 100.0 ns; b 250.0 ns (2.50× a)");
        assert_eq!(ratios(&[]), None);
    }

    #[test]
    fn a_bench_is_found_by_the_exercise_id() {
        let root = std::env::temp_dir().join(format!("course-measure-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("exercises/benches")).unwrap();
        std::fs::write(root.join("exercises/benches/ex21_ring.rs"), "").unwrap();
        let ex = |id: &str| Exercise {
            id: id.into(),
            title: String::new(),
            stub: None,
            solution: None,
            test: None,
            hint: None,
        };
        assert_eq!(
            bench_file(&root, &ex("ex21_ring")),
            Some(root.join("exercises/benches/ex21_ring.rs"))
        );
        assert_eq!(bench_file(&root, &ex("ex04_runq")), None);
        assert_eq!(
            bench_args("ex21_ring")[..5],
            ["bench", "-p", "exercises", "--bench", "ex21_ring"]
        );
    }
}
