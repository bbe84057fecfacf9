//! Span occupancy drawn as a grid: one square per object slot, filled when
//! the slot is allocated.
//!
//! A span (Go's `mspan`) is a run of pages cut into equal objects; its
//! allocation bitmap says which slots are in use. Drawing the bitmap shows at a
//! glance how full each span is, where `free_index` stands, and how much of the
//! span's last page no object can use.
//!
//! ```
//! use lessons::spans::{SpanView, occupancy_svg};
//!
//! let span = SpanView {
//!     label: "class 5 (48 B), 8 KiB".into(),
//!     used: vec![true, true, false, true],
//!     free_index: Some(2),
//! };
//! assert_eq!(span.in_use(), 3);
//! let svg = occupancy_svg("one span", &[span], 64);
//! assert!(svg.contains("3 of 4 slots marked allocated"));
//! ```

use crate::svg::{Svg, legend, palette};

/// One span as the figure sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanView {
    /// A caption (size class, object size, pages).
    pub label: String,
    /// One entry per object slot: allocated or not.
    pub used: Vec<bool>,
    /// Where the next allocation search starts (Go's `freeindex`), if known.
    pub free_index: Option<usize>,
}

impl SpanView {
    /// How many slots are allocated.
    pub fn in_use(&self) -> usize {
        self.used.iter().filter(|u| **u).count()
    }
}

/// Draws spans one under the other, `per_row` slots to a row.
pub fn occupancy_svg(title: &str, spans: &[SpanView], per_row: usize) -> String {
    let per_row = per_row.max(1);
    let cell = 11.0;
    let gap = 2.0;
    let left = 16.0;
    let mut y = 56.0;
    let mut layout = Vec::new();
    for span in spans {
        let rows = span.used.len().div_ceil(per_row).max(1);
        layout.push(y);
        y += 22.0 + rows as f64 * (cell + gap) + 14.0;
    }
    let width = left * 2.0 + per_row as f64 * (cell + gap);
    let title_w = 40.0 + 7.5 * title.chars().count() as f64;
    let mut svg = Svg::new(width.max(420.0).max(title_w), y + 4.0);
    svg.text(left, 18.0, title, 14.0, "start");
    legend(
        &mut svg,
        left,
        38.0,
        &[
            (palette::USED, "allocated"),
            (palette::FREE, "free"),
            (palette::PREEMPT, "free_index"),
        ],
    );
    for (span, top) in spans.iter().zip(layout) {
        svg.text(
            left,
            top + 12.0,
            &format!(
                "{}: {} of {} slots marked allocated",
                span.label,
                span.in_use(),
                span.used.len()
            ),
            12.0,
            "start",
        );
        for (i, used) in span.used.iter().enumerate() {
            let x = left + (i % per_row) as f64 * (cell + gap);
            let yy = top + 20.0 + (i / per_row) as f64 * (cell + gap);
            let colour = if *used { palette::USED } else { palette::FREE };
            let tip = format!("slot {i}: {}", if *used { "allocated" } else { "free" });
            svg.rect(x, yy, cell, cell, colour, Some(&tip));
            if span.free_index == Some(i) {
                svg.outline(x - 1.0, yy - 1.0, cell + 2.0, cell + 2.0, palette::PREEMPT);
            }
        }
    }
    svg.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_is_drawn_and_free_index_is_outlined() {
        let span = SpanView {
            label: "s".into(),
            used: vec![true; 10].into_iter().chain([false; 6]).collect(),
            free_index: Some(10),
        };
        let svg = occupancy_svg("t", &[span], 8);
        assert_eq!(svg.matches("slot ").count(), 16);
        assert_eq!(svg.matches(r#"fill="none""#).count(), 1);
        assert!(svg.contains("10 of 16 slots marked allocated"));
    }
}
