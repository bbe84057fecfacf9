//! `course`: build and serve the book, list the course, show hints, grade exercises.
//!
//! Run `cargo run --bin course -- help` for the commands. Exit codes: 0 on
//! success, 1 when the work itself failed (the book did not build, a port
//! could not be bound, an exercise has no hint), 2 for a command line it
//! does not understand.

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use course::args::{self, Command, USAGE};
use course::catalog::Exercise;
use course::catalog::{self, workspace_root};
use course::progress;
use course::server::StaticServer;
use course::standing::{self, Section, Standing};
use course::state::{self, State};

fn main() -> ExitCode {
    let command = match args::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("course: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let root = workspace_root();
    let result = match command {
        Command::Help => {
            println!("{USAGE}");
            Ok(())
        }
        Command::Build => build(&root).map(|_| ()),
        Command::Serve { port } => serve(&root, port),
        Command::List => list(&root),
        Command::Hint { exercise } => hint(&root, &exercise),
        Command::Progress { json, fresh } => show_progress(&root, json, fresh),
        Command::Next => next(&root),
        Command::Watch { exercise } => watch(&root, exercise.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(msg, code)) => {
            eprintln!("course: {msg}");
            ExitCode::from(code)
        }
    }
}

/// An error message and the exit code it deserves.
struct Failure(String, u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string(), 1)
    }
}

fn build(root: &Path) -> Result<std::path::PathBuf, Failure> {
    eprintln!("building the book from {} ...", root.join("book").display());
    let dir = course::book::build(root, None)
        .map_err(|e| Failure(format!("the book did not build: {e}"), 1))?;
    println!("book written to {}", dir.display());
    Ok(dir)
}

fn serve(root: &Path, port: u16) -> Result<(), Failure> {
    // Bind first: a taken port should fail fast, before the build.
    let server = StaticServer::bind(root.join("target/book"), port)?;
    let built = build(root)?;
    let server = server.with_root(built);
    print_lessons(root)?;
    println!(
        "\nThe course is at http://{}/ (Ctrl-C to stop)",
        server.addr()
    );
    server.run()?;
    Ok(())
}

fn print_lessons(root: &Path) -> Result<(), Failure> {
    let lessons = catalog::lessons(root)?;
    println!("\nLessons ({}):", lessons.len());
    if lessons.is_empty() {
        println!("  (none yet in lessons/src/bin/)");
    }
    for l in &lessons {
        println!("  {:<70}  {}", l.command(), l.title);
    }
    Ok(())
}

fn list(root: &Path) -> Result<(), Failure> {
    println!("Chapters:");
    for c in catalog::chapters(root)? {
        if c.part {
            println!("\n  {}", c.title);
            continue;
        }
        let indent = "  ".repeat(c.depth + 2);
        let number = c
            .number
            .as_deref()
            .map(|n| format!("{n} "))
            .unwrap_or_default();
        let draft = if c.path.is_none() { "  (coming)" } else { "" };
        println!("{indent}{number}{}{draft}", c.title);
    }
    print_lessons(root)?;
    let exercises = catalog::exercises(root)?;
    println!("\nExercises ({}):", exercises.len());
    if exercises.is_empty() {
        println!("  (none yet in exercises/)");
        return Ok(());
    }
    let (standings, sections) = standings(root, &exercises)?;
    println!(
        "{}",
        standing::list_text(&exercises, &standings, &sections, None)
    );
    println!(
        "  (from the saved grades in {}; `progress` grades what changed, `next` says what to do)",
        state::path(root)
            .strip_prefix(root)
            .unwrap_or(&state::path(root))
            .display()
    );
    Ok(())
}

/// Where each exercise stands (from the saved grades and the stubs, no
/// grading) and the book section of each.
fn standings(
    root: &Path,
    exercises: &[Exercise],
) -> Result<(Vec<Standing>, std::collections::BTreeMap<String, Section>), Failure> {
    let (saved, warning) = State::load(&state::path(root));
    if let Some(w) = warning {
        eprintln!("course: {w}");
    }
    let standings = exercises
        .iter()
        .map(|ex| {
            let fp = state::fingerprint(root, ex);
            let stub = ex.stub.as_ref().and_then(|p| fs::read_to_string(p).ok());
            Standing::of(saved.fresh(&ex.id, &fp), ex.test.is_some(), stub.as_deref())
        })
        .collect();
    let sections = standing::sections(root, &catalog::chapters(root)?);
    Ok((standings, sections))
}

