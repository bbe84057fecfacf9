//! Tasks: the G of G/M/P.
//!
//! A G in Go is a `g` struct with a stack; here it is a future in one heap
//! cell (see `cell.rs`) with an atomic state word (see `state.rs`). The
//! scheduler only ever sees three kinds of handle, all one pointer wide and
//! each owning one reference on the cell:
//!
//! * [`Notified`]: "this G is runnable" (Go's `_Grunnable` G in a run queue).
//!   Run queues, `runnext` and the global queue hold these. Running one polls
//!   the future once and says what became of it.
//! * `Waker`s (see `waker.rs`): a parked G's way back into a run queue (Go's
//!   `goready`), built over the same pointer.
//! * [`JoinHandle`]: the spawner's claim on the output.
//!
//! The live-task list (`owned.rs`, Go's `allgs`) holds a fourth kind of
//! reference so that shutdown can find and drop every future.

mod cell;
mod join;
mod owned;
pub(crate) mod state;
mod waker;

use std::future::Future;
use std::ptr::NonNull;

pub(crate) use cell::Header;
pub use join::{JoinError, JoinHandle};
pub(crate) use owned::OwnedTasks;

/// Where a woken task goes: the runtime implements this to put it in a run
/// queue (Go's `ready`/`runqput`); loom models implement it with a plain queue.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// `task` became runnable after waiting (a waker fired).
    fn schedule(&self, task: Notified);

    /// The task just finished (its output is stored), before its JoinHandle
    /// is woken: whoever awaits the handle then sees the completion counted.
    fn on_complete(&self) {}
}

/// A runnable task, owning one reference (a G in a run queue).
pub(crate) struct Notified(NonNull<Header>);

// SAFETY: the task cell is shared between threads through its atomic state
// and locks; futures and outputs are required to be Send at spawn.
unsafe impl Send for Notified {}
// SAFETY: what a shared `&Notified` can do is safe from several threads at
// once: read the header's fields that never change after spawn (`id`, and
// `labels`, an `Arc` of an immutable set), copy the pointer, and `shutdown`,
// which claims the task through the cell's atomic state first (a
// compare-and-swap to RUNNING that one caller at most wins) before it drops
// the future. Nothing reaches the future or the output without that claim.
unsafe impl Sync for Notified {}

/// What one turn of a task ended in.
pub(crate) enum RunResult {
    /// It is waiting for a waker (Go: parked, `_Gwaiting`).
    Idle,
    /// It was woken while it ran (a yield, or a wake that raced its poll):
    /// put it back in a run queue.
    Yielded(Notified),
    /// It finished; unlink it from the live-task list, then drop it.
    Complete(Notified),
}

impl Notified {
    /// # Safety
    /// The caller hands over one reference on a live task.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Notified(ptr)
    }

    pub(crate) fn raw(&self) -> NonNull<Header> {
        self.0
    }

    /// Gives up ownership of the reference, returning the pointer.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    fn header(&self) -> &Header {
        // SAFETY: we own a reference.
        unsafe { self.0.as_ref() }
    }

    /// The G's id.
    pub(crate) fn id(&self) -> u64 {
        self.header().id
    }

    /// The labels the G inherited at spawn.
    pub(crate) fn labels(&self) -> Option<&std::sync::Arc<crate::labels::LabelSet>> {
        self.header().labels.as_ref()
    }

    /// Polls the future once (Go's `execute`: the G runs until it blocks,
    /// yields or ends).
    pub(crate) fn run(self) -> RunResult {
        let ptr = self.into_raw();
        // SAFETY: we pass our reference to `run`, which consumes it for Idle
        // and leaves it with us for the other two outcomes.
        unsafe {
            match (ptr.as_ref().vtable.run)(ptr) {
                cell::RunTag::Idle => RunResult::Idle,
                cell::RunTag::Notified => RunResult::Yielded(Notified::from_raw(ptr)),
                cell::RunTag::Complete => RunResult::Complete(Notified::from_raw(ptr)),
            }
        }
    }

    /// Shutdown: drops the future of a task that is not running and gives
    /// its JoinHandle a cancelled error.
    pub(crate) fn shutdown(&self) {
        // SAFETY: we hold a reference.
        unsafe { (self.header().vtable.shutdown)(self.0) }
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { (self.header().vtable.dealloc)(self.0) }
        }
    }
}

/// Allocates a task. Returns the pointer (carrying the live-list reference,
/// to pass to `OwnedTasks::bind`), the first run-queue entry, and the
/// JoinHandle.
#[track_caller]
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
    id: u64,
) -> (NonNull<Header>, Notified, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let ptr = cell::Cell::allocate(future, scheduler, id);
    // SAFETY: a new task carries three references: one each for the list
    // (returned raw), the run queue and the JoinHandle.
    unsafe { (ptr, Notified::from_raw(ptr), JoinHandle::from_raw(ptr)) }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc as StdArc;
    use std::sync::Mutex as StdMutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};

    #[derive(Clone, Default)]
    struct Queue(StdArc<StdMutex<Vec<Notified>>>);
    impl Schedule for Queue {
        fn schedule(&self, task: Notified) {
            self.0.lock().unwrap().push(task);
        }
    }

    struct CountDrop(StdArc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn noop_cx<R>(f: impl FnOnce(&mut Context<'_>) -> R) -> R {
        let mut cx = Context::from_waker(Waker::noop());
        f(&mut cx)
    }

    #[test]
    fn a_task_runs_once_and_its_output_reaches_the_join_handle() {
        let q = Queue::default();
        let (raw, notified, mut jh) = new_task(async { 7 }, q.clone(), 1);
        // Stand in for the live list: give its reference back.
        // SAFETY: the live-list reference of the new task, given back once.
        drop(unsafe { Notified::from_raw(raw) });
        match notified.run() {
            RunResult::Complete(t) => drop(t),
            _ => panic!("a ready future should complete in one poll"),
        }
        let out = noop_cx(|cx| std::pin::Pin::new(&mut jh).poll(cx));
        assert!(matches!(out, Poll::Ready(Ok(7))));
    }

    #[test]
    fn a_detached_task_drops_future_and_output_exactly_once() {
        let drops = StdArc::new(AtomicUsize::new(0));
        let q = Queue::default();
        let d1 = CountDrop(drops.clone());
        let d2 = CountDrop(drops.clone());
        let (raw, notified, jh) = new_task(
            async move {
                drop(d1);
                d2
            },
            q,
            2,
        );
        // SAFETY: the live-list reference of the new task, given back once.
        drop(unsafe { Notified::from_raw(raw) });
        drop(jh);
        assert!(matches!(notified.run(), RunResult::Complete(_)));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2,
            "future's captures and output both dropped"
        );
    }

    #[test]
    fn a_panicking_task_reports_a_panic() {
        let q = Queue::default();
        let (raw, notified, mut jh) = new_task(async { panic!("kaboom") }, q, 3);
        // SAFETY: the live-list reference of the new task, given back once.
        drop(unsafe { Notified::from_raw(raw) });
        assert!(matches!(notified.run(), RunResult::Complete(_)));
        match noop_cx(|cx| std::pin::Pin::new(&mut jh).poll(cx)) {
            Poll::Ready(Err(e)) => {
                assert!(e.is_panic());
                assert_eq!(e.panic_message(), Some("kaboom"));
            }
            _ => panic!("expected a panic error"),
        }
    }
}
