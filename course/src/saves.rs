//! Saves, out of file events: which exercise's stub was just saved.
//!
//! The `notify` crate (inotify on Linux) reports every event under
//! `exercises/src/`: opens and reads (our own grading runs read the stubs),
//! metadata changes, writes, renames. Editors save in bursts (write a
//! temporary file, rename it over the stub, touch it), so a thread gathers
//! a burst until the directory has been quiet for [`SETTLE`], keeps only
//! the events a save produces ([`is_save`]) on files that are stubs
//! ([`exercise_of`]; editor backups and swap files are not), and reports
//! each exercise saved once.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher, event::AccessKind, event::AccessMode};

/// How long a burst of file events is gathered before it counts as one save.
pub const SETTLE: Duration = Duration::from_millis(150);

/// Starts watching `root/exercises/src/` and a thread that turns each burst
/// of events into one `changed(index into ids)` per exercise saved, sent to
/// `tx` (watcher errors as `failed(message)`). The watcher stops when the
/// returned value is dropped.
pub fn watch_stubs<E: Send + 'static>(
    root: &Path,
    ids: Vec<String>,
    tx: Sender<E>,
    changed: fn(usize) -> E,
    failed: fn(String) -> E,
) -> io::Result<notify::RecommendedWatcher> {
    let (raw_tx, raw_rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(raw_tx).map_err(io::Error::other)?;
    let dir = root.join("exercises/src");
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| io::Error::other(format!("cannot watch {}: {e}", dir.display())))?;
    std::thread::Builder::new()
        .name("course-watch".into())
        .spawn(move || settle(raw_rx, &ids, &tx, changed, failed))?;
    Ok(watcher)
}

fn settle<E>(
    raw: Receiver<notify::Result<notify::Event>>,
    ids: &[String],
    tx: &Sender<E>,
    changed_event: fn(usize) -> E,
    failed: fn(String) -> E,
) {
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
                    let _ = tx.send(failed(e.to_string()));
                }
            }
        }
        for i in changed {
            if tx.send(changed_event(i)).is_err() {
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
    use std::path::PathBuf;

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
        settle(raw_rx, &ids, &tx, Ok, Err);
        let got: Vec<Result<usize, String>> = rx.try_iter().collect();
        assert_eq!(got, [Ok(0), Ok(1)]);
    }
}
