//! The registry on disk: the tree a sparse registry's server hands out.
//!
//! Everything cargo asks a sparse registry for is a plain file, so the
//! registry is a directory and the server is a static-file server
//! ([`super::serve`]):
//!
//! ```text
//! root/
//!   config.json                     where downloads are ("dl"), written by the server
//!   co/ur/course-greet              the index file: one JSON line per version
//!   co/ur/course-words
//!   crates/course-greet/course-greet-0.1.1.crate
//! ```
//!
//! Publishing ([`Registry::publish`]) is what crates.io's upload endpoint
//! does, minus the HTTP: it checksums the `.crate` file (the gzipped tar
//! that `cargo package` makes), stores it under `crates/`, and appends the
//! version's line to the crate's index file. A version is published once:
//! publishing it again is refused, because lock files out there already
//! carry the old file's checksum (crates.io and Go's checksum database
//! both hold that line). Yanking ([`Registry::yank`]) rewrites one line's
//! `yanked` to `true` and removes nothing.
//!
//! `config.json` has no `api` key: this registry has no web API (no
//! `cargo publish`, no `cargo search`); without the key cargo says so
//! instead of sending requests nobody answers.
//!
//! ```
//! use lessons::registry::store::{Registry, DL_TEMPLATE};
//! let dir = std::env::temp_dir().join(format!("registry-doc-{}", std::process::id()));
//! let registry = Registry::create(&dir).unwrap();
//! assert!(registry.versions("course-greet").unwrap().is_empty());
//! assert_eq!(DL_TEMPLATE, "crates/{crate}/{crate}-{version}.crate");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::index::{Dep, IndexLine, cksum, index_path};

/// Where a `.crate` file lives, relative to the root, as cargo's `dl`
/// template spells it (cargo substitutes `{crate}` and `{version}`).
pub const DL_TEMPLATE: &str = "crates/{crate}/{crate}-{version}.crate";

/// What a publisher says about a version (the `.crate` file says the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The crate name.
    pub name: String,
    /// The version.
    pub vers: String,
    /// Its dependencies, as its manifest declares them.
    pub deps: Vec<Dep>,
    /// Its features: name to what each enables.
    pub features: std::collections::BTreeMap<String, Vec<String>>,
}

/// A registry rooted at one directory (what sits behind Go's `GOPROXY`
/// URL, or behind a private Athens proxy).
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

impl Registry {
    /// An empty registry at `root` (whatever was there before is removed).
    pub fn create(root: impl Into<PathBuf>) -> io::Result<Registry> {
        let root = root.into();
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        fs::create_dir_all(root.join("crates"))?;
        Ok(Registry { root })
    }

    /// The registry's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `.crate` file of `name` `vers`, relative to the root.
    ///
    /// ```
    /// use lessons::registry::store::Registry;
    /// assert_eq!(Registry::crate_path("a", "1.0.0"), "crates/a/a-1.0.0.crate");
    /// ```
    pub fn crate_path(name: &str, vers: &str) -> String {
        DL_TEMPLATE
            .replace("{crate}", name)
            .replace("{version}", vers)
    }

    /// Writes `config.json` for a server at `base` (`http://127.0.0.1:PORT`).
    pub fn write_config(&self, base: &str) -> io::Result<PathBuf> {
        let path = self.root.join("config.json");
        let config = serde_json::json!({ "dl": format!("{base}/{DL_TEMPLATE}") });
        fs::write(&path, format!("{config}\n"))?;
        Ok(path)
    }

