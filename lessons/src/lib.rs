//! Presentation helpers shared by the lessons.
//!
//! A lesson is a small program that runs a real experiment on the course's
//! runtime or allocator and explains what happened. The experiment is the
//! lesson's own code; everything around it lives here, so that each lesson
//! file reads as the experiment and nothing else:
//!
//! - [`cli`]: `--help`, `--quick` and lesson flags; a bad flag exits with code 2.
//! - [`report`]: titles, sections, "what to notice" notes, aligned tables.
//! - [`artefacts`]: `target/lessons/lesson-NN/`, and the book's figure folders.
//! - [`svg`], [`timeline`], [`spans`], [`chart`]: figures drawn from recorded
//!   data (a per-P timeline from a runtime trace, span occupancy from a heap
//!   snapshot, bar charts), with no plotting dependency.
//! - [`segments`]: a made-up MPEG transport stream and its zero-copy
//!   keyframe cutter, shared by lesson 24 and the `segments` bench.
//! - `registry` (feature `registry`): a cargo sparse registry on loopback,
//!   lesson 26's.
//!
//! ```
//! use lessons::report::Table;
//!
//! let mut t = Table::new(["P", "Gs run"]);
//! t.row(["0", "12"]);
//! assert!(t.render().starts_with("P   Gs run"));
//! ```

pub mod artefacts;
pub mod chart;
pub mod cli;
#[cfg(feature = "registry")]
pub mod registry;
pub mod report;
pub mod segments;
pub mod slow_server;
pub mod spans;
pub mod svg;
pub mod timeline;
