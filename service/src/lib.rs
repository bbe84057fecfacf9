//! Chapter 3's HTTP service: two engines on the course runtime, and the peers
//! they are measured against.
//!
//! Go's load-testing chapter compares `net/http` (complete, allocates per
//! request) with `fasthttp` (reuses everything, asks the handler to follow
//! rules the compiler cannot check). Here:
//!
//! * `full` (feature `full`): hyper 1.x, the complete engine, on our runtime
//!   through the small `adapter` (hyper's I/O, executor and timer traits
//!   over `runtime::net` and `runtime::sleep`), or on tokio through `peer`;
//! * [`fast`]: our own HTTP/1.1 server on `httparse`, with per-connection
//!   buffers reused across requests and a request type that borrows them,
//!   so fasthttp's "do not keep the request" rule is a compile error;
//! * [`threads`]: blocking `std::net`, a thread per connection (the baseline);
//! * [`routes`]: `/`, `/echo`, `/work`, `/sleep`, `/alloc`, `/metrics`,
//!   shared by all of them, plus an optional stall for the
//!   coordinated-omission lesson;
//! * `pprof` (feature `pprof`): `/debug/pprof/`, Go's `net/http/pprof` (CPU,
//!   heap, allocs, block, mutex profiles for `go tool pprof`);
//! * [`server`]: start one of them on 127.0.0.1 in a thread, stop it;
//! * [`traceparent`], [`metrics`], [`tagging`], [`store`], [`tier`]: W3C
//!   trace context in the G's labels, per-route Prometheus metrics, tagged
//!   load-test traffic with a shadow store, and the two-tier mode's client;
//! * [`files`]: a static-file handler for the fast engine, which is how
//!   `cargo run --bin course` serves the book.
//!
//! The hyper engine, its adapter and the tokio peer sit behind the `full`
//! feature, so that the course, which serves its book with the fast engine,
//! never compiles hyper or tokio. Without `full`, [`Engine::Full`] is still
//! a name, and starting it fails with a message saying to enable `full`.
//!
//! ```
//! # #[cfg(feature = "full")] {
//! use service::{Engine, Options, RuntimeKind, Server};
//! let server = Server::start(Options { engine: Engine::Full, runtime: RuntimeKind::Ours, ..Options::default() }).unwrap();
//! assert!(server.addr().ip().is_loopback());
//! server.stop().unwrap();
//! # }
//! ```

#[cfg(feature = "full")]
pub mod adapter;
pub mod breaker;
pub mod canary;
pub mod fast;
pub mod feacore;
pub mod files;
#[cfg(feature = "full")]
pub mod full;
pub mod incoming;
pub mod limiter;
mod loom;
pub mod metrics;
#[cfg(feature = "full")]
pub mod peer;
#[cfg(feature = "pprof")]
pub mod pprof;
pub mod probe;
pub mod reqtrace;
pub mod routes;
pub mod server;
pub mod store;
pub mod tagging;
pub mod threads;
pub mod tier;
pub mod traceparent;

pub use routes::{Body, Incoming, Reply, Routes, Stall};
pub use server::{Engine, Limit, Options, RuntimeKind, Server};
