//! The real allocator: `SpanAlloc`, a `GlobalAlloc` over one process-wide
//! backend (page heap + central lists), with a thread cache per thread.
//!
//! ```text
//!   alloc(layout) ── class_for_layout ──┬─ small: free stash ─> span's bitmap word ─(span empty)─> central ─> page heap ─> mmap
//!                                       └─ large (> 32 KiB or aligned beyond a page): page heap
//!   dealloc(ptr)  ── small, room in this thread's free stash: push there (no span lookup)
//!                 ── else the last span freed into, or the page map: span
//!                                       ┬─ span owned by this thread's cache: push on the span's own list
//!                                       ├─ another thread's / central's span: push on its remote list
//!                                       └─ large: this thread's large stash, or the page heap
//!                                          (coalesce, maybe scavenge)
//!   realloc       ── same class / page count: in place; large: grow or shrink in
//!                    place, or move by mremap (realloc.rs); else alloc, copy, free
//!   alloc_zeroed  ── large pages fresh from the OS are not cleared again
//! ```
//!
//! Every `SpanAlloc` value shares the one backend, as a Go process has one
//! `mheap`: `SpanAlloc::new()` and `SpanAlloc::without_thread_cache()` differ
//! only in the path they take. The second sends every small allocation and
//! free through the central lock of its class, which makes it a classic
//! single-lock-per-class allocator to compare the cache against.
//!
//! ## The fast paths' shape
//!
//! An alloc/free pair costs a few nanoseconds, so how the compiler lays
//! the paths out matters as much as what they do. `alloc` and `dealloc`
//! keep only their first step inline (the free stash: a pop, or a push),
//! and reach the next one by a tail call to a small out-of-line function
//! (`alloc_from_span`, `free_to_span`) that gets the cache and the class
//! in registers and itself ends in tail calls. None of these saves a
//! register on its fast path. When `alloc` also held the bitmap path
//! inline, it pushed and popped six registers on every call, and the
//! 16-byte pair ran at 1.5 to 2x mimalloc's time although its instruction
//! count was at or below mimalloc's; split this way it runs level with
//! mimalloc (`examples/interleaved.rs` measures both turn by turn).
//!
//! ## The thread cache's lifecycle
//!
//! The cache lives in thread-local storage with no destructor (see
//! `tls.rs`), so reaching it is a thread-pointer access and it stays valid
//! while the thread's other destructors run. A second thread-local, a
//! guard with a `Drop`, is touched once per thread, when the cache is first
//! used; registering its destructor may allocate, so the cache is marked
//! "busy" meanwhile and any allocation made during registration takes the
//! cache-less path instead of recursing into a half-made cache. When the
//! thread exits, the guard's destructor marks the cache dead and hands all
//! its spans back to the central lists; allocations made after that (by
//! other destructors) take the cache-less path too. Nothing in these paths
//! panics: errors found by checked mode abort with a message.

use core::alloc::{GlobalAlloc, Layout};

use crate::backend::Backend;
use crate::cache::{Cache, OwnedFree};
use crate::checked::{self, CHECKED};
use crate::events::NoEvents;
use crate::profile::HeapProfile;
use crate::size_class::{PAGE_SIZE, TABLES, class_for_layout};
use crate::span::Span;
use crate::stats::AllocStats;

/// The process-wide backend (Go's `mheap_`).
pub(crate) static BACKEND: Backend = Backend::new_global();

const FRESH: u8 = 0;
const ACTIVE: u8 = 1;
const BUSY: u8 = 2;
const DEAD: u8 = 3;

// The cache itself is in `tls.rs` (initial-exec TLS where it can be).
thread_local! {
    static EXIT_GUARD: ExitGuard = const { ExitGuard };
}

/// Flushes the thread's cache when the thread exits.
struct ExitGuard;

impl Drop for ExitGuard {
    fn drop(&mut self) {
        // SAFETY: the cache belongs to this thread, and no allocator call
        // is running on it (destructors run between user code).
        let cache = unsafe { &mut *crate::tls::cache() };
        cache.state = DEAD;
        cache.release_all(&BACKEND, NoEvents::sink());
    }
}

