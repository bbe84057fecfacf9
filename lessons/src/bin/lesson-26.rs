//! Lesson 26: A local package registry — cargo's private module proxy, on loopback
//!
//! A team that runs its own `GOPROXY` gets builds that never reach the
//! internet, a place for internal modules, and a cache everyone shares.
//! This lesson builds cargo's equivalent and uses the real cargo against it:
//!
//! 1. a sparse registry (a directory of `config.json`, index files and
//!    `.crate` files) served on 127.0.0.1 by the course's fast engine;
//! 2. throwaway crates packaged with `cargo package` and published
//!    into it (`course-words`, then `course-greet` 0.1.0, 0.1.1 and 0.1.2,
//!    which depends on `course-words`; 0.1.2 is then yanked);
//! 3. an application that depends on `course-greet = "0.1"`, built by
//!    cargo with a `CARGO_HOME` of its own and `--config` pointing every
//!    source at our server; the server's log shows each request cargo made;
//! 4. a crate the registry lacks (`serde`): an error, not a download from
//!    crates.io; then a second resolution, which revalidates the index
//!    (304 Not Modified);
//! 5. `[patch]`: the same build with `course-greet` replaced by a local
//!    directory;
//! 6. cold builds of an application without dependencies, with the two
//!    small crates, and with a crate of generated code as well;
//! 7. `cargo vendor`: the dependencies copied into the application, and a
//!    build with the server stopped and `--offline`.
//!
//! Everything is written under `target/lessons/lesson-26/`; nothing is
//! fetched from anywhere but 127.0.0.1.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::registry::cargo::{NAME, Sandbox, Throwaway};
use lessons::registry::index::index_path;
use lessons::registry::serve::{RegistryServer, Seen, per_path};
use lessons::registry::store::Registry;
use lessons::report::{Table, explain, notice, section, title, wrote};

const WORDS: &str =
    "/// The word the greeting uses.\npub fn word() -> &'static str {\n    \"hello\"\n}\n";

fn greet_source(vers: &str) -> String {
    format!(
        "/// A greeting, from the local registry.\npub fn greet(name: &str) -> String {{\n    \
         let g = format!(\"{{}}, {{name}}! (course-greet {vers})\", course_words::word());\n    \
         if cfg!(feature = \"loud\") {{ g.to_uppercase() }} else {{ g }}\n}}\n"
    )
}

const APP: &str = "fn main() {\n    println!(\"{}\", course_greet::greet(\"registry\"));\n}\n";

fn main() {
    let args = Cli::new("lesson-26", "a local package registry on loopback")
        .flag(
            "--no-vendor",
            "skip the cargo vendor step and the offline build",
        )
        .parse();
    if let Err(e) = run(args.quick(), !args.flag("--no-vendor")) {
        eprintln!("lesson-26: {e}");
        std::process::exit(1);
    }
}

