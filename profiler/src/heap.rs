//! The heap profile by call stack (Go's `pprof.Lookup("heap")` and
//! `"allocs"`), from the allocator's sampler.
//!
//! `allocator::SpanAlloc` samples about one allocation per 512 KiB and, for
//! each sample, walks the allocating thread's frame pointers into a bucket
//! per distinct stack (`allocator/src/stacks.rs`). This module reads the
//! buckets and writes Go's four sample types: `alloc_objects/count`,
//! `alloc_space/bytes` (everything allocated since the start, freed or
//! not) and `inuse_objects/count`, `inuse_space/bytes` (what is still
//! live). `heap` shows `inuse_space` first and `allocs` shows
//! `alloc_space`; the samples are the same. A leak is a stack whose in-use
//! bytes keep growing: diff two snapshots ([`diff`], or `go tool pprof
//! -base old.pb.gz new.pb.gz`).
//!
//! The allocator's own frames (the sampler, `__rust_alloc`, `alloc::alloc`)
//! are trimmed from the leaf end of each stack, as Go hides `mallocgc`, so
//! the leaf is the code that asked for memory.

use std::collections::BTreeMap;

use allocator::StackRecord;

use crate::builder::ProfileBuilder;
use crate::symbols::Symbolizer;

/// A snapshot of the process-wide heap profile.
#[derive(Debug, Clone, Default)]
pub struct HeapSnapshot {
    /// Mean bytes between samples (Go's `MemProfileRate`).
    pub rate: usize,
    /// One record per stack.
    pub records: Vec<StackRecord>,
}

/// Reads the profile of the process-wide heap. Empty unless the program
/// runs on `allocator::SpanAlloc` as its `#[global_allocator]`.
pub fn snapshot() -> HeapSnapshot {
    let a = allocator::SpanAlloc::new();
    HeapSnapshot {
        rate: a.profile().sample_rate,
        records: a.stack_profile(),
    }
}

/// True for frames of the allocator itself, trimmed from the leaf end. By
/// file as well as by name: release builds carry line tables only, whose
/// function names are short (`record`, not `allocator::...::record`).
fn internal(f: &crate::symbols::Frame) -> bool {
    let name = f.function.trim_start_matches('<');
    let file = f.file.replace('\\', "/");
    file.contains("allocator/src/")
        || file.ends_with("alloc/src/alloc.rs")
        || file.ends_with("core/src/alloc/global.rs")
        || name.starts_with("allocator::")
        || name.starts_with("__rust_")
        || name.starts_with("__rustc::")
        || name.starts_with("__rdl_")
        || name.starts_with("alloc::alloc::")
}

/// The frames of `r` from the first one outside the allocator.
fn user_frames<'a>(sym: &mut Symbolizer, frames: &'a [usize]) -> &'a [usize] {
    let k = frames
        .iter()
        .position(|&pc| {
            let f = sym.frames(pc as u64, true);
            !internal(&f[f.len() - 1])
        })
        .unwrap_or(frames.len());
    &frames[k..]
}

/// The snapshot as function-name stacks (root first) with the four values:
/// for tests, lessons and diffs.
pub fn by_stack(s: &HeapSnapshot) -> BTreeMap<Vec<String>, [i64; 4]> {
    let mut sym = Symbolizer::new();
    let mut out: BTreeMap<Vec<String>, [i64; 4]> = BTreeMap::new();
    for r in &s.records {
        let frames = user_frames(&mut sym, &r.frames).to_vec();
        let mut names = Vec::new();
        for &pc in frames.iter().rev() {
            for f in sym.frames(pc as u64, true).iter().rev() {
                names.push(f.function.clone());
            }
        }
        let e = out.entry(names).or_default();
        e[0] += r.alloc_objects as i64;
        e[1] += r.alloc_bytes as i64;
        e[2] += r.inuse_objects as i64;
        e[3] += r.inuse_bytes as i64;
    }
    out
}

/// `after - before` per stack (what `go tool pprof -base before after`
/// shows), stacks with no change left out.
pub fn diff(
    before: &BTreeMap<Vec<String>, [i64; 4]>,
    after: &BTreeMap<Vec<String>, [i64; 4]>,
) -> BTreeMap<Vec<String>, [i64; 4]> {
    let mut out = BTreeMap::new();
    for (k, a) in after {
        let b = before.get(k).copied().unwrap_or_default();
        let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]];
        if d != [0; 4] {
            out.insert(k.clone(), d);
        }
    }
    out
}

/// The gzipped `profile.proto` of a heap snapshot; `allocs` makes
/// `alloc_space` the default sample type (Go's `/debug/pprof/allocs`),
/// otherwise `inuse_space` (`/debug/pprof/heap`).
pub fn to_pprof(s: &HeapSnapshot, allocs: bool) -> Vec<u8> {
    let mut b = ProfileBuilder::new(
        &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ],
        ("space", "bytes"),
        s.rate as i64,
    );
    b.default_sample_type(if allocs { 1 } else { 3 });
    let mut sym = Symbolizer::new();
    for r in &s.records {
        let frames: Vec<u64> = user_frames(&mut sym, &r.frames)
            .iter()
            .map(|&f| f as u64)
            .collect();
        b.add_pcs(
            &frames,
            false,
            vec![
                r.alloc_objects as i64,
                r.alloc_bytes as i64,
                r.inuse_objects as i64,
                r.inuse_bytes as i64,
            ],
            &[],
            &[],
        );
    }
    b.finish()
}
