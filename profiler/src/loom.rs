//! The one door through which the CPU profiler's sample ring reaches its
//! atomics and its `UnsafeCell` (the pattern of `runtime/src/loom.rs`).
//!
//! Normally these are `std`'s. Under `RUSTFLAGS="--cfg loom"` they are
//! loom's instrumented versions, so the ring's model (in `ring.rs`) explores
//! every interleaving of signal handlers writing samples and the collector
//! draining them. The ring must name no `std::sync::atomic` directly:
//! whatever bypasses this module is invisible to the model checker.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic;

    /// `UnsafeCell` with loom's closure-based API, so the same code compiles
    /// under loom, where every access is tracked.
    #[derive(Debug, Default)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Runs `f` with a shared raw pointer to the contents.
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Runs `f` with an exclusive raw pointer to the contents.
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic;
}

pub(crate) use imp::*;
