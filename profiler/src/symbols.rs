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
//!
//! Release builds carry line tables only (`debug = "line-tables-only"`),
//! whose function names are bare (`spin`, not `service::routes::spin`). The
//! outermost function at an address is therefore renamed from the
//! executable's ELF symbol table (demangled, without the hash), which has
//! full paths; inlined frames keep their DWARF names.

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
    symtab: Option<SymbolTable>,
}

/// The `backtrace` crate keeps the parsed DWARF of every binary it looked
/// at in a process-wide cache (tens of MiB for a binary with line tables);
/// a long-running service that is profiled now and then should not keep
/// that between profiles, so the cache goes with the symbolizer.
impl Drop for Symbolizer {
    fn drop(&mut self) {
        backtrace::clear_symbol_cache();
    }
}

/// The executable's function symbols, sorted by runtime address.
#[derive(Default)]
struct SymbolTable {
    /// (start, end, demangled name)
    syms: Vec<(u64, u64, String)>,
}

impl SymbolTable {
    fn load() -> SymbolTable {
        use object::{Object, ObjectSymbol, SymbolKind};
        let Ok(data) = std::fs::read("/proc/self/exe") else {
            return SymbolTable::default();
        };
        let Ok(file) = object::File::parse(&*data) else {
            return SymbolTable::default();
        };
        let bias = main_load_bias();
        let mut syms: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| {
                let name = s.name().ok()?;
                let start = s.address() + bias;
                Some((
                    start,
                    start + s.size().max(1),
                    format!("{:#}", rustc_demangle::demangle(name)),
                ))
            })
            .collect();
        syms.sort_by_key(|s| s.0);
        SymbolTable { syms }
    }

    fn name(&self, pc: u64) -> Option<&str> {
        let i = self.syms.partition_point(|s| s.0 <= pc).checked_sub(1)?;
        let (start, end, name) = &self.syms[i];
        (*start <= pc && pc < *end).then_some(name.as_str())
    }
}

/// Where the main program was loaded (its `dlpi_addr`: 0 unless PIE).
fn main_load_bias() -> u64 {
    unsafe extern "C" fn first(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        out: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: dl_iterate_phdr passes a valid info; `out` is our u64.
        unsafe { *(out as *mut u64) = (*info).dlpi_addr };
        1 // the first entry is the main program; stop
    }
    let mut bias = 0u64;
    // SAFETY: the callback only writes the u64 we pass.
    unsafe { libc::dl_iterate_phdr(Some(first), (&mut bias as *mut u64).cast()) };
    bias
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
        let symtab = self.symtab.get_or_insert_with(SymbolTable::load);
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
            if let (Some(full), Some(outer)) = (symtab.name(look), out.last_mut()) {
                outer.function = full.to_string();
            }
            out
        })
    }
}
