//! A local cargo registry: the course's answer to a private Go module proxy.
//!
//! A company that runs `GOPROXY=https://goproxy.internal` gets three things:
//! builds that do not depend on the internet, a place to publish internal
//! modules, and one cache every build shares. Cargo's equivalent is a
//! registry, and since Rust 1.68 the cheapest kind is a *sparse* registry:
//! no git index to clone, only files over HTTP that cargo fetches one crate
//! at a time:
//!
//! 1. `GET /config.json` says where downloads are (`dl`);
//! 2. `GET /co/ur/course-greet` (the [`index`] file of the crate, at a path
//!    derived from its name) lists every version, one JSON line each, with
//!    its dependencies, features, checksum and whether it is yanked; the
//!    resolver picks versions from these lines alone;
//! 3. `GET /crates/course-greet/course-greet-0.1.1.crate` downloads the
//!    chosen version, whose SHA-256 must equal the line's `cksum`.
//!
//! The pieces, one file each:
//!
//! - [`index`]: the path layout and the index line (pure functions);
//! - [`store`]: the registry as a directory: publish, yank, `config.json`;
//! - [`serve`]: that directory served on 127.0.0.1 by `service`'s fast
//!   engine and static-file handler, with a log of every request;
//! - [`cargo`]: the real cargo run against it, with a `CARGO_HOME` of its
//!   own and `--config` source replacement, and the throwaway crates the
//!   lesson publishes.
//!
//! Lesson 26 uses all four: `cargo run -p lessons --features registry --bin lesson-26`.
//!
//! ```
//! use lessons::registry::index::index_path;
//! assert_eq!(index_path("course-greet"), "co/ur/course-greet");
//! ```

pub mod cargo;
pub mod index;
pub mod serve;
pub mod store;
