//! The `course` binary's command line, end to end: exit codes and messages.

use std::process::{Command, Output};

fn course(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_course"))
        .args(args)
        .output()
        .expect("run the course binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn unknown_commands_and_flags_exit_2_with_usage() {
    for args in [
        &["frobnicate"][..],
        &["--verbose"],
        &["progress", "--yaml"],
        &["--port", "x"],
    ] {
        let out = course(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "`course {}` should exit 2",
            args.join(" ")
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("usage: cargo run --bin course"),
            "no usage after `{}`: {err}",
            args.join(" ")
        );
    }
}

#[test]
fn help_exits_0() {
    let out = course(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("progress [--json]"));
}

#[test]
fn list_shows_every_lesson_and_exercise_on_disk() {
    let root = course::catalog::workspace_root();
    let out = course(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Chapters:"), "{stdout}");
    for lesson in course::catalog::lessons(&root).unwrap() {
        assert!(
            stdout.contains(&lesson.command()),
            "{} missing:\n{stdout}",
            lesson.bin
        );
    }
    for ex in course::catalog::exercises(&root).unwrap() {
        assert!(stdout.contains(&ex.id), "{} missing:\n{stdout}", ex.id);
    }
}

#[test]
fn hint_for_an_unknown_exercise_exits_2_and_lists_the_known_ones() {
    let out = course(&["hint", "ex99"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no exercise called `ex99`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hint_prints_the_hint_file() {
    let root = course::catalog::workspace_root();
    let all = course::catalog::exercises(&root).unwrap();
    let ex = all
        .iter()
        .find(|e| e.hint.is_some())
        .expect("at least one hint in exercises/hints/");
    let out = course(&["hint", ex.short()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let expected = std::fs::read_to_string(ex.hint.as_ref().unwrap()).unwrap();
    assert_eq!(text(&out.stdout), expected);
}