/// This thread's cache if it is usable, else `None` (being set up, or the
/// thread is exiting).
#[inline(always)]
pub(crate) fn thread_cache() -> Option<*mut Cache> {
    let c = crate::tls::cache();
    // SAFETY: the cache is this thread's; reading its state is a plain read.
    if unsafe { (*c).state } == ACTIVE {
        Some(c)
    } else {
        activate(c)
    }
}

/// This thread's cache if it is already active, else `None` without
/// activating it (for the fast paths, which must not call anything).
#[inline(always)]
pub(crate) fn active_thread_cache() -> Option<*mut Cache> {
    let c = crate::tls::cache();
    // SAFETY: the cache is this thread's; reading its state is a plain read.
    (unsafe { (*c).state } == ACTIVE).then_some(c)
}

#[cold]
#[inline(never)]
fn activate(c: *mut Cache) -> Option<*mut Cache> {
    // SAFETY: c is this thread's cache and nothing else holds a reference.
    if unsafe { (*c).state } != FRESH {
        return None;
    }
    // A fresh cache may be zeroed storage rather than a built one (see
    // `tls.rs`): build it now.
    // SAFETY: c is this thread's cache, referenced by nobody else, and a
    // fresh cache holds nothing to drop or lose, so overwriting it is sound.
    unsafe { c.write(Cache::new()) };
    // SAFETY: c was just written with a valid Cache and is this thread's alone.
    let cache = unsafe { &mut *c };
    cache.state = BUSY;
    cache.seed(c as u64);
    // Registering the fork handlers may allocate too (see fork.rs).
    crate::fork::ensure_handlers();
    // Registering the exit guard's destructor may allocate: BUSY sends any
    // such allocation to the cache-less path.
    if EXIT_GUARD.try_with(|_| ()).is_ok() {
        cache.state = ACTIVE;
        Some(c)
    } else {
        cache.state = DEAD;
        None
    }
}

/// Go's allocator as a Rust global allocator.
///
/// ```
/// use allocator::SpanAlloc;
/// use std::alloc::{GlobalAlloc, Layout};
///
/// static ALLOC: SpanAlloc = SpanAlloc::new();
/// let layout = Layout::from_size_align(100, 8).unwrap();
/// // SAFETY: a non-zero layout; the pointer is freed with the same layout.
/// unsafe {
///     let p = ALLOC.alloc(layout);
///     assert!(!p.is_null());
///     p.write_bytes(0xAB, 100);
///     ALLOC.dealloc(p, layout);
/// }
/// ```
///
/// As the program's allocator: `#[global_allocator] static A: SpanAlloc =
/// SpanAlloc::new();` (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpanAlloc {
    use_cache: bool,
}

impl Default for SpanAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanAlloc {
    /// The allocator with thread caches (Go's mcache tier on).
    pub const fn new() -> Self {
        SpanAlloc { use_cache: true }
    }

    /// The same allocator with the thread-cache tier switched off: every
    /// small allocation and free takes its size class's central lock. The
    /// "single lock" baseline the thread cache is measured against.
    pub const fn without_thread_cache() -> Self {
        SpanAlloc { use_cache: false }
    }

    /// Whether this value uses thread caches.
    pub const fn uses_thread_cache(&self) -> bool {
        self.use_cache
    }

    /// Statistics of the process-wide heap (shared by every `SpanAlloc`).
    /// Flushes the calling thread's counters first; other running threads'
    /// counts may lag (see `stats.rs`).
    pub fn stats(&self) -> AllocStats {
        if let Some(c) = thread_cache() {
            // SAFETY: this thread's cache, not otherwise borrowed now.
            let cache = unsafe { &mut *c };
            cache.flush_counts(&BACKEND);
        }
        let pages = BACKEND.pages.stats();
        BACKEND
            .counters
            .read(pages, &[(0, 0); crate::size_class::NUM_CLASSES + 1])
    }

    /// The sampling heap profile (Go's `runtime.MemProfile`).
    pub fn profile(&self) -> HeapProfile {
        BACKEND.profile.read()
    }