    /// Publishes `release` with the `.crate` file at `crate_file`, and
    /// returns the index line it added.
    ///
    /// Fails with `AlreadyExists` if that version was published before.
    pub fn publish(&self, release: &Release, crate_file: &Path) -> io::Result<IndexLine> {
        let bytes = fs::read(crate_file)?;
        if self
            .versions(&release.name)?
            .iter()
            .any(|l| l.vers == release.vers)
        {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} {} is already published; a version is never replaced",
                    release.name, release.vers
                ),
            ));
        }
        let stored = self
            .root
            .join(Self::crate_path(&release.name, &release.vers));
        fs::create_dir_all(stored.parent().expect("crates/NAME"))?;
        fs::write(&stored, &bytes)?;
        let line = IndexLine {
            name: release.name.clone(),
            vers: release.vers.clone(),
            deps: release.deps.clone(),
            cksum: cksum(&bytes),
            features: release.features.clone(),
            yanked: false,
        };
        let mut lines = self.versions(&release.name)?;
        lines.push(line.clone());
        self.write_index(&release.name, &lines)?;
        Ok(line)
    }

    /// Marks `name` `vers` yanked (`cargo yank`); `NotFound` if it was never
    /// published.
    pub fn yank(&self, name: &str, vers: &str) -> io::Result<()> {
        let mut lines = self.versions(name)?;
        let line = lines.iter_mut().find(|l| l.vers == vers).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} {vers} was never published"),
            )
        })?;
        line.yanked = true;
        self.write_index(name, &lines)
    }

    /// Every published version of `name`, oldest first (empty if none).
    pub fn versions(&self, name: &str) -> io::Result<Vec<IndexLine>> {
        let path = self.root.join(index_path(name));
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                IndexLine::parse(l).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: not an index line: {l}", path.display()),
                    )
                })
            })
            .collect()
    }

    /// Replaces the index file of `name` (through a temporary file and a
    /// rename, so the server never hands out half a file).
    fn write_index(&self, name: &str, lines: &[IndexLine]) -> io::Result<()> {
        let path = self.root.join(index_path(name));
        fs::create_dir_all(path.parent().expect("an index file has a directory"))?;
        let text: String = lines.iter().map(|l| l.to_json() + "\n").collect();
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(name: &str) -> Registry {
        let dir =
            std::env::temp_dir().join(format!("registry-store-{}-{name}", std::process::id()));
        Registry::create(dir).unwrap()
    }

    fn release(name: &str, vers: &str) -> Release {
        Release {
            name: name.into(),
            vers: vers.into(),
            deps: vec![Dep::normal("course-words", "^0.1")],
            features: Default::default(),
        }
    }

    #[test]
    fn publishing_appends_a_line_and_stores_the_file_under_its_checksum() {
        let r = registry("publish");
        let file = r.root().join("upload.crate");
        fs::write(&file, b"first").unwrap();
        let one = r.publish(&release("course-greet", "0.1.0"), &file).unwrap();
        fs::write(&file, b"second").unwrap();
        let two = r.publish(&release("course-greet", "0.1.1"), &file).unwrap();
        assert_eq!(one.cksum, cksum(b"first"));
        let text = fs::read_to_string(r.root().join("co/ur/course-greet")).unwrap();
        assert_eq!(
            text,
            format!("{}\n{}\n", one.to_json(), two.to_json()),
            "one line per version, oldest first"
        );
        assert_eq!(
            fs::read(
                r.root()
                    .join("crates/course-greet/course-greet-0.1.1.crate")
            )
            .unwrap(),
            b"second"
        );
        let again = r.publish(&release("course-greet", "0.1.0"), &file);
        assert_eq!(
            again.map_err(|e| e.kind()).unwrap_err(),
            io::ErrorKind::AlreadyExists,
            "a version is published once"
        );
        assert_eq!(r.versions("course-greet").unwrap().len(), 2);
    }

    #[test]
    fn yanking_flips_one_line_and_removes_nothing() {
        let r = registry("yank");
        let file = r.root().join("upload.crate");
        fs::write(&file, b"x").unwrap();
        for v in ["0.1.0", "0.1.1", "0.1.2"] {
            r.publish(&release("greet", v), &file).unwrap();
        }
        r.yank("greet", "0.1.1").unwrap();
        let yanked: Vec<bool> = r
            .versions("greet")
            .unwrap()
            .iter()
            .map(|l| l.yanked)
            .collect();
        assert_eq!(yanked, [false, true, false]);
        assert!(r.root().join("crates/greet/greet-0.1.1.crate").is_file());
        assert_eq!(
            r.yank("greet", "9.9.9").map_err(|e| e.kind()).unwrap_err(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn config_names_the_download_template() {
        let r = registry("config");
        let path = r.write_config("http://127.0.0.1:9").unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            v["dl"], "http://127.0.0.1:9/crates/{crate}/{crate}-{version}.crate",
            "{v}"
        );
        assert!(v.get("api").is_none(), "no web API is offered: {v}");
    }
}
