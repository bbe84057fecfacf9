//! What the course contains, read from the files themselves.
//!
//! Nothing here is hard-coded: lessons are the `lessons/src/bin/lesson-*.rs`
//! files (a lesson's first line is `//! Lesson NN: Title — what it shows`),
//! exercises are the ids that have a stub, a graded test or a hint under
//! `exercises/`, and chapters come from the book's `SUMMARY.md` as mdBook
//! reads it. Adding a lesson or an exercise therefore needs no change here.
//!
//! ```
//! let root = course::catalog::workspace_root();
//! let lessons = course::catalog::lessons(&root).unwrap();
//! assert!(lessons.iter().all(|l| l.bin.starts_with("lesson-")));
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The workspace root: the parent of this package's directory.
///
/// `cargo run` and `cargo test` tell the program where its package is
/// (`CARGO_MANIFEST_DIR` at run time), and that wins: a binary is found by
/// its name in a target directory that two checkouts may share, so the
/// directory it was compiled in can be another checkout's. The directory
/// recorded at compile time is the fallback for a binary started by hand.
pub fn workspace_root() -> PathBuf {
    let from_cargo = std::env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|d| Path::new(&d).parent().map(Path::to_path_buf))
        .filter(|root| root.join("book.toml").is_file());
    from_cargo.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("course/ sits inside the workspace")
            .to_path_buf()
    })
}

/// One runnable lesson.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lesson {
    /// The binary name, e.g. `lesson-02`.
    pub bin: String,
    /// The lesson's number as written in its header, e.g. `02`.
    pub number: String,
    /// The title from the header line, e.g. `G, M and P`.
    pub title: String,
    /// The cargo features the binary needs (`required-features` in
    /// `lessons/Cargo.toml`), e.g. `load-testing` for chapter 3's lessons.
    pub features: Vec<String>,
}

impl Lesson {
    /// The command that runs it: `cargo run --bin lesson-02`, or with its
    /// package and features when it needs some.
    ///
    /// ```
    /// let l = course::catalog::Lesson {
    ///     bin: "lesson-14".into(),
    ///     number: "14".into(),
    ///     title: "Two HTTP engines".into(),
    ///     features: vec!["load-testing".into()],
    /// };
    /// assert_eq!(l.command(), "cargo run -p lessons --features load-testing --bin lesson-14");
    /// ```
    pub fn command(&self) -> String {
        if self.features.is_empty() {
            format!("cargo run --bin {}", self.bin)
        } else {
            format!(
                "cargo run -p lessons --features {} --bin {}",
                self.features.join(","),
                self.bin
            )
        }
    }
}

/// `[[bin]]` tables of `lessons/Cargo.toml`: which lessons need features.
#[derive(serde::Deserialize, Default)]
struct LessonsManifest {
    #[serde(default)]
    bin: Vec<BinEntry>,
}

#[derive(serde::Deserialize)]
struct BinEntry {
    name: String,
    #[serde(default, rename = "required-features")]
    required_features: Vec<String>,
}

/// The features each lesson binary requires, by binary name. A missing or
/// unreadable manifest means none (the lessons still list).
fn required_features(root: &Path) -> std::collections::HashMap<String, Vec<String>> {
    let text = fs::read_to_string(root.join("lessons/Cargo.toml")).unwrap_or_default();
    let manifest: LessonsManifest = toml::from_str(&text).unwrap_or_default();
    manifest
        .bin
        .into_iter()
        .map(|b| (b.name, b.required_features))
        .collect()
}

/// Parses a lesson's first line: `//! Lesson NN: Title — what it shows`.
///
/// The title ends at the first ` — ` (or ` - `); `None` if the line does
/// not follow the convention.
///
/// ```
/// let (n, t) = course::catalog::parse_lesson_header("//! Lesson 02: G, M and P — tasks spread").unwrap();
/// assert_eq!((n.as_str(), t.as_str()), ("02", "G, M and P"));
/// ```
pub fn parse_lesson_header(line: &str) -> Option<(String, String)> {
    let rest = line
        .trim()
        .strip_prefix("//!")?
        .trim_start()
        .strip_prefix("Lesson ")?;
    let (number, title) = rest.split_once(':')?;
    let number = number.trim();
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let title = title.trim();
    let title = title.split(" — ").next().unwrap_or(title);
    let title = title.split(" - ").next().unwrap_or(title).trim();
    Some((number.to_string(), title.to_string()))
}

