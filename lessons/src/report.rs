//! What a lesson prints: a title, section headers, plain explanations,
//! "what to notice" notes and aligned tables.
//!
//! Each printing function has a twin that returns the text, so the layout is
//! testable and the lessons' integration test can look for exact lines.
//!
//! ```
//! use lessons::report::{Table, wrap};
//!
//! let mut t = Table::new(["class", "size"]);
//! t.row(["1", "8"]);
//! t.row(["67", "32768"]);
//! let text = t.render();
//! assert_eq!(text.lines().next(), Some("class    size"));
//! assert!(text.lines().last().unwrap().ends_with("32768"));
//!
//! assert_eq!(wrap("one two three", 7, ""), "one two\nthree");
//! ```

/// The width explanations are wrapped to.
pub const WIDTH: usize = 78;

/// Prints the lesson's banner.
pub fn title(lesson: &str, title: &str) {
    let line = format!("{lesson}: {title}");
    println!("{line}\n{}", "=".repeat(line.chars().count()));
}

/// Prints a section header.
pub fn section(title: &str) {
    println!("\n## {title}\n");
}

/// Prints a paragraph of explanation, wrapped.
pub fn explain(text: &str) {
    println!("{}", wrap(text, WIDTH, ""));
}

/// Prints a "what to notice" note, the sentence a learner should take away.
pub fn notice(text: &str) {
    println!("\n{}\n", notice_text(text));
}

/// The text [`notice`] prints.
///
/// ```
/// let s = lessons::report::notice_text("the queue overflowed");
/// assert_eq!(s, "  > What to notice: the queue overflowed");
/// ```
pub fn notice_text(text: &str) -> String {
    let body = wrap(&format!("What to notice: {text}"), WIDTH - 4, "    ");
    format!("  > {}", body.trim_start())
}

/// Prints where an artefact was written, relative to the workspace root when it
/// is inside it.
pub fn wrote(what: &str, path: &std::path::Path) {
    let root = crate::artefacts::workspace_root();
    let shown = path.strip_prefix(&root).unwrap_or(path);
    println!("wrote {what}: {}", shown.display());
}

/// Wraps `text` at `width` columns, starting every line after the first with
/// `indent`. Words longer than the width stay whole.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line_len > 0 && line_len + 1 + len > width {
            out.push('\n');
            out.push_str(indent);
            line_len = indent.len();
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

/// A table with a header row; numbers are right-aligned, text left-aligned.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new<I, S>(headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        Table {
            headers: headers.into_iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are left blank.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        self.rows
            .push(cells.into_iter().map(|c| c.to_string()).collect());
    }

    /// The table as text.
    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let numeric: Vec<bool> = (0..cols)
            .map(|i| {
                self.rows.iter().all(|r| {
                    r.get(i).is_none_or(|c| {
                        c.trim_end_matches(['%', 'x', ' ']).parse::<f64>().is_ok() || c.is_empty()
                    })
                })
            })
            .collect();
        let fmt_row = |cells: &[String]| {
            let mut line = String::new();
            for i in 0..cols {
                let cell = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = widths[i] - cell.chars().count();
                if i > 0 {
                    line.push_str("   ");
                }
                if numeric[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if i + 1 < cols {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            line.trim_end().to_string()
        };
        let mut out = fmt_row(&self.headers);
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&rule.join("   "));
        for row in &self.rows {
            out.push('\n');
            out.push_str(&fmt_row(row));
        }
        out
    }

    /// Prints the table.
    pub fn print(&self) {
        println!("{}", self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_go_right() {
        let mut t = Table::new(["name", "n"]);
        t.row(["a", "1"]);
        t.row(["long name", "1000"]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "name           n");
        assert_eq!(lines[2], "a              1");
        assert_eq!(lines[3], "long name   1000");
    }

    #[test]
    fn wrap_keeps_long_words_whole() {
        assert_eq!(wrap("a verylongword b", 4, "  "), "a\n  verylongword\n  b");
    }
}
