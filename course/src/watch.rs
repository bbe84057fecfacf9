//! `course watch`: the learner's loop. Edit a stub, save, read the verdict.
//!
//! Three sources feed one channel of [`Event`]s, and one loop on the main
//! thread owns all the state and draws the screen:
//!
//! - the file watcher ([`crate::saves`], on the `notify` crate) reports
//!   each stub saved under `exercises/src/`, once per burst of events;
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

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};

use crate::catalog::Exercise;
use crate::progress::{self, Row, Status};
use crate::run::Cancel;
use crate::standing::{self, Section, Standing};
use crate::state::{self, State};
use crate::term::{self, Key, KeyMode};

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
    let ids: Vec<String> = exercises.iter().map(|e| e.id.clone()).collect();
    let _watcher =
        crate::saves::watch_stubs(root, ids, tx.clone(), Event::Changed, Event::WatchError)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Counts;

    fn ex(id: &str) -> Exercise {
        Exercise {
            id: id.into(),
            title: format!("{id} title"),
            stub: None,
            solution: None,
            test: Some(PathBuf::from("/nonexistent")),
            hint: None,
        }
    }

    fn a_loop(last: Option<Row>) -> Loop {
        let (tx, _rx) = mpsc::channel();
        Loop {
            root: PathBuf::from("/nonexistent"),
            exercises: vec![ex("ex01_a"), ex("ex02_b")],
            sections: BTreeMap::new(),
            state: State::default(),
            state_file: PathBuf::from("/nonexistent/progress.json"),
            standings: vec![Standing::Done { at: "t".into() }, Standing::NotStarted],
            current: Some(1),
            last,
            banner: Some("DONE  ex01_a: 2 of 2 tests pass. On to ex02_b.".into()),
            extra: None,
            running: None,
            runs: 0,
            tx,
        }
    }

    fn failing(tests: Option<Counts>, status: Status) -> Row {
        Row {
            id: "ex02_b".into(),
            title: "B".into(),
            status,
            tests,
            note: Some("1 of 3 tests fail".into()),
            first_failure: Some("t: boom\nHint: cargo run --bin course -- hint ex02".into()),
            loom: None,
            bench: None,
            command: String::new(),
        }
    }

    #[test]
    fn a_failing_verdict_shows_the_headline_the_first_failure_and_the_command() {
        let row = failing(
            Some(Counts {
                passed: 2,
                failed: 1,
            }),
            Status::Failing,
        );
        let screen = render(&a_loop(Some(row)));
        for want in [
            "course watch: 1 of 2 done",
            "DONE  ex01_a: 2 of 2 tests pass. On to ex02_b.",
            "Exercise 2 of 2: ex02_b — ex02_b title",
            "FAIL  ex02_b: 2 of 3 tests pass (1 of 3 tests fail)",
            "  first failure:\n    t: boom\n    Hint: cargo run --bin course -- hint ex02\n",
            "or run: cargo test -p exercises --test ex02_b",
        ] {
            assert!(screen.contains(want), "missing {want:?} in\n{screen}");
        }
    }

    #[test]
    fn a_compile_error_is_not_called_not_started() {
        let screen = render(&a_loop(Some(failing(None, Status::NotStarted))));
        assert!(
            screen.contains("FAIL  ex02_b: did not compile\n"),
            "{screen}"
        );
        let screen = render(&a_loop(Some(failing(
            Some(Counts {
                passed: 0,
                failed: 3,
            }),
            Status::NotStarted,
        ))));
        assert!(
            screen.contains("0 of 3 tests pass (not started: a todo!() is still there)"),
            "{screen}"
        );
    }

    #[test]
    fn loom_counts_join_the_test_counts() {
        let mut row = failing(
            Some(Counts {
                passed: 10,
                failed: 0,
            }),
            Status::Done,
        );
        row.loom = Some(Counts {
            passed: 3,
            failed: 0,
        });
        assert_eq!(
            counts_text(&row),
            "10 of 10 tests pass, 3 of 3 loom models pass"
        );
    }
}
