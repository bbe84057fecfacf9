//! Checks that the book a learner reads is whole.
//!
//! mdBook only logs a warning when an `{{#include}}` names a missing file or
//! anchor, and it happily renders a link to a page that does not exist. So
//! the checks look at both ends:
//!
//! - the Markdown sources: every include directive (not escaped with `\`)
//!   must name an existing file, and an `:anchor` must have its
//!   `ANCHOR: name` / `ANCHOR_END: name` pair in that file; every
//!   `lesson-NN` the text mentions must be a binary in `lessons/src/bin/`;
//! - the built HTML: no directive survived rendering, and every relative
//!   `href`/`src` resolves to a file in the output (external URLs and
//!   same-page anchors are not followed).
//!
//! Each finding is a [`Problem`] naming the file and what is wrong; an empty
//! list means the book passed.
//!
//! ```no_run
//! let root = course::catalog::workspace_root();
//! let problems = course::checks::check_sources(&root).unwrap();
//! assert!(problems.is_empty(), "{problems:#?}");
//! ```

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// One thing wrong with the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file where the problem shows (a Markdown source or a built page).
    pub file: PathBuf,
    /// What is wrong, in a sentence.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.what)
    }
}

/// All files under `dir` with extension `ext`, sorted.
fn files_with_ext(dir: &Path, ext: &str) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// An include directive found in Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The path as written, relative to the including file.
    pub path: String,
    /// The anchor name, if the directive selects one.
    pub anchor: Option<String>,
}

const DIRECTIVES: [&str; 3] = ["include", "rustdoc_include", "playground"];

/// Finds the include directives in a Markdown text, skipping escaped ones.
///
/// ```
/// let found = course::checks::find_includes("{{#include ../a.rs:main}} and \\{{#include b.rs}}");
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].path, "../a.rs");
/// assert_eq!(found[0].anchor.as_deref(), Some("main"));
/// ```
pub fn find_includes(text: &str) -> Vec<Include> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("{{#") {
        let start = from + pos;
        from = start + 3;
        if start > 0 && text.as_bytes()[start - 1] == b'\\' {
            continue;
        }
        let Some(end) = text[start..].find("}}") else {
            break;
        };
        let body = text[start + 3..start + end].trim();
        let Some((directive, arg)) = body.split_once(char::is_whitespace) else {
            continue;
        };
        if !DIRECTIVES.contains(&directive) {
            continue;
        }
        let arg = arg.trim();
        let (path, selector) = match arg.split_once(':') {
            Some((p, s)) => (p, Some(s)),
            None => (arg, None),
        };
        // `:10`, `:10:20`, `::20`, `:10:` select lines; anything else is an anchor.
        let anchor = selector
            .filter(|s| !s.chars().all(|c| c.is_ascii_digit() || c == ':'))
            .map(str::to_string);
        out.push(Include {
            path: path.to_string(),
            anchor,
        });
    }
    out
}

/// Checks the Markdown under `<root>/book`: includes resolve, anchors exist,
/// every `lesson-NN` mentioned is a lesson binary.
pub fn check_sources(root: &Path) -> io::Result<Vec<Problem>> {
    let src = root.join("book");
    let lesson_dir = root.join("lessons/src/bin");
    let mut problems = Vec::new();
    for md in files_with_ext(&src, "md")? {
        let text = fs::read_to_string(&md)?;
        let here = md.parent().unwrap_or(&src);
        for inc in find_includes(&text) {
            let target = here.join(&inc.path);
            let Ok(content) = fs::read_to_string(&target) else {
                problems.push(Problem {
                    file: md.clone(),
                    what: format!(
                        "{{{{#include {}}}}} names a file that does not exist",
                        inc.path
                    ),
                });
                continue;
            };
            if let Some(anchor) = &inc.anchor {
                let has = |tag: &str| {
                    content.lines().any(|l| {
                        l.split_once(tag).is_some_and(|(_, name)| {
                            name.trim().trim_end_matches("*/").trim() == anchor
                        })
                    })
                };
                if !has("ANCHOR:") || !has("ANCHOR_END:") {
                    problems.push(Problem {
                        file: md.clone(),
                        what: format!(
                            "anchor `{anchor}` is missing from {} (need `ANCHOR: {anchor}` and `ANCHOR_END: {anchor}`)",
                            inc.path
                        ),
                    });
                }
            }
        }
        for lesson in lesson_mentions(&text) {
            if !lesson_dir.join(format!("{lesson}.rs")).is_file() {
                problems.push(Problem {
                    file: md.clone(),
                    what: format!(
                        "mentions {lesson}, but lessons/src/bin/{lesson}.rs does not exist"
                    ),
                });
            }
        }
    }
    Ok(problems)
}