    /// Sets the mean bytes between profile samples (Go's
    /// `runtime.MemProfileRate`; 0 turns sampling off, 1 samples everything).
    /// Other threads pick the new rate up at their next sample.
    pub fn set_profile_rate(&self, bytes: usize) {
        BACKEND.profile.set_rate(bytes);
        if let Some(c) = thread_cache() {
            // SAFETY: this thread's cache, not otherwise borrowed now.
            unsafe { (*c).reset_sampling(bytes) };
        }
    }

    /// Hands the calling thread's cached spans back to the central lists and
    /// flushes its counters, as thread exit does.
    pub fn flush_thread_cache(&self) {
        if let Some(c) = thread_cache() {
            // SAFETY: this thread's cache, not otherwise borrowed now.
            unsafe { (*c).release_all(&BACKEND, NoEvents::sink()) };
        }
    }

    /// Returns every free page to the OS now (Go's `debug.FreeOSMemory`).
    /// Returns the bytes released.
    pub fn scavenge(&self) -> usize {
        BACKEND.sweep_all(NoEvents::sink());
        BACKEND.pages.scavenge(Some(0)) * PAGE_SIZE
    }
}

// ANCHOR: alloc_uncached
#[inline]
fn alloc_uncached(class: usize) -> *mut u8 {
    crate::fork::ensure_handlers();
    let addr = BACKEND.central[class].alloc_locked(class, &BACKEND.pages, &BACKEND.counters);
    if addr != 0 {
        BACKEND.counters.add(class, 1, 0);
        if BACKEND.profile.uncached_tick(TABLES.size[class]) {
            BACKEND.profile.record(
                addr,
                class,
                TABLES.size[class],
                BACKEND.pages.span_of_growable(addr),
            );
        }
    }
    addr as *mut u8
}
// ANCHOR_END: alloc_uncached

/// # Safety
/// `addr` is a live object of the small-object span `s`.
#[inline]
pub(crate) unsafe fn free_uncached(s: *mut Span, addr: usize) {
    // SAFETY: caller's contract.
    let span = unsafe { &*s };
    let class = span.class;
    if span.sampled.load(core::sync::atomic::Ordering::Relaxed) != 0
        && BACKEND.profile.may_be_sampled(addr)
    {
        BACKEND.profile.on_free(addr, s);
    }
    BACKEND.counters.add(class, 0, 1);
    // SAFETY: caller's contract.
    unsafe {
        if !BACKEND.central[class].free_locked(class, s, addr, &BACKEND.pages, &BACKEND.counters) {
            BACKEND.remote_free(s, addr, NoEvents::sink());
        }
    }
    // An empty span may have gone back to the page heap under the central
    // lock: release what the scavenger was asked for now that none is held.
    BACKEND.settle_pages(NoEvents::sink());
}

pub(crate) fn alloc_large(a: &SpanAlloc, size: usize, align: usize) -> *mut u8 {
    alloc_large_z(a, size, align).0
}

/// `alloc_large`, also saying whether the block is known to read as zero.
pub(crate) fn alloc_large_z(a: &SpanAlloc, size: usize, align: usize) -> (*mut u8, bool) {
    if a.use_cache
        && let Some(c) = thread_cache()
    {
        // SAFETY: this thread's cache, not otherwise borrowed now.
        let (addr, zeroed) = unsafe { (*c).alloc_large_z(&BACKEND, size, align, NoEvents::sink()) };
        return (addr as *mut u8, zeroed);
    }
    crate::fork::ensure_handlers();
    let (addr, zeroed) = BACKEND.alloc_large_z(size, align, NoEvents::sink());
    if addr != 0 && BACKEND.profile.uncached_tick(size) {
        BACKEND
            .profile
            .record(addr, 0, size, BACKEND.pages.span_of_growable(addr));
    }
    (addr as *mut u8, zeroed)
}

/// Checks a small-object free in checked mode (see `checked.rs`).
#[inline(never)]
fn check_small_free(span: &Span, addr: usize, layout: Layout) {
    if !span.is_object_start(addr) {
        checked::foreign(addr, Some(span.class));
    }
    if class_for_layout(layout.size(), layout.align()) != Some(span.class) {
        checked::wrong_layout(addr, span.class, layout.size(), layout.align());
    }
}

