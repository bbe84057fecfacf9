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
use std::sync::{Arc, Mutex};

use runtime::JoinHandle;
use runtime::sync::{Receiver, Sender, channel};

/// What the members share: the first error and the handles to cancel.
struct Shared<E> {
    first: Mutex<Option<E>>,
    /// Every member's G; the first error aborts them all.
    members: Mutex<Vec<JoinHandle<()>>>,
}
// --- end of your code ---

/// A group of Gs where the first error cancels the rest (Go's `errgroup`).
// --- your code: helpers ---
// --- end of your code ---
pub struct Group<E> {
    // --- your code: helpers (2) ---
    shared: Arc<Shared<E>>,
    /// With a limit: `n` tokens; a member takes one to run and gives it back.
    tokens: Option<(Sender<()>, Receiver<()>)>,
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
        Group {
            shared: Arc::new(Shared {
                first: Mutex::new(None),
                members: Mutex::new(Vec::new()),
            }),
            tokens: None,
        }
        // --- end of your code ---
    }

    /// A group where at most `limit` members run at once (Go's `SetLimit`).
    ///
    /// # Panics
    /// If `limit` is 0: no member could ever run.
    pub fn with_limit(limit: usize) -> Self {
        // --- your code: with_limit ---
        assert!(limit > 0, "a group limit must be at least 1");
        let (tx, rx) = channel(limit);
        for _ in 0..limit {
            tx.try_send(()).expect("room for every token");
        }
        Group {
            tokens: Some((tx, rx)),
            ..Group::new()
        }
        // --- end of your code ---
    }

    /// Starts `member` as a G of the group; with a limit, waits first until
    /// fewer than the limit are running.
    pub async fn spawn<F>(&mut self, member: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        // --- your code: spawn ---
        let token = match &mut self.tokens {
            Some((give_back, take)) => {
                take.recv().await.expect("the group holds a sender");
                Some(give_back.clone())
            }
            None => None,
        };
        let shared = self.shared.clone();
        let handle = runtime::spawn(async move {
            // Given back however this G ends: done, failed or aborted.
            let _token = TokenBack(token);
            if let Err(e) = member.await {
                let first = {
                    let mut slot = shared.first.lock().unwrap();
                    let first = slot.is_none();
                    if first {
                        *slot = Some(e);
                    }
                    first
                };
                if first {
                    for m in shared.members.lock().unwrap().iter() {
                        m.abort(); // our own G: harmless, it is ending
                    }
                }
            }
        });
        // Stored first, checked second, both under the members lock: a
        // member that fails before this point has set `first` and we abort
        // the new G here; one that fails after finds the handle in the list.
        let mut members = self.shared.members.lock().unwrap();
        members.push(handle);
        if self.shared.first.lock().unwrap().is_some() {
            members.last().expect("just pushed").abort();
        }
        // --- end of your code ---
    }

    /// Waits until every member's G has ended; the first error, if any.
    pub async fn wait(self) -> Result<(), E> {
        // --- your code: wait ---
        loop {
            let next = self.shared.members.lock().unwrap().pop();
            match next {
                Some(h) => {
                    let _ = h.await; // Ok, or cancelled by the first error
                }
                None => break,
            }
        }
        match self.shared.first.lock().unwrap().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
        // --- end of your code ---
    }
}

// --- your code: helpers (3) ---
/// Gives a limit token back when dropped.
struct TokenBack(Option<Sender<()>>);

impl Drop for TokenBack {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.try_send(());
        }
    }
}
// --- end of your code ---
