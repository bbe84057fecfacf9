//! A tri-color mark-sweep collector with write barriers, run concurrently with
//! a mutator under a seeded, deterministic interleaving.
//!
//! This is a **simulation**: one OS thread plays both the marker and the
//! mutator, and a seeded scheduler decides, step by step, which of the two
//! moves next. That is what makes an interleaving repeatable: the same seed
//! gives the same schedule, so a lost object can be printed, drawn and replayed.
//! The heap underneath is real: objects are allocations in the allocator's
//! inspectable [`allocator::Heap`], and sweep returns them to their spans.
//!
//! # The mechanism
//!
//! Tri-color marking (Dijkstra et al., 1978) colours every object:
//! *white* (not reached yet; garbage if still white at the end), *grey*
//! (reached, its pointers not scanned yet: on the work list) and *black*
//! (reached and scanned). Marking starts by shading the roots (globals and
//! each goroutine's stack) and repeatedly blackens a grey object by shading
//! what it points to. When no grey is left, every white object is garbage,
//! **provided the mutator never hid a white object behind a black one**.
//!
//! Concurrent marking breaks that proviso unless a write barrier intervenes.
//! An object is lost when both happen: (1) a pointer to a white object is
//! stored into a black object (or a black stack), and (2) every path to it
//! from a grey object is cut. The four modes ([`BarrierMode`]):
//!
//! | mode | on `*slot = ptr` | extra stop-the-world work | Go |
//! |---|---|---|---|
//! | none | nothing | none | – |
//! | Dijkstra insertion | shade `ptr` | re-scan every stack at mark termination, since stack writes have no barrier | Go 1.5–1.7 |
//! | Yuasa deletion | shade the old `*slot` | scan every stack at mark start (a snapshot) | – |
//! | hybrid | shade the old `*slot`; shade `ptr` too while the current stack is grey | none | Go 1.8+ |
//!
//! Objects allocated during marking are allocated black (Go's
//! `gcmarknewobject`). Marks are bits per span (Go's `gcmarkBits`); see
//! [`GcHeap`] for how sweep turns them into the allocation state.
//!
//! # Example
//!
//! ```
//! use memsim::gc::{run, BarrierMode, GcConfig};
//!
//! // The same seed replays the same schedule under every barrier.
//! let hybrid = run(&GcConfig::canonical(BarrierMode::Hybrid), 42);
//! assert!(hybrid.lost.is_empty(), "the hybrid barrier never frees a reachable object");
//! assert!(hybrid.sweep.alloc_bits_equal_mark_bits());
//!
//! // Without a barrier some seed loses a reachable object.
//! let lost = (0..500u64).any(|seed| !run(&GcConfig::canonical(BarrierMode::None), seed).lost.is_empty());
//! assert!(lost);
//! ```

mod barrier;
mod collector;
mod heap;
mod sim;

pub use barrier::{
    BarrierFn, BarrierMode, Shader, dijkstra_barrier, hybrid_barrier, yuasa_barrier,
};
pub use collector::{Color, StwWork};
pub use heap::{GcHeap, SpanBits, SpanSlot, SweepReport};
pub use sim::{
    Actor, GcConfig, GraphEdge, GraphNode, GraphSnapshot, Outcome, Shape, TraceStep, run,
    run_traced,
};

/// An object reference: the object's address in the arena (Go: a pointer).
pub type ObjRef = usize;
