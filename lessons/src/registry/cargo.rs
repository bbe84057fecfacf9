//! Running the real cargo against the local registry, fenced in.
//!
//! A [`Sandbox`] is a `CARGO_HOME` of its own (so the learner's
//! `~/.cargo/registry` cache is neither read nor written) plus the
//! configuration that points cargo at our server, given as `--config`
//! flags on each command, which is the same as writing them into
//! `$CARGO_HOME/config.toml`:
//!
//! ```toml
//! [registries.course]
//! index = "sparse+http://127.0.0.1:PORT/"   # a registry by name
//! [source.crates-io]
//! replace-with = "course"                   # and crates.io is it, too
//! ```
//!
//! The first lets a manifest say `registry = "course"` (and the lock file
//! then names `sparse+http://127.0.0.1:PORT/` as the source). The second
//! is *source replacement*: every dependency that would come from
//! crates.io comes from our registry instead, and a name our registry does
//! not have is an error, never a download from the internet. That is
//! `GOPROXY=http://127.0.0.1:PORT` with `GOFLAGS=-mod=mod` and no
//! `,direct` fallback.
//!
//! [`Throwaway`] writes the small crates the lesson publishes and builds:
//! a `Cargo.toml` (with an empty `[workspace]`, because they are generated
//! under the course's `target/`, and cargo would otherwise take them for
//! members of the course's workspace) and a `src/lib.rs` or `src/main.rs`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::index::Dep;
use super::store::Release;

/// The registry's name in cargo's configuration and in manifests.
pub const NAME: &str = "course";

/// A fenced-in cargo: its own `CARGO_HOME`, and our registry as the only
/// source of crates.
#[derive(Debug, Clone)]
pub struct Sandbox {
    cargo: PathBuf,
    home: PathBuf,
    config: Vec<String>,
}

impl Sandbox {
    /// A sandbox whose `CARGO_HOME` is `home` (created empty) and whose
    /// crates all come from the sparse index at `index_url`.
    ///
    /// The cargo binary is the one running the lesson (`$CARGO`, which
    /// `cargo run` sets), or `cargo` from `PATH`.
    pub fn new(home: impl Into<PathBuf>, index_url: &str) -> io::Result<Sandbox> {
        let home = home.into();
        if home.exists() {
            std::fs::remove_dir_all(&home)?;
        }
        std::fs::create_dir_all(&home)?;
        let cargo = std::env::var_os("CARGO").map_or_else(|| "cargo".into(), PathBuf::from);
        Ok(Sandbox {
            cargo,
            home,
            config: vec![
                format!("registries.{NAME}.index=\"{index_url}\""),
                format!("source.crates-io.replace-with=\"{NAME}\""),
            ],
        })
    }

    /// The sandbox's `CARGO_HOME`.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The `--config` values every command gets.
    pub fn config(&self) -> &[String] {
        &self.config
    }

    /// Adds a `--config` value for the commands made after this call (a
    /// `[patch]`, say).
    pub fn with_config(mut self, value: impl Into<String>) -> Sandbox {
        self.config.push(value.into());
        self
    }

