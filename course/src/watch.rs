//! `course watch`: the learner's loop. Edit a stub, save, read the verdict.
//!
//! Three sources feed one channel of [`Event`]s, and one loop on the main
//! thread owns all the state and draws the screen:
//!
//! - the file watcher (the `notify` crate: inotify on Linux) reports saves
//!   under `exercises/src/`. Editors save in bursts (write a temporary
//!   file, rename it, touch it), so a small thread gathers a burst for
//!   [`SETTLE`] and reports each exercise that changed once;
//! - the key reader ([`crate::term`]) reports `h`, `l`, `n`, `r`, `q` and
//!   Ctrl-C;
//! - a grading thread runs one exercise's test target (and, for a
//!   loom-graded exercise whose tests pass, its loom models) and reports
//!   the verdict.
//!
//! Only one grading runs at a time. A new save, `n`, `r` or `q` cancels the
//! run in progress ([`crate::run::Cancel`] kills its whole process group)
//! and a verdict that arrives for a cancelled run is dropped, so the screen
//! always shows the exercise the learner is looking at. Each verdict is
//! saved in the progress file with the fingerprint of the files it was
//! graded against, so a verdict is never recomputed for files that did not
//! change, here or in `course progress`. When an exercise passes, the loop
//! moves on to the next unfinished one and grades it, as rustlings does.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher, event::AccessKind, event::AccessMode};

use crate::catalog::Exercise;
use crate::progress::{self, Row, Status};
use crate::run::Cancel;
use crate::standing::{self, Section, Standing};
use crate::state::{self, State};
use crate::term::{self, Key, KeyMode};

/// How long a burst of file events is gathered before it counts as one save.
pub const SETTLE: Duration = Duration::from_millis(150);

/// What the watch loop reacts to.
#[derive(Debug)]
pub enum Event {
    /// A key was pressed.
    Key(Key),
    /// The stub of this exercise (index into the list) was saved.
    Changed(usize),
    /// Grading run `run` has started its next phase ("tests", "loom models").
    Phase {
        /// Which run.
        run: u64,
        /// What it is running now.
        what: String,
    },
    /// Grading run `run` finished.
    Graded {
        /// Which run.
        run: u64,
        /// The verdict, or why there is none.
        row: io::Result<Row>,
    },
    /// The file watcher failed.
    WatchError(String),
}

/// A grading run in progress.
struct Running {
    run: u64,
    index: usize,
    fingerprint: String,
    cancel: Cancel,
    phase: String,
}

/// Everything the loop knows.
struct Loop {
    root: PathBuf,
    exercises: Vec<Exercise>,
    sections: BTreeMap<String, Section>,
    state: State,
    state_file: PathBuf,
    standings: Vec<Standing>,
    current: Option<usize>,
    /// The last verdict of the current exercise, graded in this session.
    last: Option<Row>,
    /// A line above the exercise: what just passed, or a warning.
    banner: Option<String>,
    /// Text shown below the exercise: the hint or the list.
    extra: Option<String>,
    running: Option<Running>,
    runs: u64,
    tx: Sender<Event>,
}

/// Runs watch mode until `q` or Ctrl-C, starting at exercise `start` (an
/// index into `exercises`) or at the first unfinished one.
pub fn watch(
    root: &Path,
    exercises: Vec<Exercise>,
    sections: BTreeMap<String, Section>,
    start: Option<usize>,
) -> io::Result<()> {
    let (tx, rx) = mpsc::channel();
    let _watcher = watch_stubs(root, &exercises, tx.clone())?;
    let keys = KeyMode::enter()?;
    term::spawn_key_reader(tx.clone(), Event::Key);
    let state_file = state::path(root);
    let (state, warning) = State::load(&state_file);
    let mut lp = Loop {
        root: root.to_path_buf(),
        standings: Vec::new(),
        exercises,
        sections,
        state,
        state_file,
        current: None,
        last: None,
        banner: warning,
        extra: if keys.is_terminal() {
            None
        } else {
            Some("(standard input is not a terminal: type a key, then Enter)".into())
        },
        running: None,
        runs: 0,
        tx,
    };
    lp.refresh_standings();
    let first = start.or_else(|| standing::first_unfinished(&lp.standings));
    match first {
        Some(i) => lp.select(i),
        None => lp.draw(),
    }
    let result = lp.run(rx);
    if let Some(r) = lp.running.take() {
        r.cancel.cancel();
    }
    drop(keys);
    println!();
    result
}

