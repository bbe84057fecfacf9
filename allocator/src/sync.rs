//! The one door through which the allocator reaches atomics and locks.
//!
//! Normally these are `std` atomics and `std` locks (not `parking_lot`'s,
//! whose contended path allocates: see `Mutex`). Under `RUSTFLAGS="--cfg
//! loom"` they are loom's instrumented versions, so the loom models in
//! `central.rs` and `backend.rs` explore every interleaving of the central
//! lists and of the remote-free protocol. Allocator code never names
//! `std::sync` directly for a lock or a protocol atomic: whatever bypasses
//! this module is invisible to the model checker. (Statistics counters and
//! the page map use `core` atomics on purpose; they are not protocol.)
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

    /// `std`'s mutex behind a `const fn new` and a parking_lot-shaped
    /// `lock()`. Not parking_lot's: its slow path (a contended lock parks the
    /// thread) allocates per-thread data and grows a global hash table, and
    /// inside a global allocator that allocation re-enters the allocator,
    /// which takes the lock again, until the stack overflows (seen here under
    /// contention before the switch). `std`'s mutex on Linux is a futex word
    /// and never allocates.
    pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::sync::Mutex::new(value))
        }

        /// Locks. The allocator never panics while holding a lock (its errors
        /// abort), so a poisoned lock is only a test's failed assertion: the
        /// data is still consistent and is used as is.
        #[inline(always)]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};

    /// Wrapper over loom's mutex with the same `lock()` as above.
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

/// Runs a loom model body on a loom thread with room for a whole `Backend`
/// on its stack (the model's own thread has a small one). Returns how many
/// interleavings loom explored, so a model can assert it explored more than
/// one.
#[cfg(all(test, loom))]
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let f = std::sync::Arc::new(f);
    let counter = runs.clone();
    loom::model(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        let f = f.clone();
        loom::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || f())
            .unwrap()
            .join()
            .unwrap();
    });
    let n = runs.load(Ordering::Relaxed);
    println!("loom explored {n} interleavings");
    n
}

/// Declares a `const fn` outside loom and a plain `fn` under it: loom's
/// types have no `const` constructors (see the module documentation), and
/// the `static` heap needs `const` ones.
macro_rules! const_unless_loom {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($args:tt)*) -> $ret:ty $body:block) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $name($($args)*) -> $ret $body
        #[cfg(loom)]
        $(#[$m])* $vis fn $name($($args)*) -> $ret $body
    };
}
pub(crate) use const_unless_loom;
