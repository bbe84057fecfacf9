//! The simulation: a heap graph, a mutator made of goroutines that move
//! pointers around, the marker, and the seeded scheduler that interleaves them.
//!
//! Design. One GC cycle is run per seed:
//!
//! 1. *Setup* (the world before GC): allocate objects in the real
//!    [`allocator::Heap`], wire random pointer slots, point globals and stack
//!    slots at some of them. Some objects end up unreachable: real garbage.
//! 2. *Mark start* (stop the world): turn the barrier on. Yuasa's protocol also
//!    scans every stack here (its snapshot); that is counted as STW work.
//! 3. *Concurrent mark*: each step, the scheduler draws from the seeded RNG
//!    whether the marker or a random goroutine moves. The marker scans the
//!    globals, one goroutine's stack, or one grey object. A goroutine loads a
//!    pointer from an object into its stack, stores a stack pointer (or nil)
//!    into an object or a global (heap writes: the barrier runs), drops a stack
//!    slot (a stack write: no barrier, as in Go), or allocates (black).
//! 4. *Mark termination* (stop the world), when the marker finds no work:
//!    Dijkstra's protocol re-scans every stack and drains the work list here.
//!    Then everything reachable from the roots must be marked; anything
//!    reachable and unmarked is **lost**: sweep is about to free it.
//! 5. *Sweep*: free every allocated, unmarked object; check the span bits.
//!
//! The number of random draws a step makes depends only on the mutator's
//! state, never on colours, and the mutator's state does not depend on the
//! barrier. So one seed gives the same sequence of mutator operations under
//! every barrier mode (until their marking ends at different times): the modes
//! are compared on the same interleaving.

use super::ObjRef;
use super::barrier::{BarrierMode, Shader};
use super::collector::Marker;
use super::heap::GcHeap;
use crate::rng::SplitMix64;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

mod mutator;
mod narrate;

pub use narrate::{Actor, GraphEdge, GraphNode, GraphSnapshot, Outcome, TraceStep};

/// The size of the simulated program. Small on purpose: losses need few
/// objects, and the property tests run tens of thousands of cycles.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Shape {
    /// Objects allocated before the cycle starts.
    pub objects: usize,
    /// Pointer slots per object.
    pub fields: usize,
    /// Global pointer variables (roots, written through the barrier).
    pub globals: usize,
    /// Goroutines (each with a stack of `slots` pointer slots).
    pub goroutines: usize,
    /// Pointer slots per goroutine stack (roots, written without a barrier).
    pub slots: usize,
    /// How many objects the mutator may allocate during marking.
    pub max_allocs: usize,
    /// Percent of scheduler steps given to the mutator.
    pub mutator_percent: u32,
    /// Mutator steps after which only the marker runs (guarantees an end).
    pub max_mutator_steps: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            objects: 6,
            fields: 2,
            globals: 1,
            goroutines: 2,
            slots: 2,
            max_allocs: 2,
            mutator_percent: 60,
            max_mutator_steps: 60,
        }
    }
}

/// A barrier mode plus the stack protocol that goes with it.
#[derive(Debug, Clone, Copy)]
pub struct GcConfig {
    /// The write barrier run on heap pointer writes during marking.
    pub mode: BarrierMode,
    /// Re-scan every stack at mark termination (stop the world).
    pub rescan_stacks: bool,
    /// Scan every stack at mark start (stop the world), before any mutator step.
    pub snapshot_stacks: bool,
    /// The simulated program.
    pub shape: Shape,
}

impl GcConfig {
    /// A mode with the protocol it needs to be correct: Dijkstra re-scans
    /// stacks at the end, Yuasa snapshots them at the start, hybrid needs
    /// neither, and none does nothing (and loses objects).
    pub fn canonical(mode: BarrierMode) -> Self {
        GcConfig {
            mode,
            rescan_stacks: matches!(mode, BarrierMode::Dijkstra),
            snapshot_stacks: matches!(mode, BarrierMode::Yuasa),
            shape: Shape::default(),
        }
    }

    /// The mode with no stop-the-world stack work at all: concurrent stack
    /// scans and nothing else. Correct only for the hybrid barrier.
    pub fn bare(mode: BarrierMode) -> Self {
        GcConfig {
            mode,
            rescan_stacks: false,
            snapshot_stacks: false,
            shape: Shape::default(),
        }
    }