fn run(quick: bool, vendor: bool) -> io::Result<()> {
    title("Lesson 26", "A local package registry");
    let dir = artefacts::lesson_dir(26)?;
    let registry = Registry::create(dir.join("registry"))?;
    let server = RegistryServer::start(&registry)?;
    explain(&format!(
        "A sparse registry in {} served at {} by the fast engine. Cargo gets it as \
         --config flags (a CARGO_HOME of its own keeps your ~/.cargo cache out of it):",
        registry.root().display(),
        server.sparse_url()
    ));
    let publisher = Sandbox::new(dir.join("cargo-home-publisher"), &server.sparse_url())?;
    for c in publisher.config() {
        println!("  --config '{c}'");
    }

    section("Publishing with cargo package");
    let crates = dir.join("crates");
    let words = Throwaway::lib("course-words", "0.1.0", WORDS);
    let mut to_publish = vec![words];
    for vers in ["0.1.0", "0.1.1", "0.1.2"] {
        to_publish.push(
            Throwaway::lib("course-greet", vers, &greet_source(vers))
                .dep("course-words", "0.1")
                .feature("loud"),
        );
    }
    let mut t = Table::new(["crate", "version", "index file", ".crate bytes", "cksum"]);
    for c in &to_publish {
        let src = c.write(&crates.join(format!("{}-{}", c.name, c.vers)))?;
        let file = publisher.package(&src, &c.name, &c.vers)?;
        let line = registry.publish(&c.release(), &file)?;
        t.row([
            c.name.clone(),
            c.vers.clone(),
            index_path(&c.name),
            std::fs::metadata(&file)?.len().to_string(),
            format!("{}…", &line.cksum[..16]),
        ]);
    }
    t.print();
    registry.yank("course-greet", "0.1.2")?;
    println!("yanked: course-greet 0.1.2");
    let index = std::fs::read_to_string(registry.root().join(index_path("course-greet")))?;
    println!("the index file {}:", index_path("course-greet"));
    for l in index.lines() {
        println!("  {l}");
    }
    notice(
        "packaging course-greet needed course-words from the registry (cargo package resolves \
         the dependencies to check them): the registry served its own publisher. Each line \
         is everything the resolver needs; 0.1.2's says \"yanked\":true and stays, so lock \
         files that already chose it keep building.",
    );
    let published = server.seen().len();

    section("Building an application from the registry");
    let consumer = Sandbox::new(dir.join("cargo-home"), &server.sparse_url())?;
    let app = Throwaway::bin("hello-registry", APP)
        .dep("course-greet", "0.1")
        .write(&dir.join("hello-registry"))?;
    let (secs, stderr) = build(&consumer, &app, &[])?;
    for l in stderr.lines().filter(|l| {
        let l = l.trim_start();
        l.starts_with("Downloaded") || l.starts_with("Compiling") || l.starts_with("Updating")
    }) {
        println!("  cargo: {}", l.trim());
    }
    println!("cargo build: {secs:.2} s");
    println!("the program says: {}", run_app(&app)?);
    let lock = std::fs::read_to_string(app.join("Cargo.lock"))?;
    println!("Cargo.lock:");
    for (name, vers, source) in lock_packages(&lock) {
        println!("  {name} {vers} from {source}");
    }
    let built = server.seen();
    let mut t = Table::new(["path", "requests", "status"]);
    for (path, n, status) in per_path(&built[published..]) {
        t.row([path, n.to_string(), status.to_string()]);
    }
    println!("what the server saw from this build:");
    t.print();
    notice(
        "cargo asked for config.json, one index file per crate in the dependency graph, and \
         one .crate per chosen version: course-greet 0.1.1, the newest 0.1.x that is not \
         yanked. The lock file records our URL as the source and the checksum it verified.",
    );

    section("A crate the registry does not have: an error, not the internet");
    let stranger =
        Throwaway::bin("hello-serde", "fn main() {}\n").write(&dir.join("hello-serde"))?;
    std::fs::write(
        stranger.join("Cargo.toml"),
        Throwaway::bin("hello-serde", "").manifest() + "serde = \"1\"\n",
    )?;
    let before = server.seen().len();
    let refused = consumer
        .command(&stranger, &["generate-lockfile"])
        .output()?;
    let why = String::from_utf8_lossy(&refused.stderr);
    println!(
        "cargo generate-lockfile for `serde = \"1\"` (a plain crates.io dependency): {}",
        if refused.status.success() {
            "succeeded?!"
        } else {
            "failed, as it should"
        }
    );
    for l in why
        .lines()
        .filter(|l| l.starts_with("error") || l.contains("location searched"))
    {
        println!("  cargo: {l}");
    }
    for s in &server.seen()[before..] {
        println!("  server: {} {} -> {}", s.method, s.path, s.status);
    }
    notice(
        "source replacement leaves no way round: crates.io's name now means our registry, which \
         answered 404 for se/rd/serde, and cargo stopped there. A proxy with a fallback to the \
         internet (GOPROXY=...,direct) would have gone on to fetch it.",
    );

    section("Resolving again: the index is revalidated, not downloaded");
    let before = server.seen().len();
    consumer.run(&app, &["generate-lockfile", "--quiet"])?;
    let again = server.seen();
    let mut t = Table::new(["path", "requests", "status"]);
    for (path, n, status) in per_path(&again[before..]) {
        t.row([path, n.to_string(), status.to_string()]);
    }
    t.print();
    notice(
        "cargo kept each index file's ETag and sent it back as If-None-Match; the file had not \
         changed, so the answer was an empty 304 (service::files does this for the book's pages \
         too). No .crate is fetched twice: they sit in the sandbox's CARGO_HOME.",
    );

    section("[patch]: the same dependency from a local directory");
    let local = Throwaway::lib("course-greet", "0.1.1", &greet_source("0.1.1-patched"))
        .dep("course-words", "0.1")
        .feature("loud")
        .write(&dir.join("course-greet-patched"))?;
    let patch = format!("patch.{NAME}.course-greet.path=\"{}\"", local.display());
    println!("  --config '{patch}'");
    let patched = consumer.clone().with_config(patch);
    build(&patched, &app, &[])?;
    println!("the program says: {}", run_app(&app)?);
    let patched_lock = std::fs::read_to_string(app.join("Cargo.lock"))?;
    for (name, vers, source) in lock_packages(&patched_lock) {
        println!("  {name} {vers} from {source}");
    }
    notice(
        "[patch] swaps one crate for another source everywhere in the graph, for a fix that is \
         not published yet (Go's `replace` directive in go.mod). The patched crate must still \
         match the requirement (0.1), and its own dependencies still come from the registry.",
    );
    // Back to the registry's version for what follows.
    std::fs::write(app.join("Cargo.lock"), &lock)?;

    fewer_dependencies(quick, &registry, &publisher, &consumer, &dir, &app)?;

    let mut vendored = None;
    if vendor {
        section("cargo vendor: the dependencies inside the project");
        let out = consumer.run(&app, &["vendor", "--locked"])?;
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        println!("cargo vendor printed (now in hello-registry/.cargo/config.toml):");
        for l in printed.lines().filter(|l| !l.trim().is_empty()) {
            println!("  {l}");
        }
        std::fs::create_dir_all(app.join(".cargo"))?;
        std::fs::write(app.join(".cargo/config.toml"), &printed)?;
        let mut names: Vec<String> = std::fs::read_dir(app.join("vendor"))?
            .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        println!("vendor/: {}", names.join(", "));
        vendored = Some(printed);
    }

    let url = server.sparse_url();
    let log = server.stop()?;
    write_log(&dir, &log)?;

    if vendored.is_some() {
        // A CARGO_HOME with no cache at all, the server stopped, --offline:
        // only vendor/ can supply the sources. The registry keeps its URL:
        // the lock file and vendor's [source] table are keyed by it.
        let offline = Sandbox::new(dir.join("cargo-home-offline"), &url)?;
        let (secs, _) = build(&offline, &app, &["--offline", "--locked"])?;
        println!(
            "with the server stopped and an empty CARGO_HOME: cargo build --offline ok in \
             {secs:.2} s; the program says: {}",
            run_app(&app)?
        );
        notice(
            "vendoring is the registry's answer for a build machine with no network at all: \
             the sources are committed with the project and [source] replacement points cargo \
             at them. The lock file's checksums are checked against vendor/'s .cargo-checksum.json.",
        );
    }

    let count = |f: &dyn Fn(&Seen) -> bool| log.iter().filter(|s| f(s)).count();
    println!(
        "the registry served {} requests in all: {} of config.json, {} index files (200), {} \
         revalidated (304), {} .crate downloads, {} other",
        log.len(),
        count(&|s| s.path == "/config.json"),
        count(&|s| !s.path.starts_with("/crates/") && s.path != "/config.json" && s.status == 200),
        count(&|s| s.status == 304),
        count(&|s| s.path.starts_with("/crates/") && s.status == 200),
        count(&|s| s.status != 200 && s.status != 304),
    );
    wrote("the request log", &dir.join("requests.json"));
    Ok(())
}

