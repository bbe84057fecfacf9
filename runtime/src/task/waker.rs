//! The raw-waker vtable over a task pointer.
//!
//! A `Waker` for a G is the task's header pointer and this vtable: cloning
//! takes a reference on the task, dropping releases one, and waking runs the
//! state machine's notify transition, queueing the task only if it was idle
//! (Go's `goready`). No extra `Arc` or allocation per waker.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::cell::Header;
use super::state::WakeAction;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// Builds a waker over `ptr` WITHOUT taking a reference.
///
/// # Safety
/// `ptr` must be a live task header. The result must either be wrapped in
/// `ManuallyDrop` (a borrowed waker) or own a reference taken by the caller.
pub(crate) unsafe fn waker_for(ptr: NonNull<Header>) -> Waker {
    // SAFETY: the vtable's functions treat the data pointer as a task header,
    // which the caller guarantees.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)) }
}

fn header<'a>(data: *const ()) -> (&'a Header, NonNull<Header>) {
    let ptr = NonNull::new(data as *mut Header).expect("task waker with a null pointer");
    // SAFETY: every waker built by `waker_for` holds or borrows a reference,
    // so the header is alive for the duration of these calls.
    (unsafe { ptr.as_ref() }, ptr)
}

fn clone(data: *const ()) -> RawWaker {
    let (h, _) = header(data);
    h.state.ref_inc();
    RawWaker::new(data, &VTABLE)
}

fn wake(data: *const ()) {
    let (h, ptr) = header(data);
    match h.state.transition_to_notified_by_val() {
        WakeAction::Submit => {
            // SAFETY: the transition took a new reference for the queue.
            unsafe { (h.vtable.schedule)(ptr) };
            // Only now let the waker's reference go. Handing it to the queue
            // instead would let another M run the task to completion and
            // free the cell while `schedule` still runs on the scheduler
            // handle inside it (a use-after-free that ASan found, and that
            // `loom_wake_by_value_while_the_task_completes_on_another_m`
            // reproduces).
            drop_waker(data);
        }
        WakeAction::Nothing => {}
        // SAFETY: the waker held the last reference.
        WakeAction::Dealloc => unsafe { (h.vtable.dealloc)(ptr) },
    }
}

fn wake_by_ref(data: *const ()) {
    let (h, ptr) = header(data);
    if h.state.transition_to_notified_by_ref() {
        // SAFETY: the transition took a new reference for the scheduler.
        unsafe { (h.vtable.schedule)(ptr) }
    }
}

fn drop_waker(data: *const ()) {
    let (h, ptr) = header(data);
    if h.state.ref_dec() {
        // SAFETY: that was the last reference.
        unsafe { (h.vtable.dealloc)(ptr) }
    }
}