impl Loop {
    fn run(&mut self, rx: Receiver<Event>) -> io::Result<()> {
        while let Ok(event) = rx.recv() {
            match event {
                Event::Key(Key::Interrupt | Key::Char('q')) => return Ok(()),
                Event::Key(Key::Char('h')) => {
                    self.extra = Some(self.hint_text());
                    self.draw();
                }
                Event::Key(Key::Char('l')) => {
                    self.extra = Some(standing::list_text(
                        &self.exercises,
                        &self.standings,
                        &self.sections,
                        self.current,
                    ));
                    self.draw();
                }
                Event::Key(Key::Char('n')) => {
                    let from = self.current.unwrap_or(0);
                    let next = standing::next_unfinished(&self.standings, from)
                        .unwrap_or((from + 1) % self.exercises.len().max(1));
                    self.banner = None;
                    self.select(next);
                }
                Event::Key(Key::Char('r')) => {
                    if let Some(i) = self.current {
                        self.banner = None;
                        self.grade(i);
                    }
                }
                Event::Key(Key::Char(_)) => {}
                Event::Changed(i) => self.changed(i),
                Event::Phase { run, what } => {
                    if let Some(r) = self.running.as_mut().filter(|r| r.run == run) {
                        r.phase = what;
                        self.draw();
                    }
                }
                Event::Graded { run, row } => self.graded(run, row),
                Event::WatchError(e) => {
                    self.banner = Some(format!("the file watcher failed: {e}"));
                    self.draw();
                }
            }
        }
        Ok(())
    }

    fn refresh_standings(&mut self) {
        self.standings = self
            .exercises
            .iter()
            .map(|ex| {
                let fp = state::fingerprint(&self.root, ex);
                let stub = ex
                    .stub
                    .as_ref()
                    .and_then(|p| std::fs::read_to_string(p).ok());
                Standing::of(
                    self.state.fresh(&ex.id, &fp),
                    ex.test.is_some(),
                    stub.as_deref(),
                )
            })
            .collect();
    }

    /// Makes exercise `i` current: shows its saved verdict if it is fresh,
    /// else grades it.
    fn select(&mut self, i: usize) {
        self.cancel_running();
        self.current = Some(i);
        self.last = None;
        self.extra = None;
        let ex = &self.exercises[i];
        let fp = state::fingerprint(&self.root, ex);
        if self.state.fresh(&ex.id, &fp).is_some() || ex.test.is_none() {
            self.draw();
        } else {
            self.grade(i);
        }
    }

    fn changed(&mut self, i: usize) {
        let ex = &self.exercises[i];
        let fp = state::fingerprint(&self.root, ex);
        let same_as_running = self
            .running
            .as_ref()
            .is_some_and(|r| r.index == i && r.fingerprint == fp);
        let unchanged = self.state.fresh(&ex.id, &fp).is_some() && self.current == Some(i);
        if same_as_running || unchanged {
            return; // a touch without a change; `r` grades again on request
        }
        self.banner = None;
        self.current = Some(i);
        self.extra = None;
        self.grade(i);
    }

    fn cancel_running(&mut self) {
        if let Some(r) = self.running.take() {
            r.cancel.cancel();
        }
    }

    fn grade(&mut self, i: usize) {
        self.cancel_running();
        self.runs += 1;
        let run = self.runs;
        let ex = self.exercises[i].clone();
        let cancel = Cancel::default();
        self.running = Some(Running {
            run,
            index: i,
            fingerprint: state::fingerprint(&self.root, &ex),
            cancel: cancel.clone(),
            phase: "tests".into(),
        });
        self.last = None;
        self.draw();
        let root = self.root.clone();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let phase_tx = tx.clone();
            let phase = move |what: &str| {
                let _ = phase_tx.send(Event::Phase {
                    run,
                    what: what.to_string(),
                });
            };
            let row = progress::grade_with(&root, &ex, &cancel, &phase);
            let _ = tx.send(Event::Graded { run, row });
        });
    }

    fn graded(&mut self, run: u64, row: io::Result<Row>) {
        let Some(r) = self.running.take_if(|r| r.run == run) else {
            return; // a cancelled run
        };
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                self.banner = Some(format!("could not run cargo: {e}"));
                self.draw();
                return;
            }
        };
        self.state.record(&row, &r.fingerprint, &state::now());
        if let Err(e) = self.state.save(&self.state_file) {
            self.banner = Some(format!("could not save {}: {e}", self.state_file.display()));
        }
        self.refresh_standings();
        if row.status != Status::Done {
            self.last = Some(row);
            self.draw();
            return;
        }
        let mut done = format!("DONE  {}: {}", row.id, counts_text(&row));
        if let Some(b) = &row.bench {
            done.push_str(&format!("\n      measured: {b}"));
        }
        match standing::next_unfinished(&self.standings, r.index) {
            Some(next) => {
                done.push_str(&format!(". On to {}.", self.exercises[next].id));
                self.select(next);
                self.banner = Some(done);
                self.draw();
            }
            None => {
                done.push_str(". Every exercise is done: well played.");
                self.banner = Some(done);
                self.last = Some(row);
                self.draw();
            }
        }
    }

    fn hint_text(&self) -> String {
        let Some(ex) = self.current.map(|i| &self.exercises[i]) else {
            return "no exercise selected".into();
        };
        match &ex.hint {
            Some(p) => std::fs::read_to_string(p)
                .unwrap_or_else(|e| format!("could not read {}: {e}", p.display())),
            None => format!("{} has no hint yet", ex.id),
        }
    }

    fn draw(&self) {
        let screen = render(self);
        let mut out = io::stdout().lock();
        // Clear the screen and go home, then print; plain text otherwise.
        let _ = write!(out, "\x1b[2J\x1b[H{screen}");
        let _ = out.flush();
    }
}

