//! The index: where a crate's file lives, and what one line of it says.
//!
//! A cargo registry index is a tree of small files, one per crate name,
//! each holding one JSON object per line, one line per published version,
//! oldest first. A sparse registry serves that tree over plain HTTP, so
//! resolving `foo = "0.1"` costs cargo one GET of `…/3/f/foo` (plus
//! `config.json`, once), instead of a clone of the whole index. Go's module
//! proxy does the same with `GET $GOPROXY/<module>/@v/list` and
//! `…/@v/<version>.info`: a list of versions per module, fetched on demand.
//!
//! **The path layout** ([`index_path`]) spreads names over directories so
//! that no directory holds a hundred thousand files. The name is
//! lowercased (crate names are case-insensitive in the index) and:
//!
//! | name length | file          |
//! |-------------|---------------|
//! | 1           | `1/a`         |
//! | 2           | `2/ab`        |
//! | 3           | `3/a/abc`     |
//! | 4 or more   | `ab/cd/abcd…` |
//!
//! **The line** ([`IndexLine::to_json`]) carries what the resolver needs
//! without downloading anything: `name`, `vers`, `deps` (each with its
//! version requirement, features, `optional`, `default_features`, `target`,
//! `kind`), `cksum` (the SHA-256 of the `.crate` file, which cargo checks
//! after the download and records in `Cargo.lock`), `features` (a map from
//! feature name to what it enables) and `yanked`. A yanked version stays in
//! the index, so existing lock files still build, but the resolver picks
//! it for no new lock file: that is how a registry withdraws a release
//! without breaking anyone who already depends on it.
//!
//! ```
//! use lessons::registry::index::index_path;
//! assert_eq!(index_path("serde"), "se/rd/serde");
//! assert_eq!(index_path("Cc"), "2/cc");
//! ```

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The file, relative to the index root, that lists every version of
/// `name` (Go's `$GOPROXY/<module>/@v/list`, which escapes capitals with `!`
/// where cargo lowercases).
///
/// ```
/// use lessons::registry::index::index_path;
/// assert_eq!(index_path("a"), "1/a");
/// assert_eq!(index_path("syn"), "3/s/syn");
/// assert_eq!(index_path("course-greet"), "co/ur/course-greet");
/// ```
// ANCHOR: index_path
pub fn index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.len() {
        0 => panic!("a crate name is never empty"),
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}
// ANCHOR_END: index_path

/// The `cksum` of a `.crate` file: its SHA-256, in lowercase hex.
///
/// ```
/// let sum = lessons::registry::index::cksum(b"");
/// assert_eq!(&sum[..16], "e3b0c44298fc1c14");
/// ```
pub fn cksum(crate_file: &[u8]) -> String {
    Sha256::digest(crate_file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What kind of dependency a [`Dep`] is (the `[dependencies]` tables of a
/// manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[dev-dependencies]`.
    Dev,
    /// `[build-dependencies]`.
    Build,
}

impl DepKind {
    fn as_str(self) -> &'static str {
        match self {
            DepKind::Normal => "normal",
            DepKind::Dev => "dev",
            DepKind::Build => "build",
        }
    }
}

/// One dependency of a published version (a `require` line of Go's
/// `go.mod`, with cargo's features on top).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    /// The dependency's crate name.
    pub name: String,
    /// Its version requirement as cargo writes it, e.g. `^0.1`.
    pub req: String,
    /// Features it is asked for.
    pub features: Vec<String>,
    /// Whether it is enabled only through a feature.
    pub optional: bool,
    /// Whether its default features are on.
    pub default_features: bool,
    /// A `cfg(...)` target it applies to, if any.
    pub target: Option<String>,
    /// Normal, dev or build.
    pub kind: DepKind,
}

impl Dep {
    /// A plain normal dependency on `name` with requirement `req`.
    pub fn normal(name: &str, req: &str) -> Dep {
        Dep {
            name: name.to_string(),
            req: req.to_string(),
            features: Vec::new(),
            optional: false,
            default_features: true,
            target: None,
            kind: DepKind::Normal,
        }
    }
}

/// One version of one crate, as its index line describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLine {
    /// The crate name, as published (the index file is named in lowercase).
    pub name: String,
    /// The version, e.g. `0.1.1`.
    pub vers: String,
    /// Its dependencies.
    pub deps: Vec<Dep>,
    /// The SHA-256 of its `.crate` file ([`cksum`]).
    pub cksum: String,
    /// Feature name to what it enables (`"loud": []`).
    pub features: BTreeMap<String, Vec<String>>,
    /// Withdrawn for new lock files.
    pub yanked: bool,
}

