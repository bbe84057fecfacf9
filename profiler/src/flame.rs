//! The course's own flame graph (Brendan Gregg's layout, as `inferno` and
//! `flamegraph.pl` draw it), from folded stacks.
//!
//! Folded stacks (`root;child;leaf N` per line) merge into a tree: a node
//! per distinct path from the root, its weight the sum of the lines that
//! pass through it. Each node becomes a box whose width is its share of the
//! root's weight, stacked on its parent (the root at the bottom), children
//! laid left to right in name order. So the x axis is *not* time: it is the
//! alphabet, and width is how often a function was on the stack. A wide box
//! with nothing on top is where the CPU went ("self" time).

use std::collections::BTreeMap;
use std::fmt::Write;

/// One node of the merged tree.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Node {
    /// Samples whose stack passes through this node.
    pub total: u64,
    /// Children by name.
    pub children: BTreeMap<String, Node>,
}

impl Node {
    /// Samples that ended here (the node's self time).
    pub fn self_count(&self) -> u64 {
        self.total - self.children.values().map(|c| c.total).sum::<u64>()
    }
}

/// Parses folded stacks into a tree (the root has the total). A line that
/// does not end in a count is an error naming the line.
///
/// ```
/// let t = profiler::flame::fold("main;a 3\nmain;b 1\n").unwrap();
/// assert_eq!(t.total, 4);
/// assert_eq!(t.children["main"].children["a"].total, 3);
/// ```
pub fn fold(folded: &str) -> Result<Node, String> {
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
}

/// A box of the laid-out graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Rect {
    /// The function.
    pub name: String,
    /// Depth: 0 for the bottom row.
    pub depth: usize,
    /// Left edge as a share of the width, 0..1.
    pub x: f64,
    /// Width as a share, 0..1.
    pub w: f64,
    /// Samples in this box.
    pub count: u64,
}

/// Lays the tree out: one [`Rect`] per node (the root itself excluded).
pub fn layout(root: &Node) -> Vec<Rect> {
    let mut out = Vec::new();
    if root.total == 0 {
        return out;
    }
    fn go(n: &Node, depth: usize, x: f64, total: f64, out: &mut Vec<Rect>) {
        let mut x = x;
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
    go(root, 0, 0.0, root.total as f64, &mut out);
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws the flame graph as a standalone SVG, `width` pixels wide. Each box
/// has a `<title>` (`name (N samples, P%)`) so a browser shows it on hover.
pub fn svg(folded: &str, title: &str, width: u32) -> Result<String, String> {
    let root = fold(folded)?;
    let rects = layout(&root);
    const ROW: f64 = 16.0;
    let depth = rects.iter().map(|r| r.depth + 1).max().unwrap_or(0);
    let height = (depth as f64 + 3.0) * ROW;
    let w = width as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">
<rect width="100%" height="100%" fill="#fdf6e3"/>
<text x="{}" y="14" text-anchor="middle" font-size="13">{} ({} samples)</text>
"##,
        w / 2.0,
        escape(title),
        root.total
    );
    for r in &rects {
        if r.w * w < 0.5 {
            continue; // narrower than half a pixel
        }
        let y = height - (r.depth as f64 + 1.0) * ROW;
        // Warm colours, stable per name (flamegraph.pl's "hot" palette).
        let h = r
            .name
            .bytes()
            .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
        let (red, green) = (205 + h % 50, 60 + (h / 50) % 150);
        let pct = 100.0 * r.count as f64 / root.total as f64;
        let _ = write!(
            s,
            r#"<g><title>{} ({} samples, {:.2}%)</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{}" fill="rgb({red},{green},55)" rx="2"/>"#,
            escape(&r.name),
            r.count,
            pct,
            r.x * w,
            y,
            (r.w * w - 0.5).max(0.1),
            ROW - 1.0
        );
        let chars = ((r.w * w) / 7.0) as usize;
        if chars >= 3 {
            let label: String = if r.name.chars().count() > chars {
                r.name
                    .chars()
                    .take(chars.saturating_sub(2))
                    .collect::<String>()
                    + ".."
            } else {
                r.name.clone()
            };
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                r.x * w + 3.0,
                y + ROW - 4.0,
                escape(&label)
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_are_shares_and_children_sit_on_their_parent() {
        let t = fold("main;work;spin 6\nmain;work 1\nmain;idle 3\n").unwrap();
        let r = layout(&t);
        let find = |n: &str| r.iter().find(|x| x.name == n).unwrap().clone();
        assert_eq!(find("main").w, 1.0);
        assert_eq!(find("work").w, 0.7);
        assert_eq!(find("work").depth, 1);
        assert_eq!(find("spin").depth, 2);
        // idle sorts before work: laid out left of it.
        assert_eq!(find("idle").x, 0.0);
        assert!((find("work").x - 0.3).abs() < 1e-9);
        assert_eq!(
            find("spin").x,
            find("work").x,
            "a child starts at its parent"
        );
        assert_eq!(t.children["main"].children["work"].self_count(), 1);
        assert!(fold("main;a x\n").unwrap_err().contains("line 1"));
    }

    #[test]
    fn the_svg_has_a_titled_box_per_function() {
        let s = svg("main;a<b> 3\nmain;c 1\n", "t", 800).unwrap();
        assert!(
            s.contains("<title>a&lt;b&gt; (3 samples, 75.00%)</title>"),
            "{s}"
        );
        assert!(s.contains("<title>main (4 samples, 100.00%)</title>"));
        assert_eq!(s.matches("<rect").count(), 1 + 3);
    }
}