fn next(root: &Path) -> Result<(), Failure> {
    let exercises = catalog::exercises(root)?;
    let (standings, sections) = standings(root, &exercises)?;
    match standing::first_unfinished(&standings) {
        Some(i) => {
            let ex = &exercises[i];
            print!(
                "{}",
                standing::next_text(ex, &standings[i], sections.get(&ex.id))
            );
        }
        None if exercises.is_empty() => println!("There are no exercises yet."),
        None => println!(
            "Every exercise is done. `cargo run --bin course -- progress --fresh` grades them all again."
        ),
    }
    Ok(())
}

fn watch(root: &Path, start: Option<&str>) -> Result<(), Failure> {
    let exercises = catalog::exercises(root)?;
    if exercises.is_empty() {
        return Err(Failure("no exercises found under exercises/".into(), 1));
    }
    let start = match start {
        None => None,
        Some(name) => Some(find(&exercises, name)?),
    };
    let sections = standing::sections(root, &catalog::chapters(root)?);
    course::watch::watch(root, exercises, sections, start)?;
    Ok(())
}

/// The index of the exercise a learner named, or exit 2 with the known ids.
fn find(all: &[Exercise], name: &str) -> Result<usize, Failure> {
    catalog::find_exercise(all, name)
        .and_then(|ex| all.iter().position(|e| e.id == ex.id))
        .ok_or_else(|| unknown(all, name))
}

fn unknown(all: &[Exercise], name: &str) -> Failure {
    let known = all
        .iter()
        .map(|e| e.short().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Failure(format!("no exercise called `{name}`; known: {known}"), 2)
}

fn hint(root: &Path, name: &str) -> Result<(), Failure> {
    let all = catalog::exercises(root)?;
    let ex = &all[find(&all, name)?];
    let Some(path) = &ex.hint else {
        return Err(Failure(
            format!("{} has no hint yet (exercises/hints/{}.md)", ex.id, ex.id),
            1,
        ));
    };
    print!("{}", fs::read_to_string(path)?);
    Ok(())
}

fn show_progress(root: &Path, json: bool, fresh: bool) -> Result<(), Failure> {
    let all = catalog::exercises(root)?;
    if all.is_empty() {
        return Err(Failure("no exercises found under exercises/".into(), 1));
    }
    let file = state::path(root);
    let (mut saved, warning) = State::load(&file);
    if let Some(w) = warning {
        eprintln!("course: {w}");
    }
    let mut rows = Vec::new();
    let mut graded = 0;
    for ex in &all {
        let fp = state::fingerprint(root, ex);
        if !fresh && let Some(r) = saved.fresh(&ex.id, &fp) {
            rows.push(progress::Row {
                id: ex.id.clone(),
                title: ex.title.clone(),
                status: r.status,
                tests: r.tests,
                note: Some(match (r.status, r.tests) {
                    (progress::Status::Done, _) | (_, None) => {
                        format!("saved {}, unchanged since", r.graded_at)
                    }
                    (_, Some(c)) => format!(
                        "{} of {} tests fail (saved {}, unchanged since)",
                        c.failed,
                        c.passed + c.failed,
                        r.graded_at
                    ),
                }),
                first_failure: r.first_failure.clone(),
                loom: r.loom,
                bench: r.bench.clone(),
                command: progress::test_command(&ex.id),
            });
            continue;
        }
        eprintln!("grading {} ...", ex.id);
        let row = progress::grade(root, ex);
        saved.record(&row, &fp, &state::now());
        // Save after each one, so an interrupted run keeps what it graded.
        if let Err(e) = saved.save(&file) {
            eprintln!("course: could not save {}: {e}", file.display());
        }
        graded += 1;
        rows.push(row);
    }
    eprintln!(
        "graded {graded} of {}; the others are unchanged since their saved grade ({})",
        all.len(),
        file.display()
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", progress::table(&rows));
    }
    Ok(())
}
