//! One allocation per G: header, scheduler handle, future and output.
//!
//! Go allocates a `g` struct (plus its stack) per goroutine and reuses dead
//! ones. A task here is one heap cell laid out like tokio's `Cell`:
//!
//! ```text
//!  +---------------------------+  <- NonNull<Header> points here (repr(C))
//!  | Header: state, vtable, id |     every handle (waker, JoinHandle, queue
//!  |         owned-list links  |     entry) is just this pointer
//!  | scheduler handle (S)      |
//!  | join waker (lock)         |
//!  | stage: future | output    |     the future is replaced by its output
//!  +---------------------------+
//! ```
//!
//! Handles are type-erased: they only know the header, and reach the typed
//! code through the `Vtable`, built once per `(future type, scheduler)` pair.
//! So a waker is one pointer with no extra allocation, and waking a task costs
//! one CAS on its state word plus the scheduler's queue push.

use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::join::JoinError;
use super::state::{State, ToIdle, ToRunning};
use super::{Notified, Schedule};
use crate::loom::{Mutex, UnsafeCell};

/// The untyped front of every task; handles point here.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    /// The G's id (Go's `goid`), used in traces and errors.
    pub(crate) id: u64,
    /// Links of the runtime's list of live tasks; only touched under that
    /// list's lock.
    pub(crate) owned: UnsafeCell<Links>,
    /// The labels it inherited from the G that spawned it (Go's `g.labels`);
    /// set at spawn, never changed.
    pub(crate) labels: Option<std::sync::Arc<crate::labels::LabelSet>>,
    /// Where it was spawned and what it waits for, for the goroutine dump
    /// (`gstatus.rs`).
    pub(crate) info: crate::gstatus::GInfo,
}

/// Intrusive doubly linked list links (see `owned.rs`).
#[derive(Default)]
pub(crate) struct Links {
    pub(crate) prev: Option<NonNull<Header>>,
    pub(crate) next: Option<NonNull<Header>>,
    pub(crate) linked: bool,
}

/// The typed operations, reached from a type-erased header.
pub(crate) struct Vtable {
    pub(crate) run: unsafe fn(NonNull<Header>) -> RunTag,
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
    pub(crate) abort: unsafe fn(NonNull<Header>),
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
}

/// What one poll of a task ended in (see `Notified::run`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RunTag {
    /// Waiting for a waker; the runner's reference is gone.
    Idle,
    /// Woken during the poll: the runner still holds its reference.
    Notified,
    /// Finished (output or panic stored); the runner still holds its reference.
    Complete,
}

pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

#[repr(C)]
pub(crate) struct Cell<F: Future, S> {
    header: Header,
    scheduler: S,
    join_waker: Mutex<Option<Waker>>,
    stage: UnsafeCell<Stage<F>>,
}

impl<F, S> Cell<F, S>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    const VTABLE: Vtable = Vtable {
        run: run::<F, S>,
        schedule: schedule::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_join_handle: drop_join_handle::<F, S>,
        shutdown: shutdown::<F, S>,
        abort: abort::<F, S>,
        dealloc: dealloc::<F, S>,
    };

    /// Allocates a new task; the returned pointer carries the three initial
    /// references of `State::new`.
    #[track_caller]
    pub(crate) fn allocate(future: F, scheduler: S, id: u64) -> NonNull<Header> {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: &Self::VTABLE,
                id,
                owned: UnsafeCell::new(Links::default()),
                labels: crate::labels::inherit(),
                info: crate::gstatus::GInfo::new(std::panic::Location::caller()),
            },
            scheduler,
            join_waker: Mutex::new(None),
            stage: UnsafeCell::new(Stage::Running(future)),
        });
        NonNull::from(Box::leak(cell)).cast()
    }
}

/// # Safety
/// `ptr` must point at a live `Cell<F, S>` (the caller holds a reference).
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: Cell is repr(C) with the header first, so the header pointer is
    // the cell pointer; the caller's reference keeps the allocation alive.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

