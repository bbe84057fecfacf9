//! The course's allocator behind C's allocation API: `libspanalloc.so`.
//!
//! A C program asks for memory through a dozen functions (`malloc`, `free`,
//! `calloc`, `realloc`, ...). They are not system calls: they are symbols
//! that the program's executable, and every library it loads, leave
//! undefined and that the dynamic loader binds at start-up to the first
//! object defining them, in load order. The executable comes first, then
//! whatever `LD_PRELOAD` names, then the libraries the program was linked
//! against, glibc among them. So a library that is preloaded and defines
//! `malloc` is *the* `malloc` of the whole process: the program's own
//! calls, glibc's internal ones (`strdup`, `fopen`, `qsort`), libstdc++'s
//! `operator new`, Python's allocator for big objects. glibc's manual
//! documents this ("Replacing malloc") and names the functions a
//! replacement must define; this file defines all of them, each a thin
//! door onto [`SpanAlloc`]:
//!
//! ```text
//!   malloc(n)          ── Layout(n, 8 or 16) ──> SpanAlloc::alloc
//!   calloc(n, m)       ── n*m checked ─────────> SpanAlloc::alloc_zeroed
//!   free(p)            ── page map: p's span ──> SpanAlloc::free           (no size needed)
//!   realloc(p, n)      ── same class? keep ────> SpanAlloc::realloc_unsized
//!   posix_memalign ... ── Layout(n, align) ────> SpanAlloc::alloc           (any power of two)
//!   malloc_usable_size ───────────────────────> SpanAlloc::usable_size
//! ```
//!
//! C hands `free` a bare pointer, never a size: the allocator finds the
//! size from the address alone, through the page map Go's `spanOf` reads
//! (see `allocator::by_address`).
//!
//! ## What glibc documents, and what this file does
//!
//! | call | glibc's behaviour, kept here |
//! |---|---|
//! | `malloc(0)` | a unique pointer that may be freed (the smallest class) |
//! | `free(NULL)` | nothing |
//! | `realloc(NULL, n)` | `malloc(n)` |
//! | `realloc(p, 0)` | frees `p`, returns NULL |
//! | a size no heap can hold (`malloc(SIZE_MAX)`) | NULL with `errno = ENOMEM`, never a crash |
//! | `calloc(n, m)`, `reallocarray(p, n, m)` whose product overflows | NULL with `errno = ENOMEM`; `p` untouched |
//! | `posix_memalign` with an alignment that is not a power of two times `sizeof(void *)` | returns `EINVAL` (errno untouched) |
//! | `aligned_alloc` with an alignment that is not a power of two | NULL, `errno = EINVAL` |
//! | `memalign` with an alignment that is not a power of two | rounded up to the next one |
//! | `valloc(n)`, `pvalloc(n)` | page-aligned; `pvalloc` rounds `n` up to whole pages |
//!
//! Alignment: glibc's `malloc` aligns every block to 16 bytes. Here a
//! request of up to 8 bytes gets 8 (the 8-byte class: no C object of at
//! most 8 bytes needs more) and anything bigger gets 16, the alignment of
//! `max_align_t` ([`allocator::MALLOC_ALIGN`]).
//!
//! ## Before thread-local storage, and across fork
//!
//! The thread cache lives in thread-local storage. Three things can call
//! `malloc` when that storage is not usable yet, and each has an answer
//! (see `startup.rs` for the first and last):
//!
//! - *Start-up.* A process's first `malloc` comes from inside glibc's own
//!   initialisation, before any constructor of this library has run. The
//!   heap needs no initialisation (its statics are built at compile time),
//!   and until this library has seen the thread pointer set, calls take the
//!   heap's cache-less path.
//! - *Recursion from thread-local set-up.* Registering the cache's
//!   thread-exit destructor calls `calloc` (glibc's
//!   `__cxa_thread_atexit_impl`), which lands back here half-way through
//!   making the cache; the cache is marked busy meanwhile, and that call
//!   takes the cache-less path (see `allocator::global`). A shim that
//!   forwards to glibc's allocator finds it with `dlsym(RTLD_NEXT, ...)`,
//!   and `dlsym` itself calls `calloc`: this library is an allocator, not a
//!   shim, and never looks anything up.
//! - *`fork`.* Only the forking thread survives in the child; a lock another
//!   thread held at that instant stays held for ever. glibc takes its own
//!   malloc locks around `fork` internally, but a replacement has to do it
//!   itself. The heap does: the first time a thread reaches its slow path
//!   it registers `pthread_atfork` handlers that take every one of its
//!   locks before a fork and release them on both sides after it (see
//!   `allocator::fork`). `tests/c_api.rs` forks a busy process 200 times
//!   through this library and counts children that hang: before those
//!   handlers existed it stopped at its third hung child, and none hangs
//!   since.
//!
//! ## Seeing it work
//!
//! `SPANALLOC_STATS=/path/stats-%p.json` makes the library write the heap's
//! statistics (per size class: allocations, frees, bytes in use, spans) and
//! its sampled heap profile as JSON when the process exits (`%p` becomes
//! the process id; see `report.rs`). Its presence is the proof that a run
//! was really served by this allocator, which `.ci/preload.sh` checks.