/// `alloc` when its fast path does not apply: a large object, the
/// cache-less tier, or a thread whose cache is not active yet (this
/// activates it, then takes the cache's full path). Out of line, so that
/// `alloc` stays a leaf.
///
/// # Safety
/// As `GlobalAlloc::alloc`.
#[inline(never)]
unsafe fn alloc_slow(a: &SpanAlloc, layout: Layout) -> *mut u8 {
    match class_for_layout(layout.size(), layout.align()) {
        Some(class) => {
            if a.use_cache
                && let Some(c) = thread_cache()
            {
                // SAFETY: this thread's cache; the allocator does not
                // re-enter itself while it is borrowed.
                return unsafe { (*c).alloc(&BACKEND, class, NoEvents::sink()) as *mut u8 };
            }
            alloc_uncached(class)
        }
        None => alloc_large(a, layout.size(), layout.align()),
    }
}

/// `alloc` past the free stash, for a thread with an active cache: the
/// span's own free list taken as the stash, or a run of free objects from
/// the cached bitmap word of the class's span, one returned and the rest
/// stashed (`Cache::alloc_span_batch`), else the
/// cache's full path. Out of line and reached by a tail call, so that
/// neither `alloc` nor this step saves registers on its fast path.
///
/// # Safety
/// `c` is this thread's active cache, not otherwise borrowed now.
#[inline(never)]
unsafe fn alloc_from_span(c: *mut Cache, class: usize) -> *mut u8 {
    // SAFETY: the caller's contract.
    let cache = unsafe { &mut *c };
    match cache.alloc_span_batch(class) {
        Some(addr) => addr as *mut u8,
        // SAFETY: the caller's contract.
        None => unsafe { alloc_refill(c, class) },
    }
}

/// The thread cache's full allocation path (bitmap walk, refill, profile
/// sample), out of `alloc_from_span`'s way.
///
/// # Safety
/// As `alloc_from_span`.
#[inline(never)]
unsafe fn alloc_refill(c: *mut Cache, class: usize) -> *mut u8 {
    // SAFETY: the caller's contract; the allocator does not re-enter itself
    // while the cache is borrowed.
    unsafe { (*c).alloc(&BACKEND, class, NoEvents::sink()) as *mut u8 }
}

/// A free with this thread's active cache, once the class is known (from
/// the `Layout` in `dealloc`, from the free memo in the by-address
/// `free`): the stash push inline (`Cache::free_fast`), else a tail call to
/// `free_to_span`.
///
/// # Safety
/// As `free_to_span`.
#[inline(always)]
pub(crate) unsafe fn free_cached(c: *mut Cache, class: usize, addr: usize) {
    // SAFETY: the caller's contract.
    if unsafe { (*c).free_fast(&BACKEND, class, addr) } {
        return;
    }
    // SAFETY: the caller's contract, passed on.
    unsafe { free_to_span(c, class, addr) }
}

/// `dealloc` past the free stash's push (the stash was full, or this free
/// must flush the counters, or the object may be sampled), for a thread
/// with an active cache in an unchecked build: a push on the free list of
/// a span this cache owns (`Cache::free_owned_fast`), else
/// `free_slow_cached`. Out of line and reached by a tail call, as
/// `alloc_from_span` is; it takes no `Layout`, since only checked mode needs
/// one past this point, so that its few arguments leave it registers enough
/// to save none.
///
/// # Safety
/// `addr` is a live object of `class` (the class of the layout it was
/// allocated with) that the caller gives up, and `c` is this thread's
/// active cache, not otherwise borrowed now.
#[inline(never)]
unsafe fn free_to_span(c: *mut Cache, class: usize, addr: usize) {
    // SAFETY: the caller's contract.
    match unsafe { (*c).free_owned_fast(&BACKEND, addr) } {
        OwnedFree::Freed => {}
        // SAFETY: c owns s, a small-object span.
        OwnedFree::FreedMove(s) => unsafe { (*c).after_local_free_cold(&BACKEND, s) },
        // SAFETY: the caller's contract, passed on.
        OwnedFree::NotHere => unsafe { free_slow_cached(c, class, addr) },
    }
}

