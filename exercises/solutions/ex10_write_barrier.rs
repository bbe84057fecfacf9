//! # Exercise ex10: Go's hybrid write barrier (reference solution)
//!
//! Go 1.8's barrier (proposal 17503): shade the old value, so that deleting a
//! pointer can never cut the marker's last path to an object (Yuasa); and
//! while the writing goroutine's stack is still grey, shade the new value
//! too, because that stack may drop its own copy of the pointer afterwards
//! with no barrier (Dijkstra, but only where it is needed). With both, stacks
//! are scanned once and never re-scanned at mark termination. Go's
//! implementation shades both values unconditionally, since checking the
//! stack's colour costs more than the occasional extra shade.

use memsim::gc::{BarrierMode, ObjRef, Shader};

/// The write barrier for `*slot = new`, called before the write while marking
/// is on; `old` is the slot's current value (`None` is nil).
pub fn write_barrier(shader: &mut Shader<'_>, old: Option<ObjRef>, new: Option<ObjRef>) {
    // --- your code: write_barrier ---
    shader.shade(old);
    if shader.current_stack_is_grey() {
        shader.shade(new);
    }
    // --- end of your code ---
}

/// The barrier mode that plugs [`write_barrier`] into the simulated collector.
pub fn mode() -> BarrierMode {
    BarrierMode::Custom("ex10", write_barrier)
}