/// How many generated functions `course-tables` has: enough that compiling
/// it takes a second or so in a debug build, few enough for a lesson.
const TABLE_FUNCTIONS: usize = 150;

/// `course-tables`' source: [`TABLE_FUNCTIONS`] functions that format and
/// collect strings (each `format!` and `collect` is generic code that
/// rustc instantiates and compiles anew), and one that calls them all.
fn tables_source() -> String {
    let mut s =
        String::from("//! Generated code: a stand-in for a dependency with a lot of it.\n\n");
    for i in 0..TABLE_FUNCTIONS {
        s += &format!(
            "/// Row {i}.\npub fn row{i}(x: u64) -> u64 {{\n    let v: Vec<String> = (0..{}).map(|k| format!(\"{{x}}-{{k}}-{i}\")).collect();\n    v.iter().map(|s| s.len() as u64).sum::<u64>() + {i}\n}}\n",
            i % 7 + 3
        );
    }
    let all: Vec<String> = (0..TABLE_FUNCTIONS).map(|i| format!("row{i}")).collect();
    s += &format!(
        "/// Every row.\npub fn all(x: u64) -> u64 {{\n    [{}].iter().map(|f| f(x)).sum()\n}}\n",
        all.join(", ")
    );
    s
}

/// Cold builds of three applications: no dependency, the two small crates,
/// and those plus `course-tables`; best of three (one in quick mode).
fn fewer_dependencies(
    quick: bool,
    registry: &Registry,
    publisher: &Sandbox,
    consumer: &Sandbox,
    dir: &Path,
    app: &Path,
) -> io::Result<()> {
    section("Fewer dependencies, faster builds");
    let tables = Throwaway::lib("course-tables", "0.1.0", &tables_source());
    let src = tables.write(&dir.join("crates/course-tables-0.1.0"))?;
    let file = publisher.package(&src, &tables.name, &tables.vers)?;
    registry.publish(&tables.release(), &file)?;
    let plain = Throwaway::bin(
        "hello-plain",
        "fn main() {\n    println!(\"hello, registry!\");\n}\n",
    )
    .write(&dir.join("hello-plain"))?;
    let heavy = Throwaway::bin(
        "hello-tables",
        "fn main() {\n    println!(\"{} {}\", course_greet::greet(\"tables\"), course_tables::all(7));\n}\n",
    )
    .dep("course-greet", "0.1")
    .dep("course-tables", "0.1")
    .write(&dir.join("hello-tables"))?;
    // Resolve and download once, so that the timed builds are compiles only.
    consumer.run(&heavy, &["fetch", "--quiet"])?;
    let mut t = Table::new(["application", "compiled crates", "cold build (debug)"]);
    for (what, crate_dir) in [
        ("hello-plain: no dependencies", plain.as_path()),
        ("hello-registry: course-greet, course-words", app),
        ("hello-tables: those and course-tables", heavy.as_path()),
    ] {
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..if quick { 1 } else { 3 } {
            let (secs, stderr) = build(consumer, crate_dir, &["--offline"])?;
            let compiled = stderr
                .lines()
                .filter(|l| l.trim_start().starts_with("Compiling"))
                .count();
            if best.is_none_or(|(b, _)| secs < b) {
                best = Some((secs, compiled));
            }
        }
        let (secs, compiled) = best.expect("at least one build");
        t.row([
            what.to_string(),
            compiled.to_string(),
            format!("{secs:.2} s"),
        ]);
    }
    t.print();
    println!(
        "({}; timings on a busy machine are noisy)",
        if quick {
            "quick run: one build each"
        } else {
            "best of 3 cold builds each"
        }
    );
    notice(&format!(
        "the two tiny crates cost next to nothing: a cold build is mostly cargo starting and \
         the linker. course-tables is {TABLE_FUNCTIONS} generated functions, and every generic \
         call in them (format!, collect) is compiled anew for this crate: code, not the count of \
         crates, is what a dependency costs. The book measures the course's own lessons crate \
         with and without hyper and tokio."
    ));
    Ok(())
}

