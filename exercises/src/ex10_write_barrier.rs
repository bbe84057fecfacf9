//! # Exercise ex10: Go's hybrid write barrier
//!
//! Go marks the heap while your program runs. The marker colours objects
//! white (not reached), grey (reached, not scanned) and black (scanned), and
//! at the end frees everything still white. Meanwhile goroutines keep moving
//! pointers: a goroutine can load a pointer to a white object, store it into
//! a black object (or keep it in its own stack after the marker has scanned
//! that stack), and delete the last pointer to it from anything grey. Then
//! the marker never sees it again, and a live object is freed.
//!
//! The write barrier is a small function the compiler calls on every pointer
//! write to the heap (`*slot = new`) while marking is on. It sees the slot's
//! `old` value and the `new` one and may *shade* objects: shading makes a
//! white object grey, so the marker will scan it; shading a grey or black
//! object does nothing. Stack writes have no barrier (that would make every
//! local assignment slower).
//!
//! Your job: write Go's barrier in [`write_barrier`]. You get a
//! [`Shader`] with two methods: `shade(obj)` and `current_stack_is_grey()`
//! (whether the goroutine doing the write has not had its stack scanned yet
//! in this cycle). Think about both ways an object can be lost: a pointer
//! deleted from the heap (what must you shade so that deleting it cannot
//! hide anything?) and a pointer written from a stack the marker has not
//! scanned yet (the stack can drop its copy afterwards with no barrier).
//!
//! It is graded on a **simulated** collector (`memsim::gc`): a seeded
//! scheduler interleaves the marker with goroutines over a real
//! `allocator::Heap`. The graded seeds include interleavings on which no
//! barrier, an insertion-only barrier and a deletion-only barrier each free a
//! reachable object. Your barrier runs with no stop-the-world stack work:
//! stacks are scanned once, concurrently, and never re-scanned.

use memsim::gc::{BarrierMode, ObjRef, Shader};

/// The write barrier for `*slot = new`, called before the write while marking
/// is on; `old` is the slot's current value (`None` is nil).
pub fn write_barrier(shader: &mut Shader<'_>, old: Option<ObjRef>, new: Option<ObjRef>) {
    // --- your code: write_barrier ---
    let _ = (shader, old, new);
    todo!("shade what must be shaded so that no reachable object can stay white")
    // --- end of your code ---
}

/// The barrier mode that plugs [`write_barrier`] into the simulated collector.
pub fn mode() -> BarrierMode {
    BarrierMode::Custom("ex10", write_barrier)
}
