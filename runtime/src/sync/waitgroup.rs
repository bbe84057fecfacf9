//! `WaitGroup`: Go's `sync.WaitGroup`, a counter that Gs wait on until it
//! reaches zero.
//!
//! Go packs the counter and the number of waiters into one atomic word and
//! parks waiters on a semaphore; `Add` that brings the counter to zero
//! releases every waiter at once. Here the counter and the waiters' sudogs
//! sit under one small lock, which also makes a cancelled `wait()` (under a
//! timeout) simply leave the queue.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::profile::{WaitKind, record_wait};
use super::sudog::{DONE, Sudog, WAITING, wake_all};
use crate::gstatus::park_for;
use crate::loom::Mutex;

struct State {
    count: usize,
    waiters: Vec<Arc<Sudog<()>>>,
}

/// Waits for a collection of Gs to finish (Go's `sync.WaitGroup`): `add`
/// before starting each, `done` when each finishes, `wait().await` until
/// the count is back to zero. Share it through an `Arc`.
///
/// ```
/// use std::sync::Arc;
/// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
/// rt.block_on(async {
///     let wg = Arc::new(runtime::sync::WaitGroup::new());
///     for _ in 0..4 {
///         wg.add(1);
///         let wg = wg.clone();
///         runtime::spawn(async move { wg.done() });
///     }
///     wg.wait().await;
///     assert_eq!(wg.count(), 0);
/// });
/// ```
pub struct WaitGroup {
    state: Mutex<State>,
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}

impl WaitGroup {
    /// A wait group with count zero.
    pub fn new() -> Self {
        WaitGroup {
            state: Mutex::new(State {
                count: 0,
                waiters: Vec::new(),
            }),
        }
    }

    /// Adds `n` to the count (Go's `Add(n)`).
    pub fn add(&self, n: usize) {
        let mut s = self.state.lock();
        s.count = s
            .count
            .checked_add(n)
            .expect("sync: WaitGroup counter overflow");
    }

    /// Subtracts one; at zero every waiter is released (Go's `Done`).
    ///
    /// # Panics
    /// If the count is already zero (Go: `sync: negative WaitGroup counter`).
    pub fn done(&self) {
        let mut s = self.state.lock();
        s.count = s
            .count
            .checked_sub(1)
            .expect("sync: negative WaitGroup counter");
        if s.count > 0 {
            return;
        }
        let woken: Vec<_> = s
            .waiters
            .drain(..)
            // SAFETY: we hold the lock and took each sudog off the list.
            .map(|sg| unsafe { sg.complete(None, DONE) })
            .collect();
        drop(s);
        wake_all(woken);
    }

    /// The count now.
    pub fn count(&self) -> usize {
        self.state.lock().count
    }

    /// Waits until the count is zero (Go's `Wait`).
    #[track_caller]
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            wg: self,
            waiter: None,
            at: Location::caller(),
        }
    }
}

/// The future of [`WaitGroup::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    wg: &'a WaitGroup,
    waiter: Option<Arc<Sudog<()>>>,
    at: &'static Location<'static>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(sg) = &this.waiter
            && sg.status() == DONE
        {
            record_wait(WaitKind::WaitGroup, this.at, sg.since.elapsed());
            this.waiter = None;
            return Poll::Ready(());
        }
        let mut s = this.wg.state.lock();
        if let Some(sg) = &this.waiter {
            if sg.status() == WAITING {
                // SAFETY: we hold the lock and it is queued.
                unsafe { sg.set_waker(cx.waker()) };
                drop(s);
                park_for(WaitKind::WaitGroup, this.at);
                return Poll::Pending;
            }
            // Released between the two checks.
            record_wait(WaitKind::WaitGroup, this.at, sg.since.elapsed());
            this.waiter = None;
            return Poll::Ready(());
        }
        if s.count == 0 {
            return Poll::Ready(());
        }
        let sg = Arc::new(Sudog::new(None, cx.waker(), Instant::now()));
        s.waiters.push(sg.clone());
        drop(s);
        this.waiter = Some(sg);
        park_for(WaitKind::WaitGroup, this.at);
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(sg) = self.waiter.take() {
            let mut s = self.wg.state.lock();
            if let Some(i) = s.waiters.iter().position(|x| Arc::ptr_eq(x, &sg)) {
                s.waiters.swap_remove(i);
            }
            drop(s);
            record_wait(WaitKind::WaitGroup, self.at, sg.since.elapsed());
        }
    }
}
