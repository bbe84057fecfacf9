//! The one door through which the allocator reaches atomics and locks.
//!
//! Normally these are `std` atomics and `parking_lot` locks. Under
//! `RUSTFLAGS="--cfg loom"` they are loom's instrumented versions, so the loom
//! models in `central.rs` and `span.rs` explore every interleaving of the
//! central lists and of the remote-free protocol. Allocator code never names
//! `std::sync` or `parking_lot` directly: whatever bypasses this module is
//! invisible to the model checker.
//!
//! One difference matters: outside loom, [`Mutex::new`] is a `const fn`, so the
//! process-wide heap behind `SpanAlloc` can live in a `static` (a global
//! allocator cannot lazily initialise itself through an allocation). Loom's
//! types can only be made inside a model, so under loom the `static` heap and
//! `SpanAlloc` do not exist; the models build their heaps inside the model.

#![allow(dead_code)] // not every item is used by every configuration

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};

    /// parking_lot's mutex behind a `const fn new`, so statics can hold it.
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }

        #[inline(always)]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};

    /// parking_lot-shaped wrapper over loom's mutex: `lock()` returns the
    /// guard directly, since loom never poisons in a passing model.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().expect("loom mutex poisoned")
        }
    }
}

pub(crate) use imp::*;
