//! Horizontal bar charts, for the few numbers a lesson wants drawn
//! (allocation rates, steal counts).
//!
//! ```
//! use lessons::chart::BarChart;
//!
//! let chart = BarChart::new("ns per alloc+free (lower is better)")
//!     .bar("SpanAlloc", 21.0)
//!     .bar("System", 35.5);
//! let svg = chart.to_svg();
//! assert!(svg.contains("SpanAlloc"));
//! assert!(svg.contains("35.5"));
//! ```

use crate::svg::{Svg, palette};

/// A titled list of labelled, non-negative values.
#[derive(Debug, Clone)]
pub struct BarChart {
    title: String,
    bars: Vec<(String, f64)>,
}

impl BarChart {
    /// An empty chart.
    pub fn new(title: &str) -> Self {
        BarChart {
            title: title.to_string(),
            bars: Vec::new(),
        }
    }

    /// Adds a bar.
    pub fn bar(mut self, label: &str, value: f64) -> Self {
        self.bars.push((label.to_string(), value.max(0.0)));
        self
    }

    /// The chart drawn as SVG.
    pub fn to_svg(&self) -> String {
        let label_w = 10.0
            + 7.0
                * self
                    .bars
                    .iter()
                    .map(|(l, _)| l.chars().count())
                    .max()
                    .unwrap_or(0) as f64;
        let plot_w = 420.0;
        let row_h = 26.0;
        let top = 34.0;
        let width = label_w + plot_w + 80.0;
        let height = top + row_h * self.bars.len() as f64 + 12.0;
        let max = self.bars.iter().map(|(_, v)| *v).fold(0.0, f64::max);
        let mut svg = Svg::new(width.round(), height.round());
        svg.text(10.0, 20.0, &self.title, 13.0, "start");
        for (i, (label, value)) in self.bars.iter().enumerate() {
            let y = top + row_h * i as f64;
            let w = if max > 0.0 { plot_w * value / max } else { 0.0 };
            svg.text(label_w - 6.0, y + 15.0, label, 12.0, "end");
            svg.rect(
                label_w,
                y + 3.0,
                w,
                row_h - 8.0,
                palette::YIELD,
                Some(&format!("{label}: {}", fmt_value(*value))),
            );
            svg.text(
                label_w + w + 6.0,
                y + 15.0,
                &fmt_value(*value),
                12.0,
                "start",
            );
        }
        svg.finish()
    }
}

/// Formats a value with a sensible number of decimals.
fn fmt_value(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
