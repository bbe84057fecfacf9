//! The marker: the grey work list, shading, scanning, and the count of work
//! done with the world stopped.
//!
//! Design. Being marked is one bit in the object's span ([`super::GcHeap`]
//! holds those bits). Grey is "marked and still on the work list" (Go: the
//! `gcWork` buffers), black is "marked and scanned". White is "not marked".
//! So colour is not stored anywhere: it follows from the mark bit and the work
//! list, exactly as in Go, which has no colour field either.

use super::{GcHeap, ObjRef};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// An object's tri-color state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Color {
    /// Not reached (yet). Freed by sweep if still white at mark termination.
    White,
    /// Reached; its pointers are not scanned yet (on the work list).
    Grey,
    /// Reached and scanned.
    Black,
}

/// Work done while the world was stopped, in scanning units (one stack slot
/// or one object scanned = one unit). Go's pause times follow this count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StwWork {
    /// Stack slots scanned at mark start (Yuasa's snapshot).
    pub start_stack_slots: usize,
    /// Stack slots re-scanned at mark termination (Dijkstra's re-scan).
    pub termination_stack_slots: usize,
    /// Objects scanned at mark termination (draining what the re-scan found).
    pub termination_objects: usize,
}

impl StwWork {
    /// All stop-the-world units.
    pub fn total(&self) -> usize {
        self.start_stack_slots + self.termination_stack_slots + self.termination_objects
    }
}

/// Grey work list plus statistics (Go: `gcWork` and `gcController` counters).
#[derive(Debug, Default)]
pub struct Marker {
    grey: VecDeque<ObjRef>,
    grey_set: BTreeSet<ObjRef>,
    /// Objects scanned concurrently.
    pub(crate) concurrent_objects: usize,
    /// Stop-the-world work.
    pub(crate) stw: StwWork,
}

impl Marker {
    /// Marks `obj` and queues it if it was white. Returns true if it was white.
    pub(crate) fn shade(&mut self, heap: &mut GcHeap, obj: ObjRef, _stw: bool) -> bool {
        if heap.set_mark(obj) {
            self.grey.push_back(obj);
            self.grey_set.insert(obj);
            true
        } else {
            false
        }
    }

    /// Whether grey objects remain.
    pub(crate) fn has_grey(&self) -> bool {
        !self.grey.is_empty()
    }

    /// Blackens the oldest grey object by shading its pointer slots.
    /// Returns the object scanned and what it newly shaded.
    pub(crate) fn scan_one(
        &mut self,
        heap: &mut GcHeap,
        fields: &BTreeMap<ObjRef, Vec<Option<ObjRef>>>,
        stw: bool,
    ) -> Option<(ObjRef, Vec<ObjRef>)> {
        let obj = self.grey.pop_front()?;
        self.grey_set.remove(&obj);
        let mut shaded = Vec::new();
        for target in fields.get(&obj).into_iter().flatten().flatten() {
            if self.shade(heap, *target, stw) {
                shaded.push(*target);
            }
        }
        if stw {
            self.stw.termination_objects += 1;
        } else {
            self.concurrent_objects += 1;
        }
        Some((obj, shaded))
    }

    /// The colour of `obj` right now.
    pub(crate) fn color(&self, heap: &GcHeap, obj: ObjRef) -> Color {
        if !heap.is_marked(obj) {
            Color::White
        } else if self.grey_set.contains(&obj) {
            Color::Grey
        } else {
            Color::Black
        }
    }
}
