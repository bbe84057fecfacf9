//! The heap's statistics and profile as JSON, written when the process
//! exits: how a program run under `LD_PRELOAD` tells what the allocator saw.
//!
//! `SPANALLOC_STATS=PATH` asks for it; `%p` in `PATH` becomes the process
//! id, so that every process of a pipeline (gcc runs `cc1`, `as` and `ld`,
//! each of which inherits the variable) writes its own file. The document:
//!
//! ```text
//! { "pid": 4242, "program": "/usr/bin/sort", "tls": "initial-exec",
//!   "stats":   { "classes": [ {"class", "object_size", "allocs", "frees",
//!                              "in_use_objects", "in_use_bytes", "spans"}, ... ],
//!                "large": {...}, "pages": {...}, "total_allocs", "total_frees", "in_use_bytes" },
//!   "profile": { "sample_rate", "samples", "records": [ {"class", "inuse_bytes", ...}, ... ] } }
//! ```
//!
//! `stats` is `allocator::AllocStats` and `profile` is
//! `allocator::HeapProfile`, the same types a Rust program using
//! `SpanAlloc` as its global allocator reads. The file is written by an
//! `atexit` handler, so it reflects the heap after the program's last
//! frees; other threads still running at exit may have counts not yet
//! flushed (see `allocator::stats`). A program that leaves through `_exit`
//! (or is killed) writes nothing.
//!
//! `SPANALLOC_PROFILE_RATE=BYTES` sets the profile's mean sampling interval
//! (Go's `MemProfileRate`; 512 KiB by default, 1 samples everything, 0
//! turns sampling off).

use std::ffi::CStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

use serde::Serialize;

use crate::HEAP;

/// What `SPANALLOC_STATS` said, read once by the constructor.
static STATS_PATH: OnceLock<Vec<u8>> = OnceLock::new();

/// The document written (see the module doc).
#[derive(Serialize)]
struct Report {
    pid: u32,
    program: String,
    tls: &'static str,
    stats: allocator::AllocStats,
    profile: allocator::HeapProfile,
}

/// Reads the environment (called by the library's constructor).
pub(crate) fn init_from_env() {
    if let Some(rate) = env_bytes(c"SPANALLOC_PROFILE_RATE")
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse::<usize>().ok())
    {
        HEAP.set_profile_rate(rate);
    }
    if let Some(path) = env_bytes(c"SPANALLOC_STATS")
        && !path.is_empty()
        && STATS_PATH.set(path).is_ok()
    {
        // SAFETY: write_at_exit is an extern "C" fn with no arguments, valid
        // for the life of the process (this library is never unloaded: it
        // is the process's malloc).
        unsafe { libc::atexit(write_at_exit) };
    }
}

fn env_bytes(name: &CStr) -> Option<Vec<u8>> {
    // SAFETY: getenv with a NUL-terminated name; the result, if not null,
    // is a NUL-terminated string we copy at once.
    unsafe {
        let v = libc::getenv(name.as_ptr());
        (!v.is_null()).then(|| CStr::from_ptr(v).to_bytes().to_vec())
    }
}

extern "C" fn write_at_exit() {
    if let Some(path) = STATS_PATH.get() {
        // An exit handler has nowhere to report to but stderr.
        if let Err(e) = write_to(path) {
            eprintln!(
                "libspanalloc: could not write SPANALLOC_STATS ({}): {e}",
                String::from_utf8_lossy(path)
            );
        }
    }
}

/// Writes the report to `path` (`%p` replaced by the process id).
pub(crate) fn write_to(path: &[u8]) -> io::Result<()> {
    let pid = std::process::id();
    let path = expand(path, pid);
    let report = Report {
        pid,
        program: std::fs::read_link("/proc/self/exe")
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        tls: allocator::thread_cache_tls_model(),
        stats: HEAP.stats(),
        profile: HEAP.profile(),
    };
    let json = serde_json::to_vec(&report).map_err(io::Error::other)?;
    std::fs::write(std::ffi::OsStr::from_bytes(&path), json)
}

/// `path` with every `%p` replaced by `pid`.
fn expand(path: &[u8], pid: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 8);
    let mut i = 0;
    while i < path.len() {
        if path[i..].starts_with(b"%p") {
            out.extend_from_slice(pid.to_string().as_bytes());
            i += 2;
        } else {
            out.push(path[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn percent_p_becomes_the_pid_everywhere() {
        assert_eq!(expand(b"/tmp/s-%p.json", 42), b"/tmp/s-42.json");
        assert_eq!(expand(b"%p/%p", 7), b"7/7");
        assert_eq!(expand(b"/tmp/plain.json", 7), b"/tmp/plain.json");
        assert_eq!(expand(b"%", 7), b"%");
    }
}
