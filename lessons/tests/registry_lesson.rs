//! Runs lesson 26 in quick mode and checks that cargo really resolved and
//! built from our registry: the server's request log has the index files
//! and the `.crate` downloads, the build succeeded and ran, the lock file
//! names our server as the source, the yanked version was not chosen, and
//! a crates.io name was looked up in our registry (404) and nowhere else.

mod common;
use common::{assert_flags_and_help, line_with, quick};

const LESSON_26: &str = env!("CARGO_BIN_EXE_lesson-26");

#[test]
fn lesson_26_rejects_bad_flags_and_has_help() {
    assert_flags_and_help(LESSON_26);
}

#[test]
fn lesson_26_cargo_resolves_builds_patches_and_vendors_from_our_registry() {
    let out = quick(LESSON_26);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/lessons/lesson-26");

    // The server's own log: what cargo asked for, and what it got.
    let text = std::fs::read_to_string(dir.join("requests.json"))
        .unwrap_or_else(|e| panic!("requests.json: {e}\n{out}"));
    let log: Vec<serde_json::Value> = serde_json::from_str(&text).expect("requests.json is JSON");
    let got = |path: &str, status: u64| {
        log.iter()
            .filter(|r| r["path"] == path && r["status"] == status)
            .count()
    };
    for path in ["/config.json", "/co/ur/course-greet", "/co/ur/course-words"] {
        assert!(
            got(path, 200) >= 1,
            "cargo fetched {path} from our server: {text}"
        );
    }
    assert_eq!(
        got("/crates/course-greet/course-greet-0.1.1.crate", 200),
        1,
        "the chosen version was downloaded once: {text}"
    );
    assert_eq!(
        got("/crates/course-words/course-words-0.1.0.crate", 200),
        1,
        "the transitive dependency was downloaded once: {text}"
    );
    assert_eq!(
        got("/crates/course-greet/course-greet-0.1.2.crate", 200),
        0,
        "the yanked 0.1.2 must not be downloaded: {text}"
    );
    assert_eq!(
        got("/se/rd/serde", 404),
        1,
        "a crates.io name was looked up in our registry, and only there: {text}"
    );
    line_with(&out, "(a plain crates.io dependency): failed, as it should");
    assert!(
        got("/co/ur/course-greet", 304) >= 1,
        "resolving again revalidates the index with a 304: {text}"
    );

    // The build ran the dependency's code, from the registry, then patched,
    // then vendored with the server stopped.
    line_with(
        &out,
        "the program says: hello, registry! (course-greet 0.1.1)",
    );
    line_with(
        &out,
        "the program says: hello, registry! (course-greet 0.1.1-patched)",
    );
    line_with(&out, "cargo build --offline ok");

    // The lock file (the registry's, restored after the patch) names our
    // server as the source of both crates, with their checksums.
    let lock = std::fs::read_to_string(dir.join("hello-registry/Cargo.lock")).expect("Cargo.lock");
    let source = line_with(&out, "course-greet 0.1.1 from sparse+http://127.0.0.1:")
        .trim()
        .trim_start_matches("course-greet 0.1.1 from ")
        .to_string();
    for name in ["course-greet", "course-words"] {
        let block = lock
            .split("[[package]]")
            .find(|b| b.contains(&format!("name = \"{name}\"")))
            .unwrap_or_else(|| panic!("{name} is in the lock file:\n{lock}"));
        assert!(
            block.contains(&format!("source = \"{source}\"")),
            "{name}'s source is our registry {source}:\n{lock}"
        );
        assert!(
            block.contains("checksum = \""),
            "{name} has a checksum:\n{lock}"
        );
    }
    assert!(
        source.starts_with("sparse+http://127.0.0.1:"),
        "loopback only: {source}"
    );
    assert!(
        lock.contains("version = \"0.1.1\"") && !lock.contains("version = \"0.1.2\""),
        "0.1.1 chosen, the yanked 0.1.2 not:\n{lock}"
    );
    assert!(
        dir.join("hello-registry/vendor/course-greet/Cargo.toml")
            .is_file(),
        "cargo vendor copied the sources"
    );
}