/// The lessons in `lessons/src/bin/`, sorted by binary name.
///
/// A file whose first line does not follow the header convention is still
/// listed (it is still runnable), titled "(no title line)".
pub fn lessons(root: &Path) -> io::Result<Vec<Lesson>> {
    let dir = root.join("lessons/src/bin");
    let features = required_features(root);
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if !stem.starts_with("lesson-") || path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = fs::read_to_string(&path)?;
        let first = text.lines().next().unwrap_or("");
        let (number, title) = parse_lesson_header(first).unwrap_or_else(|| {
            (
                stem.trim_start_matches("lesson-").to_string(),
                "(no title line)".to_string(),
            )
        });
        out.push(Lesson {
            bin: stem.to_string(),
            number,
            title,
            features: features.get(stem).cloned().unwrap_or_default(),
        });
    }
    out.sort_by(|a, b| a.bin.cmp(&b.bin));
    Ok(out)
}

/// One graded exercise and which of its four files exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exercise {
    /// The id, e.g. `ex04_runq`: the stub's file stem and the test target's name.
    pub id: String,
    /// The title from the hint's first line (`# ex04: Title`), or the id.
    pub title: String,
    /// `exercises/src/<id>.rs`, the file the learner edits.
    pub stub: Option<PathBuf>,
    /// `exercises/solutions/<id>.rs`.
    pub solution: Option<PathBuf>,
    /// `exercises/tests/<id>.rs`, the graded test target.
    pub test: Option<PathBuf>,
    /// `exercises/hints/<id>.md`.
    pub hint: Option<PathBuf>,
}

impl Exercise {
    /// The short form a learner types: `ex04` for `ex04_runq`.
    pub fn short(&self) -> &str {
        self.id.split('_').next().unwrap_or(&self.id)
    }
}

/// True for `exNN_name` or `exNN`.
fn is_exercise_id(stem: &str) -> bool {
    let Some(rest) = stem.strip_prefix("ex") else {
        return false;
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    !digits.is_empty() && (rest.len() == digits.len() || rest[digits.len()..].starts_with('_'))
}

/// The exercises under `exercises/`, sorted by id.
pub fn exercises(root: &Path) -> io::Result<Vec<Exercise>> {
    let base = root.join("exercises");
    let mut ids = std::collections::BTreeSet::new();
    for (sub, ext) in [
        ("src", "rs"),
        ("solutions", "rs"),
        ("tests", "rs"),
        ("hints", "md"),
    ] {
        let entries = match fs::read_dir(base.join(sub)) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == ext)
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                && is_exercise_id(stem)
            {
                ids.insert(stem.to_string());
            }
        }
    }
    let existing = |p: PathBuf| p.is_file().then_some(p);
    let mut out = Vec::new();
    for id in ids {
        let hint = existing(base.join("hints").join(format!("{id}.md")));
        let title = hint
            .as_ref()
            .and_then(|h| fs::read_to_string(h).ok())
            .and_then(|t| t.lines().next().map(hint_title))
            .unwrap_or_else(|| id.clone());
        out.push(Exercise {
            stub: existing(base.join("src").join(format!("{id}.rs"))),
            solution: existing(base.join("solutions").join(format!("{id}.rs"))),
            test: existing(base.join("tests").join(format!("{id}.rs"))),
            hint,
            title,
            id,
        });
    }
    Ok(out)
}

/// `# ex04: Go's run queue` → `Go's run queue`.
fn hint_title(line: &str) -> String {
    let line = line.trim_start_matches('#').trim();
    match line.split_once(':') {
        Some((_, title)) => title.trim().to_string(),
        None => line.to_string(),
    }
}

/// Finds the exercise a learner named: `ex04`, `ex04_runq`, `04` or `4`.
pub fn find_exercise<'a>(all: &'a [Exercise], name: &str) -> Option<&'a Exercise> {
    let name = name.trim().to_ascii_lowercase();
    let digits = name.strip_prefix("ex").unwrap_or(&name);
    let digits = digits.split('_').next().unwrap_or(digits);
    all.iter().find(|e| e.id == name).or_else(|| {
        let n: u32 = digits.parse().ok()?;
        all.iter()
            .find(|e| e.short().trim_start_matches("ex").parse::<u32>().ok() == Some(n))
    })
}