mod report;
mod startup;

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;
use core::ptr;

use allocator::{MALLOC_ALIGN, SpanAlloc};

use crate::startup::heap;

/// The page size `valloc` and `pvalloc` align to. Linux on x86-64 and most
/// aarch64 systems use 4 KiB pages (the allocator's own pages are 8 KiB).
const OS_PAGE: usize = 4096;

/// Sets the calling thread's `errno`.
fn set_errno(code: i32) {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() = code };
}

/// The alignment `malloc` gives a block of `size` bytes (see module doc).
#[inline(always)]
fn malloc_align(size: usize) -> usize {
    if size <= 8 { 8 } else { MALLOC_ALIGN }
}

// ANCHOR: alloc_aligned
/// Allocates `size` bytes (0 counts as 1) at `align`, a power of two; NULL
/// with `errno = ENOMEM` when the size cannot be had.
#[inline(always)]
fn alloc_aligned(size: usize, align: usize) -> *mut c_void {
    let Ok(layout) = Layout::from_size_align(size.max(1), align) else {
        set_errno(libc::ENOMEM); // bigger than isize::MAX once rounded
        return ptr::null_mut();
    };
    // SAFETY: a valid, non-zero layout.
    let p = unsafe { heap().alloc(layout) };
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}
// ANCHOR_END: alloc_aligned

// ANCHOR: malloc
/// C's `malloc`: `size` bytes, uninitialised.
///
/// # Safety
/// Callable from any thread at any time; the block must be given back with
/// this library's `free` or `realloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    alloc_aligned(size, malloc_align(size))
}

/// C's `free`: gives back a block from any allocation function here.
///
/// # Safety
/// `p` is NULL or a live block of this library, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: the caller's contract; SpanAlloc::free takes null as a no-op
    // and finds the block's span from its address.
    unsafe { heap().free(p.cast()) }
}
// ANCHOR_END: malloc

/// C's `calloc`: `n * size` zeroed bytes; NULL with `ENOMEM` when the
/// product overflows.
///
/// # Safety
/// As for `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(bytes) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    let Ok(layout) = Layout::from_size_align(bytes.max(1), malloc_align(bytes)) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    // SAFETY: a valid, non-zero layout.
    let p = unsafe { heap().alloc_zeroed(layout) };
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

