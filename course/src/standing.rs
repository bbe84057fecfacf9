//! Where each exercise stands, without running anything: for `course list`,
//! `course next` and the start of watch mode.
//!
//! An exercise's standing comes from the saved progress file when its
//! verdict is still fresh (graded against the files as they are now, see
//! [`crate::state`]); otherwise from the stub itself: a stub that still has
//! a `todo!(` is *not started*, and one without is *not graded* (it was
//! edited since its last grading, or never graded). Nothing here compiles
//! or runs a test, so `list` and `next` answer at once; `progress` and
//! `watch` do the grading.
//!
//! Each exercise also has a *section*, the part of the book that teaches
//! what it needs: the link in the last column of its row in
//! `book/exercises.md`, read with pulldown-cmark (the Markdown parser
//! mdBook uses), numbered as the book numbers it.
//!
//! ```
//! use course::standing::{Standing, first_unfinished};
//! let s = [Standing::Done { at: "t".into() }, Standing::NotStarted, Standing::Failing { first_failure: None }];
//! assert_eq!(first_unfinished(&s), Some(1));
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::catalog::{Chapter, Exercise};
use crate::progress::Status;
use crate::state::Record;

/// Where one exercise stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Graded done against the files as they are.
    Done {
        /// When it was first seen done (RFC 3339).
        at: String,
    },
    /// Graded failing against the files as they are.
    Failing {
        /// The saved first failure message.
        first_failure: Option<String>,
    },
    /// The stub still has a `todo!(`.
    NotStarted,
    /// Edited since it was graded, or never graded, and no `todo!(` left.
    NotGraded,
    /// There is no graded test file for it.
    NoTests,
}

impl Standing {
    /// Works out the standing from a fresh saved record (if any), whether a
    /// graded test exists, and the stub's text.
    pub fn of(fresh: Option<&Record>, has_test: bool, stub_text: Option<&str>) -> Standing {
        if !has_test {
            return Standing::NoTests;
        }
        match fresh.map(|r| r.status) {
            Some(Status::Done) => Standing::Done {
                at: fresh.and_then(|r| r.done_at.clone()).unwrap_or_default(),
            },
            Some(Status::Failing) => Standing::Failing {
                first_failure: fresh.and_then(|r| r.first_failure.clone()),
            },
            Some(Status::NotStarted) => Standing::NotStarted,
            Some(Status::NoTests) => Standing::NoTests,
            None if stub_text.is_some_and(|t| t.contains("todo!(")) => Standing::NotStarted,
            None => Standing::NotGraded,
        }
    }

    /// The word `course list` shows.
    pub fn label(&self) -> String {
        match self {
            Standing::Done { at } if at.is_empty() => "done".into(),
            Standing::Done { at } => format!("done {}", short_time(at)),
            Standing::Failing { .. } => "failing".into(),
            Standing::NotStarted => "not started".into(),
            Standing::NotGraded => "not graded".into(),
            Standing::NoTests => "no tests yet".into(),
        }
    }

    /// True for an exercise that still needs work (not done, and gradable).
    pub fn unfinished(&self) -> bool {
        !matches!(self, Standing::Done { .. } | Standing::NoTests)
    }
}

/// `2026-12-01T21:50:07Z` → `2026-12-01 21:50 UTC`.
fn short_time(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(minutes) if rfc3339.ends_with('Z') => format!("{} UTC", minutes.replace('T', " ")),
        _ => rfc3339.to_string(),
    }
}

/// The first exercise that still needs work.
pub fn first_unfinished(all: &[Standing]) -> Option<usize> {
    all.iter().position(Standing::unfinished)
}

/// The next exercise after `current` that still needs work, wrapping
/// around; `None` if no other one does.
///
/// ```
/// use course::standing::{Standing, next_unfinished};
/// let s = [Standing::NotStarted, Standing::Done { at: String::new() }, Standing::NotGraded];
/// assert_eq!(next_unfinished(&s, 0), Some(2));
/// assert_eq!(next_unfinished(&s, 2), Some(0));
/// ```
pub fn next_unfinished(all: &[Standing], current: usize) -> Option<usize> {
    (1..all.len())
        .map(|k| (current + k) % all.len())
        .find(|&i| all[i].unfinished())
}