    /// A short label: the mode plus its stack protocol.
    pub fn label(&self) -> String {
        let mut label = self.mode.name().to_string();
        if self.rescan_stacks {
            label.push_str(" + stack re-scan");
        }
        if self.snapshot_stacks {
            label.push_str(" + stack snapshot");
        }
        label
    }
}

/// Runs one GC cycle for `seed` under `config`, without recording a trace.
pub fn run(config: &GcConfig, seed: u64) -> Outcome {
    Cycle::new(config, seed, false).run()
}

/// Runs one GC cycle and records every step and a before/after graph.
pub fn run_traced(config: &GcConfig, seed: u64) -> Outcome {
    Cycle::new(config, seed, true).run()
}

/// Object sizes the setup picks from: two size classes, so two spans.
const OBJECT_SIZES: [usize; 2] = [16, 32];

struct Cycle {
    config: GcConfig,
    seed: u64,
    rng: SplitMix64,
    heap: GcHeap,
    marker: Marker,
    fields: BTreeMap<ObjRef, Vec<Option<ObjRef>>>,
    names: BTreeMap<ObjRef, String>,
    globals: Vec<Option<ObjRef>>,
    stacks: Vec<Vec<Option<ObjRef>>>,
    stack_scanned: Vec<bool>,
    globals_scanned: bool,
    marking: bool,
    allocs_left: usize,
    tracing: bool,
    trace: Vec<TraceStep>,
    step: usize,
}

impl Cycle {
    fn new(config: &GcConfig, seed: u64, tracing: bool) -> Self {
        let shape = config.shape;
        Cycle {
            config: *config,
            seed,
            rng: SplitMix64::new(seed),
            heap: GcHeap::new(),
            marker: Marker::default(),
            fields: BTreeMap::new(),
            names: BTreeMap::new(),
            globals: vec![None; shape.globals],
            stacks: vec![vec![None; shape.slots]; shape.goroutines],
            stack_scanned: vec![false; shape.goroutines],
            globals_scanned: false,
            marking: false,
            allocs_left: shape.max_allocs,
            tracing,
            trace: Vec::new(),
            step: 0,
        }
    }

    fn new_object(&mut self, size: usize) -> ObjRef {
        let obj = self.heap.alloc(size);
        let n = self.names.len();
        let letter = (b'A' + (n % 26) as u8) as char;
        let name = if n < 26 {
            letter.to_string()
        } else {
            format!("{letter}{}", n / 26)
        };
        self.names.insert(obj, name);
        self.fields
            .insert(obj, vec![None; self.config.shape.fields]);
        obj
    }

