//! # Exercise ex08: `nextFreeFast`, finding a free object in a span
//!
//! A span (Go's `mspan`) is a run of pages cut into `nelems` objects of one
//! size class. Allocating from it means finding the next free object, and Go
//! does that without a free list, with three fields (malloc.go, mbitmap.go):
//!
//! - `alloc_bits`: one bit per object, 1 if the object was live at the last
//!   sweep (objects freed since are 0: sweeping is what frees them);
//! - `free_index`: every object below it has been handed out since the
//!   sweep (or was live); the search for a free object starts here;
//! - `alloc_cache`: the *inverted* `alloc_bits` of the 64 objects starting
//!   at `free_index`, shifted so that bit 0 is object `free_index`. A 1 bit
//!   means free, so `alloc_cache.trailing_zeros()` is the distance from
//!   `free_index` to the next free object: one instruction (`TZCNT`/`BSF`).
//!
//! The allocation fast path, [`Span::next_free_fast`] (Go's `nextFreeFast`),
//! only looks at `alloc_cache`: it takes bit `b = trailing_zeros`, hands out
//! object `free_index + b`, shifts `b + 1` bits out of the cache and moves
//! `free_index` past the object. It gives up (returns `None`, changing
//! nothing) when the cache has no free bit, when the object would be past
//! `nelems`, or when the new `free_index` would land on a multiple of 64
//! that is not the end of the span: then the cache is used up and must be
//! refilled from the next word of `alloc_bits`, which is the slow path's job.
//!
//! The slow path, [`Span::next_free_index`] (Go's `nextFreeIndex`), skips
//! whole used-up words (refilling the cache with
//! [`Span::refill_alloc_cache`] each time), takes the next free object,
//! and refills the cache when `free_index` reaches a 64-object boundary.
//! [`Span::next_free`] (the span part of Go's `mcache.nextFree`) tries the
//! fast path, then the slow one, and counts the allocation.
//!
//! Bits are stored here as `u64` words rather than Go's bytes, so a refill
//! is one word: `alloc_cache = !alloc_bits[word]`. Watch out for one
//! difference from Go: shifting a `u64` by 64 is a panic (debug) in Rust,
//! not 0.
//!
//! This is a model of the span's bookkeeping (indices, not memory); the
//! real allocator in `allocator/` runs the same algorithm over real pages.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex08_next_free_fast::Span;
//!
//! let mut span = Span::after_sweep(128, &[0, 1, 3]); // 0, 1 and 3 survived the sweep
//! assert_eq!(span.next_free(), Some(2));
//! assert_eq!(span.next_free(), Some(4));
//! ```

/// One span's allocation state (the fields of Go's `mspan` this exercise
/// needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Objects in the span (Go's `nelems`).
    pub nelems: usize,
    /// One bit per object, 64 to a word: 1 = live at the last sweep (Go's
    /// `allocBits`). Bits past `nelems` are 0.
    pub alloc_bits: Vec<u64>,
    /// The next object to consider; all below it are allocated (Go's
    /// `freeindex`).
    pub free_index: usize,
    /// `!alloc_bits` for the objects from `free_index` on, bit 0 first (Go's
    /// `allocCache`).
    pub alloc_cache: u64,
    /// Objects allocated in the span (Go's `allocCount`).
    pub alloc_count: usize,
}

impl Span {
    /// A freshly carved span: every object free.
    pub fn new(nelems: usize) -> Span {
        Span::after_sweep(nelems, &[])
    }

    /// A span as the sweeper leaves it: the objects in `live` are still in
    /// use, every other one is free, and the search starts again at 0.
    ///
    /// # Panics
    /// If an index in `live` is not below `nelems`.
    pub fn after_sweep(nelems: usize, live: &[usize]) -> Span {
        let mut alloc_bits = vec![0_u64; nelems.div_ceil(64)];
        for &object in live {
            assert!(
                object < nelems,
                "live object {object} is outside a span of {nelems} objects"
            );
            alloc_bits[object / 64] |= 1 << (object % 64);
        }
        let alloc_count = alloc_bits.iter().map(|w| w.count_ones() as usize).sum();
        let mut span = Span {
            nelems,
            alloc_bits,
            free_index: 0,
            alloc_cache: 0,
            alloc_count,
        };
        span.refill_alloc_cache(0);
        span
    }

