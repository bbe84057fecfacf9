//! A minimal SVG writer: rectangles, lines, text, titles for hover.
//!
//! The figures in the book are drawn by the lessons from what they recorded,
//! with nothing but string formatting, so that a lesson's first build stays
//! fast (no plotting crate). Every element can carry a `<title>`, which
//! browsers show as a tooltip when the figure is opened on its own.
//!
//! ```
//! use lessons::svg::Svg;
//!
//! let mut svg = Svg::new(100.0, 40.0);
//! svg.rect(0.0, 0.0, 50.0, 20.0, "#4e79a7", Some("G7 ran 3 ms"));
//! svg.text(60.0, 15.0, "P0 <idle>", 12.0, "start");
//! let text = svg.finish();
//! assert!(text.starts_with("<svg"));
//! assert!(text.contains("<title>G7 ran 3 ms</title>"));
//! assert!(text.contains("P0 &lt;idle&gt;"));
//! ```

use std::fmt::Write;

/// Colours shared by every figure, so that a colour means one thing in the book.
pub mod palette {
    /// A G that stopped by yielding.
    pub const YIELD: &str = "#4e79a7";
    /// A G that was preempted (budget or sysmon).
    pub const PREEMPT: &str = "#e15759";
    /// A G that blocked (timer, join, channel).
    pub const BLOCK: &str = "#9c9c9c";
    /// A G that finished.
    pub const DONE: &str = "#59a14f";
    /// A G still running when the trace ended.
    pub const OPEN: &str = "#bab0ac";
    /// A steal arrow.
    pub const STEAL: &str = "#f28e2b";
    /// Time spent in a syscall.
    pub const SYSCALL: &str = "#b07aa1";
    /// An allocated object.
    pub const USED: &str = "#4e79a7";
    /// A free object.
    pub const FREE: &str = "#e8e8e8";
    /// Bytes no object can use (a span's tail).
    pub const WASTE: &str = "#f1ce63";
    /// Axis and text.
    pub const INK: &str = "#333333";
}

/// An SVG document being built.
#[derive(Debug, Clone)]
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

/// Escapes text for XML.
///
/// ```
/// assert_eq!(lessons::svg::escape("a<b & c"), "a&lt;b &amp; c");
/// ```
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Svg {
    /// An empty drawing of this size, in pixels.
    pub fn new(width: f64, height: f64) -> Self {
        Svg {
            width,
            height,
            body: String::new(),
        }
    }

    /// A filled rectangle, with an optional hover title.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, title: Option<&str>) {
        let _ = write!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.2}" height="{h:.1}" fill="{fill}""#,
            w.max(0.5)
        );
        match title {
            Some(t) => {
                let _ = writeln!(self.body, "><title>{}</title></rect>", escape(t));
            }
            None => self.body.push_str("/>\n"),
        }
    }

    /// A rectangle outline.
    pub fn outline(&mut self, x: f64, y: f64, w: f64, h: f64, stroke: &str) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="none" stroke="{stroke}"/>"#
        );
    }

    /// A straight line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}" stroke-width="{width}"/>"#
        );
    }

    /// A line with an arrow head at its end, with an optional hover title.
    pub fn arrow(&mut self, from: (f64, f64), to: (f64, f64), stroke: &str, title: Option<&str>) {
        let (x1, y1) = from;
        let (x2, y2) = to;
        let angle = (y2 - y1).atan2(x2 - x1);
        let head = 6.0;
        let (a1, a2) = (angle + 2.6, angle - 2.6);
        let _ = write!(
            self.body,
            r#"<g stroke="{stroke}" fill="{stroke}" stroke-width="1.5"><line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}"/><polygon points="{x2:.1},{y2:.1} {:.1},{:.1} {:.1},{:.1}"/>"#,
            x2 + head * a1.cos(),
            y2 + head * a1.sin(),
            x2 + head * a2.cos(),
            y2 + head * a2.sin()
        );
        if let Some(t) = title {
            let _ = write!(self.body, "<title>{}</title>", escape(t));
        }
        self.body.push_str("</g>\n");
    }

    /// A small downward triangle marking an instant (a preemption).
    pub fn mark(&mut self, x: f64, y: f64, fill: &str, title: Option<&str>) {
        let _ = write!(
            self.body,
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {x:.1},{y:.1}" fill="{fill}""#,
            x - 4.0,
            y - 7.0,
            x + 4.0,
            y - 7.0
        );
        match title {
            Some(t) => {
                let _ = writeln!(self.body, "><title>{}</title></polygon>", escape(t));
            }
            None => self.body.push_str("/>\n"),
        }
    }

    /// Text; `anchor` is `start`, `middle` or `end`.
    pub fn text(&mut self, x: f64, y: f64, text: &str, size: f64, anchor: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" fill="{}">{}</text>"#,
            palette::INK,
            escape(text)
        );
    }

    /// The finished document.
    pub fn finish(self) -> String {
        format!(
            concat!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" "#,
                r#"font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">"#,
                "\n",
                r#"<rect width="100%" height="100%" fill="white"/>"#,
                "\n{body}</svg>\n"
            ),
            w = self.width,
            h = self.height,
            body = self.body
        )
    }
}

/// A legend row: coloured squares with labels, drawn from `(x, y)` rightwards.
pub fn legend(svg: &mut Svg, x: f64, y: f64, items: &[(&str, &str)]) {
    let mut cx = x;
    for (colour, label) in items {
        svg.rect(cx, y - 9.0, 10.0, 10.0, colour, None);
        svg.text(cx + 14.0, y, label, 11.0, "start");
        cx += 24.0 + 6.5 * label.chars().count() as f64;
    }
}