    fn setup(&mut self) {
        let shape = self.config.shape;
        let objs: Vec<ObjRef> = (0..shape.objects)
            .map(|_| {
                let size = OBJECT_SIZES[self.rng.below(OBJECT_SIZES.len())];
                self.new_object(size)
            })
            .collect();
        for &o in &objs {
            for f in 0..shape.fields {
                if self.rng.chance(50) {
                    let target = objs[self.rng.below(objs.len())];
                    self.fields.get_mut(&o).expect("object just allocated")[f] = Some(target);
                }
            }
        }
        for g in 0..shape.globals {
            if self.rng.chance(70) {
                self.globals[g] = Some(objs[self.rng.below(objs.len())]);
            }
        }
        for g in 0..shape.goroutines {
            for s in 0..shape.slots {
                if self.rng.chance(60) {
                    self.stacks[g][s] = Some(objs[self.rng.below(objs.len())]);
                }
            }
        }
        self.log(Actor::Setup, |c| {
            format!(
                "heap: {}",
                c.fields
                    .iter()
                    .map(|(o, fs)| format!(
                        "{}@{:#x}->[{}]",
                        c.name(Some(*o)),
                        o,
                        fs.iter().map(|t| c.name(*t)).collect::<Vec<_>>().join(",")
                    ))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        });
        self.log(Actor::Setup, |c| c.roots_text());
    }

    /// Scans goroutine `g`'s stack: shade every slot, the stack becomes black.
    fn scan_stack(&mut self, g: usize, stw: bool) -> Vec<ObjRef> {
        let mut shaded = Vec::new();
        for s in 0..self.stacks[g].len() {
            if let Some(obj) = self.stacks[g][s]
                && self.marker.shade(&mut self.heap, obj, stw)
            {
                shaded.push(obj);
            }
        }
        self.stack_scanned[g] = true;
        shaded
    }

    fn mark_start(&mut self) {
        self.marking = true;
        let mut text = format!("mark start: barrier `{}` on", self.config.mode.name());
        if self.config.snapshot_stacks {
            for g in 0..self.stacks.len() {
                let shaded = self.scan_stack(g, true);
                self.marker.stw.start_stack_slots += self.stacks[g].len();
                if self.tracing {
                    text.push_str(&format!(
                        "; snapshot G{g}'s stack (shades {})",
                        self.names_of(&shaded)
                    ));
                }
            }
        }
        self.log(Actor::StopTheWorld, |_| text);
    }

    /// One unit of concurrent mark work. Returns false when there is none.
    fn marker_step(&mut self) -> bool {
        let pick = self.rng.below(100);
        let unscanned: Vec<usize> = (0..self.stacks.len())
            .filter(|&g| !self.stack_scanned[g])
            .collect();
        let root_job = !self.globals_scanned || !unscanned.is_empty();
        if root_job && (!self.marker.has_grey() || pick < 50) {
            if !self.globals_scanned {
                let mut shaded = Vec::new();
                for i in 0..self.globals.len() {
                    if let Some(obj) = self.globals[i]
                        && self.marker.shade(&mut self.heap, obj, false)
                    {
                        shaded.push(obj);
                    }
                }
                self.globals_scanned = true;
                self.log(Actor::Marker, |c| {
                    format!("scan globals (shades {})", c.names_of(&shaded))
                });
            } else {
                let g = unscanned[pick % unscanned.len()];
                let shaded = self.scan_stack(g, false);
                self.log(Actor::Marker, |c| {
                    format!(
                        "scan G{g}'s stack (shades {}); G{g}'s stack is now black",
                        c.names_of(&shaded)
                    )
                });
            }
            return true;
        }
        match self.marker.scan_one(&mut self.heap, &self.fields, false) {
            Some((obj, shaded)) => {
                self.log(Actor::Marker, |c| {
                    format!(
                        "scan {} (shades {}); {} is now black",
                        c.name(Some(obj)),
                        c.names_of(&shaded),
                        c.name(Some(obj))
                    )
                });
                true
            }
            None => false,
        }
    }

    /// Runs the barrier for a heap write by goroutine `g` and returns a note
    /// of what it shaded.
    fn barrier(&mut self, g: usize, old: Option<ObjRef>, new: Option<ObjRef>) -> String {
        let Some(barrier) = self.config.mode.function().filter(|_| self.marking) else {
            return String::new();
        };
        let before: BTreeSet<ObjRef> = if self.tracing {
            self.heap.marked_set(&self.fields)
        } else {
            BTreeSet::new()
        };
        let mut shader = Shader {
            marker: &mut self.marker,
            heap: &mut self.heap,
            current_stack_grey: !self.stack_scanned[g],
        };
        barrier(&mut shader, old, new);
        if !self.tracing {
            return String::new();
        }
        let after = self.heap.marked_set(&self.fields);
        let newly: Vec<ObjRef> = after.difference(&before).copied().collect();
        if newly.is_empty() {
            String::new()
        } else {
            format!(" [barrier shades {}]", self.names_of(&newly))
        }
    }

    fn reachable(&self) -> BTreeSet<ObjRef> {
        let mut seen = BTreeSet::new();
        let mut work: Vec<ObjRef> = self
            .globals
            .iter()
            .chain(self.stacks.iter().flatten())
            .flatten()
            .copied()
            .collect();
        while let Some(o) = work.pop() {
            if seen.insert(o) {
                work.extend(self.fields.get(&o).into_iter().flatten().flatten().copied());
            }
        }
        seen
    }

    fn run(mut self) -> Outcome {
        self.setup();
        let before = self.tracing.then(|| self.graph());
        self.mark_start();
        let shape = self.config.shape;
        let mut mutator_steps = 0;
        loop {
            self.step += 1;
            let mutator_turn =
                self.rng.chance(shape.mutator_percent) && mutator_steps < shape.max_mutator_steps;
            if mutator_turn {
                mutator_steps += 1;
                self.mutator_step();
            } else if !self.marker_step() {
                break;
            }
        }
        self.mark_termination();
        let reachable = self.reachable();
        let lost_refs: Vec<ObjRef> = reachable
            .iter()
            .copied()
            .filter(|&o| !self.heap.is_marked(o))
            .collect();
        let lost: Vec<String> = lost_refs.iter().map(|&o| self.name(Some(o))).collect();
        if !lost.is_empty() {
            self.log(Actor::StopTheWorld, |_| {
                format!(
                    "LOST: {} reachable but white at mark termination; sweep frees it",
                    lost.join(", ")
                )
            });
        }
        let after = self.tracing.then(|| self.graph());
        let sweep = self.heap.sweep();
        for o in &sweep.freed {
            self.fields.remove(o);
        }
        let garbage_freed = sweep.freed.len() - lost_refs.len();
        Outcome {
            seed: self.seed,
            label: self.config.label(),
            lost,
            garbage_freed,
            stw: self.marker.stw,
            concurrent_objects: self.marker.concurrent_objects,
            steps: self.step,
            mutator_steps,
            sweep,
            trace: self.trace,
            before,
            after,
        }
    }

    fn mark_termination(&mut self) {
        let mut text = String::from("mark termination: world stopped");
        if self.config.rescan_stacks {
            for g in 0..self.stacks.len() {
                let shaded = self.scan_stack(g, true);
                self.marker.stw.termination_stack_slots += self.stacks[g].len();
                if self.tracing {
                    text.push_str(&format!(
                        "; re-scan G{g}'s stack (shades {})",
                        self.names_of(&shaded)
                    ));
                }
            }
        }
        let mut drained = Vec::new();
        while let Some((obj, _)) = self.marker.scan_one(&mut self.heap, &self.fields, true) {
            drained.push(obj);
        }
        if self.tracing && !drained.is_empty() {
            text.push_str(&format!(
                "; drain {} with the world stopped",
                self.names_of(&drained)
            ));
        }
        self.marking = false;
        self.log(Actor::StopTheWorld, |_| text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::Color;

    /// The operation part of a mutator line ("s0 = s1.f0"), without the
    /// colours and barrier notes that differ between modes.
    fn mutator_ops(outcome: &Outcome) -> Vec<(Actor, String)> {
        outcome
            .trace
            .iter()
            .filter(|s| matches!(s.actor, Actor::Mutator(_)))
            .map(|s| {
                (
                    s.actor,
                    s.text.split("  (").next().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn the_same_seed_replays_the_same_interleaving() {
        let config = GcConfig::canonical(BarrierMode::Hybrid);
        let a = run_traced(&config, 77);
        let b = run_traced(&config, 77);
        let text = |o: &Outcome| o.trace.iter().map(|s| s.text.clone()).collect::<Vec<_>>();
        assert_eq!(text(&a), text(&b));
        assert_ne!(
            text(&a),
            text(&run_traced(&config, 78)),
            "different seeds should give different runs"
        );
    }

    #[test]
    fn mutator_operations_do_not_depend_on_the_barrier() {
        for seed in 0..50 {
            let none = mutator_ops(&run_traced(&GcConfig::canonical(BarrierMode::None), seed));
            let hybrid = mutator_ops(&run_traced(&GcConfig::canonical(BarrierMode::Hybrid), seed));
            let n = none.len().min(hybrid.len());
            assert_eq!(
                none[..n],
                hybrid[..n],
                "seed {seed}: the mutator should do the same thing under both barriers"
            );
        }
    }

    #[test]
    fn lost_objects_are_reachable_and_freed() {
        let config = GcConfig::canonical(BarrierMode::None);
        let outcome = (0..2000)
            .map(|seed| run_traced(&config, seed))
            .find(|o| !o.lost.is_empty())
            .expect("a losing seed");
        let after = outcome.after.as_ref().expect("traced");
        for name in &outcome.lost {
            let node = after
                .nodes
                .iter()
                .find(|n| &n.name == name)
                .expect("lost object in the graph");
            assert!(node.reachable, "{name} should be reachable");
            assert_eq!(
                node.color,
                Color::White,
                "{name} should be white at termination"
            );
            assert!(
                outcome.sweep.freed.contains(&node.addr),
                "{name} should have been freed by sweep"
            );
        }
    }
}