    /// True when every object has been handed out.
    pub fn is_full(&self) -> bool {
        self.free_index == self.nelems
    }

    /// Go's `refillAllocCache`: loads the cache from word `word` of
    /// `alloc_bits`, inverted so that 1 means free. (A word past the end of
    /// `alloc_bits` reads as all-free: `free_index` never goes that far.)
    pub fn refill_alloc_cache(&mut self, word: usize) {
        // --- your code: refill_alloc_cache ---
        self.alloc_cache = !self.alloc_bits.get(word).copied().unwrap_or(0);
    }

    /// Shifts the objects up to and including bit `bit` out of the cache.
    /// Go's `>>` by 64 gives 0; Rust's panics, hence `checked_shr`.
    fn consume_cache_through(&mut self, bit: u32) {
        self.alloc_cache = self.alloc_cache.checked_shr(bit + 1).unwrap_or(0);
        // --- end of your code ---
    }

    /// Go's `nextFreeFast`: the next free object from the cache alone, or
    /// `None` (with nothing changed) when the slow path is needed.
    pub fn next_free_fast(&mut self) -> Option<usize> {
        // --- your code: next_free_fast ---
        let bit = self.alloc_cache.trailing_zeros();
        if bit == 64 {
            return None; // nothing free in the cached window
        }
        let object = self.free_index + bit as usize;
        if object >= self.nelems {
            return None;
        }
        let next_index = object + 1;
        if next_index.is_multiple_of(64) && next_index != self.nelems {
            // The cache would be used up; the slow path refills it.
            return None;
        }
        self.consume_cache_through(bit);
        self.free_index = next_index;
        self.alloc_count += 1;
        Some(object)
        // --- end of your code ---
    }

    /// Go's `nextFreeIndex`: the next free object at or after `free_index`,
    /// refilling the cache as it crosses words; `nelems` when the span is
    /// full. Moves `free_index` past the object it returns (does not count it
    /// in `alloc_count`).
    pub fn next_free_index(&mut self) -> usize {
        // --- your code: next_free_index ---
        if self.free_index >= self.nelems {
            self.free_index = self.nelems;
            return self.nelems;
        }
        let mut index = self.free_index;
        let mut bit = self.alloc_cache.trailing_zeros();
        while bit == 64 {
            // Nothing free in this window: move to the next 64-object word.
            index = (index + 64) & !63;
            if index >= self.nelems {
                self.free_index = self.nelems;
                return self.nelems;
            }
            self.refill_alloc_cache(index / 64);
            bit = self.alloc_cache.trailing_zeros();
        }
        let object = index + bit as usize;
        if object >= self.nelems {
            self.free_index = self.nelems;
            return self.nelems;
        }
        self.consume_cache_through(bit);
        self.free_index = object + 1;
        if self.free_index.is_multiple_of(64) && self.free_index != self.nelems {
            // Every bit of the cache has been shifted out: load the next word.
            self.refill_alloc_cache(self.free_index / 64);
        }
        object
        // --- end of your code ---
    }

    /// The span's part of Go's `mcache.nextFree`: the fast path, else the
    /// slow one; counts the object in `alloc_count`. `None` when full.
    pub fn next_free(&mut self) -> Option<usize> {
        // --- your code: next_free ---
        if let Some(object) = self.next_free_fast() {
            return Some(object);
        }
        let object = self.next_free_index();
        if object == self.nelems {
            return None;
        }
        self.alloc_count += 1;
        Some(object)
        // --- end of your code ---
    }
}