/// The part of the book that teaches an exercise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The section's number in the book (`2.1.`), when it has one.
    pub number: Option<String>,
    /// Its title as the exercise table links it.
    pub title: String,
    /// The Markdown file, relative to `book/` (`runtime/gmp.md`).
    pub path: String,
}

impl Section {
    /// `2.1. G, M and P (book/runtime/gmp.md)`.
    pub fn describe(&self) -> String {
        let number = self
            .number
            .as_deref()
            .map(|n| format!("{n} "))
            .unwrap_or_default();
        format!("{number}{} (book/{})", self.title, self.path)
    }

    /// The page in the served book: `http://127.0.0.1:3000/runtime/gmp.html`.
    pub fn url(&self, port: u16) -> String {
        let page = self.path.strip_suffix(".md").unwrap_or(&self.path);
        format!("http://127.0.0.1:{port}/{page}.html")
    }
}

/// The exercise table rows of `book/exercises.md`: for each row whose
/// first cell is an exercise id in backticks, the last link in the row.
///
/// ```
/// let md = "| id | what | where |\n|---|---|---|\n| `ex04_runq` | a ring | [G, M and P](runtime/gmp.md) |\n";
/// let rows = course::standing::parse_exercise_table(md);
/// assert_eq!(rows["ex04_runq"], ("G, M and P".to_string(), "runtime/gmp.md".to_string()));
/// ```
pub fn parse_exercise_table(markdown: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let mut cell = 0;
    let mut id: Option<String> = None;
    let mut link: Option<(String, String)> = None;
    let mut in_link: Option<(String, String)> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::TableRow) => {
                cell = 0;
                id = None;
                link = None;
            }
            Event::End(TagEnd::TableCell) => cell += 1,
            Event::Code(code) if cell == 0 && code.starts_with("ex") => id = Some(code.to_string()),
            Event::Start(Tag::Link { dest_url, .. }) => {
                in_link = Some((String::new(), dest_url.to_string()));
            }
            Event::Text(t) | Event::Code(t) if in_link.is_some() => {
                if let Some((title, _)) = in_link.as_mut() {
                    title.push_str(&t);
                }
            }
            Event::End(TagEnd::Link) => link = in_link.take(),
            Event::End(TagEnd::TableRow) => {
                if let (Some(id), Some(link)) = (id.take(), link.take()) {
                    out.insert(id, link);
                }
            }
            _ => {}
        }
    }
    out
}

/// The section of every exercise listed in `book/exercises.md`, numbered
/// from `chapters` (the book's table of contents).
pub fn sections(root: &Path, chapters: &[Chapter]) -> BTreeMap<String, Section> {
    let text = fs::read_to_string(root.join("book/exercises.md")).unwrap_or_default();
    parse_exercise_table(&text)
        .into_iter()
        .map(|(id, (title, path))| {
            let number = chapters
                .iter()
                .find(|c| c.path.as_deref() == Some(Path::new(&path)))
                .and_then(|c| c.number.clone());
            (
                id,
                Section {
                    number,
                    title,
                    path,
                },
            )
        })
        .collect()
}

