//! Building the book with mdBook as a library.
//!
//! mdBook 0.5 splits into crates; `mdbook-driver` loads `book.toml` and
//! `SUMMARY.md`, runs the preprocessors (`{{#include}}` among them) and the
//! HTML renderer with its offline search index. Using it as a library means a
//! learner never installs the `mdbook` binary: `cargo run --bin course`
//! compiles it once, in this package only.
//!
//! ```no_run
//! let root = course::catalog::workspace_root();
//! let html = course::book::build(&root, None).unwrap();
//! assert!(html.join("index.html").is_file());
//! ```

use std::path::{Path, PathBuf};

use mdbook_driver::MDBook;
use mdbook_driver::config::Config;

use crate::catalog::anyhow_like::{Error, Result};

/// Builds the book found at `root` (the directory holding `book.toml`).
///
/// `out_dir` overrides `[build] build-dir`; tests use it to build into a
/// temporary directory. Returns the directory holding `index.html`.
pub fn build(root: &Path, out_dir: Option<&Path>) -> Result<PathBuf> {
    let config_file = root.join("book.toml");
    let mut config = Config::from_disk(&config_file)
        .map_err(|e| Error(format!("reading {}: {e:#}", config_file.display())))?;
    config.update_from_env()?;
    if let Some(dir) = out_dir {
        config.build.build_dir = dir.to_path_buf();
    }
    let book = MDBook::load_with_config(root, config)?;
    book.build()?;
    Ok(book.build_dir_for("html"))
}
