//! A counting wrapper for any global allocator: how many allocations, and how
//! many bytes, a piece of code really asked for.
//!
//! Design. `Counting<A>` forwards every call to the allocator `A` it wraps and
//! bumps relaxed atomic counters on the way. Relaxed is enough: the counts are
//! read after the measured code has been joined, and the join orders them.
//! Lesson 10 installs `Counting<allocator::SpanAlloc>` as its global allocator
//! to show what a spawned future costs on the heap.
//!
//! ```
//! use memsim::counting::Counting;
//! use std::alloc::{GlobalAlloc, Layout, System};
//!
//! static A: Counting<System> = Counting::new(System);
//! let layout = Layout::from_size_align(64, 8).unwrap();
//! let before = A.counts();
//! // SAFETY: a non-zero layout, freed with the same layout.
//! unsafe { A.dealloc(A.alloc(layout), layout) };
//! let d = A.counts().since(before);
//! assert_eq!((d.allocs, d.bytes, d.frees), (1, 64, 1));
//! ```

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering};

/// Allocation counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls to `alloc`/`alloc_zeroed` (and `realloc`, counted as one allocation).
    pub allocs: u64,
    /// Bytes asked for by those calls.
    pub bytes: u64,
    /// Calls to `dealloc`.
    pub frees: u64,
}

impl Counts {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            allocs: self.allocs - earlier.allocs,
            bytes: self.bytes - earlier.bytes,
            frees: self.frees - earlier.frees,
        }
    }
}

/// A global allocator that counts what it forwards to `A`.
#[derive(Debug)]
pub struct Counting<A> {
    inner: A,
    allocs: AtomicU64,
    bytes: AtomicU64,
    frees: AtomicU64,
}

impl<A> Counting<A> {
    /// Wraps `inner`; usable in a `static` for `#[global_allocator]`.
    pub const fn new(inner: A) -> Self {
        Counting {
            inner,
            allocs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            frees: AtomicU64::new(0),
        }
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        Counts {
            allocs: self.allocs.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            frees: self.frees.load(Ordering::Relaxed),
        }
    }

    fn count(&self, size: usize) {
        self.allocs.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `inner` with the caller's arguments
// unchanged, so `inner`'s guarantees are passed through; the counters do not
// touch the memory.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.frees.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller passes a pointer this allocator returned, with its layout.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(new_size);
        // SAFETY: the caller upholds `realloc`'s contract.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}
