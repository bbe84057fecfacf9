//! The course's front door, as a library the `course` binary and its tests share.
//!
//! `cargo run --bin course` builds the book with mdBook (used as a library,
//! so nothing else needs installing) and serves it on a loopback-only
//! static server; its subcommands list the course's contents, print
//! exercise hints and grade the exercises. Everything it lists is read from
//! the files in the workspace, so new lessons and exercises appear by
//! themselves:
//!
//! - [`args`]: the hand-written command line parser;
//! - [`catalog`]: lessons, exercises and chapters, discovered from files;
//! - [`book`]: building the HTML;
//! - [`server`]: serving it;
//! - [`checks`]: the book's integrity checks (includes, links, lessons);
//! - [`progress`]: running the graded tests;
//! - [`run`]: running a grading command so that it can be stopped;
//! - [`first_error`]: the one message to show out of a test run;
//! - [`measure`]: measured exercises' benches, as ratios;
//! - [`state`]: the saved progress file and its fingerprints;
//! - [`standing`]: where each exercise stands, for `list` and `next`;
//! - [`term`]: the terminal's key-at-a-time mode;
//! - [`saves`]: which stub was just saved, from file events;
//! - [`watch`]: the learner's loop, `course watch`.
//!
//! ```
//! let root = course::catalog::workspace_root();
//! assert!(root.join("book.toml").is_file());
//! ```

pub mod args;
pub mod book;
pub mod catalog;
pub mod checks;
pub mod first_error;
pub mod measure;
pub mod progress;
pub mod run;
pub mod saves;
pub mod server;
pub mod standing;
pub mod state;
pub mod term;
pub mod watch;