/// The rest of an unchecked free with an active cache: the free stash
/// with its counter flush, else through the span (a remote free, a sampled
/// object, a double free to report).
///
/// # Safety
/// As `free_to_span`.
#[inline(never)]
unsafe fn free_slow_cached(c: *mut Cache, class: usize, addr: usize) {
    // SAFETY: the caller's contract.
    if unsafe { (*c).stash_free(&BACKEND, class, addr) } {
        return;
    }
    // SAFETY: the caller's contract; unchecked, so no layout is needed.
    unsafe { dealloc_through_span(&CACHED, addr as *mut u8, None) }
}

/// The allocator `free_slow_cached` passes on (with the thread cache).
static CACHED: SpanAlloc = SpanAlloc::new();

/// `dealloc` when its fast path does not apply: a checked build, a large
/// object, the cache-less tier, or a thread whose cache is not active yet.
/// The stash with its counter flush, else through the span. Out of line,
/// so that `dealloc` stays a leaf.
///
/// # Safety
/// As `GlobalAlloc::dealloc`.
#[inline(never)]
unsafe fn dealloc_slow(a: &SpanAlloc, ptr: *mut u8, layout: Layout) {
    if !CHECKED
        && a.use_cache
        && let Some(class) = class_for_layout(layout.size(), layout.align())
        && let Some(c) = thread_cache()
        // SAFETY: ptr is a live object of this class (GlobalAlloc contract).
        && unsafe { (*c).stash_free(&BACKEND, class, ptr as usize) }
    {
        return;
    }
    // SAFETY: the caller's contract, passed on.
    unsafe { dealloc_through_span(a, ptr, Some(layout)) }
}

/// `dealloc` past the free stash: the page map finds the span (Go's
/// `spanOf`), and the object goes back to it, or to the page heap if large.
/// `layout` is the one the object was allocated with, which checked mode
/// verifies; only unchecked builds pass `None`.
///
/// # Safety
/// As `GlobalAlloc::dealloc`.
#[inline]
unsafe fn dealloc_through_span(a: &SpanAlloc, ptr: *mut u8, layout: Option<Layout>) {
    let addr = ptr as usize;
    let s = BACKEND.pages.span_of_growable(addr);
    if s.is_null() {
        checked::foreign(addr, None);
    }
    // SAFETY: the page map only holds spans of this heap, never freed.
    let span = unsafe { &*s };
    if span.class == 0 {
        let check = layout.filter(|_| CHECKED).map(|l| (l.size(), l.align()));
        if a.use_cache
            && let Some(c) = thread_cache()
        {
            // SAFETY: s is what the page map holds for addr; the cache is
            // this thread's.
            unsafe { (*c).free_large(&BACKEND, s, addr, check, NoEvents::sink()) };
            return;
        }
        // SAFETY: s is what the page map holds for addr; free_large checks
        // the span under the heap lock.
        unsafe { BACKEND.free_large(s, addr, check, NoEvents::sink()) };
        return;
    }
    if CHECKED && let Some(layout) = layout {
        check_small_free(span, addr, layout);
    }
    if a.use_cache
        && let Some(c) = thread_cache()
    {
        // SAFETY: ptr is a live object of s (GlobalAlloc contract), and
        // the cache is this thread's.
        unsafe { (*c).free(&BACKEND, s, addr, NoEvents::sink()) };
        return;
    }
    // SAFETY: ptr is a live object of s (GlobalAlloc contract); without a
    // cache the central list's lock owns the free.
    unsafe { free_uncached(s, addr) };
}