fn counts_text(row: &Row) -> String {
    let mut t = match row.tests {
        Some(c) => format!("{} of {} tests pass", c.passed, c.passed + c.failed),
        None => "did not compile".to_string(),
    };
    if let Some(l) = row.loom {
        t.push_str(&format!(
            ", {} of {} loom models pass",
            l.passed,
            l.passed + l.failed
        ));
    }
    t
}

/// The whole screen as text.
fn render(lp: &Loop) -> String {
    let done = lp
        .standings
        .iter()
        .filter(|s| matches!(s, Standing::Done { .. }))
        .count();
    let mut s = format!(
        "course watch: {done} of {} done    [h] hint  [l] list  [n] next  [r] re-run  [q] quit\n\n",
        lp.exercises.len()
    );
    if let Some(b) = &lp.banner {
        s.push_str(&format!("{b}\n\n"));
    }
    let Some(i) = lp.current else {
        s.push_str("Every exercise is done. `cargo run --bin course -- list` shows them all.\n");
        return s;
    };
    let ex = &lp.exercises[i];
    s.push_str(&format!(
        "Exercise {} of {}: {} — {}\n",
        i + 1,
        lp.exercises.len(),
        ex.id,
        ex.title
    ));
    if let Some(sec) = lp.sections.get(&ex.id) {
        s.push_str(&format!("  read:  {}\n", sec.describe()));
    }
    s.push_str(&format!("  edit:  exercises/src/{}.rs\n", ex.id));
    if crate::measure::bench_file(&lp.root, ex).is_some() {
        s.push_str(&format!(
            "  bench: measured once its tests pass: cargo {}\n",
            crate::measure::bench_args(&ex.id).join(" ")
        ));
    }
    if progress::is_loom_graded(ex) {
        s.push_str(&format!(
            "  loom:  graded by its tests, then by loom models once they pass:\n         {}\n",
            progress::loom_command(&ex.id)
        ));
    }
    s.push('\n');
    if let Some(r) = lp.running.as_ref().filter(|r| r.index == i) {
        s.push_str(&format!("grading {} ({}) ...\n", ex.id, r.phase));
        if r.phase.contains("loom") {
            s.push_str("  (the first loom build compiles in release mode: a minute or two)\n");
        }
    } else {
        s.push_str(&verdict_text(lp, ex, &lp.standings[i]));
    }
    s.push_str(&format!(
        "\nSave the file to grade it again, or run: {}\n",
        progress::test_command(&ex.id)
    ));
    if let Some(extra) = &lp.extra {
        s.push_str("\n----\n");
        s.push_str(extra);
        if !extra.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

fn verdict_text(lp: &Loop, ex: &Exercise, st: &Standing) -> String {
    let mut s = String::new();
    let (headline, failure) = match &lp.last {
        Some(row) if row.id == ex.id => {
            let word = if row.status == Status::Done {
                "DONE"
            } else {
                "FAIL"
            };
            let mut h = format!("{word}  {}: {}", ex.id, counts_text(row));
            if row.tests.is_none() {
                // "did not compile" says it all; a todo!() left is beside the point.
            } else if row.status == Status::NotStarted {
                h.push_str(" (not started: a todo!() is still there)");
            } else if let Some(n) = &row.note {
                h.push_str(&format!(" ({n})"));
            }
            (h, row.first_failure.clone())
        }
        _ => match st {
            Standing::Done { .. } => (format!("DONE  {} (saved verdict)", ex.id), None),
            Standing::Failing { first_failure } => (
                format!(
                    "FAIL  {} (saved verdict; save or press r to grade again)",
                    ex.id
                ),
                first_failure.clone(),
            ),
            Standing::NoTests => (format!("{} has no graded tests yet", ex.id), None),
            other => (format!("{}  {}", other.label(), ex.id), None),
        },
    };
    s.push_str(&headline);
    s.push('\n');
    if let Some(f) = failure {
        s.push_str("  first failure:\n");
        for l in f.lines() {
            s.push_str(&format!("    {l}\n"));
        }
    }
    s
}

/// Starts watching `exercises/src/` and a thread that turns bursts of
/// events into one [`Event::Changed`] per exercise. The watcher stops when
/// the returned value is dropped.
fn watch_stubs(
    root: &Path,
    exercises: &[Exercise],
    tx: Sender<Event>,
) -> io::Result<notify::RecommendedWatcher> {
    let (raw_tx, raw_rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(raw_tx).map_err(io::Error::other)?;
    let dir = root.join("exercises/src");
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| io::Error::other(format!("cannot watch {}: {e}", dir.display())))?;
    let ids: Vec<String> = exercises.iter().map(|e| e.id.clone()).collect();
    std::thread::Builder::new()
        .name("course-watch".into())
        .spawn(move || settle(raw_rx, &ids, tx))?;
    Ok(watcher)
}

fn settle(raw: Receiver<notify::Result<notify::Event>>, ids: &[String], tx: Sender<Event>) {
    while let Ok(first) = raw.recv() {
        let mut burst = vec![first];
        while let Ok(more) = raw.recv_timeout(SETTLE) {
            burst.push(more);
        }
        let mut changed = BTreeSet::new();
        for event in burst {
            match event {
                Ok(e) if is_save(&e.kind) => {
                    changed.extend(e.paths.iter().filter_map(|p| exercise_of(p, ids)));
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Event::WatchError(e.to_string()));
                }
            }
        }
        for i in changed {
            if tx.send(Event::Changed(i)).is_err() {
                return;
            }
        }
    }
}

/// True for the events a save produces (content written, a file created or
/// renamed into place); false for reads and metadata changes, which our own
/// grading runs cause.
pub fn is_save(kind: &EventKind) -> bool {
    use notify::event::ModifyKind;
    matches!(
        kind,
        EventKind::Create(_)
            | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// The exercise a changed path belongs to: `exercises/src/ex04_runq.rs` →
/// the index of `ex04_runq`. Editor backups (`ex04_runq.rs~`, `.swp`) are not.
pub fn exercise_of(path: &Path, ids: &[String]) -> Option<usize> {
    if path.extension()? != "rs" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    ids.iter().position(|id| id == stem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, MetadataKind, ModifyKind, RenameMode};

    #[test]
    fn saves_count_and_reads_do_not() {
        assert!(is_save(&EventKind::Modify(ModifyKind::Data(
            DataChange::Content
        ))));
        assert!(is_save(&EventKind::Modify(ModifyKind::Name(
            RenameMode::To
        ))));
        assert!(is_save(&EventKind::Create(CreateKind::File)));
        assert!(is_save(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(!is_save(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_save(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_save(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::AccessTime
        ))));
    }

    #[test]
    fn paths_map_to_exercises_and_backups_do_not() {
        let ids = vec!["ex01_a".to_string(), "ex04_runq".to_string()];
        assert_eq!(
            exercise_of(Path::new("/w/exercises/src/ex04_runq.rs"), &ids),
            Some(1)
        );
        for other in [
            "/w/exercises/src/ex04_runq.rs~",
            "/w/exercises/src/.ex04_runq.rs.swp",
            "/w/exercises/src/lib.rs",
            "/w/exercises/src/ex09_new.rs",
        ] {
            assert_eq!(exercise_of(Path::new(other), &ids), None, "{other}");
        }
    }

    #[test]
    fn a_burst_of_events_becomes_one_change_per_exercise() {
        let (raw_tx, raw_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel();
        let ids = vec!["ex01_a".to_string(), "ex02_b".to_string()];
        let save = |p: &str| {
            Ok(
                notify::Event::new(EventKind::Modify(ModifyKind::Data(DataChange::Any)))
                    .add_path(PathBuf::from(p)),
            )
        };
        raw_tx.send(save("/s/ex02_b.rs")).unwrap();
        raw_tx.send(save("/s/ex02_b.rs")).unwrap();
        raw_tx.send(save("/s/ex01_a.rs")).unwrap();
        raw_tx
            .send(Ok(notify::Event::new(EventKind::Access(
                AccessKind::Close(AccessMode::Read),
            ))
            .add_path(PathBuf::from("/s/ex02_b.rs"))))
            .unwrap();
        drop(raw_tx);
        settle(raw_rx, &ids, tx);
        let got: Vec<usize> = rx
            .try_iter()
            .map(|e| match e {
                Event::Changed(i) => i,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(got, [0, 1]);
    }
}
