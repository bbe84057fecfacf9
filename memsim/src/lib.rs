//! Simulations and measurements for the memory chapter of the course: garbage
//! collection, goroutine stacks and escape analysis, and struct layout.
//!
//! Design. Each module is one concept of Go's memory model, rebuilt small
//! enough to print and draw:
//!
//! - [`gc`]: a tri-color mark-sweep collector over the allocator's inspectable
//!   heap, marking concurrently with a mutator under a **seeded, deterministic
//!   interleaving** (a simulation, so that an interleaving that loses an object
//!   can be found, replayed and drawn), with four write barriers.
//! - [`stack`]: a **simulated** contiguous goroutine stack that starts at 2 KiB,
//!   grows by doubling and copying (adjusting pointers into itself) and
//!   shrinks at GC time; beside it, segmented stacks and their hot split.
//! - [`escape`]: a small escape analysis over a toy language that reproduces
//!   the verdicts of Go's `-gcflags=-m`.
//! - [`counting`]: a counting wrapper for any global allocator, with which
//!   lesson 10 measures what spawning a future really costs on the heap.
//! - [`layout`]: real `size_of`/`align_of`/`offset_of!` tables, and a
//!   false-sharing experiment on real threads (also the criterion bench
//!   `false_sharing`).
//! - [`rng`]: the seeded generator behind every simulated schedule.
//!
//! What is simulated says so in its module comment; everything else is
//! measured on the machine that runs it.
//!
//! ```
//! use memsim::gc::{run, BarrierMode, GcConfig};
//! let outcome = run(&GcConfig::canonical(BarrierMode::Hybrid), 1);
//! assert!(outcome.lost.is_empty());
//! ```

pub mod counting;
pub mod escape;
pub mod gc;
pub mod layout;
pub mod rng;
pub mod stack;
