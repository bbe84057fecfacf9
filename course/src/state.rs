//! The saved progress file: what was graded, when, and against which text.
//!
//! Grading an exercise means compiling and running its test target, which
//! takes seconds; a learner who has finished six exercises should not wait
//! for six re-runs every time they ask where they stand. So each verdict is
//! saved in `target/course/progress.json` together with a *fingerprint*: a
//! SHA-256 of the files the verdict depends on (the learner's stub, the
//! graded test, and the grading harness the tests share). A saved verdict
//! is trusted only while the fingerprint still matches the files on disk;
//! the moment the stub is edited, the exercise counts as changed and is
//! graded again.
//!
//! The file lives under `target/`, never next to the learner's code, and
//! holds nothing that cannot be recomputed: deleting it (or `cargo clean`)
//! only means the next `course progress` grades everything once more. A
//! file that cannot be read as this format is ignored the same way, with
//! a warning, rather than refused.
//!
//! ```
//! use course::state::{State, fingerprint_bytes};
//! let mut state = State::default();
//! let fp = fingerprint_bytes(&[b"stub text", b"test text"]);
//! assert!(state.fresh("ex04_runq", &fp).is_none());
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::catalog::Exercise;
use crate::progress::{Counts, Row, Status};

/// The format version written into the file; a file of another version is
/// ignored (and re-graded), never misread.
pub const VERSION: u32 = 1;

/// Where the progress file of the workspace at `root` lives.
///
/// It is under the workspace's own `target/` even when `CARGO_TARGET_DIR`
/// points elsewhere, because its fingerprints describe this workspace's
/// files (two checkouts sharing one target directory must not share it).
pub fn path(root: &Path) -> PathBuf {
    root.join("target").join("course").join("progress.json")
}

/// The saved verdict of one exercise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`fingerprint`] of the files this verdict was graded against.
    pub fingerprint: String,
    /// The verdict.
    pub status: Status,
    /// When it was graded (RFC 3339, UTC).
    pub graded_at: String,
    /// When it was first seen done with this fingerprint (RFC 3339, UTC).
    pub done_at: Option<String>,
    /// Test counts of the grading run, if it got that far.
    pub tests: Option<Counts>,
    /// The first failure message, short, when it is not done.
    pub first_failure: Option<String>,
    /// Loom model counts of a loom-graded exercise.
    #[serde(default)]
    pub loom: Option<Counts>,
    /// The bench's ratios of a measured exercise.
    #[serde(default)]
    pub bench: Option<String>,
}

/// Every saved verdict, by exercise id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The file format, [`VERSION`].
    pub version: u32,
    /// Verdicts by exercise id (`ex04_runq`).
    pub exercises: BTreeMap<String, Record>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: VERSION,
            exercises: BTreeMap::new(),
        }
    }
}

/// The current time as RFC 3339 in UTC, to the second.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl State {
    /// Reads the file at `file`. A missing file is an empty state; a file in
    /// another format or version is an empty state plus a warning to show.
    pub fn load(file: &Path) -> (State, Option<String>) {
        let text = match fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return (State::default(), None),
            Err(e) => {
                return (
                    State::default(),
                    Some(format!("could not read {}: {e}", file.display())),
                );
            }
        };
        match serde_json::from_str::<State>(&text) {
            Ok(s) if s.version == VERSION => (s, None),
            Ok(s) => (
                State::default(),
                Some(format!(
                    "{} is version {}, this course writes {VERSION}; grading again",
                    file.display(),
                    s.version
                )),
            ),
            Err(e) => (
                State::default(),
                Some(format!(
                    "ignoring {} ({e}); every exercise will be graded again",
                    file.display()
                )),
            ),
        }
    }

    /// Writes the state to `file` (write to a temporary file, then rename,
    /// so that an interrupted write never leaves half a file).
    pub fn save(&self, file: &Path) -> io::Result<()> {
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = file.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        fs::write(&tmp, text + "\n")?;
        fs::rename(&tmp, file)
    }

    /// The saved record of `id`, if it was graded against `fingerprint`.
    pub fn fresh(&self, id: &str, fingerprint: &str) -> Option<&Record> {
        self.exercises
            .get(id)
            .filter(|r| r.fingerprint == fingerprint)
    }

    /// Saves the verdict `row`, graded against `fingerprint` at time `at`.
    ///
    /// `done_at` keeps the first time the exercise was seen done with the
    /// same fingerprint, so re-grading a finished exercise does not move it.
    pub fn record(&mut self, row: &Row, fingerprint: &str, at: &str) {
        let done_at = match row.status {
            Status::Done => Some(
                self.fresh(&row.id, fingerprint)
                    .and_then(|r| r.done_at.clone())
                    .unwrap_or_else(|| at.to_string()),
            ),
            _ => None,
        };
        self.exercises.insert(
            row.id.clone(),
            Record {
                fingerprint: fingerprint.to_string(),
                status: row.status,
                graded_at: at.to_string(),
                done_at,
                tests: row.tests,
                first_failure: row.first_failure.clone(),
                loom: row.loom,
                bench: row.bench.clone(),
            },
        );
    }
}

