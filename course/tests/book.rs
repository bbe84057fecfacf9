//! The book is whole: it builds, every include resolves, every internal link
//! lands on a page, and every lesson it mentions exists.
//!
//! The book is built into a temporary directory, not `target/book`, so the
//! test never races a `cargo run --bin course` serving the real one.

use std::path::PathBuf;

use course::catalog::workspace_root;
use course::checks::{Problem, check_html, check_sources};

fn report(what: &str, problems: &[Problem]) -> String {
    let mut s = format!("{} problem(s) with {what}:\n", problems.len());
    for p in problems {
        s.push_str(&format!("  {p}\n"));
    }
    s
}

/// Builds into a directory of its own per test: the tests run in parallel.
fn build_into_temp(test: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!("course-book-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    course::book::build(&workspace_root(), Some(&out))
        .unwrap_or_else(|e| panic!("the book did not build: {e}"))
}

#[test]
fn sources_have_no_broken_includes_and_name_only_real_lessons() {
    let problems = check_sources(&workspace_root()).expect("read book/");
    assert!(
        problems.is_empty(),
        "{}",
        report("the Markdown sources", &problems)
    );
}

#[test]
fn built_book_has_no_leftover_includes_or_broken_links() {
    let html = build_into_temp("links");
    assert!(
        html.join("index.html").is_file(),
        "no index.html in {}",
        html.display()
    );
    let problems = check_html(&html).expect("read the built book");
    let _ = std::fs::remove_dir_all(&html);
    assert!(
        problems.is_empty(),
        "{}",
        report("the built HTML", &problems)
    );
}

#[test]
fn built_book_has_search_and_the_timeline_assets() {
    let html = build_into_temp("assets");
    let names: Vec<String> = std::fs::read_dir(&html)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let gmp =
        std::fs::read_to_string(html.join("runtime/gmp.html")).expect("runtime/gmp.html was built");
    let _ = std::fs::remove_dir_all(&html);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("searchindex") && n.ends_with(".js")),
        "no searchindex*.js among {names:?}: is [output.html.search] enabled?"
    );
    for asset in ["timeline", ".js\"", ".css\""] {
        assert!(
            gmp.contains(asset),
            "runtime/gmp.html does not load the timeline assets (`{asset}` missing)"
        );
    }
    assert!(
        gmp.contains("id=\"mdbook-searchbar\""),
        "runtime/gmp.html has no search box"
    );
}