/// The exercise lines of `course list` (and of `l` in watch mode): id,
/// standing, title and the section that teaches it; `current` is marked `>`.
pub fn list_text(
    exercises: &[Exercise],
    standings: &[Standing],
    sections: &BTreeMap<String, Section>,
    current: Option<usize>,
) -> String {
    let id_w = exercises.iter().map(|e| e.id.len()).max().unwrap_or(8);
    let mut out = String::new();
    for (i, (ex, st)) in exercises.iter().zip(standings).enumerate() {
        let mark = if Some(i) == current { '>' } else { ' ' };
        let section = sections
            .get(&ex.id)
            .map(|s| {
                let n = s
                    .number
                    .as_deref()
                    .map(|n| format!("{n} "))
                    .unwrap_or_default();
                format!("read {n}{}", s.title)
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "{mark} {:<id_w$}  {:<25}  {}{}{section}
",
            ex.id,
            st.label(),
            ex.title,
            if section.is_empty() { "" } else { " — " },
        ));
    }
    let done = standings
        .iter()
        .filter(|s| matches!(s, Standing::Done { .. }))
        .count();
    out.push_str(&format!("  {done} of {} done", exercises.len()));
    out
}

/// The text `course next` prints for exercise `ex` with its `section`.
pub fn next_text(ex: &Exercise, standing: &Standing, section: Option<&Section>) -> String {
    let mut out = format!("Next: {} — {} ({})\n", ex.id, ex.title, standing.label());
    match section {
        Some(s) => out.push_str(&format!(
            "  read:  {}\n         {} (while `cargo run --bin course` serves the book)\n",
            s.describe(),
            s.url(crate::args::DEFAULT_PORT)
        )),
        None => out.push_str("  read:  (book/exercises.md does not list a section for it)\n"),
    }
    out.push_str(&format!("  edit:  exercises/src/{}.rs\n", ex.id));
    out.push_str(&format!(
        "  grade: {}\n",
        crate::progress::test_command(&ex.id)
    ));
    out.push_str(&format!(
        "  or:    cargo run --bin course -- watch   (grades on every save)\n  stuck: cargo run --bin course -- hint {}\n",
        ex.short()
    ));
    if let Standing::Failing {
        first_failure: Some(m),
    } = standing
    {
        out.push_str("\nLast time it failed with:\n");
        for l in m.lines() {
            out.push_str(&format!("  {l}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status) -> Record {
        Record {
            fingerprint: "f".into(),
            status,
            graded_at: "2026-12-01T21:50:07Z".into(),
            done_at: (status == Status::Done).then(|| "2026-12-01T21:50:07Z".into()),
            tests: None,
            first_failure: Some("boom".into()),
            loom: None,
            bench: None,
        }
    }

    #[test]
    fn a_fresh_record_wins_over_the_stub_text() {
        let done = record(Status::Done);
        assert_eq!(
            Standing::of(Some(&done), true, Some("todo!()")),
            Standing::Done {
                at: "2026-12-01T21:50:07Z".into()
            }
        );
        assert_eq!(
            Standing::of(Some(&done), true, None).label(),
            "done 2026-12-01 21:50 UTC"
        );
        assert_eq!(
            Standing::of(Some(&record(Status::Failing)), true, Some("todo!()")),
            Standing::Failing {
                first_failure: Some("boom".into())
            }
        );
    }

    #[test]
    fn without_a_fresh_record_the_stub_decides() {
        assert_eq!(
            Standing::of(None, true, Some("fn f() { todo!(\"x\") }")),
            Standing::NotStarted
        );
        assert_eq!(
            Standing::of(None, true, Some("fn f() { 1 }")),
            Standing::NotGraded
        );
        assert_eq!(Standing::of(None, false, Some("x")), Standing::NoTests);
        assert_eq!(
            Standing::of(Some(&record(Status::Done)), false, None),
            Standing::NoTests
        );
    }

    #[test]
    fn next_skips_done_and_untested_exercises_and_wraps() {
        let done = || Standing::Done { at: String::new() };
        let s = [
            done(),
            Standing::NoTests,
            Standing::Failing {
                first_failure: None,
            },
            done(),
            Standing::NotStarted,
        ];
        assert_eq!(first_unfinished(&s), Some(2));
        assert_eq!(next_unfinished(&s, 2), Some(4));
        assert_eq!(next_unfinished(&s, 4), Some(2));
        assert_eq!(next_unfinished(&[done(), Standing::NotStarted], 1), None);
        assert_eq!(first_unfinished(&[done(), Standing::NoTests]), None);
    }

    #[test]
    fn the_exercise_table_is_read_from_markdown() {
        let md = "\
# Exercises

| id | what you build | where it is taught |
|---|---|---|
| `ex01_timeouts` | a fetch with `timeout` | [Cancellation and deadlines](getting-started/cancellation.md) |
| `ex04_runq` | Go's `runqput` | [G, M and P](runtime/gmp.md) |
| not an id | x | [Elsewhere](x.md) |

| id | what | where |
|---|---|---|
| `ex10_write_barrier` | the barrier | see [GC](runtime/gc.md) and [more](runtime/gc2.md) |
";
        let rows = parse_exercise_table(md);
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert_eq!(
            rows["ex01_timeouts"],
            (
                "Cancellation and deadlines".into(),
                "getting-started/cancellation.md".into()
            )
        );
        assert_eq!(rows["ex04_runq"].1, "runtime/gmp.md");
        assert_eq!(rows["ex10_write_barrier"].1, "runtime/gc2.md", "last link");
    }

    #[test]
    fn the_real_book_gives_every_exercise_a_section() {
        let root = crate::catalog::workspace_root();
        let chapters = crate::catalog::chapters(&root).unwrap();
        let sections = sections(&root, &chapters);
        for ex in crate::catalog::exercises(&root).unwrap() {
            let s = sections
                .get(&ex.id)
                .unwrap_or_else(|| panic!("book/exercises.md has no row for {}", ex.id));
            assert!(
                root.join("book").join(&s.path).is_file(),
                "{}: {} is not a book page",
                ex.id,
                s.path
            );
            assert!(s.number.is_some(), "{}: {s:?} is not numbered", ex.id);
        }
    }

    fn ex(id: &str, title: &str) -> Exercise {
        Exercise {
            id: id.into(),
            title: title.into(),
            stub: None,
            solution: None,
            test: None,
            hint: None,
        }
    }

    #[test]
    fn the_list_marks_each_standing_and_section() {
        let exercises = [
            ex("ex01_a", "First"),
            ex("ex02_b", "Second"),
            ex("ex03_c", "Third"),
        ];
        let standings = [
            Standing::Done {
                at: "2026-12-01T21:50:07Z".into(),
            },
            Standing::Failing {
                first_failure: None,
            },
            Standing::NotStarted,
        ];
        let mut sections = BTreeMap::new();
        sections.insert(
            "ex01_a".to_string(),
            Section {
                number: Some("1.2.".into()),
                title: "Deadlines".into(),
                path: "a.md".into(),
            },
        );
        let t = list_text(&exercises, &standings, &sections, Some(1));
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("  ex01_a  done 2026-12-01 21:50 UTC  First"),
            "{t}"
        );
        assert!(lines[0].ends_with("First — read 1.2. Deadlines"), "{t}");
        assert!(lines[1].starts_with("> ex02_b  failing"), "{t}");
        assert!(
            lines[2].contains("not started") && lines[2].ends_with("Third"),
            "{t}"
        );
        assert_eq!(lines[3], "  1 of 3 done");
    }

    #[test]
    fn next_text_names_the_section_the_stub_and_the_commands() {
        let ex = ex("ex04_runq", "Go's run queue");
        let s = Section {
            number: Some("2.1.".into()),
            title: "G, M and P".into(),
            path: "runtime/gmp.md".into(),
        };
        let t = next_text(
            &ex,
            &Standing::Failing {
                first_failure: Some("ring_is_fifo: boom".into()),
            },
            Some(&s),
        );
        for want in [
            "Next: ex04_runq — Go's run queue (failing)",
            "2.1. G, M and P (book/runtime/gmp.md)",
            "http://127.0.0.1:3000/runtime/gmp.html",
            "exercises/src/ex04_runq.rs",
            "cargo test -p exercises --test ex04_runq",
            "hint ex04",
            "ring_is_fifo: boom",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
    }
}