/// One entry of the book's table of contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chapter {
    /// Nesting depth: 0 for a part title or top-level chapter.
    pub depth: usize,
    /// The section number, e.g. `2.1.`, if the chapter has one.
    pub number: Option<String>,
    /// The title as written in SUMMARY.md.
    pub title: String,
    /// The Markdown file, relative to `book/`; `None` for a draft chapter.
    pub path: Option<PathBuf>,
    /// True for a part title (`# Load testing`).
    pub part: bool,
}

/// The book's table of contents, as mdBook parses `SUMMARY.md`.
pub fn chapters(root: &Path) -> anyhow_like::Result<Vec<Chapter>> {
    use mdbook_driver::book::BookItem;
    let book = mdbook_driver::MDBook::load(root).map_err(anyhow_like::Error::from)?;
    let mut out = Vec::new();
    for item in book.iter() {
        match item {
            BookItem::PartTitle(t) => out.push(Chapter {
                depth: 0,
                number: None,
                title: t.clone(),
                path: None,
                part: true,
            }),
            BookItem::Chapter(c) => out.push(Chapter {
                depth: c.parent_names.len(),
                number: c.number.as_ref().map(|n| n.to_string()),
                title: c.name.clone(),
                path: c.path.clone(),
                part: false,
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// A tiny error type so the public API does not expose mdBook's anyhow.
pub mod anyhow_like {
    /// An error from the book machinery, as text with its causes.
    #[derive(Debug)]
    pub struct Error(pub String);

    impl From<mdbook_driver::errors::Error> for Error {
        fn from(e: mdbook_driver::errors::Error) -> Self {
            Error(format!("{e:#}"))
        }
    }

    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Error {}

    /// `Result` with [`Error`].
    pub type Result<T> = std::result::Result<T, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lesson_headers_parse_and_bad_ones_do_not() {
        assert_eq!(
            parse_lesson_header("//! Lesson 03: Preemption — a spinning G"),
            Some(("03".into(), "Preemption".into()))
        );
        assert_eq!(
            parse_lesson_header("//! Lesson 10: Timers"),
            Some(("10".into(), "Timers".into()))
        );
        assert_eq!(parse_lesson_header("// Lesson 03: x"), None);
        assert_eq!(parse_lesson_header("//! Lesson three: x"), None);
        assert_eq!(parse_lesson_header("//! Some module"), None);
    }

    #[test]
    fn exercise_ids_are_recognised() {
        assert!(is_exercise_id("ex04_runq"));
        assert!(is_exercise_id("ex10"));
        assert!(!is_exercise_id("lib"));
        assert!(!is_exercise_id("exotic"));
        assert!(!is_exercise_id("ex04runq"));
    }

    fn ex(id: &str) -> Exercise {
        Exercise {
            id: id.into(),
            title: id.into(),
            stub: None,
            solution: None,
            test: None,
            hint: None,
        }
    }

    #[test]
    fn exercises_are_found_by_any_short_name() {
        let all = vec![
            ex("ex01_timeouts"),
            ex("ex04_runq"),
            ex("ex10_write_barrier"),
        ];
        for name in ["ex04", "ex04_runq", "04", "4", "EX04"] {
            assert_eq!(
                find_exercise(&all, name).map(|e| e.id.as_str()),
                Some("ex04_runq"),
                "{name}"
            );
        }
        assert_eq!(
            find_exercise(&all, "10").map(|e| e.id.as_str()),
            Some("ex10_write_barrier")
        );
        assert!(find_exercise(&all, "ex05").is_none());
        assert!(find_exercise(&all, "runq").is_none());
    }

    #[test]
    fn exercises_are_derived_from_files() {
        let base = std::env::temp_dir().join(format!("course-catalog-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        for d in ["src", "tests", "hints", "solutions"] {
            fs::create_dir_all(base.join("exercises").join(d)).unwrap();
        }
        fs::write(base.join("exercises/src/lib.rs"), "").unwrap();
        fs::write(base.join("exercises/src/ex02_pool.rs"), "todo!()").unwrap();
        fs::write(base.join("exercises/tests/ex02_pool.rs"), "").unwrap();
        fs::write(
            base.join("exercises/hints/ex02_pool.md"),
            "# ex02: A worker pool\n",
        )
        .unwrap();
        fs::write(base.join("exercises/tests/ex01_t.rs"), "").unwrap();
        let all = exercises(&base).unwrap();
        let ids: Vec<_> = all.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["ex01_t", "ex02_pool"]);
        assert_eq!(all[1].title, "A worker pool");
        assert!(all[0].stub.is_none() && all[0].test.is_some());
        assert!(all[1].solution.is_none());
    }
}
