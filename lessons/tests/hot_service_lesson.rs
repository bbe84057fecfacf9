//! Runs lesson 22 (the hot service moved onto tasks) in quick mode and checks
//! its conclusions from the numbers it wrote: both versions keep up at the
//! sustainable rate, the task version answers more at the overloaded rate,
//! and the stores saw the fan-out.
//! `cargo test -p lessons --features load-testing,profiling --test hot_service_lesson`.

mod common;
use common::{assert_flags_and_help, quick};

const LESSON: &str = env!("CARGO_BIN_EXE_lesson-22");

#[test]
fn flags_and_help() {
    assert_flags_and_help(LESSON);
    let r = common::run(LESSON, &["--workers", "0"]);
    assert_eq!(r.code, Some(2), "a worker count out of range is refused");
}

/// The report of `phase` for `version` in results.json.
fn phase<'a>(v: &'a serde_json::Value, version: &str, phase: &str) -> &'a serde_json::Value {
    v["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|x| x["name"] == version)
        .and_then(|x| x["phases"].as_array()?.iter().find(|p| p["phase"] == phase))
        .map(|p| &p["report"])
        .unwrap_or_else(|| panic!("no {version} / {phase} in {v:#}"))
}

#[test]
fn the_task_version_keeps_up_where_the_pool_queues_and_fans_out() {
    let out = quick(LESSON);
    for needle in [
        "result before open, sustainable",
        "result after closed loop",
        "in flight after",
        "cpu after",
    ] {
        common::line_with(&out, needle);
    }
    let dir = lessons::artefacts::lesson_dir(22).unwrap();
    let text = std::fs::read_to_string(dir.join("results.json")).expect("results.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("results.json is JSON");
    let plan = &v["plan"];
    let (rate_ok, phase_ms) = (
        plan["rate_ok"].as_f64().unwrap(),
        plan["phase_ms"].as_f64().unwrap(),
    );
    let scheduled = (rate_ok * phase_ms / 1000.0) as u64;

    // 1. At the sustainable rate both answer everything, with no errors.
    for version in ["before", "after"] {
        let r = phase(&v, version, "open, sustainable");
        assert_eq!(
            r["errors"], 0,
            "{version} at {rate_ok}/s: no errors expected\n{out}"
        );
        assert_eq!(
            r["not_sent"], 0,
            "{version} at {rate_ok}/s: every request sent\n{out}"
        );
        let answered = r["requests"].as_u64().unwrap();
        assert!(
            answered + 2 >= scheduled,
            "{version} at {rate_ok}/s: {answered} answered of about {scheduled} scheduled\n{out}"
        );
    }

    // 2. At the overloaded rate the tasks answer more per second than the
    //    pool (whose ceiling is workers / (stores x service time)).
    let (b, a) = (
        phase(&v, "before", "open, overloaded"),
        phase(&v, "after", "open, overloaded"),
    );
    let (bq, aq) = (b["qps"].as_f64().unwrap(), a["qps"].as_f64().unwrap());
    assert!(
        aq > bq,
        "after's QPS {aq:.0} should beat before's {bq:.0} when overloaded\n{out}"
    );
    let cap = plan["pool_capacity_per_s"].as_f64().unwrap();
    assert!(
        bq <= cap * 1.2,
        "the pool cannot answer faster than its workers allow: {bq:.0}/s over a ceiling of {cap:.0}/s"
    );
    let (bp, ap) = (b["p99_us"].as_u64().unwrap(), a["p99_us"].as_u64().unwrap());
    assert!(
        ap < bp,
        "after's P99 {ap} µs should be below before's {bp} µs when overloaded\n{out}"
    );

    // 3. The fan-out, as the stores counted it: the pool never has more calls
    //    out than workers; the tasks had at least one request's worth at once.
    let inflight = |name: &str| {
        v["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .unwrap()["max_in_flight"]
            .as_u64()
            .unwrap()
    };
    let (stores, workers) = (
        plan["stores"].as_u64().unwrap(),
        plan["workers"].as_u64().unwrap(),
    );
    assert!(
        inflight("before") <= workers,
        "before: {} in flight with {workers} workers",
        inflight("before")
    );
    assert!(
        inflight("after") >= stores,
        "after: {} in flight at most, expected at least {stores} (one request's calls at once)",
        inflight("after")
    );

    // 4. The artefacts: two flame graphs with the service's part in them.
    for name in ["before.svg", "after.svg"] {
        let svg = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(svg.starts_with("<svg"), "{name} is an SVG");
        assert!(svg.contains("service"), "{name} shows the service's stacks");
    }
}