/// `cargo build` of `dir` into a fresh `target/`; returns the seconds it
/// took and cargo's stderr.
fn build(sandbox: &Sandbox, dir: &Path, extra: &[&str]) -> io::Result<(f64, String)> {
    let target = dir.join("target");
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    let start = Instant::now();
    let out = sandbox.run(dir, &args)?;
    Ok((
        start.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Runs the built program and returns its first line.
fn run_app(dir: &Path) -> io::Result<String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a crate directory has a name");
    let exe: PathBuf = dir.join("target/debug").join(name);
    let out = std::process::Command::new(&exe).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!("{} failed", exe.display())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `(name, version, source)` of each `[[package]]` in a lock file; a
/// package with no `source` is a path (the application, or a patch).
fn lock_packages(lock: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |k: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(&format!("{k} = \""))
                    .and_then(|v| v.strip_suffix('"'))
                    .map(str::to_string)
            })
        };
        out.push((
            field("name").unwrap_or_default(),
            field("version").unwrap_or_default(),
            field("source").unwrap_or_else(|| "a local path".into()),
        ));
    }
    out
}

fn write_log(dir: &Path, log: &[Seen]) -> io::Result<()> {
    let entries: Vec<serde_json::Value> = log
        .iter()
        .map(|s| serde_json::json!({"method": s.method, "path": s.path, "status": s.status}))
        .collect();
    artefacts::write(
        dir,
        "requests.json",
        &(serde_json::Value::Array(entries).to_string() + "\n"),
    )?;
    Ok(())
}
