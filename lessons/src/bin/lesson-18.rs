//! Lesson 18: A CPU profile and a flame graph — find the hot function of a slow route
//!
//! Go's first profiling command is `go tool pprof .../profile?seconds=30`:
//! the kernel interrupts each thread every 10 ms of CPU it burns (SIGPROF),
//! the handler records the stack it interrupted, and the stacks counted
//! together say where the CPU went. This lesson does that with the course's
//! profiler (`profiler/`) to a small service of two routes served by Gs on
//! two Ps, each request tagged with its route (Go's `pprof.Do` labels):
//!
//! 1. profile a mix of cheap `/home` and slow `/search` requests; the labels
//!    split the samples by route, and the flat (self) samples name the hot
//!    function: a quadratic de-duplication in `/search`;
//! 2. fix it (sort, then de-duplicate) and profile the same traffic again:
//!    `/search`'s samples fall, `/home`'s stay.
//!
//! It writes `cpu-before.pb.gz` (for `go tool pprof -top`), the folded
//! stacks split by route, and the course's flame graph SVG.

use std::collections::BTreeMap;
use std::hint::black_box;

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use profiler::{CpuProfile, CpuProfiler, DEFAULT_HZ};
use runtime::Runtime;

// ANCHOR: hot
/// `/search`'s de-duplication as first written: every item compared with
/// every item kept so far (n² / 2 comparisons).
#[inline(never)]
fn dedupe_quadratic(items: &[u32]) -> Vec<u32> {
    let mut kept: Vec<u32> = Vec::new();
    for &x in items {
        if !kept.contains(&x) {
            kept.push(x);
        }
    }
    kept
}

/// The fix: sort, then drop neighbours that repeat (n log n).
#[inline(never)]
fn dedupe_sorted(items: &[u32]) -> Vec<u32> {
    let mut v = items.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}
// ANCHOR_END: hot

/// `/home`: render a small page.
#[inline(never)]
fn render_home(i: u64) -> usize {
    let mut page = String::new();
    for j in 0..3000 {
        page.push_str(&format!("<li>item {j} of request {i}</li>"));
    }
    page.len()
}

/// `/search`: the results for a query, de-duplicated.
#[inline(never)]
fn search(i: u64, items: usize, fixed: bool) -> usize {
    let results: Vec<u32> = (0..items as u32)
        .map(|k| (k.wrapping_mul(2654435761) ^ i as u32) % (items as u32 / 2))
        .collect();
    if fixed {
        dedupe_sorted(&results).len()
    } else {
        dedupe_quadratic(&results).len()
    }
}

// ANCHOR: serve
/// Serves `requests` requests, three `/home` to one `/search`, each in a G
/// with its route as a label, and profiles the whole run.
fn profile_traffic(rt: &Runtime, requests: u64, items: usize, fixed: bool) -> CpuProfile {
    let p = CpuProfiler::start(DEFAULT_HZ).expect("start the CPU profiler");
    rt.block_on(async move {
        let mut hs = Vec::new();
        for i in 0..requests {
            let route = if i % 4 == 3 { "/search" } else { "/home" };
            hs.push(runtime::spawn(runtime::with_labels(
                &[("route", route)],
                async move {
                    if route == "/search" {
                        black_box(search(i, items, fixed))
                    } else {
                        black_box(render_home(i))
                    }
                },
            )));
        }
        for h in hs {
            h.await.expect("a request");
        }
    });
    p.stop().symbolize()
}
// ANCHOR_END: serve

/// Samples per route label.
fn by_route(p: &CpuProfile) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for s in &p.stacks {
        let r = s
            .labels
            .iter()
            .find(|(k, _)| k == "route")
            .map_or("(no route)", |(_, v)| v.as_str());
        *m.entry(r.to_string()).or_insert(0) += s.count;
    }
    m
}