// SAFETY: alloc returns null or a block of at least layout.size() bytes at
// layout.align(), not in use elsewhere (a fresh object of a class whose size
// and alignment cover the layout, or whole pages with the alignment); dealloc
// and realloc accept exactly what alloc returned, identified through the
// page map.
unsafe impl GlobalAlloc for SpanAlloc {
    // ANCHOR: global_alloc
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.use_cache
            && let Some(class) = class_for_layout(layout.size(), layout.align())
            && let Some(c) = active_thread_cache()
        {
            // SAFETY: this thread's cache, not otherwise borrowed now.
            if let Some(addr) = unsafe { (*c).alloc_fast(class) } {
                return addr as *mut u8;
            }
            // SAFETY: c is this thread's active cache.
            return unsafe { alloc_from_span(c, class) };
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { alloc_slow(self, layout) }
    }
    // ANCHOR_END: global_alloc

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let addr = ptr as usize;
        if !CHECKED
            && self.use_cache
            && let Some(class) = class_for_layout(layout.size(), layout.align())
            && let Some(c) = active_thread_cache()
        {
            // SAFETY: ptr is a live object of this class (GlobalAlloc
            // contract: the layout is the one it was allocated with), and
            // c is this thread's active cache.
            return unsafe { free_cached(c, class, addr) };
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { dealloc_slow(self, ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the GlobalAlloc contract makes the new layout valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: ptr is live with `layout` (GlobalAlloc contract); see
        // realloc.rs for the in-place and mremap cases.
        unsafe { crate::realloc::realloc(self, ptr, layout.size(), Some(layout), new_layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if class_for_layout(layout.size(), layout.align()).is_some() {
            // SAFETY: a valid layout (caller's contract).
            let p = unsafe { self.alloc(layout) };
            if !p.is_null() {
                // SAFETY: p holds layout.size() bytes.
                unsafe { p.write_bytes(0, layout.size()) };
            }
            return p;
        }
        // A large block from pages fresh from the OS (or released to it
        // since) already reads as zero: clearing it would only fault in
        // every page (calloc of 3 GiB would cost 3 GiB of RSS).
        let (p, zeroed) = alloc_large_z(self, layout.size(), layout.align());
        if !p.is_null() && !zeroed {
            // SAFETY: p holds layout.size() bytes.
            unsafe { p.write_bytes(0, layout.size()) };
        }
        p
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    static A: SpanAlloc = SpanAlloc::new();
    static U: SpanAlloc = SpanAlloc::without_thread_cache();

    fn roundtrip(a: &SpanAlloc, size: usize, align: usize) {
        let layout = Layout::from_size_align(size, align).unwrap();
        // SAFETY: each pointer is checked, filled within its size, freed once
        // with its layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null(), "alloc {size}/{align} failed");
            assert_eq!(p as usize % align, 0, "alloc {size}/{align} misaligned");
            p.write_bytes(0x5A, size);
            if size > 0 {
                assert_eq!(*p.add(size - 1), 0x5A);
            }
            a.dealloc(p, layout);
        }
    }

    #[test]
    fn every_size_and_alignment_layout_allows() {
        for a in [&A, &U] {
            for size in [
                0,
                1,
                7,
                8,
                9,
                24,
                100,
                1000,
                4096,
                8192,
                32 * 1024,
                32 * 1024 + 1,
                300_000,
            ] {
                for align_log in 0..=16 {
                    roundtrip(a, size, 1 << align_log);
                }
            }
            roundtrip(a, 10, 1 << 22);
        }
    }

    #[test]
    fn distinct_live_objects_keep_their_contents() {
        let layout = Layout::from_size_align(48, 8).unwrap();
        let n = 5000;
        // SAFETY: all pointers are live until freed once at the end.
        unsafe {
            let ptrs: Vec<*mut u8> = (0..n).map(|_| A.alloc(layout)).collect();
            for (i, &p) in ptrs.iter().enumerate() {
                p.cast::<u64>().write(i as u64);
            }
            let mut sorted: Vec<usize> = ptrs.iter().map(|&p| p as usize).collect();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), n, "an object was handed out twice");
            for (i, &p) in ptrs.iter().enumerate() {
                assert_eq!(p.cast::<u64>().read(), i as u64, "object {i} overwritten");
                A.dealloc(p, layout);
            }
        }
    }

    #[test]
    fn realloc_stays_in_place_within_a_class_and_moves_across() {
        let layout = Layout::from_size_align(20, 8).unwrap();
        // SAFETY: pointers are used within their sizes and freed once.
        unsafe {
            let p = A.alloc(layout);
            p.write_bytes(7, 20);
            let q = A.realloc(p, layout, 24);
            assert_eq!(q, p, "20 -> 24 bytes stays in class 3");
            let r = A.realloc(q, Layout::from_size_align(24, 8).unwrap(), 4000);
            assert_ne!(r, q);
            assert_eq!(
                std::slice::from_raw_parts(r, 20),
                &[7u8; 20][..],
                "contents lost in move"
            );
            let big = A.realloc(r, Layout::from_size_align(4000, 8).unwrap(), 100_000);
            assert_eq!(*big.add(19), 7);
            let same = A.realloc(big, Layout::from_size_align(100_000, 8).unwrap(), 100_001);
            assert_eq!(same, big, "same page count stays in place");
            A.dealloc(same, Layout::from_size_align(100_001, 8).unwrap());
        }
    }

    #[test]
    fn cross_thread_frees_return_objects_to_their_spans() {
        let layout = Layout::from_size_align(64, 8).unwrap();
        let threads = 4;
        let per = 20_000;
        let barrier = Arc::new(Barrier::new(threads));
        // Each thread allocates, then frees the objects of its neighbour.
        let (tx, rx): (Vec<_>, Vec<_>) = (0..threads)
            .map(|_| std::sync::mpsc::channel::<Vec<usize>>())
            .unzip();
        let mut rx: Vec<Option<_>> = rx.into_iter().map(Some).collect();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let to = tx[(t + 1) % threads].clone();
                let from = rx[t].take().unwrap();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    // SAFETY: objects are written within their size, and each
                    // is freed exactly once by the receiving thread.
                    unsafe {
                        let mine: Vec<usize> = (0..per)
                            .map(|i| {
                                let p = A.alloc(layout);
                                p.cast::<usize>().write(i ^ t);
                                p as usize
                            })
                            .collect();
                        barrier.wait();
                        to.send(mine).unwrap();
                        let theirs = from.recv().unwrap();
                        let owner = (t + threads - 1) % threads;
                        for (i, p) in theirs.into_iter().enumerate() {
                            assert_eq!((p as *const usize).read(), i ^ owner, "object corrupted");
                            A.dealloc(p as *mut u8, layout);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn stats_count_this_threads_allocations() {
        let layout = Layout::from_size_align(3000, 8).unwrap(); // class 40
        let class = class_for_layout(3000, 8).unwrap();
        let before = A.stats();
        // SAFETY: allocated and freed with the same layout.
        let ptrs: Vec<*mut u8> = (0..10).map(|_| unsafe { A.alloc(layout) }).collect();
        let mid = A.stats();
        for p in ptrs {
            // SAFETY: p came from A.alloc(layout) above and is freed once.
            unsafe { A.dealloc(p, layout) };
        }
        let after = A.stats();
        let (b, m, a) = (
            before.class(class).unwrap(),
            mid.class(class).unwrap(),
            after.class(class).unwrap(),
        );
        // Other tests run in parallel threads, so only lower bounds hold.
        assert!(
            m.allocs >= b.allocs + 10,
            "allocs {} -> {}",
            b.allocs,
            m.allocs
        );
        assert!(a.frees >= b.frees + 10, "frees {} -> {}", b.frees, a.frees);
        assert!(mid.pages.mapped_bytes >= crate::page_heap::ARENA_BYTES);
        let json = serde_json::to_string(&after).unwrap();
        assert!(json.contains("\"in_use_bytes\""));
    }

    #[test]
    fn thread_exit_hands_spans_back_and_late_destructors_still_allocate() {
        use std::sync::atomic::{AtomicBool, Ordering};
        static LATE_ALLOC_OK: AtomicBool = AtomicBool::new(false);
        // 6784-byte objects (class 49): no other test in this binary uses them.
        let layout = Layout::from_size_align(6784, 8).unwrap();
        let class = class_for_layout(6784, 8).unwrap();

        struct AllocatesOnDrop;
        impl Drop for AllocatesOnDrop {
            fn drop(&mut self) {
                let l = Layout::from_size_align(100, 8).unwrap();
                // SAFETY: allocated, written within size, freed once.
                unsafe {
                    let p = A.alloc(l);
                    if !p.is_null() {
                        p.write_bytes(1, 100);
                        A.dealloc(p, l);
                        LATE_ALLOC_OK.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
        thread_local! { static LATE: AllocatesOnDrop = const { AllocatesOnDrop }; }

        std::thread::spawn(move || {
            // Registered before the cache's exit guard, so it is destroyed
            // after the cache is flushed and marked dead.
            LATE.with(|_| ());
            // SAFETY: allocated and freed with the same layout.
            unsafe {
                let ptrs: Vec<*mut u8> = (0..20).map(|_| A.alloc(layout)).collect();
                for p in ptrs {
                    A.dealloc(p, layout);
                }
            }
            assert!(A.stats().class(class).unwrap().spans >= 1);
        })
        .join()
        .unwrap();
        assert!(
            LATE_ALLOC_OK.load(Ordering::SeqCst),
            "a destructor after the cache's could not allocate"
        );
        let st = A.stats();
        let c = st.class(class).unwrap();
        assert_eq!(c.allocs, 20, "the exiting thread's counts were not flushed");
        assert_eq!(c.frees, 20);
        // Spans full when handed back got their objects through remote frees;
        // they wait, empty, on the central partial list until a sweep (as in
        // Go, sweeping is lazy). scavenge() sweeps: then none is left.
        A.scavenge();
        assert_eq!(
            A.stats().class(class).unwrap().spans,
            0,
            "empty spans must go back to the page heap"
        );
    }

    #[test]
    fn profile_tracks_alloc_and_in_use_samples_of_the_global_heap() {
        // 5376-byte objects (class 46): no other test in this binary uses them.
        let layout = Layout::from_size_align(5376, 8).unwrap();
        let class = class_for_layout(5376, 8).unwrap();
        let bucket = |p: &HeapProfile| {
            p.records
                .iter()
                .find(|r| r.class == class)
                .map(|r| (r.sampled_allocs, r.sampled_inuse))
                .unwrap_or((0, 0))
        };
        let before = bucket(&A.profile());
        // Rate 1 samples every allocation of this thread from now on.
        A.set_profile_rate(1);
        // SAFETY: allocated and freed with the same layout.
        let ptrs: Vec<*mut u8> = (0..50).map(|_| unsafe { A.alloc(layout) }).collect();
        let mid = bucket(&A.profile());
        for p in &ptrs[..30] {
            // SAFETY: p came from A.alloc(layout) above and is freed once.
            unsafe { A.dealloc(*p, layout) };
        }
        let after = bucket(&A.profile());
        A.set_profile_rate(crate::DEFAULT_PROFILE_RATE);
        for p in &ptrs[30..] {
            // SAFETY: p came from A.alloc(layout) above and is freed once.
            unsafe { A.dealloc(*p, layout) };
        }
        assert_eq!(mid.0 - before.0, 50, "every allocation sampled at rate 1");
        assert_eq!(mid.1 - before.1, 50, "all 50 in use");
        assert_eq!(after.0, mid.0, "frees do not change alloc counts");
        assert_eq!(mid.1 - after.1, 30, "30 freed samples left in-use");
        let end = bucket(&A.profile());
        assert_eq!(end.1, before.1, "every sample freed");
    }

    #[test]
    fn objects_bigger_than_an_arena_get_an_arena_of_their_own() {
        let size = 3 * crate::ARENA_BYTES / 2 + 12345;
        let layout = Layout::from_size_align(size, 64).unwrap();
        // SAFETY: first and last bytes are inside the block; freed once.
        unsafe {
            let p = A.alloc(layout);
            assert!(!p.is_null());
            p.write(1);
            p.add(size - 1).write(2);
            assert_eq!((*p, *p.add(size - 1)), (1, 2));
            A.dealloc(p, layout);
        }
    }
}
