//! Write barriers: the code that runs on every pointer write to the heap while
//! marking is on (Go: `gcWriteBarrier`, the `writebarrierptr` family).
//!
//! Design. A barrier sees the slot's old value and the new value and may shade
//! either, through a [`Shader`]: shading a white object makes it grey (marks it
//! and queues it for scanning); shading a grey or black object does nothing.
//! Stack writes never pass through here, which is why the modes differ in what
//! they must do to stacks (see the table in the module above).

use super::ObjRef;
use super::collector::Marker;

/// A barrier function: called for `*slot = new` with the slot's `old` value,
/// before the write happens. [`hybrid_barrier`] is Go's.
pub type BarrierFn = fn(shader: &mut Shader<'_>, old: Option<ObjRef>, new: Option<ObjRef>);

/// Which write barrier the mutator runs while marking is on.
#[derive(Clone, Copy)]
pub enum BarrierMode {
    /// No barrier at all: concurrent marking can free reachable objects.
    None,
    /// Dijkstra's insertion barrier: shade the new value.
    Dijkstra,
    /// Yuasa's deletion barrier: shade the old value.
    Yuasa,
    /// Go's hybrid barrier (Go 1.8): shade the old value, and the new value
    /// while the writing goroutine's stack is still grey.
    Hybrid,
    /// A barrier supplied from outside (the ex10 exercise), run with the
    /// hybrid barrier's protocol: concurrent stack scans, no re-scan.
    Custom(&'static str, BarrierFn),
}

impl BarrierMode {
    /// A short name for tables.
    pub fn name(&self) -> &'static str {
        match self {
            BarrierMode::None => "none",
            BarrierMode::Dijkstra => "dijkstra",
            BarrierMode::Yuasa => "yuasa",
            BarrierMode::Hybrid => "hybrid",
            BarrierMode::Custom(name, _) => name,
        }
    }

    /// The four built-in modes, in the order the lesson shows them.
    pub fn all() -> [BarrierMode; 4] {
        [
            BarrierMode::None,
            BarrierMode::Dijkstra,
            BarrierMode::Yuasa,
            BarrierMode::Hybrid,
        ]
    }

    pub(crate) fn function(&self) -> Option<BarrierFn> {
        match self {
            BarrierMode::None => None,
            BarrierMode::Dijkstra => Some(dijkstra_barrier),
            BarrierMode::Yuasa => Some(yuasa_barrier),
            BarrierMode::Hybrid => Some(hybrid_barrier),
            BarrierMode::Custom(_, f) => Some(*f),
        }
    }
}

impl std::fmt::Debug for BarrierMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a barrier may do: shade objects, and ask whether the goroutine that
/// is writing still has a grey (unscanned) stack.
pub struct Shader<'a> {
    pub(crate) marker: &'a mut Marker,
    pub(crate) heap: &'a mut super::GcHeap,
    pub(crate) current_stack_grey: bool,
}

impl Shader<'_> {
    /// Shades `obj` grey if it is white (Go: `shade`). `None` (nil) is ignored.
    pub fn shade(&mut self, obj: Option<ObjRef>) {
        if let Some(obj) = obj {
            self.marker.shade(self.heap, obj, false);
        }
    }

    /// Whether the writing goroutine's stack has not been scanned yet in this
    /// cycle (Go's hybrid barrier: "if current stack is grey").
    pub fn current_stack_is_grey(&self) -> bool {
        self.current_stack_grey
    }
}

/// Dijkstra's insertion barrier: the new value is shaded, so a black object
/// never points to a white one. Stacks are not covered.
pub fn dijkstra_barrier(shader: &mut Shader<'_>, _old: Option<ObjRef>, new: Option<ObjRef>) {
    shader.shade(new);
}

/// Yuasa's deletion barrier: the old value is shaded, so no path that existed
/// when marking began can be cut without its target being shaded.
pub fn yuasa_barrier(shader: &mut Shader<'_>, old: Option<ObjRef>, _new: Option<ObjRef>) {
    shader.shade(old);
}

// ANCHOR: hybrid
/// Go's hybrid write barrier (proposal 17503, Go 1.8):
///
/// ```text
/// writePointer(slot, ptr):
///     shade(*slot)
///     if current stack is grey:
///         shade(ptr)
///     *slot = ptr
/// ```
pub fn hybrid_barrier(shader: &mut Shader<'_>, old: Option<ObjRef>, new: Option<ObjRef>) {
    shader.shade(old);
    if shader.current_stack_is_grey() {
        shader.shade(new);
    }
}
// ANCHOR_END: hybrid

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::GcHeap;

    /// Runs `barrier` on a fresh heap with two white objects and returns
    /// which of (old, new) it marked.
    fn shaded(barrier: BarrierFn, stack_grey: bool) -> (bool, bool) {
        let mut heap = GcHeap::new();
        let old = heap.alloc(16);
        let new = heap.alloc(16);
        let mut marker = Marker::default();
        let mut shader = Shader {
            marker: &mut marker,
            heap: &mut heap,
            current_stack_grey: stack_grey,
        };
        barrier(&mut shader, Some(old), Some(new));
        (heap.is_marked(old), heap.is_marked(new))
    }

    #[test]
    fn each_barrier_shades_what_its_author_said() {
        assert_eq!(shaded(dijkstra_barrier, true), (false, true));
        assert_eq!(shaded(yuasa_barrier, true), (true, false));
        assert_eq!(
            shaded(hybrid_barrier, true),
            (true, true),
            "grey stack: shade both"
        );
        assert_eq!(
            shaded(hybrid_barrier, false),
            (true, false),
            "black stack: shade only the old value"
        );
    }
}