    /// `cargo ARGS --config ...` in `dir`, with `CARGO_HOME` set and the
    /// caller's target-directory settings removed (the throwaway crates
    /// build into their own `target/`).
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.cargo);
        c.current_dir(dir)
            .args(args)
            .env("CARGO_HOME", &self.home)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET_DIR")
            .env("CARGO_TERM_COLOR", "never");
        for value in &self.config {
            c.arg("--config").arg(value);
        }
        c
    }

    /// Runs [`Sandbox::command`]; an error carries cargo's stderr.
    pub fn run(&self, dir: &Path, args: &[&str]) -> io::Result<Output> {
        let out = self.command(dir, args).output()?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(io::Error::other(format!(
                "cargo {} in {} failed ({}):\n{}",
                args.join(" "),
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// `cargo package --no-verify` of the crate in `dir`: the `.crate` file
    /// a `cargo publish` would upload (a gzipped tar of the sources and a
    /// normalised manifest). Without `--no-verify` cargo would also build
    /// it, which publishing here does not need.
    pub fn package(&self, dir: &Path, name: &str, vers: &str) -> io::Result<PathBuf> {
        self.run(dir, &["package", "--no-verify", "--allow-dirty", "--quiet"])?;
        let file = dir.join(format!("target/package/{name}-{vers}.crate"));
        if file.is_file() {
            Ok(file)
        } else {
            Err(io::Error::other(format!(
                "cargo package did not write {}",
                file.display()
            )))
        }
    }
}

/// A generated crate: a manifest and one source file.
#[derive(Debug, Clone)]
pub struct Throwaway {
    /// The crate name.
    pub name: String,
    /// Its version.
    pub vers: String,
    /// Dependencies from the `course` registry: `(name, requirement)`.
    pub deps: Vec<(String, String)>,
    /// Features with nothing behind them but a `cfg` in the code.
    pub features: Vec<String>,
    /// `src/lib.rs` (or `src/main.rs` with [`Throwaway::bin`]).
    pub source: String,
    /// A binary instead of a library.
    pub bin: bool,
}

impl Throwaway {
    /// A library crate `name` `vers` with `source` as its `lib.rs`.
    pub fn lib(name: &str, vers: &str, source: &str) -> Throwaway {
        Throwaway {
            name: name.into(),
            vers: vers.into(),
            deps: Vec::new(),
            features: Vec::new(),
            source: source.into(),
            bin: false,
        }
    }

    /// A binary crate with `source` as its `main.rs`.
    pub fn bin(name: &str, source: &str) -> Throwaway {
        Throwaway {
            bin: true,
            ..Throwaway::lib(name, "0.1.0", source)
        }
    }

    /// Adds a dependency on `name` `req` from the `course` registry.
    pub fn dep(mut self, name: &str, req: &str) -> Throwaway {
        self.deps.push((name.into(), req.into()));
        self
    }

    /// Adds an empty feature.
    pub fn feature(mut self, name: &str) -> Throwaway {
        self.features.push(name.into());
        self
    }

    /// The manifest.
    ///
    /// ```
    /// use lessons::registry::cargo::Throwaway;
    /// let m = Throwaway::lib("course-greet", "0.1.0", "").dep("course-words", "0.1").manifest();
    /// assert!(m.contains("course-words = { version = \"0.1\", registry = \"course\" }"));
    /// assert!(m.contains("[workspace]"));
    /// ```
    pub fn manifest(&self) -> String {
        let mut m = format!(
            "[package]\nname = \"{}\"\nversion = \"{}\"\nedition = \"2021\"\n\
             description = \"A throwaway crate of the course's lesson 26.\"\n\
             license = \"MIT\"\npublish = [\"{NAME}\"]\n\n\
             # Not a member of the course's workspace, though it sits under its target/.\n\
             [workspace]\n\n[dependencies]\n",
            self.name, self.vers
        );
        for (name, req) in &self.deps {
            m += &format!("{name} = {{ version = \"{req}\", registry = \"{NAME}\" }}\n");
        }
        if !self.features.is_empty() {
            m += "\n[features]\n";
            for f in &self.features {
                m += &format!("{f} = []\n");
            }
        }
        m
    }

    /// Writes the crate into `dir` (replacing what was there) and returns `dir`.
    pub fn write(&self, dir: &Path) -> io::Result<PathBuf> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir.join("src"))?;
        std::fs::write(dir.join("Cargo.toml"), self.manifest())?;
        let file = if self.bin { "main.rs" } else { "lib.rs" };
        std::fs::write(dir.join("src").join(file), &self.source)?;
        Ok(dir.to_path_buf())
    }

    /// What the registry is told when this crate is published: the
    /// requirements as cargo normalises them (`0.1` is `^0.1`).
    pub fn release(&self) -> Release {
        Release {
            name: self.name.clone(),
            vers: self.vers.clone(),
            deps: self
                .deps
                .iter()
                .map(|(n, r)| {
                    let req = if r.starts_with(['^', '~', '=', '<', '>', '*']) {
                        r.clone()
                    } else {
                        format!("^{r}")
                    };
                    Dep::normal(n, &req)
                })
                .collect(),
            features: self
                .features
                .iter()
                .map(|f| (f.clone(), Vec::new()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_normalises_requirements_and_lists_features() {
        let t = Throwaway::lib("course-greet", "0.1.1", "")
            .dep("course-words", "0.1")
            .dep("other", "=1.2.3")
            .feature("loud");
        let r = t.release();
        let reqs: Vec<&str> = r.deps.iter().map(|d| d.req.as_str()).collect();
        assert_eq!(reqs, ["^0.1", "=1.2.3"]);
        assert_eq!(r.features.keys().collect::<Vec<_>>(), ["loud"]);
        let m = t.manifest();
        assert!(m.contains("[features]\nloud = []\n"), "{m}");
    }

    #[test]
    fn a_sandbox_fences_cargo_home_and_sources() {
        let home = std::env::temp_dir().join(format!("registry-sandbox-{}", std::process::id()));
        let s = Sandbox::new(&home, "sparse+http://127.0.0.1:9/").unwrap();
        let c = s.command(Path::new("."), &["build"]);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "--config",
                "registries.course.index=\"sparse+http://127.0.0.1:9/\"",
                "--config",
                "source.crates-io.replace-with=\"course\""
            ]
        );
        let home_env = c
            .get_envs()
            .find(|(k, _)| *k == "CARGO_HOME")
            .and_then(|(_, v)| v);
        assert_eq!(home_env, Some(home.as_os_str()));
        std::fs::remove_dir_all(&home).unwrap();
    }
}
