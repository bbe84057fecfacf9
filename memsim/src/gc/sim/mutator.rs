//! The mutator's step: one goroutine loads, stores, drops or allocates.
//!
//! A store into an object or a global is a heap write, so it runs the write
//! barrier; a store into a stack slot is not (Go never puts a barrier on
//! stack writes, which is why Dijkstra's protocol must re-scan stacks). The
//! number of random draws depends only on the mutator's state, never on
//! colours, so one seed replays the same operations under every barrier.

use super::{Actor, Cycle, OBJECT_SIZES};

impl Cycle {
    pub(super) fn mutator_step(&mut self) {
        let shape = self.config.shape;
        let g = self.rng.below(shape.goroutines);
        let kind = self.rng.below(100);
        let held: Vec<usize> = (0..shape.slots)
            .filter(|&s| self.stacks[g][s].is_some())
            .collect();
        let actor = Actor::Mutator(g);
        match kind {
            0..30 if !held.is_empty() => {
                let src = held[self.rng.below(held.len())];
                let f = self.rng.below(shape.fields);
                let dst = self.rng.below(shape.slots);
                let obj = self.stacks[g][src].expect("held slot");
                let value = self.fields[&obj][f];
                self.stacks[g][dst] = value;
                self.log(actor, |c| {
                    let stack = if c.stack_scanned[g] { "black" } else { "grey" };
                    format!("s{dst} = s{src}.f{f}  (loads {} from {} into G{g}'s {stack} stack; no barrier)", c.colored(value), c.name(Some(obj)))
                });
            }
            30..60 if !held.is_empty() => {
                let dst = held[self.rng.below(held.len())];
                let f = self.rng.below(shape.fields);
                let src = self.rng.below(shape.slots);
                let obj = self.stacks[g][dst].expect("held slot");
                let old = self.fields[&obj][f];
                let new = self.stacks[g][src];
                let before = if self.tracing {
                    format!(
                        "writes {} into {}, overwrites {}",
                        self.colored(new),
                        self.colored(Some(obj)),
                        self.colored(old)
                    )
                } else {
                    String::new()
                };
                let note = self.barrier(g, old, new);
                self.fields.get_mut(&obj).expect("live object")[f] = new;
                self.log(actor, |c| {
                    format!("{}.f{f} = s{src}  ({before}){note}", c.name(Some(obj)))
                });
            }
            60..70 => {
                let dst = self.rng.below(shape.slots);
                let i = self.rng.below(shape.globals);
                let value = self.globals[i];
                self.stacks[g][dst] = value;
                self.log(actor, |c| {
                    let stack = if c.stack_scanned[g] { "black" } else { "grey" };
                    format!(
                        "s{dst} = global{i}  (loads {} into G{g}'s {stack} stack; no barrier)",
                        c.colored(value)
                    )
                });
            }
            70..80 => {
                let i = self.rng.below(shape.globals);
                let src = self.rng.below(shape.slots);
                let old = self.globals[i];
                let new = self.stacks[g][src];
                let scanned = if self.globals_scanned {
                    "scanned"
                } else {
                    "unscanned"
                };
                let before = if self.tracing {
                    format!(
                        "writes {} into {scanned} global{i}, overwrites {}",
                        self.colored(new),
                        self.colored(old)
                    )
                } else {
                    String::new()
                };
                let note = self.barrier(g, old, new);
                self.globals[i] = new;
                self.log(actor, |_| format!("global{i} = s{src}  ({before}){note}"));
            }
            80..90 => {
                let s = self.rng.below(shape.slots);
                let old = self.stacks[g][s].take();
                self.log(actor, |c| {
                    format!(
                        "s{s} = nil  (drops {}; stack write, no barrier)",
                        c.name(old)
                    )
                });
            }
            _ if self.allocs_left > 0 => {
                self.allocs_left -= 1;
                let dst = self.rng.below(shape.slots);
                let size = OBJECT_SIZES[self.rng.below(OBJECT_SIZES.len())];
                let obj = self.new_object(size);
                if self.marking {
                    // Go's gcmarknewobject: allocated black, nothing to scan yet.
                    self.heap.set_mark(obj);
                }
                self.stacks[g][dst] = Some(obj);
                self.log(actor, |c| {
                    format!(
                        "s{dst} = new object {}@{obj:#x} (allocated black)",
                        c.name(Some(obj))
                    )
                });
            }
            _ => self.log(actor, |_| {
                "idles (nothing to do with an empty stack)".into()
            }),
        }
    }
}