/// Swallows a panic raised while dropping user values (a future or an
/// output): it must not unwind through the scheduler.
fn drop_quietly<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

unsafe fn run<F, S>(ptr: NonNull<Header>) -> RunTag
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: the runner holds the queue's reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.transition_to_running() {
        ToRunning::Run => {}
        ToRunning::Cancel => {
            // SAFETY: RUNNING is ours, so is the stage.
            unsafe { finish(cell, Err(JoinError::cancelled(cell.header.id))) };
            return RunTag::Complete;
        }
        ToRunning::Skip { last_ref } => {
            if last_ref {
                // SAFETY: that was the last reference.
                unsafe { dealloc::<F, S>(ptr) };
            }
            return RunTag::Idle;
        }
    }
    // A waker borrowed for this poll: no reference taken, none dropped. It is
    // valid while the runner's reference lives, i.e. for the whole poll; a
    // future that keeps it calls `clone`, which takes its own reference.
    // SAFETY: the vtable's functions expect a task header pointer.
    let waker = ManuallyDrop::new(unsafe { super::waker::waker_for(ptr) });
    let mut cx = Context::from_waker(&waker);
    let running = crate::gstatus::Running::enter(&cell.header.info);
    let polled = catch_unwind(AssertUnwindSafe(|| {
        cell.stage.with_mut(|stage| {
            // SAFETY: RUNNING is set by us, so we have exclusive access to the
            // stage; the future is never moved while in the cell (pinned).
            match unsafe { &mut *stage } {
                // SAFETY: the future lives in the heap cell until dropped in
                // place, so it is pinned.
                Stage::Running(fut) => unsafe { Pin::new_unchecked(fut) }.poll(&mut cx),
                _ => unreachable!("a task in a run queue always has its future"),
            }
        })
    }));
    drop(running);
    let result = match polled {
        Ok(Poll::Pending) => {
            crate::gstatus::parked_unnamed(&cell.header.info);
            return match cell.header.state.transition_to_idle() {
                ToIdle::Notified => RunTag::Notified,
                ToIdle::Cancelled => {
                    // SAFETY: still RUNNING, so the stage is ours.
                    unsafe { finish(cell, Err(JoinError::cancelled(cell.header.id))) };
                    RunTag::Complete
                }
                ToIdle::Idle { last_ref } => {
                    if last_ref {
                        // SAFETY: that was the last reference.
                        unsafe { dealloc::<F, S>(ptr) };
                    }
                    RunTag::Idle
                }
            };
        }
        Ok(Poll::Ready(output)) => Ok(output),
        Err(payload) => Err(JoinError::panic(cell.header.id, payload)),
    };
    // SAFETY: still RUNNING, so the stage is ours.
    unsafe { finish(cell, result) };
    RunTag::Complete
}

/// Replaces the future with its result and publishes COMPLETE.
///
/// # Safety
/// The caller must hold RUNNING (exclusive access to the stage).
unsafe fn finish<F: Future, S: Schedule>(cell: &Cell<F, S>, result: Result<F::Output, JoinError>) {
    cell.stage.with_mut(|stage| {
        // The future was pinned where it lies (`run` polls it through
        // `Pin::new_unchecked`), so it is dropped in place, never moved out
        // first: a future holding a pointer into itself (a socket read's
        // guard borrowing the stream the future owns) would otherwise be
        // dropped through a dangling pointer.
        // SAFETY: exclusive access per this function's contract; the stage
        // is initialised, dropped once here, then overwritten without a drop.
        let _ = catch_unwind(AssertUnwindSafe(|| unsafe {
            std::ptr::drop_in_place(stage)
        }));
        // SAFETY: exclusive access per this function's contract; the old
        // stage was dropped in place just above, so writing without a drop
        // neither leaks nor drops twice.
        unsafe { std::ptr::write(stage, Stage::Finished(result)) };
    });
    cell.scheduler.on_complete();
    let prev = cell.header.state.transition_to_complete();
    if prev.is_join_interested() {
        let waker = cell.join_waker.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
    } else {
        // Nobody will read the output: drop it here. The JoinHandle is gone,
        // so nobody else touches the stage.
        let out = cell.stage.with_mut(|stage| {
            // SAFETY: COMPLETE without JOIN_INTEREST: only we see the stage.
            unsafe { std::mem::replace(&mut *stage, Stage::Consumed) }
        });
        drop_quietly(out);
    }
}

