//! `JoinHandle<T>`: awaiting a G's result, and `JoinError`.
//!
//! Go has no join handle (a goroutine's result travels over a channel); this
//! is the Rust shape of the same thing. The handle is one pointer to the
//! task. Polling it reads the output if the task is complete, or leaves a
//! waker in the task for the completing M to wake. Dropping it detaches the
//! task, which keeps running; its output is then dropped when it finishes.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::cell::{Header, panic_message};

/// An owned permission to await a spawned task's output.
///
/// Returned by [`spawn`](crate::spawn). Awaiting it gives `Ok(output)`, or
/// `Err(JoinError)` if the task panicked or the runtime shut down first.
/// Dropping it does not cancel the task.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
/// let out = rt.block_on(async {
///     let h: runtime::JoinHandle<u32> = runtime::spawn(async { 6 * 7 });
///     h.await
/// });
/// assert_eq!(out.unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    raw: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output (T: Send) between threads; the
// task cell itself is shared through atomics and a lock.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: a shared &JoinHandle exposes only `id`, which reads immutable data.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

// The handle is a pointer; the output is never pinned.
impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// `raw` must be a task whose output type is `T`, and the caller must
    /// hand over one reference with JOIN_INTEREST set.
    pub(crate) unsafe fn from_raw(raw: NonNull<Header>) -> Self {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// The task's id (Go's goroutine id), as it appears in traces.
    pub fn id(&self) -> u64 {
        // SAFETY: the handle holds a reference, so the header is alive.
        unsafe { self.raw.as_ref() }.id
    }

    /// Cancels the task: its future is dropped at its next poll boundary
    /// (now, if it is waiting or queued; when its current poll returns, if
    /// it is running), and awaiting this handle then gives a `JoinError`
    /// whose `is_cancelled()` is true. A task that already finished keeps
    /// its output. tokio's `JoinHandle::abort`; Go has none (a goroutine
    /// stops only when its own code sees its `context.Context` cancelled).
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
    /// let err = rt.block_on(async {
    ///     let h = runtime::spawn(std::future::pending::<()>());
    ///     h.abort();
    ///     h.await.unwrap_err()
    /// });
    /// assert!(err.is_cancelled());
    /// ```
    pub fn abort(&self) {
        // SAFETY: the handle holds a reference for the whole call.
        unsafe { (self.raw.as_ref().vtable.abort)(self.raw) }
    }

    /// True once the task has finished (its output is ready, or it panicked
    /// or was cancelled). Does not consume the output.
    pub fn is_finished(&self) -> bool {
        // SAFETY: the handle holds a reference, so the header is alive.
        unsafe { self.raw.as_ref() }.state.load().is_complete()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    // `track_caller`: an `.await` on the handle calls `poll` directly, so
    // the caller's location is the `.await`, the G's wait site in the dump.
    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: the handle holds a reference; `out` has the type the
        // task's vtable writes (its output type is T, see `from_raw`).
        unsafe {
            let h = self.raw.as_ref();
            (h.vtable.try_read_output)(self.raw, &mut out as *mut _ as *mut (), cx.waker());
        }
        if out.is_pending() {
            // Its own reason, not whatever the trace said last.
            crate::gstatus::park(
                crate::gstatus::WaitReason::Join,
                Some(std::panic::Location::caller()),
            );
        }
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: gives back the handle's reference exactly once.
        unsafe { (self.raw.as_ref().vtable.drop_join_handle)(self.raw) }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .finish()
    }
}

/// Why a task produced no output: it panicked, or the runtime was dropped
/// before it finished.
pub struct JoinError {
    id: u64,
    repr: Repr,
}

enum Repr {
    Panic {
        message: String,
        payload: std::sync::Mutex<Option<Box<dyn Any + Send>>>,
    },
    Cancelled,
}

impl JoinError {
    pub(crate) fn panic(id: u64, payload: Box<dyn Any + Send>) -> Self {
        let message = panic_message(&*payload);
        JoinError {
            id,
            repr: Repr::Panic {
                message,
                payload: std::sync::Mutex::new(Some(payload)),
            },
        }
    }

    pub(crate) fn cancelled(id: u64) -> Self {
        JoinError {
            id,
            repr: Repr::Cancelled,
        }
    }

    /// True if the task panicked (the panic was caught; the runtime keeps
    /// running, as a Go program would not: there a panicking goroutine kills
    /// the process).
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
    /// let err = rt.block_on(async { runtime::spawn(async { panic!("boom") }).await }).unwrap_err();
    /// assert!(err.is_panic());
    /// assert_eq!(err.panic_message(), Some("boom"));
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic { .. })
    }

    /// True if the task was dropped unfinished because its runtime shut down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The panic's message, if it panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic { message, .. } => Some(message),
            Repr::Cancelled => None,
        }
    }

    /// The id of the task that failed.
    pub fn task_id(&self) -> u64 {
        self.id
    }

    /// The panic payload, to re-raise with `std::panic::resume_unwind`.
    /// Returns `None` if the task was cancelled or the payload was taken.
    pub fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        match &self.repr {
            Repr::Panic { payload, .. } => payload.lock().ok()?.take(),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panic { message, .. } => write!(f, "task {} panicked: {message}", self.id),
            Repr::Cancelled => write!(f, "task {} was cancelled: its runtime shut down", self.id),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinError({self})")
    }
}

impl std::error::Error for JoinError {}
