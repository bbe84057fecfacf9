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
use course::catalog::{self, workspace_root};
use course::progress;
use course::server::StaticServer;

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
        Command::Progress { json } => show_progress(&root, json),
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
    server.run();
    Ok(())
}

fn print_lessons(root: &Path) -> Result<(), Failure> {
    let lessons = catalog::lessons(root)?;
    println!("\nLessons ({}):", lessons.len());
    if lessons.is_empty() {
        println!("  (none yet in lessons/src/bin/)");
    }
    for l in &lessons {
        println!("  cargo run --bin {:<10}  {}", l.bin, l.title);
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
    }
    for e in &exercises {
        println!("  {:<22} {}", e.id, e.title);
    }
    Ok(())
}

fn hint(root: &Path, name: &str) -> Result<(), Failure> {
    let all = catalog::exercises(root)?;
    let known = || {
        all.iter()
            .map(|e| e.short().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(ex) = catalog::find_exercise(&all, name) else {
        return Err(Failure(
            format!("no exercise called `{name}`; known: {}", known()),
            2,
        ));
    };
    let Some(path) = &ex.hint else {
        return Err(Failure(
            format!("{} has no hint yet (exercises/hints/{}.md)", ex.id, ex.id),
            1,
        ));
    };
    print!("{}", fs::read_to_string(path)?);
    Ok(())
}

fn show_progress(root: &Path, json: bool) -> Result<(), Failure> {
    let all = catalog::exercises(root)?;
    if all.is_empty() {
        return Err(Failure("no exercises found under exercises/".into(), 1));
    }
    let mut rows = Vec::new();
    for ex in &all {
        eprintln!("grading {} ...", ex.id);
        rows.push(progress::grade(root, ex));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", progress::table(&rows));
    }
    Ok(())
}