unsafe fn schedule<F, S>(ptr: NonNull<Header>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: the caller passes a reference, which the Notified now owns.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: the caller transferred one reference to us.
    cell.scheduler.schedule(unsafe { Notified::from_raw(ptr) });
}

unsafe fn try_read_output<F, S>(ptr: NonNull<Header>, dst: *mut (), waker: &Waker)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: the JoinHandle holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    // Fast path: already complete, no need for the waker slot's lock.
    let slot = if cell.header.state.load().is_complete() {
        None
    } else {
        let slot = cell.join_waker.lock();
        // Re-checked under the lock: a completion that set COMPLETE after
        // this check takes the lock to find the waker we are about to store.
        (!cell.header.state.load().is_complete()).then_some(slot)
    };
    if let Some(mut slot) = slot {
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    } else {
        let stage = cell.stage.with_mut(|stage| {
            // SAFETY: COMPLETE with JOIN_INTEREST: the stage belongs to the
            // JoinHandle, and the acquire load above saw the output's writes.
            unsafe { std::mem::replace(&mut *stage, Stage::Consumed) }
        });
        let out = match stage {
            Stage::Finished(out) => out,
            _ => panic!("JoinHandle polled after it returned Ready"),
        };
        // SAFETY: the JoinHandle<T> passes a `*mut Poll<Result<T, JoinError>>`
        // with T = F::Output.
        unsafe { *(dst as *mut Poll<Result<F::Output, JoinError>>) = Poll::Ready(out) };
    }
}

unsafe fn drop_join_handle<F, S>(ptr: NonNull<Header>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: the JoinHandle holds a reference until the end of this fn.
    let cell = unsafe { cell::<F, S>(ptr) };
    let prev = cell.header.state.unset_join_interest();
    if prev.is_complete() {
        let out = cell.stage.with_mut(|stage| {
            // SAFETY: COMPLETE seen by the handle: the output is ours to drop.
            unsafe { std::mem::replace(&mut *stage, Stage::Consumed) }
        });
        drop_quietly(out);
    } else {
        // Not finished: the stored waker may keep another task alive; let it
        // go now. (A finished task's completion already took it.)
        let waker = cell.join_waker.lock().take();
        drop(waker);
    }
    if cell.header.state.ref_dec() {
        // SAFETY: last reference.
        unsafe { dealloc::<F, S>(ptr) };
    }
}

unsafe fn shutdown<F, S>(ptr: NonNull<Header>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: the caller (the runtime's live-task list) holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.state.transition_to_shutdown() {
        let id = cell.header.id;
        // SAFETY: transition_to_shutdown gave us RUNNING.
        unsafe { finish(cell, Err(JoinError::cancelled(id))) };
    }
}

unsafe fn abort<F, S>(ptr: NonNull<Header>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // SAFETY: the JoinHandle holds a reference for the whole call, so the
    // cell outlives `schedule` as it does for a wake (see `waker.rs`).
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.state.transition_to_notified_and_cancel() {
        // SAFETY: the transition took a new reference for the queue.
        cell.scheduler.schedule(unsafe { Notified::from_raw(ptr) });
    }
}

unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone; the cell was made by Box::new.
    let cell = unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) };
    drop_quietly(cell);
}

/// Extracts a readable message from a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}