/// SHA-256 over several byte strings, each length-prefixed so that moving
/// text from one file to the next changes the hash; the first 16 bytes as hex.
///
/// ```
/// use course::state::fingerprint_bytes;
/// assert_ne!(fingerprint_bytes(&[b"ab", b"c"]), fingerprint_bytes(&[b"a", b"bc"]));
/// assert_eq!(fingerprint_bytes(&[b"x"]).len(), 32);
/// ```
pub fn fingerprint_bytes(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fingerprint of what exercise `ex`'s verdict depends on: its stub,
/// its graded test and the shared harness `exercises/tests/common/mod.rs`.
/// A missing file counts as empty, so creating it changes the fingerprint.
pub fn fingerprint(root: &Path, ex: &Exercise) -> String {
    let read = |p: Option<&Path>| p.and_then(|p| fs::read(p).ok()).unwrap_or_default();
    let stub = read(ex.stub.as_deref());
    let test = read(ex.test.as_deref());
    let common = read(Some(&root.join("exercises/tests/common/mod.rs")));
    fingerprint_bytes(&[ex.id.as_bytes(), &stub, &test, &common])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("course-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn row(id: &str, status: Status) -> Row {
        Row {
            id: id.into(),
            title: "T".into(),
            status,
            tests: Some(Counts {
                passed: 2,
                failed: 0,
            }),
            note: None,
            first_failure: None,
            loom: None,
            bench: None,
            command: String::new(),
        }
    }

    #[test]
    fn a_saved_state_loads_back_equal() {
        let dir = scratch("roundtrip");
        let file = path(&dir);
        let mut s = State::default();
        s.record(&row("ex01_a", Status::Done), "f1", "2026-01-01T00:00:00Z");
        s.record(
            &Row {
                first_failure: Some("boom".into()),
                ..row("ex02_b", Status::Failing)
            },
            "f2",
            "2026-01-01T00:00:01Z",
        );
        s.save(&file).unwrap();
        assert!(file.ends_with("target/course/progress.json"));
        let (back, warning) = State::load(&file);
        assert_eq!(warning, None);
        assert_eq!(back, s);
        assert_eq!(
            back.exercises["ex01_a"].done_at.as_deref(),
            Some("2026-01-01T00:00:00Z")
        );
        assert_eq!(back.exercises["ex02_b"].done_at, None);
        assert!(!file.with_extension("json.tmp").exists());
    }

    #[test]
    fn a_missing_file_is_empty_and_a_damaged_one_is_ignored_with_a_warning() {
        let dir = scratch("damaged");
        let file = path(&dir);
        assert_eq!(State::load(&file), (State::default(), None));
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "{ not json").unwrap();
        let (s, warning) = State::load(&file);
        assert_eq!(s, State::default());
        assert!(warning.unwrap().contains("graded again"));
        fs::write(&file, r#"{"version": 99, "exercises": {}}"#).unwrap();
        let (s, warning) = State::load(&file);
        assert_eq!(s, State::default());
        assert!(warning.unwrap().contains("version 99"));
    }

    #[test]
    fn a_record_is_fresh_only_for_its_own_fingerprint() {
        let mut s = State::default();
        s.record(&row("ex01_a", Status::Failing), "f1", "t1");
        assert!(s.fresh("ex01_a", "f1").is_some());
        assert!(s.fresh("ex01_a", "f2").is_none());
        assert!(s.fresh("ex02_b", "f1").is_none());
    }

    #[test]
    fn done_at_stays_put_when_regraded_done_and_moves_when_the_stub_changed() {
        let mut s = State::default();
        s.record(&row("ex01_a", Status::Done), "f1", "t1");
        s.record(&row("ex01_a", Status::Done), "f1", "t2");
        assert_eq!(s.exercises["ex01_a"].done_at.as_deref(), Some("t1"));
        assert_eq!(s.exercises["ex01_a"].graded_at, "t2");
        s.record(&row("ex01_a", Status::Done), "f9", "t3");
        assert_eq!(s.exercises["ex01_a"].done_at.as_deref(), Some("t3"));
        s.record(&row("ex01_a", Status::Failing), "f8", "t4");
        assert_eq!(s.exercises["ex01_a"].done_at, None);
    }

    #[test]
    fn the_fingerprint_follows_the_stub_the_test_and_the_harness() {
        let dir = scratch("fingerprint");
        for d in ["src", "tests/common"] {
            fs::create_dir_all(dir.join("exercises").join(d)).unwrap();
        }
        let stub = dir.join("exercises/src/ex01_a.rs");
        let test = dir.join("exercises/tests/ex01_a.rs");
        let common = dir.join("exercises/tests/common/mod.rs");
        fs::write(&stub, "todo!()").unwrap();
        fs::write(&test, "#[test] fn t() {}").unwrap();
        fs::write(&common, "pub fn grade() {}").unwrap();
        let ex = Exercise {
            id: "ex01_a".into(),
            title: "A".into(),
            stub: Some(stub.clone()),
            solution: None,
            test: Some(test.clone()),
            hint: None,
        };
        let first = fingerprint(&dir, &ex);
        assert_eq!(first, fingerprint(&dir, &ex), "same files, same hash");
        fs::write(&stub, "42").unwrap();
        let after_stub = fingerprint(&dir, &ex);
        assert_ne!(first, after_stub, "editing the stub changes it");
        fs::write(&test, "#[test] fn t() { assert!(false) }").unwrap();
        let after_test = fingerprint(&dir, &ex);
        assert_ne!(after_stub, after_test, "editing the test changes it");
        fs::write(&common, "").unwrap();
        assert_ne!(after_test, fingerprint(&dir, &ex), "the harness counts");
        let other = Exercise {
            id: "ex02_b".into(),
            ..ex.clone()
        };
        assert_ne!(fingerprint(&dir, &ex), fingerprint(&dir, &other));
    }

    #[test]
    fn now_is_rfc3339_utc() {
        let t = now();
        assert!(t.ends_with('Z') && t.len() == 20, "{t}");
    }
}
