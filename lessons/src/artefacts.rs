//! Where lessons write what they recorded.
//!
//! Every lesson writes its artefacts (trace JSON, SVG figures) under
//! `target/lessons/lesson-NN/` at the workspace root, whatever directory it was
//! started from and wherever `CARGO_TARGET_DIR` points, so that the book and
//! the learner can always find them. Lessons that feed the book write a copy
//! under `book/` only when asked (`--write-book`), so the test suite never
//! rewrites committed figures.
//!
//! ```
//! let dir = lessons::artefacts::lesson_dir(2).unwrap();
//! assert!(dir.ends_with("target/lessons/lesson-02"));
//! assert!(dir.is_dir());
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// The workspace root (the directory holding `book.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the lessons crate lives inside the workspace")
        .to_path_buf()
}

/// `target/lessons/lesson-NN/`, created if missing.
pub fn lesson_dir(lesson: u32) -> io::Result<PathBuf> {
    let dir = workspace_root()
        .join("target")
        .join("lessons")
        .join(format!("lesson-{lesson:02}"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A directory inside `book/` (for example `runtime/img`), created if missing.
pub fn book_dir(relative: &str) -> io::Result<PathBuf> {
    let dir = workspace_root().join("book").join(relative);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: &str) -> io::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, contents)?;
    Ok(path)
}