impl IndexLine {
    /// The line as cargo reads it: one JSON object, no newline.
    ///
    /// ```
    /// use lessons::registry::index::{Dep, IndexLine};
    /// let line = IndexLine {
    ///     name: "greet".into(),
    ///     vers: "0.1.0".into(),
    ///     deps: vec![Dep::normal("words", "^0.1")],
    ///     cksum: "ab".repeat(32),
    ///     features: Default::default(),
    ///     yanked: false,
    /// };
    /// let json = line.to_json();
    /// assert!(json.starts_with(r#"{"name":"greet","vers":"0.1.0","deps":[{"name":"words","req":"^0.1""#));
    /// assert!(!json.contains('\n'));
    /// ```
    pub fn to_json(&self) -> String {
        // Written field by field: serde_json's map sorts its keys (unless
        // some crate in the build turns on `preserve_order`), and a reader
        // wants `name` and `vers` first. Cargo does not mind either way.
        let deps: Vec<String> = self
            .deps
            .iter()
            .map(|d| {
                format!(
                    r#"{{"name":{},"req":{},"features":{},"optional":{},"default_features":{},"target":{},"kind":{}}}"#,
                    json!(d.name),
                    json!(d.req),
                    json!(d.features),
                    d.optional,
                    d.default_features,
                    json!(d.target),
                    json!(d.kind.as_str()),
                )
            })
            .collect();
        format!(
            r#"{{"name":{},"vers":{},"deps":[{}],"cksum":{},"features":{},"yanked":{}}}"#,
            json!(self.name),
            json!(self.vers),
            deps.join(","),
            json!(self.cksum),
            json!(self.features),
            self.yanked
        )
    }

    /// Reads a line back (what [`IndexLine::to_json`] wrote, or cargo's
    /// own registry's lines). `None` if it is not an index line.
    pub fn parse(line: &str) -> Option<IndexLine> {
        let v: Value = serde_json::from_str(line).ok()?;
        let text = |v: &Value, k: &str| v.get(k)?.as_str().map(str::to_string);
        let deps = v
            .get("deps")?
            .as_array()?
            .iter()
            .map(|d| {
                Some(Dep {
                    name: text(d, "name")?,
                    req: text(d, "req")?,
                    features: strings(d.get("features")?)?,
                    optional: d.get("optional")?.as_bool()?,
                    default_features: d.get("default_features")?.as_bool()?,
                    target: text(d, "target"),
                    kind: match d.get("kind").and_then(Value::as_str).unwrap_or("normal") {
                        "dev" => DepKind::Dev,
                        "build" => DepKind::Build,
                        _ => DepKind::Normal,
                    },
                })
            })
            .collect::<Option<Vec<Dep>>>()?;
        let features = v
            .get("features")?
            .as_object()?
            .iter()
            .map(|(k, list)| Some((k.clone(), strings(list)?)))
            .collect::<Option<BTreeMap<_, _>>>()?;
        Some(IndexLine {
            name: text(&v, "name")?,
            vers: text(&v, "vers")?,
            deps,
            cksum: text(&v, "cksum")?,
            features,
            yanked: v.get("yanked")?.as_bool()?,
        })
    }
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_cargos_layout_for_every_length() {
        for (name, want) in [
            ("a", "1/a"),
            ("Z", "1/z"),
            ("cc", "2/cc"),
            ("syn", "3/s/syn"),
            ("Log", "3/l/log"),
            ("rand", "ra/nd/rand"),
            ("serde_json", "se/rd/serde_json"),
            ("Inflector", "in/fl/inflector"),
            ("course-greet", "co/ur/course-greet"),
        ] {
            assert_eq!(index_path(name), want, "index path of {name}");
        }
    }

    #[test]
    fn a_line_has_every_field_cargo_reads_and_round_trips() {
        let mut features = BTreeMap::new();
        features.insert("loud".to_string(), vec![]);
        features.insert("all".to_string(), vec!["loud".to_string()]);
        let mut dev = Dep::normal("words", "^0.1");
        dev.kind = DepKind::Dev;
        dev.target = Some("cfg(unix)".into());
        let line = IndexLine {
            name: "course-greet".into(),
            vers: "0.1.1".into(),
            deps: vec![Dep::normal("course-words", "^0.1"), dev],
            cksum: cksum(b"a crate"),
            features,
            yanked: true,
        };
        let json = line.to_json();
        let v: Value = serde_json::from_str(&json).unwrap();
        let at: Vec<usize> = ["name", "vers", "deps", "cksum", "features", "yanked"]
            .iter()
            .map(|k| {
                // The top level's `name` comes first and its `features`
                // last; the deps' own keys sit in between.
                let key = format!(r#""{k}":"#);
                let found = if *k == "name" {
                    json.find(&key)
                } else {
                    json.rfind(&key)
                };
                found.unwrap_or_else(|| panic!("no {k} in {json}"))
            })
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "the fields in the order a reader expects: {json}"
        );
        assert_eq!(v["deps"][0]["kind"], "normal", "{json}");
        assert_eq!(v["deps"][0]["default_features"], true, "{json}");
        assert_eq!(v["deps"][0]["target"], Value::Null, "{json}");
        assert_eq!(v["deps"][1]["kind"], "dev", "{json}");
        assert_eq!(v["features"]["all"][0], "loud", "{json}");
        assert_eq!(v["yanked"], true, "{json}");
        assert_eq!(v["cksum"].as_str().unwrap().len(), 64, "{json}");
        assert_eq!(
            IndexLine::parse(&json),
            Some(line),
            "parse(to_json(x)) == x"
        );
        assert_eq!(IndexLine::parse("{\"name\":1}"), None);
    }

    #[test]
    fn cksum_is_sha256_in_hex() {
        // FIPS 180-2's "abc" test vector.
        assert_eq!(
            cksum(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
