//! What a cycle reports, and how it narrates itself: the result types
//! ([`Outcome`], the interleaving's [`TraceStep`]s, the graph pictures),
//! object names and colours in the trace's lines, and the graph snapshot.

use serde::Serialize;

use super::Cycle;
use crate::gc::ObjRef;
use crate::gc::collector::{Color, StwWork};
use crate::gc::heap::SweepReport;

/// Who took a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Actor {
    /// Building the heap before the cycle.
    Setup,
    /// The world is stopped (mark start or mark termination).
    StopTheWorld,
    /// The concurrent marker.
    Marker,
    /// Goroutine number `n`.
    Mutator(usize),
}

/// One line of an interleaving.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStep {
    /// Step number in the cycle (setup lines are 0).
    pub index: usize,
    /// Who moved.
    pub actor: Actor,
    /// What happened, with object names (`A`, `B`, ...).
    pub text: String,
}

/// An object in a graph picture.
#[derive(Debug, Clone, Serialize)]
pub struct GraphNode {
    /// Name used in traces (`A`, `B`, ...).
    pub name: String,
    /// Address in the arena.
    pub addr: ObjRef,
    /// Colour at the time of the picture.
    pub color: Color,
    /// Reachable from the roots at the time of the picture.
    pub reachable: bool,
}

/// A pointer in a graph picture: from an object or a root to an object.
#[derive(Debug, Clone, Serialize)]
pub struct GraphEdge {
    /// Source: an object name, `G0.s1` (stack slot) or `global0`.
    pub from: String,
    /// Target object name.
    pub to: String,
}

/// The heap graph at one moment, for drawing.
#[derive(Debug, Clone, Serialize)]
pub struct GraphSnapshot {
    /// Root names (`global0`, `G0.s0`, ...) with whether their holder is scanned.
    pub roots: Vec<(String, bool)>,
    /// Objects.
    pub nodes: Vec<GraphNode>,
    /// Pointers.
    pub edges: Vec<GraphEdge>,
}

/// What one GC cycle did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The seed that fixed the program and the interleaving.
    pub seed: u64,
    /// Mode and protocol.
    pub label: String,
    /// Reachable objects that were unmarked at termination, so freed by sweep:
    /// the tri-color invariant broken. Empty for a correct collector.
    pub lost: Vec<String>,
    /// Unreachable objects freed by sweep (real garbage).
    pub garbage_freed: usize,
    /// Stop-the-world work.
    pub stw: StwWork,
    /// Objects scanned concurrently.
    pub concurrent_objects: usize,
    /// Scheduler steps until mark termination.
    pub steps: usize,
    /// Of those, mutator steps.
    pub mutator_steps: usize,
    /// The sweep, with every span's alloc and mark bits.
    pub sweep: SweepReport,
    /// The interleaving (filled by [`run_traced`](crate::gc::run_traced) only).
    pub trace: Vec<TraceStep>,
    /// The graph when marking started (filled by [`run_traced`](crate::gc::run_traced) only).
    pub before: Option<GraphSnapshot>,
    /// The graph at mark termination, coloured (filled by [`run_traced`](crate::gc::run_traced) only).
    pub after: Option<GraphSnapshot>,
}

fn color_word(color: Color) -> &'static str {
    match color {
        Color::White => "white",
        Color::Grey => "grey",
        Color::Black => "black",
    }
}

impl Cycle {
    pub(super) fn log(&mut self, actor: Actor, text: impl FnOnce(&Self) -> String) {
        if self.tracing {
            let text = text(self);
            self.trace.push(TraceStep {
                index: self.step,
                actor,
                text,
            });
        }
    }

    pub(super) fn name(&self, obj: Option<ObjRef>) -> String {
        match obj {
            Some(o) => self
                .names
                .get(&o)
                .cloned()
                .unwrap_or_else(|| format!("{o:#x}")),
            None => "nil".into(),
        }
    }

    /// Name plus colour, e.g. `E(white)`, for the lines where colour matters.
    pub(super) fn colored(&self, obj: Option<ObjRef>) -> String {
        match obj {
            Some(o) => format!(
                "{}({})",
                self.name(Some(o)),
                color_word(self.marker.color(&self.heap, o))
            ),
            None => "nil".into(),
        }
    }

    pub(super) fn names_of(&self, objs: &[ObjRef]) -> String {
        objs.iter()
            .map(|&o| self.name(Some(o)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) fn roots_text(&self) -> String {
        let mut parts = Vec::new();
        for (i, g) in self.globals.iter().enumerate() {
            parts.push(format!("global{i}={}", self.name(*g)));
        }
        for (g, stack) in self.stacks.iter().enumerate() {
            let slots: Vec<String> = stack.iter().map(|s| self.name(*s)).collect();
            parts.push(format!("G{g}.stack=[{}]", slots.join(",")));
        }
        format!("roots: {}", parts.join(" "))
    }

    pub(super) fn graph(&self) -> GraphSnapshot {
        let reachable = self.reachable();
        let mut roots = Vec::new();
        let mut edges = Vec::new();
        for (i, g) in self.globals.iter().enumerate() {
            let name = format!("global{i}");
            roots.push((name.clone(), self.globals_scanned));
            if let Some(t) = g {
                edges.push(GraphEdge {
                    from: name,
                    to: self.name(Some(*t)),
                });
            }
        }
        for (g, stack) in self.stacks.iter().enumerate() {
            for (s, slot) in stack.iter().enumerate() {
                let name = format!("G{g}.s{s}");
                roots.push((name.clone(), self.stack_scanned[g]));
                if let Some(t) = slot {
                    edges.push(GraphEdge {
                        from: name,
                        to: self.name(Some(*t)),
                    });
                }
            }
        }
        let nodes = self
            .fields
            .iter()
            .map(|(o, fs)| {
                for t in fs.iter().flatten() {
                    edges.push(GraphEdge {
                        from: self.name(Some(*o)),
                        to: self.name(Some(*t)),
                    });
                }
                GraphNode {
                    name: self.name(Some(*o)),
                    addr: *o,
                    color: self.marker.color(&self.heap, *o),
                    reachable: reachable.contains(o),
                }
            })
            .collect();
        GraphSnapshot {
            roots,
            nodes,
            edges,
        }
    }
}