/// Flat (self) samples per function: the leaf of each stack.
fn flat(p: &CpuProfile) -> Vec<(String, u64)> {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for s in &p.stacks {
        // The leaf inlined helpers (`contains`, iterator steps) belong to
        // the lesson's function that called them: charge the innermost
        // frame of this lesson's code, or the leaf if there is none.
        let name = s
            .stack
            .iter()
            .rev()
            .find(|f| f.starts_with("lesson_18::"))
            .or(s.stack.last())
            .cloned()
            .unwrap_or_default();
        *m.entry(name).or_insert(0) += s.count;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    v
}

fn main() {
    let args = Cli::new("lesson-18", "a CPU profile and a flame graph")
        .number("--requests", "N", "requests per run", 400, 8..=100_000)
        .number("--items", "N", "results per /search", 3000, 100..=100_000)
        .parse();
    let (requests, items) = if args.quick() {
        (160, 2000)
    } else {
        (args.number("--requests"), args.number("--items") as usize)
    };
    title("Lesson 18", "A CPU profile and a flame graph");
    explain(&format!(
        "{requests} requests on a runtime with 2 Ps, three /home to one /search, each G \
         labelled with its route. SIGPROF every 10 ms of CPU per thread \
         ({DEFAULT_HZ} Hz); each sample is the interrupted stack, the G and its labels."
    ));
    let rt = Runtime::builder()
        .procs(2)
        .build()
        .expect("build the runtime");
    let dir = artefacts::lesson_dir(18).expect("create target/lessons/lesson-18");

    let before = profile_traffic(&rt, requests, items, false);
    section("Before: where the CPU went");
    let routes = by_route(&before);
    let total = before.samples().max(1);
    let mut t = Table::new(["route", "samples", "share"]);
    for (r, n) in &routes {
        t.row([
            r.clone(),
            n.to_string(),
            format!("{:.0}%", 100.0 * *n as f64 / total as f64),
        ]);
    }
    t.print();
    let top = flat(&before);
    let mut t = Table::new(["function (self)", "samples", "share"]);
    for (f, n) in top.iter().take(5) {
        t.row([
            f.clone(),
            n.to_string(),
            format!("{:.0}%", 100.0 * *n as f64 / total as f64),
        ]);
    }
    t.print();
    let hot = top.first().map(|(f, _)| f.clone()).unwrap_or_default();
    println!("hot function: {hot}");

    std::fs::write(dir.join("cpu-before.pb.gz"), before.to_pprof()).expect("write the profile");
    wrote(
        "the profile (go tool pprof -top FILE)",
        &dir.join("cpu-before.pb.gz"),
    );
    let folded = before.folded_by("route");
    let path = artefacts::write(&dir, "cpu-before.folded", &folded).expect("write folded");
    wrote("folded stacks, a tower per route", &path);
    let svg = profiler::flame::svg(&folded, "lesson 18: before the fix", 1200).expect("fold");
    let path = artefacts::write(&dir, "flame-before.svg", &svg).expect("write the svg");
    wrote("the flame graph", &path);
    notice(
        "the labels split one profile into routes without a second run, and the widest \
         box with nothing on top of it (the most self samples) is the quadratic \
         de-duplication under /search: the route that is a quarter of the traffic \
         takes most of the CPU.",
    );

    let after = profile_traffic(&rt, requests, items, true);
    section("After the fix: the same traffic");
    let routes_after = by_route(&after);
    let mut t = Table::new(["route", "samples before", "samples after"]);
    for r in ["/home", "/search"] {
        let b = routes.get(r).copied().unwrap_or(0);
        let a = routes_after.get(r).copied().unwrap_or(0);
        t.row([r.to_string(), b.to_string(), a.to_string()]);
        println!("route {r}: {b} samples before, {a} after");
    }
    t.print();
    let folded = after.folded_by("route");
    let svg = profiler::flame::svg(&folded, "lesson 18: after the fix", 1200).expect("fold");
    let path = artefacts::write(&dir, "flame-after.svg", &svg).expect("write the svg");
    wrote("the flame graph after the fix", &path);
    notice(
        "a sample is 10 ms of CPU, so the /search column is the route's CPU time in \
         units of 10 ms: the fix removed most of it, and /home did not change.",
    );
}