// ANCHOR: realloc
/// C's `realloc`: `realloc(NULL, n)` is `malloc(n)`, `realloc(p, 0)` frees
/// `p` and returns NULL (glibc's choice), and on failure `p` is left as it
/// was and NULL is returned with `ENOMEM`.
///
/// # Safety
/// `p` is NULL or a live block of this library; on success it must not be
/// used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return alloc_aligned(size, malloc_align(size));
    }
    if size == 0 {
        // SAFETY: p is live (caller's contract) and given up here.
        unsafe { heap().free(p.cast()) };
        return ptr::null_mut();
    }
    if size > isize::MAX as usize - MALLOC_ALIGN {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    }
    // SAFETY: p is live, size is non-zero and bounded as realloc_unsized
    // requires.
    let q = unsafe { heap().realloc_unsized(p.cast(), size) };
    if q.is_null() {
        set_errno(libc::ENOMEM);
    }
    q.cast()
}
// ANCHOR_END: realloc

/// `reallocarray` (BSD, glibc 2.26): `realloc(p, n * size)`, but an
/// overflowing product fails with `ENOMEM` and leaves `p` alone.
///
/// # Safety
/// As for `realloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: the caller's contract, passed on.
        Some(bytes) => unsafe { realloc(p, bytes) },
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// POSIX's `posix_memalign`: stores a block of `size` bytes aligned to
/// `align` in `*out` and returns 0; returns `EINVAL` for an alignment that
/// is not a power of two multiple of `sizeof(void *)`, `ENOMEM` when out of
/// memory, and leaves `*out` alone on failure.
///
/// # Safety
/// `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<*mut c_void>()) {
        return libc::EINVAL;
    }
    let saved = errno();
    let p = alloc_aligned(size, align.max(malloc_align(size)));
    if p.is_null() {
        set_errno(saved); // posix_memalign reports through its result only
        return libc::ENOMEM;
    }
    // SAFETY: the caller's contract.
    unsafe { out.write(p) };
    0
}

fn errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

/// C11's `aligned_alloc`: NULL with `EINVAL` when `align` is not a power of
/// two.
///
/// # Safety
/// As for `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    alloc_aligned(size, align.max(malloc_align(size)))
}

/// The obsolete `memalign`: glibc rounds an alignment that is not a power
/// of two up to the next one, and fails with `EINVAL` when there is none.
///
/// # Safety
/// As for `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    };
    alloc_aligned(size, align.max(malloc_align(size)))
}

/// The obsolete `valloc`: `size` bytes aligned to the OS page.
///
/// # Safety
/// As for `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn valloc(size: usize) -> *mut c_void {
    alloc_aligned(size, OS_PAGE)
}

/// The obsolete `pvalloc`: `size` rounded up to whole OS pages, page-aligned.
///
/// # Safety
/// As for `malloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let Some(rounded) = size.checked_next_multiple_of(OS_PAGE) else {
        set_errno(libc::ENOMEM);
        return ptr::null_mut();
    };
    alloc_aligned(rounded.max(OS_PAGE), OS_PAGE)
}

/// glibc's `malloc_usable_size`: the bytes usable at `p` (0 for NULL), at
/// least what was asked for: the size class's object size, or the whole
/// pages of a large block.
///
/// # Safety
/// `p` is NULL or a live block of this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    // SAFETY: the caller's contract.
    unsafe { heap().usable_size(p.cast()) }
}

/// Writes the heap's statistics and profile as JSON to `path` now (the
/// same document `SPANALLOC_STATS` writes at exit); returns 0, or -1 with
/// `errno` set. Not part of C's API: a program, or a test, that wants a
/// snapshot mid-run can find it with `dlsym`.
///
/// # Safety
/// `path` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spanalloc_write_stats(path: *const libc::c_char) -> i32 {
    // SAFETY: the caller's contract.
    let path = unsafe { core::ffi::CStr::from_ptr(path) };
    match report::write_to(path.to_bytes()) {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e.raw_os_error().unwrap_or(libc::EIO));
            -1
        }
    }
}

/// The heap every entry point uses: the one process-wide heap with thread
/// caches (`startup::heap` picks the cache-less path before thread-local
/// storage is known to work).
pub(crate) static HEAP: SpanAlloc = SpanAlloc::new();
/// The same heap without the thread-cache tier.
pub(crate) static HEAP_NO_CACHE: SpanAlloc = SpanAlloc::without_thread_cache();
