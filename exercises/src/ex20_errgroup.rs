#![cfg(not(loom))] // uses the task runtime, which loom builds leave out
//! # Exercise ex20: a task group where the first error wins
//!
//! Three stages of a media job (validate, watermark, encode) run at once; if
//! one fails, the job has failed, and the other two must stop instead of
//! burning CPU on a result nobody will read. Go's answer is
//! `golang.org/x/sync/errgroup`: `g.Go(f)` starts a member, the first member
//! to return an error cancels the group's context, `g.Wait()` waits for
//! every member and returns that first error, and `g.SetLimit(n)` makes
//! `g.Go` wait while `n` members are running.
//!
//! You build the same thing on the course's runtime:
//!
//! * [`Group::spawn`] starts `member` as a G (`runtime::spawn`); with a
//!   limit, it first waits (without blocking the thread) until fewer than
//!   the limit are running;
//! * the first member to return `Err(e)` keeps `e` as the group's result and
//!   cancels every other member. A Rust future is cancelled by dropping it,
//!   and `runtime::JoinHandle::abort` drops a G's future at its next
//!   `.await`; later errors are dropped;
//! * [`Group::wait`] returns only once every member's G has ended (finished
//!   or cancelled), with the first error or `Ok(())`. Nothing of the group
//!   may still run after it returns.
//!
//! Useful parts: `runtime::spawn`, `JoinHandle::abort`/`await`,
//! `runtime::sync::channel` (a buffered channel of n tokens is Go's own
//! semaphore), `std::sync::Mutex` for state held only for a moment.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex20_errgroup::Group;
//!
//! let rt = runtime::Runtime::builder().procs(2).build().unwrap();
//! let r = rt.block_on(async {
//!     let mut g = Group::new();
//!     g.spawn(async { Ok(()) }).await;
//!     g.spawn(async { Err("bad frame") }).await;
//!     g.spawn(std::future::pending()).await; // cancelled by the error
//!     g.wait().await
//! });
//! assert_eq!(r, Err("bad frame"));
//! ```

use std::future::Future;
// --- your code: imports ---
use std::marker::PhantomData;
// --- end of your code ---

/// A group of Gs where the first error cancels the rest (Go's `errgroup`).
// --- your code: helpers ---
///
/// Add the fields you need: the first error, the members' handles, the
/// limit's tokens. They are shared with the members' Gs, so think about
/// what needs an `Arc` and what needs a lock.
// --- end of your code ---
pub struct Group<E> {
    // --- your code: helpers (2) ---
    _errors: PhantomData<E>,
    // --- end of your code ---
}

impl<E: Send + 'static> Default for Group<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Send + 'static> Group<E> {
    /// A group without a limit.
    pub fn new() -> Self {
        // --- your code: new ---
        todo!("Group::new: the shared state (first error, member handles)")
        // --- end of your code ---
    }

    /// A group where at most `limit` members run at once (Go's `SetLimit`).
    ///
    /// # Panics
    /// If `limit` is 0: no member could ever run.
    pub fn with_limit(limit: usize) -> Self {
        // --- your code: with_limit ---
        let _ = limit;
        todo!("Group::with_limit: a buffered channel of `limit` tokens")
        // --- end of your code ---
    }

    /// Starts `member` as a G of the group; with a limit, waits first until
    /// fewer than the limit are running.
    pub async fn spawn<F>(&mut self, member: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        // --- your code: spawn ---
        drop(member);
        todo!("Group::spawn: take a token, spawn the member, keep its handle")
        // --- end of your code ---
    }

    /// Waits until every member's G has ended; the first error, if any.
    pub async fn wait(self) -> Result<(), E> {
        // --- your code: wait ---
        todo!("Group::wait: join every member, then return the first error")
        // --- end of your code ---
    }
}

// --- your code: helpers (3) ---
// --- end of your code ---
