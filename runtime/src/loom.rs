//! The one door through which the scheduler reaches threads, atomics, locks
//! and condition variables.
//!
//! Normally these are `std` atomics and threads and `parking_lot` locks. Under
//! `RUSTFLAGS="--cfg loom"` they are loom's instrumented versions, so the
//! loom models in this crate can explore every interleaving of the park/unpark
//! protocol, the task state machine and the run queue. Code in the scheduler
//! must never name `std::sync` or `parking_lot` directly: whatever bypasses
//! this module is invisible to the model checker.
//!
//! One deliberate exception: the scheduler's `Arc<Shared>` and `Arc<MHandle>`
//! are `std::sync::Arc` in both configurations, because methods take
//! `self: &Arc<Self>` and loom's `Arc` cannot be a method receiver. An `Arc`
//! is only a reference count; the protocols it carries are still built from
//! the atomics and locks below.
//!
//! The lock API is parking_lot's (no poisoning, `Condvar::wait(&mut guard)`),
//! on both sides, so scheduler code reads the same under loom.

#![allow(dead_code)] // not every item is used by every configuration

#[cfg(not(loom))]
mod imp {
    #[allow(unused_imports)] // the scheduler uses std's Arc directly (see above)
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic;
    pub(crate) use std::thread;

    pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};

    /// Waits on `cv` until notified or until `deadline`, whichever comes
    /// first. (Under loom there is no clock: the wait is untimed.)
    pub(crate) fn wait_until<T>(
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        deadline: std::time::Instant,
    ) {
        let _ = cv.wait_until(guard, deadline);
    }

    /// Starts a named OS thread (an M or sysmon).
    pub(crate) fn spawn_named<F>(name: String, f: F) -> std::io::Result<thread::JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        thread::Builder::new().name(name).spawn(f)
    }

    /// `UnsafeCell` with loom's closure-based API, so the same code compiles
    /// under loom, where every access is tracked.
    #[derive(Debug, Default)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
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

        /// Unwraps the value.
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }

    /// A spin-loop hint; under loom it becomes a yield to the model.
    pub(crate) fn spin_loop() {
        std::hint::spin_loop();
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    #[allow(unused_imports)] // used by the loom models
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic;
    pub(crate) use loom::thread;

    /// parking_lot-shaped wrapper over loom's mutex: `lock()` returns the
    /// guard directly, since loom never poisons in a passing model.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// Guard of [`Mutex`]; holds an `Option` so that [`Condvar::wait`] can
    /// hand the inner guard to loom and put the returned one back.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().expect("loom mutex poisoned")))
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok().map(|g| MutexGuard(Some(g)))
        }
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0
                .as_ref()
                .expect("guard is present outside Condvar::wait")
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0
                .as_mut()
                .expect("guard is present outside Condvar::wait")
        }
    }

    /// parking_lot-shaped wrapper over loom's condition variable.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let inner = guard.0.take().expect("guard is present");
            guard.0 = Some(self.0.wait(inner).expect("loom mutex poisoned"));
        }

        pub(crate) fn notify_one(&self) -> bool {
            self.0.notify_one();
            true
        }

        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
    }

    /// Under loom there is no clock, so a timed wait is an untimed one: a
    /// model must never rely on a timeout to make progress.
    pub(crate) fn wait_until<T>(
        cv: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        _deadline: std::time::Instant,
    ) {
        cv.wait(guard);
    }

    /// Starts a loom thread; the name is kept for symmetry.
    pub(crate) fn spawn_named<F>(name: String, f: F) -> std::io::Result<thread::JoinHandle<()>>
    where
        F: FnOnce() + Send + 'static,
    {
        thread::Builder::new().name(name).spawn(f)
    }

    /// Under loom a spin must yield, or the model never lets the other
    /// thread make progress.
    pub(crate) fn spin_loop() {
        loom::thread::yield_now();
    }
}

pub(crate) use imp::*;