/// Every distinct `lesson-NN` (digits only) in a text, in order of first mention.
///
/// ```
/// let m = course::checks::lesson_mentions("run lesson-02, then lesson-NN, then lesson-02 and lesson-10");
/// assert_eq!(m, ["lesson-02", "lesson-10"]);
/// ```
pub fn lesson_mentions(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, _) in text.match_indices("lesson-") {
        let digits: String = text[i + 7..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.is_empty() {
            continue;
        }
        let name = format!("lesson-{digits}");
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Every `href="..."` and `src="..."` value in an HTML text.
fn attribute_urls(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=", "src="] {
        for (i, _) in html.match_indices(attr) {
            // Only a real attribute: preceded by whitespace.
            if i == 0 || !html.as_bytes()[i - 1].is_ascii_whitespace() {
                continue;
            }
            let rest = &html[i + attr.len()..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                out.push(rest[1..1 + end].replace("&amp;", "&"));
            }
        }
    }
    out
}

fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lexically normalises `a/b/../c` to `a/c`; `None` if it climbs above the start.
fn normalise(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    Some(out)
}

/// Checks the built HTML under `html_dir`: no include directive left, and
/// every relative link or source names a file that exists in the output.
///
/// `404.html` is skipped: it is served from any depth and links through a
/// `<base>` tag.
pub fn check_html(html_dir: &Path) -> io::Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for page in files_with_ext(html_dir, "html")? {
        let rel_page = page.strip_prefix(html_dir).unwrap_or(&page).to_path_buf();
        if rel_page == Path::new("404.html") {
            continue;
        }
        let html = fs::read_to_string(&page)?;
        for d in DIRECTIVES {
            if html.contains(&format!("{{{{#{d} ")) {
                problems.push(Problem {
                    file: rel_page.clone(),
                    what: format!("an unresolved {{{{#{d} ...}}}} was left in the page"),
                });
            }
        }
        let page_dir = rel_page.parent().unwrap_or(Path::new("")).to_path_buf();
        for url in attribute_urls(&html) {
            let lower = url.to_ascii_lowercase();
            if url.is_empty()
                || url.starts_with('#')
                || url.starts_with("//")
                || ["http:", "https:", "mailto:", "javascript:", "data:", "tel:"]
                    .iter()
                    .any(|s| lower.starts_with(s))
            {
                continue;
            }
            let path_part = url.split(['#', '?']).next().unwrap_or("");
            if path_part.is_empty() {
                continue;
            }
            let decoded = percent_decode_lossy(path_part);
            let joined = match decoded.strip_prefix('/') {
                Some(abs) => PathBuf::from(abs),
                None => page_dir.join(&decoded),
            };
            let ok = normalise(&joined).is_some_and(|rel| {
                let target = html_dir.join(&rel);
                target.is_file() || target.join("index.html").is_file()
            });
            let problem = Problem {
                file: rel_page.clone(),
                what: format!("broken link `{url}`"),
            };
            if !ok && !problems.contains(&problem) {
                problems.push(problem);
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_are_parsed_with_anchors_and_line_ranges() {
        let text = "a {{#include ../x.rs:setup}} b {{#include y.rs:3:9}} c {{#rustdoc_include z.rs}} \
                    d \\{{#include escaped.rs}} e {{#title T}}";
        let found = find_includes(text);
        assert_eq!(
            found,
            vec![
                Include {
                    path: "../x.rs".into(),
                    anchor: Some("setup".into())
                },
                Include {
                    path: "y.rs".into(),
                    anchor: None
                },
                Include {
                    path: "z.rs".into(),
                    anchor: None
                },
            ]
        );
    }

    fn scratch(name: &str) -> PathBuf {
        let base =
            std::env::temp_dir().join(format!("course-checks-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(&base).unwrap();
        base
    }

    #[test]
    fn source_check_finds_missing_files_anchors_and_lessons() {
        let root = scratch("sources");
        fs::create_dir_all(root.join("book/ch")).unwrap();
        fs::create_dir_all(root.join("lessons/src/bin")).unwrap();
        fs::write(
            root.join("lessons/src/bin/lesson-01.rs"),
            "// ANCHOR: main\nfn main() {}\n// ANCHOR_END: main\n",
        )
        .unwrap();
        fs::write(
            root.join("book/ch/page.md"),
            "{{#include ../../lessons/src/bin/lesson-01.rs:main}}\n\
             {{#include ../../lessons/src/bin/lesson-01.rs:nope}}\n\
             {{#include ../../missing.rs}}\nRun lesson-01 and lesson-07.\n",
        )
        .unwrap();
        let problems = check_sources(&root).unwrap();
        let text: Vec<String> = problems.iter().map(|p| p.what.clone()).collect();
        assert_eq!(problems.len(), 3, "{text:#?}");
        assert!(text[0].contains("anchor `nope`"), "{text:#?}");
        assert!(text[1].contains("../../missing.rs"), "{text:#?}");
        assert!(text[2].contains("lesson-07"), "{text:#?}");
    }

    #[test]
    fn html_check_finds_broken_links_and_leftover_includes() {
        let root = scratch("html");
        fs::create_dir_all(root.join("ch/data")).unwrap();
        fs::write(
            root.join("index.html"),
            r#"<a href="ch/a.html#top">a</a> <a href="https://x.org">x</a>"#,
        )
        .unwrap();
        fs::write(
            root.join("ch/a.html"),
            r##"<a href="../index.html">up</a> <a href="#here">h</a> <img src="data/t.json">
                <a href="b.html">gone</a> <a href="../../outside.html">out</a> {{#include x.rs}}"##,
        )
        .unwrap();
        fs::write(root.join("ch/data/t.json"), "{}").unwrap();
        fs::write(root.join("404.html"), r#"<a href="nowhere.html">"#).unwrap();
        let problems = check_html(&root).unwrap();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 3, "{text:#?}");
        assert!(
            text.iter().any(|t| t.contains("unresolved {{#include")),
            "{text:#?}"
        );
        assert!(text.iter().any(|t| t.contains("`b.html`")), "{text:#?}");
        assert!(
            text.iter().any(|t| t.contains("`../../outside.html`")),
            "{text:#?}"
        );
    }
}
