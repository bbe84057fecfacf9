//! FeaCore: a hot feature-computation service moved from a bounded pool of
//! blocking workers onto tasks (chapter 5's first case study, lesson 22).
//!
//! The syllabus' story: a service that computes an entity's features for a
//! model was written in Python with Celery workers. Each request waited for
//! a free worker, and the worker called three or four feature stores one
//! after another, blocking on each answer, then did a little CPU work over
//! what came back. Rewritten in Go (a goroutine per request, the store calls
//! fanned out on channels, buffers reused, a rate limit in front) it went
//! from 12k to 87k requests per second and from a P99 of 340 ms to 23 ms.
//!
//! This module rebuilds both versions on 127.0.0.1 so the difference can be
//! measured with the course's load generator and profiler:
//!
//! - [`store`]: the downstream feature stores, real loopback servers on a
//!   runtime of their own. Each call takes a fixed service time (a
//!   `runtime::sleep`, standing for the store's own work and network) and
//!   the store counts how many calls it is serving at once, so a test can
//!   see whether a client fanned out.
//! - [`compute`]: the per-request work shared by both versions: read the
//!   stores' answers, spread them over a scratch buffer, hash and aggregate
//!   it, render the JSON body. One function, so the two versions differ
//!   only in how they call it (a fresh buffer per request, or one reused).
//! - [`before`]: the Celery design. The HTTP front is the course's
//!   thread-per-connection engine ([`crate::threads`]); its handler puts the
//!   request on a bounded job queue (the broker) and waits; a fixed pool of
//!   worker threads (Celery's `--concurrency`) takes jobs and calls the
//!   stores one after another on blocking `std::net` sockets.
//! - [`after`]: the Go design on our runtime. A G per connection serves
//!   HTTP/1.1 ([`http`], on `httparse`); for each request it spawns one G
//!   per store, each taking the connection's store socket and buffer with
//!   it and sending both back on a channel with the answer, so the calls
//!   overlap and the request takes about one store call, not four. Buffers
//!   live as long as the connection. A GCRA limiter
//!   ([`crate::limiter::Gcra`]) answers 429 before any store is called
//!   when requests come faster than the stores were sized for, and
//!   `runtime::timeout` bounds the fan-out (504 past the deadline).
//!
//! Both versions answer `GET /features/<entity>` with the same bytes (a
//! test below checks it), so the load generator drives them identically.

pub mod after;
mod background;
pub mod before;
pub mod compute;
pub mod http;
pub mod store;

pub use after::After;
pub use before::Before;
pub use compute::Settings;
pub use store::{StoreStats, Stores};

/// The entity a request path names: `/features/<u64>` (anything else is
/// `None`, answered 404).
///
/// ```
/// use service::feacore::entity_of;
/// assert_eq!(entity_of("/features/42"), Some(42));
/// assert_eq!(entity_of("/features/42?x=1"), Some(42));
/// assert_eq!(entity_of("/features/"), None);
/// assert_eq!(entity_of("/other/42"), None);
/// ```
pub fn entity_of(target: &str) -> Option<u64> {
    let path = target.split('?').next().unwrap_or(target);
    path.strip_prefix("/features/")?.parse().ok()
}

#[cfg(test)]
mod tests;
