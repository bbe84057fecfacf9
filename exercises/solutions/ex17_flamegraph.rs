//! Reference solution of exercise ex17 (see `exercises/src/ex17_flamegraph.rs`).

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
        self.total - self.children.values().map(|c| c.total).sum::<u64>()
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
    let mut root = Node::default();
    for (i, line) in folded.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let (stack, n) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("line {}: no count in {line:?}", i + 1))?;
        let n: u64 = n
            .parse()
            .map_err(|_| format!("line {}: bad count in {line:?}", i + 1))?;
        root.total += n;
        let mut node = &mut root;
        for f in stack.split(';') {
            node = node.children.entry(f.to_string()).or_default();
            node.total += n;
        }
    }
    Ok(root)
    // --- end of your code ---
}

/// One rect per node but the root, depth first, children in name order.
pub fn layout(root: &Node) -> Vec<Rect> {
    // --- your code: layout ---
    fn go(n: &Node, depth: usize, mut x: f64, total: f64, out: &mut Vec<Rect>) {
        for (name, c) in &n.children {
            let w = c.total as f64 / total;
            out.push(Rect {
                name: name.clone(),
                depth,
                x,
                w,
                count: c.total,
            });
            go(c, depth + 1, x, total, out);
            x += w;
        }
    }
    let mut out = Vec::new();
    if root.total > 0 {
        go(root, 0, 0.0, root.total as f64, &mut out);
    }
    out
    // --- end of your code ---
}
