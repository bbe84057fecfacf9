//! Runs lesson 25 (behind the `load-testing` feature) in quick mode and
//! checks its two outcomes from what it printed and saved: the v2 with a
//! tail regression is rolled back to 0% after a judged step, the healthy v2
//! is promoted to 100% through every step, and neither was judged before
//! both versions had the minimum samples.
//! `cargo test -p lessons --features load-testing --test canary_lesson`.

mod common;
use common::{assert_flags_and_help, line_with, quick};

use serde_json::Value;

const LESSON: &str = env!("CARGO_BIN_EXE_lesson-25");

#[test]
fn flags_and_help() {
    assert_flags_and_help(LESSON);
    let r = common::run(LESSON, &["--min", "0"]);
    assert_eq!(r.code, Some(2), "--min 0 must be refused:\n{}", r.stderr);
    assert!(r.stderr.contains("--min"), "{}", r.stderr);
}

#[test]
fn the_regression_is_rolled_back_and_the_healthy_v2_promoted() {
    let out = quick(LESSON);
    assert!(
        line_with(&out, "outcome of the regressed v2: ").ends_with("rolled back"),
        "the regressed v2 should be rolled back:\n{out}"
    );
    assert!(
        line_with(&out, "outcome of the healthy v2: ").ends_with("promoted"),
        "the healthy v2 should be promoted:\n{out}"
    );
    let path = lessons::artefacts::workspace_root().join("target/lessons/lesson-25/decisions.json");
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("decisions.json is JSON");
    let min = saved["min_samples"].as_u64().expect("min_samples");
    let rollouts = saved["rollouts"].as_array().expect("rollouts");
    assert_eq!(rollouts.len(), 2, "{saved}");
    let log = |i: usize| -> Vec<Value> {
        rollouts[i]["run"]["canary"]["log"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for i in 0..2 {
        for e in log(i) {
            let (n1, n2) = (
                e["samples"]["v1"].as_u64().unwrap(),
                e["samples"]["v2"].as_u64().unwrap(),
            );
            if n1.min(n2) < min {
                assert_eq!(
                    (e["verdict"].as_str(), e["decision"].as_str()),
                    (Some("not enough data"), Some("wait")),
                    "a window under {min} samples was judged: {e}"
                );
            }
        }
    }
    let regressed = log(0);
    let last = regressed
        .last()
        .expect("a decision log for the regressed v2");
    assert_eq!(
        (last["decision"].as_str(), last["verdict"].as_str()),
        (Some("rollback"), Some("regression")),
        "the regressed v2 must be rolled back for a regression: {last}"
    );
    assert_eq!(last["next_weight"], 0, "{last}");
    assert!(
        last["lower"].as_f64().unwrap() > 1.05,
        "a rollback needs a lower bound over 1.05: {last}"
    );
    let healthy = log(1);
    let weights: Vec<u64> = healthy
        .iter()
        .filter(|e| e["decision"] == "step up" || e["decision"] == "promote")
        .map(|e| e["next_weight"].as_u64().unwrap())
        .collect();
    assert_eq!(
        weights,
        [25, 50, 100],
        "the healthy v2's steps: {healthy:?}"
    );
    assert_eq!(rollouts[1]["run"]["canary"]["weight"], 100);
    for r in rollouts {
        assert_eq!(r["run"]["errors"], 0, "requests failed: {r}");
    }
}
