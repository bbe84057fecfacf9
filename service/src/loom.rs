//! The one door through which the service's lock-free code reaches atomics
//! (the runtime's `loom.rs` pattern, for this crate).
//!
//! Normally these are `std`'s atomics. Under `RUSTFLAGS="--cfg loom"` they
//! are loom's instrumented versions, so the loom models (`.ci/loom.sh`) can
//! explore every interleaving of, e.g., the GCRA limiter's compare-and-swap
//! loop. Lock-free code in this crate names `crate::loom::atomic`, never
//! `std::sync::atomic` directly: whatever bypasses this module is invisible
//! to the model checker. (Counters that only count, such as the metrics,
//! are not protocols and stay on `std`.)

#![allow(unused_imports)] // not every item is used by every configuration

#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard, atomic};

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard, atomic};

#[cfg(all(test, loom))]
pub(crate) use loom::{model, sync::Arc, thread};
