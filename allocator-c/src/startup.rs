//! Start-up: which path a call takes before thread-local storage is known
//! to work, and what the library does once its constructor runs.
//!
//! The heap itself needs no start-up: every static behind `SpanAlloc` is
//! built at compile time, so the very first `malloc` of a process (made by
//! glibc's own initialisation, before any library constructor) finds a
//! usable heap. Only the thread cache needs thread-local storage, and that
//! needs the thread pointer (`%fs` on x86-64) to be set. glibc's loader sets
//! it before it binds `malloc` to anyone else's, but nothing in the ELF rules
//! forces every loader to, and a cache read through an unset thread pointer
//! is a crash, not an error. So until this library has once seen a thread
//! pointer, calls go to the cache-less heap (the same heap, every small
//! object through its class's central lock), and the check costs one
//! relaxed load of a flag that is true for the rest of the process:
//!
//! ```text
//!   heap() ── TLS_READY? ── yes ──> HEAP (thread caches)
//!                        └─ no ──> is the thread pointer set? (arch_prctl, once per call until yes)
//!                                   ├─ yes: TLS_READY = true, HEAP
//!                                   └─ no:  HEAP_NO_CACHE
//! ```
//!
//! The constructor (an `.init_array` entry, run by the loader after glibc's
//! own) reads the library's environment variables: `SPANALLOC_STATS` (see
//! `report.rs`) and `SPANALLOC_PROFILE_RATE` (bytes between heap-profile
//! samples, Go's `MemProfileRate`).

use core::sync::atomic::{AtomicBool, Ordering};

use allocator::SpanAlloc;

use crate::{HEAP, HEAP_NO_CACHE, report};

static TLS_READY: AtomicBool = AtomicBool::new(false);

// ANCHOR: heap
/// The heap a call should use now (see the module doc).
#[inline(always)]
pub(crate) fn heap() -> &'static SpanAlloc {
    if TLS_READY.load(Ordering::Relaxed) {
        &HEAP
    } else {
        heap_slow()
    }
}

#[cold]
#[inline(never)]
fn heap_slow() -> &'static SpanAlloc {
    if thread_pointer_is_set() {
        TLS_READY.store(true, Ordering::Relaxed);
        &HEAP
    } else {
        &HEAP_NO_CACHE
    }
}
// ANCHOR_END: heap

/// Whether this thread's thread pointer is set, asked without touching
/// thread-local storage (a read through an unset `%fs` faults).
#[cfg(target_arch = "x86_64")]
fn thread_pointer_is_set() -> bool {
    /// `<asm/prctl.h>`'s ARCH_GET_FS (not in the libc crate).
    const ARCH_GET_FS: libc::c_int = 0x1003;
    let mut base: u64 = 0;
    // SAFETY: ARCH_GET_FS writes the FS base into `base`, nothing else.
    let r = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_GET_FS, &mut base as *mut u64) };
    r == 0 && base != 0
}

/// Whether this thread's thread pointer is set (`tpidr_el0` on aarch64, a
/// register any user code may read).
#[cfg(target_arch = "aarch64")]
fn thread_pointer_is_set() -> bool {
    let tp: u64;
    // SAFETY: reads a register, touches no memory.
    unsafe { core::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nomem, nostack)) };
    tp != 0
}

/// Elsewhere the library trusts the loader (glibc's sets the thread
/// pointer before anything can call `malloc` through this library).
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn thread_pointer_is_set() -> bool {
    true
}

/// The library's constructor (see the module doc).
extern "C" fn init() {
    report::init_from_env();
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;
