//! # Exercise ex17: fold stacks and lay out a flame graph
//!
//! A CPU profile is a pile of stacks, one per SIGPROF. Brendan Gregg's
//! flame graph draws them all at once, and everything it shows comes from
//! two steps you write here (the course's `profiler::flame` draws the SVG
//! from the same two steps):
//!
//! 1. **Fold.** Folded stacks are lines `root;caller;leaf N`: a stack, root
//!    first, and how many samples had exactly that stack (the format of
//!    `stackcollapse-perf.pl` and `inferno-collapse-perf`). [`fold`] merges
//!    them into a tree: one [`Node`] per distinct path from the root, whose
//!    `total` is the sum of the counts of every line passing through it.
//!    The tree's root is a node with no name holding the grand total. A
//!    line without a count (or whose count is not a number) is an error
//!    that names the line number (1-based); empty lines are skipped.
//! 2. **Lay out.** [`layout`] gives every node except the root a [`Rect`]:
//!    `depth` 0 for the root's children, one more per level; `x` and `w` as
//!    shares of the root's total (0..1): a node's width is `total / root
//!    total`, its children start at its own `x` and sit side by side in
//!    name order (children are kept in a `BTreeMap`, so iteration order is
//!    name order), each at the previous one's `x + w`. Rects come out in
//!    depth-first order, a parent before its children.
//!
//! A node's self time (samples that ended in it) is its total minus its
//! children's totals: [`Node::self_count`].
//!
//! ```no_run
//! use exercises::ex17_flamegraph::{fold, layout};
//! let t = fold("main;work 3\nmain;idle 1\n").unwrap();
//! assert_eq!(t.total, 4);
//! let r = layout(&t);
//! assert_eq!((r[0].name.as_str(), r[0].w), ("main", 1.0));
//! ```

use std::collections::BTreeMap;

/// One node of the merged tree.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Node {
    /// Samples whose stack passes through this node.
    pub total: u64,
    /// Children by function name.
    pub children: BTreeMap<String, Node>,
}

impl Node {
    /// Samples whose stack ended here.
    pub fn self_count(&self) -> u64 {
        // --- your code: self_count ---
        todo!("self_count: total minus the children's totals")
        // --- end of your code ---
    }
}

/// A box of the flame graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Rect {
    /// The function.
    pub name: String,
    /// 0 for the bottom row (the root's children).
    pub depth: usize,
    /// Left edge, as a share of the whole width.
    pub x: f64,
    /// Width, as a share of the whole width.
    pub w: f64,
    /// Samples in this box.
    pub count: u64,
}

/// Merges folded stacks into a tree.
pub fn fold(folded: &str) -> Result<Node, String> {
    // --- your code: fold ---
    let _ = folded;
    todo!(
        "fold: split each line at its last space; walk/insert the frames; add the count on the way"
    )
    // --- end of your code ---
}

/// One rect per node but the root, depth first, children in name order.
pub fn layout(root: &Node) -> Vec<Rect> {
    // --- your code: layout ---
    let _ = root;
    todo!("layout: recurse with (depth, x); a child's w is its total / the root's total")
    // --- end of your code ---
}
