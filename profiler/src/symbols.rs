//! Program counters to function names, files and lines, after the fact.
//!
//! The signal handler keeps raw addresses; names are looked up here, in an
//! ordinary thread, with the `backtrace` crate (gimli reading the binary's
//! DWARF line tables, `debug = "line-tables-only"` in release). A return
//! address points just after its `call`, possibly at the next line or the
//! next function, so every frame but the interrupted pc is looked up at
//! `address - 1`, as Go's `runtime.CallersFrames` does. One address may
//! stand for several functions when the compiler inlined: the lookup
//! returns them innermost first, and `profile.proto` keeps them all on one
//! location.

use std::collections::HashMap;

/// One function at one line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The demangled function name, without the trailing `::h0123…` hash.
    pub function: String,
    /// The source file, if known.
    pub file: String,
    /// The line, 0 if unknown.
    pub line: u32,
}

/// Looks addresses up once each.
#[derive(Default)]
pub struct Symbolizer {
    cache: HashMap<u64, Vec<Frame>>,
}

impl Symbolizer {
    /// A symbolizer with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The functions at `pc`, innermost first (never empty: an unknown
    /// address is named by its hex value). `is_return` says `pc` is a
    /// return address (every frame but the interrupted one).
    pub fn frames(&mut self, pc: u64, is_return: bool) -> &[Frame] {
        let look = if is_return { pc.saturating_sub(1) } else { pc };
        self.cache.entry(look).or_insert_with(|| {
            let mut out = Vec::new();
            backtrace::resolve(look as *mut std::ffi::c_void, |s| {
                let function = s
                    .name()
                    .map(|n| format!("{n:#}"))
                    .unwrap_or_else(|| format!("{look:#x}"));
                out.push(Frame {
                    function,
                    file: s
                        .filename()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    line: s.lineno().unwrap_or(0),
                });
            });
            if out.is_empty() {
                out.push(Frame {
                    function: format!("{look:#x}"),
                    file: String::new(),
                    line: 0,
                });
            }
            out
        })
    }
}
