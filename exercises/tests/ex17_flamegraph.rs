//! Graded tests of exercise ex17: folding stacks into a tree and laying the
//! tree out as a flame graph, checked on stacks whose layout is known.

mod common;

use common::grade;
use exercises::ex17_flamegraph::{fold, layout};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

const STACKS: &str = "main;serve;search;dedupe 6\nmain;serve;home 2\nmain;serve 1\nmain;gc 1\n";

#[test]
fn folding_sums_every_line_through_each_node() {
    grade("ex17", LIMIT, || {
        let t = fold(STACKS).expect("valid folded stacks");
        assert_eq!(t.total, 10, "the root holds every sample");
        let main = &t.children["main"];
        assert_eq!(main.total, 10);
        let serve = &main.children["serve"];
        assert_eq!(serve.total, 9, "6 + 2 + 1 lines pass through serve");
        assert_eq!(serve.self_count(), 1, "one sample ended in serve itself");
        assert_eq!(serve.children["search"].children["dedupe"].total, 6);
        assert_eq!(main.children["gc"].self_count(), 1);
        // The same stack on two lines adds up.
        let t = fold("a;b 2\n\na;b 3\n").unwrap();
        assert_eq!(
            t.children["a"].children["b"].total, 5,
            "empty lines are skipped"
        );
    });
}

#[test]
fn a_line_without_a_count_is_an_error_naming_it() {
    grade("ex17", LIMIT, || {
        let e = fold("a;b 1\na;b\n").expect_err("line 2 has no count");
        assert!(e.contains("line 2"), "the error names the line: {e}");
        let e = fold("a;b x\n").expect_err("a count that is not a number");
        assert!(e.contains("line 1"), "{e}");
    });
}

#[test]
fn the_layout_stacks_children_on_their_parent_in_name_order() {
    grade("ex17", LIMIT, || {
        let t = fold(STACKS).unwrap();
        let r = layout(&t);
        assert_eq!(r.len(), 6, "one rect per node but the root: {r:?}");
        let get = |n: &str| {
            r.iter()
                .find(|x| x.name == n)
                .unwrap_or_else(|| panic!("no {n}"))
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert_eq!(r[0].name, "main", "depth first, the parent first");
        assert!(close(get("main").w, 1.0) && get("main").depth == 0);
        // main's children in name order: gc (0.1) then serve (0.9).
        assert!(close(get("gc").x, 0.0) && close(get("gc").w, 0.1));
        assert!(close(get("serve").x, 0.1) && close(get("serve").w, 0.9));
        assert_eq!(get("serve").depth, 1);
        // serve's children start at serve's x: home (0.2) then search (0.6).
        assert!(close(get("home").x, 0.1) && close(get("home").w, 0.2));
        assert!(close(get("search").x, 0.3) && close(get("search").w, 0.6));
        assert_eq!((get("dedupe").depth, get("dedupe").count), (3, 6));
        assert!(close(get("dedupe").x, 0.3));
        assert!(
            layout(&fold("").unwrap()).is_empty(),
            "no samples, no rects"
        );
    });
}
