//! The thread cache (Go's `mcache`): one span per size class, owned by one
//! thread, so that most allocations and frees take no lock and no atomic
//! read-modify-write.
//!
//! Allocation (Go's `mallocgc` small path): look up the class's span, take a
//! free object with `Span::next_free` (a trailing-zero count on
//! `alloc_cache`), count it, subtract its size from the profile's sample
//! countdown. Only when the span is exhausted does the cache do more
//! (`refill`, Go's `mcache.refill`): collect the span's remote frees and
//! rewind over objects freed behind `free_index`; if that finds nothing, hand
//! the span back to the central list and take one with space.
//!
//! Free: find the object's span through the page map. If this cache owns the
//! span, clear its bit, or, on the unchecked fast path, push the object on
//! the span's own free list: no lock, no atomic. Otherwise push the object
//! onto the span's remote-free list (one compare-and-swap, see `span.rs`).
//!
//! ## Two stashes in front of the spans (not in Go)
//!
//! Go has no free path to make fast; an explicit allocator does. So, in
//! unchecked builds of `SpanAlloc`, a free first tries the cache's *free
//! stash*: a short per-class LIFO list (at most 32 objects or 32 KiB per
//! class), linked through the freed objects themselves. It needs no span
//! lookup at all, since `GlobalAlloc::dealloc` is handed the `Layout` and so
//! the class; the next allocation of the class pops the same, cache-hot,
//! object. This is what glibc's tcache does, and it is what lets an
//! alloc/free pair match glibc and mimalloc. Stashed objects still count as allocated in
//! their spans' bitmaps until the stash gives them back (when the thread
//! exits or `SpanAlloc::flush_thread_cache` is called). Checked mode skips
//! the stash, since it must see every free at its span; so does `Heap`,
//! whose lessons follow every object back to its span. An object the heap
//! profile may have sampled also skips it (a counting filter answers that
//! without the span, see `profile.rs`).
//!
//! When the stash is full, `GlobalAlloc::dealloc` still frees with no lock
//! and no atomic if the object's span is one this cache owns (its current
//! span or one it kept, see below): `free_owned_fast` finds the span (the
//! last one it freed into, or through the page map, checking the owner),
//! and pushes the object on the span's own free list (the owner's free list
//! of `span.rs`), which the next refill of the class from that span takes
//! whole as its stash. Everything else (another cache's span, a span with
//! sampled objects, a large object) goes further out of line.
//!
//! The stash also takes runs from the span: an allocation that finds it
//! empty takes up to a stash's worth of free objects from the span's
//! cached bitmap word at once and stashes all but the first, so the next
//! ones are pops (`cache/fast.rs` has the fast paths and why they are
//! shaped as they are).
//!
//! Large objects have a second stash: up to four freed spans of up to
//! 512 KiB, reused by the next large allocation of the same page count
//! without the page heap's lock (in the spirit of Go's per-P page cache;
//! see `cache/large.rs`).
//!
//! ## Why per-span remote-free lists (mimalloc's way) rather than Go's batching
//!
//! Go never frees explicitly: the garbage collector's sweeper finds free
//! objects in bulk, so its mcache needs no free path at all. An explicit
//! allocator has to give every cross-thread free a place to go. Batching
//! frees in the freeing thread and returning them in groups under the
//! central lock (tcmalloc's transfer caches) delays reuse, keeps memory in
//! the wrong thread and needs per-class buffers in every cache. A per-span
//! lock-free stack costs one CAS per remote free, never blocks, never takes a
//! global lock, returns the object to the span it belongs to at once, and the
//! owner collects a whole list with one swap when it runs out of space. The
//! only lock on the free side is taken once per span per fill cycle, by the
//! free that unparks a full span (see `central.rs`).
//!
//! ## Keeping the spans it filled (where this departs from Go's mcache)
//!
//! Go's `mcache.refill` hands an exhausted span back to `mcentral` at once:
//! in Go nothing frees explicitly, the sweeper finds free objects later, so
//! who holds a full span does not matter. Here it does. A span handed back
//! full belongs to the central list, so from then on even the frees of the
//! thread that filled it are *remote* frees (a compare-and-swap on the
//! span's list, and a central lock for the one that unparks it). A program
//! that allocates a million objects and frees them itself turned every one
//! of its frees into a remote free: the batch ran 3.6x mimalloc's time.
//!
//! Two ways out were on the table. mimalloc *shards the free list per page*:
//! each page has a local free list for its owning thread, a second one for
//! other threads, and full pages stay in their thread's heap. tcmalloc and
//! glibc instead put frees in per-thread buffers and move them in batches.
//! This allocator takes mimalloc's ownership rule and keeps Go's spans and
//! bitmaps: **a cache keeps the spans it filled** (`cache/kept.rs`). Their
//! owner stays this cache, so this thread's frees into them need no atomic,
//! exactly as frees into its current span do; a span with
//! local frees is the first place a refill looks; other threads' frees still
//! go onto the span's lock-free remote list, and the owner collects them when
//! it looks at its oldest kept spans. What is given up: a span full of
//! objects that other threads freed waits for its owner's next refill of
//! the class (or its exit) to be reused, where Go's central list would offer
//! it to every thread at once. `Heap`, the lessons' face, keeps Go's
//! behaviour (`keep_spans` off), so its event log still shows every span
//! going back to `mcentral`.
//!
//! Keeping spans took the batch from 3.6x mimalloc's time to about 1.7x;
//! taking objects from the bitmap a run at a time and the free memo
//! (`cache/fast.rs`) took it to between 1.0x and 1.3x on the course's
//! machine then, and 1.3x to 1.6x on a later one (an AMD EPYC), where its
//! free phase alone was 1.85x. Under callgrind one free of the batch cost
//! 92 instructions, mimalloc's 28: the bitmap's share (the object's index
//! by a multiply, a read-modify-write of its word, the count, the check
//! that the bit was set) about 20, and the layering around it the rest.
//!
//! So the free side now takes the other half of mimalloc's sharding as
//! well: the owner's free into a span it holds is a push on that span's
//! own free list (see "The owner's free list" in `span.rs`), and the
//! bitmap is left alone, the listed objects counting as allocated as the
//! free stash's do. The next refill of the class from that span takes the
//! list whole as the stash, so the objects come back without a bitmap
//! write; the list is folded into the bitmap only when the span leaves this
//! cache (`give_up`), and an emptied span's fold is a clear of the bitmap.
//! The span keeps Go's shape: its bitmap is what `Heap`'s lessons draw and
//! its collector's sweep rewrites, and `Heap` never lists a free. Under
//! callgrind a whole alloc-and-free of the batch then came to 53
//! instructions against mimalloc's 74 (runs then linked by stride, see
//! `cache/fast.rs`), and yet criterion still put the batch at 1.4x to 1.5x
//! mimalloc's time. Two costs were left. The free path the batch takes
//! (stash full, so onto the span's list) still carried the stash's counter
//! with its flush check and a test of the span's list kind; now it counts
//! nothing (see "Counting" below), and whether a kept span must move is one
//! compare (`SpanLocal::free_watch`): 17 instructions from the call to the
//! return. And every span the batch emptied went back through its central
//! list to the page heap and came back the same way the next time, about
//! 3,900 spans a turn and two locks each way; see the next section.
//! On a two-core Intel Xeon virtual machine, seven criterion runs of the
//! batch after both changes gave 1.16x to 1.43x mimalloc's time, median
//! 1.21x (the code before them: 1.26x to 1.53x there), and taking turns
//! with it 1.09x to 1.17x (its free phase 1.28x to 1.31x, from 1.32x to
//! 1.41x). The workspace builds every crate with frame pointers, for the
//! profilers, and mimalloc's C without: in a loop of the same shape built
//! without them the batch ran at 0.93x to 1.12x mimalloc's time, so the
//! frame that each out-of-line step of ours sets up is now a visible part
//! of what is left.
//!
//! The allocation side then lost its loads (see `cache/fast.rs`): a run of
//! consecutive objects from the bitmap is held as a range and handed out by
//! an addition, where before each object's link was written and then read
//! back, and a run of small objects is a whole bitmap word long. In five
//! criterion runs alternating the two builds, the batch went from 1.24x to
//! 1.29x mimalloc's time (median 1.27x; ours 7.2 ms, mimalloc 5.7 ms) to
//! 1.06x to 1.12x (median 1.09x; ours 6.5 ms, mimalloc 6.0 ms: the same C
//! code placed elsewhere in the binary). The free phase is where the rest
//! lies: taking turns, it still runs at 1.26x to 1.36x mimalloc's, since a
//! free that finds the stash full has tested the stash (its class, the
//! cache's state) before it calls the span's push, and mimalloc's free is
//! the push.
//!
//! ## Keeping the spans it emptied
//!
//! Go's sweeper hands a span it finds empty to the page heap at once
//! (`mheap.freeSpan`), and the next span a P needs comes from its per-P
//! page cache without the heap's lock (`pageCache`). Here a span that the
//! owner's frees empty stays in the cache, on the class's partial queue
//! with its bitmap cleared, and the class's next refill takes it back with
//! no lock at all, much as mimalloc leaves an emptied page committed in the
//! thread's heap for a while. It is bounded: all caches together keep at
//! most an `EmptyBudget` (half the scavenger's threshold, 32 MiB, the dirty
//! free memory the page heap itself keeps after the scavenger has run), and
//! beyond it an emptied span goes back to the page heap as before. An
//! emptied span also waits only for its own class: a refill of any other
//! class that goes to the central list gives this cache's emptied spans
//! back first, so that they never make the heap grow for another class (the
//! Lua script of `.ci/preload.sh`, which churns many classes, peaked at 18.3
//! MiB without that rule and 16.3 MiB with it; glibc 14.4). Thread exit and
//! `SpanAlloc::flush_thread_cache` give them all back. And it is
//! cleared: kept with its free list, a span made the next batch take that
//! list as its stash and walk it, one dependent load per object from a line
//! long gone from the cache, and the batch ran slower than when the span
//! went back; cleared, it hands out runs of consecutive objects. The price
//! is up to 32 MiB of free memory that the scavenger cannot return and
//! other threads cannot use until its owner refills the class or exits. mimalloc
//! bounds the same thing by time (it purges after 10 ms); this allocator
//! reads no clock on its paths, so it bounds the bytes.
//!
//! ## Counting
//!
//! The cache also keeps the per-class counters (flushed to the shared ones
//! on slow paths, see `stats.rs`) and the profile's countdown
//! (`profile.rs`), so neither costs an atomic on the fast path. An
//! allocation is counted when it is handed out, a free into the stash when
//! it is pushed. A free onto a span's own list is counted later, when the
//! list comes back to the cache: taken whole as the stash, folded into the
//! bitmap when the span leaves the cache, or folded by `flush_counts` (which
//! `SpanAlloc::stats` calls for its thread). The list's length is the count,
//! so the free that pushes touches no counter and needs no flush check;
//! that is three instructions and a store off the path that every free of
//! a large batch takes, where Go's sweeper would count the frees it finds
//! in bulk too.

use core::ptr;
use core::sync::atomic::Ordering as StatOrdering;

mod fast;
mod kept;
mod large;
use fast::FreeMemo;
// Only `global.rs`, which loom builds leave out, matches on it.
#[cfg(not(loom))]
pub(crate) use fast::OwnedFree;
pub(crate) use kept::EmptyBudget;
use kept::SpanQueue;
use large::STASH_SLOTS;

use crate::backend::Backend;
use crate::checked;
use crate::events::{EventSink, HeapEvent};
use crate::profile::next_gap;
use crate::size_class::{CONST_TABLES, NUM_CLASSES, TABLES};
use crate::span::Span;
use crate::sync::Ordering;

/// Flush a class's free count to the shared counters every this many frees.
const FREE_FLUSH_MASK: u64 = 1023;
/// Most freed small objects a cache keeps per class in its free stash, for
/// classes of up to 1 KiB; bigger classes keep up to 32 KiB of objects.
const STASH_OBJECTS: usize = 32;

/// How many freed objects of each class the free stash keeps: 32, or 32 KiB
/// worth for bigger classes (at least one). A table, so that the free path
/// does not divide.
const STASH_LIMIT: [usize; NUM_CLASSES + 1] = {
    let mut t = [0; NUM_CLASSES + 1];
    let mut c = 1;
    while c <= NUM_CLASSES {
        let n = 32 * 1024 / CONST_TABLES.size[c];
        t[c] = if n < 1 {
            1
        } else if n > STASH_OBJECTS {
            STASH_OBJECTS
        } else {
            n
        };
        c += 1;
    }
    t
};

#[inline(always)]
fn stash_limit(class: usize) -> usize {
    STASH_LIMIT[class]
}

/// One class's free stash: objects this cache holds for the class's next
/// allocations, and how many more frees it takes. The objects are a LIFO
/// list linked through their first words (freed ones, or a span's free
/// list), then a run of consecutive objects taken from a span's bitmap,
/// from `run` up to `run_end` a class size apart, which needs no links: an
/// allocation from it is an addition, not a load from memory the program
/// has not touched yet. Counting the room down rather than the length up
/// lets the free path test it against zero, with no limit to look up. The
/// room is the class's limit less the length (list and run together):
/// below zero after a span's whole free list became the stash, and zero
/// for good in a stash that is switched off (it never holds anything, so
/// nothing gives room back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stash {
    head: usize,
    room: isize,
    run: usize,
    run_end: usize,
}

impl Stash {
    /// The empty stash of `class`, switched on or off.
    const fn empty(class: usize, on: bool) -> Stash {
        Stash {
            head: 0,
            room: if on { STASH_LIMIT[class] as isize } else { 0 },
            run: 0,
            run_end: 0,
        }
    }

    /// A stash of `len` listed objects from `head` for `class`.
    fn holding(class: usize, head: usize, len: usize) -> Stash {
        Stash {
            head,
            room: stash_limit(class) as isize - len as isize,
            run: 0,
            run_end: 0,
        }
    }

    /// A stash of the `len` objects of `class` from `start` on, one after
    /// the other.
    fn holding_run(class: usize, start: usize, len: usize) -> Stash {
        Stash {
            head: 0,
            room: stash_limit(class) as isize - len as isize,
            run: start,
            run_end: start + len * TABLES.size[class],
        }
    }

    /// Whether the stash of `class` holds nothing and is switched on: its
    /// room is then the whole limit (every held object takes one).
    #[inline(always)]
    fn is_empty_and_on(&self, class: usize) -> bool {
        self.room == STASH_LIMIT[class] as isize
    }

    /// Whether the stash holds nothing.
    fn is_empty(&self) -> bool {
        self.head == 0 && self.run == self.run_end
    }

    /// Takes the most recently listed object, else the run's next one, for
    /// a class of `size`-byte objects; `None` if the stash is empty.
    #[inline(always)]
    fn pop(&mut self, size: usize) -> Option<usize> {
        let addr = if self.head != 0 {
            let head = self.head;
            // SAFETY: listed objects are objects this cache holds, each one's
            // first word linking to the next.
            self.head = unsafe { (head as *const usize).read() };
            head
        } else if self.run != self.run_end {
            let addr = self.run;
            self.run = addr + size;
            addr
        } else {
            return None;
        };
        self.room += 1;
        Some(addr)
    }

    /// Lists `addr` as the stash's most recent object (the caller has
    /// checked the room).
    ///
    /// # Safety
    /// `addr` is an object of the stash's class that the cache holds now,
    /// at least 8 bytes: its first word becomes the link.
    #[inline(always)]
    unsafe fn push(&mut self, addr: usize) {
        // SAFETY: the caller's contract.
        unsafe { (addr as *mut usize).write(self.head) };
        self.head = addr;
        self.room -= 1;
    }

    /// Every class's empty stash, on or off.
    const fn all_empty(on: bool) -> [Stash; NUM_CLASSES + 1] {
        let mut t = [Stash::empty(0, false); NUM_CLASSES + 1];
        let mut c = 1;
        while c <= NUM_CLASSES {
            t[c] = Stash::empty(c, on);
            c += 1;
        }
        t
    }
}

#[derive(Clone, Copy)]
struct ClassCount {
    allocs: u64,
    frees: u64,
    flushed_allocs: u64,
    flushed_frees: u64,
}

/// A thread cache (Go's `mcache`). See the module documentation.
pub struct Cache {
    /// The span each class allocates from (Go's `mcache.alloc`); null until
    /// the first allocation of the class. Index 0 unused.
    alloc: [*mut Span; NUM_CLASSES + 1],
    counts: [ClassCount; NUM_CLASSES + 1],
    /// Bytes left before the next profile sample.
    next_sample: isize,
    rng: u64,
    sampling_armed: bool,
    /// Per class: freed objects kept for reuse (see `Stash` and
    /// `stash_free`).
    free_stash: [Stash; NUM_CLASSES + 1],
    /// Whether `free_stash` is used (not by `Heap`, whose lessons follow
    /// every object back to its span).
    use_free_stash: bool,
    /// Freed large-object spans kept for this thread's next large
    /// allocation of the same page count (null = empty slot).
    stash: [*mut Span; STASH_SLOTS],
    /// Large objects allocated / freed through the stash, and their bytes,
    /// not yet flushed to the shared counters.
    large_pending: [u64; 4],
    /// Per class: full spans this cache filled and keeps owning, and kept
    /// spans with free objects (see `cache/kept.rs`).
    kept: [SpanQueue; NUM_CLASSES + 1],
    partial: [SpanQueue; NUM_CLASSES + 1],
    /// Per class: refills left to skip the kept-span scan, and the current
    /// back-off (see `cache/kept.rs`).
    scan_skip: [(u16, u16); NUM_CLASSES + 1],
    /// Per class: emptied spans waiting on `partial` (see `cache/kept.rs`),
    /// and their sum.
    held_empty: [usize; NUM_CLASSES + 1],
    held_empty_total: usize,
    /// Whether exhausted spans are kept (`SpanAlloc`) or handed back to the
    /// central list as in Go (`Heap`, whose lessons follow Go's tiers).
    keep_spans: bool,
    /// Lifecycle flag used by the thread-local wrapper in `global.rs`.
    pub(crate) state: u8,
    /// The span the last owned free went to, and its address range: the
    /// next free into the same span skips the page map. Cleared whenever
    /// this cache gives that span up (`give_up`), so a hit is always a span
    /// this cache owns.
    free_memo: FreeMemo,
}

impl Cache {
    /// An empty cache.
    pub(crate) const fn new() -> Cache {
        Cache {
            alloc: [ptr::null_mut(); NUM_CLASSES + 1],
            counts: [ClassCount {
                allocs: 0,
                frees: 0,
                flushed_allocs: 0,
                flushed_frees: 0,
            }; NUM_CLASSES + 1],
            next_sample: 0,
            rng: 0x2545_f491_4f6c_dd1d,
            sampling_armed: false,
            free_stash: Stash::all_empty(!checked::CHECKED),
            use_free_stash: !checked::CHECKED,
            stash: [ptr::null_mut(); STASH_SLOTS],
            large_pending: [0; 4],
            kept: [SpanQueue::new(); NUM_CLASSES + 1],
            partial: [SpanQueue::new(); NUM_CLASSES + 1],
            scan_skip: [(0, 0); NUM_CLASSES + 1],
            held_empty: [0; NUM_CLASSES + 1],
            held_empty_total: 0,
            keep_spans: true,
            state: 0,
            free_memo: FreeMemo::EMPTY,
        }
    }

    /// A cache that sends every free back to its span (for `Heap`).
    pub(crate) fn without_free_stash() -> Cache {
        let mut c = Cache::new();
        c.set_free_stash(false);
        c.keep_spans = false;
        c
    }

    /// Switches the free stash on or off (drains it first).
    pub(crate) fn set_free_stash(&mut self, on: bool) {
        debug_assert!(self.free_stash.iter().all(Stash::is_empty));
        self.use_free_stash = on && !checked::CHECKED;
        self.free_stash = Stash::all_empty(self.use_free_stash);
    }

    /// The identity recorded as the owner of this cache's spans.
    #[inline(always)]
    fn id(&self) -> usize {
        self as *const Cache as usize
    }

    /// Hands an owned span back to its central list (Go's
    /// `mcentral.uncacheSpan`), forgetting it first if it is the free memo.
    /// Every span this cache gives up goes through here.
    ///
    /// # Safety
    /// This cache owns `s`, a small-object span of `class`, and gives it up.
    unsafe fn give_up<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        s: *mut Span,
        ev: &mut E,
    ) {
        if self.free_memo.span == s {
            self.free_memo = FreeMemo::EMPTY;
        }
        // SAFETY: the caller's contract: this cache owns s until
        // uncache_span, and the bits must be exact before anyone else looks.
        unsafe {
            self.counts[class].frees += (*s).fold_free_list() as u64;
            b.central[class].uncache_span(class, s, &b.pages, &b.counters, ev);
        }
    }

    /// Makes a span's own free list (the objects this cache freed into it,
    /// `head` and `len`, non-empty) the class's free stash, and returns its
    /// first object for the caller to hand out.
    ///
    /// # Safety
    /// The class's stash is empty and on; the list was just taken from a
    /// span of `class` this cache owns.
    #[inline(always)]
    unsafe fn stash_free_list(&mut self, class: usize, head: usize, len: usize) -> usize {
        // SAFETY: listed objects are linked through their first words.
        let next = unsafe { (head as *const usize).read() };
        self.free_stash[class] = Stash::holding(class, next, len - 1);
        head
    }

    /// For a refill that lands on `s` (the class's span again, or a kept
    /// one): the objects this cache freed into it, taken whole as the
    /// class's free stash, the first one handed out and returned. 0 if it
    /// has none. Where the stash is not empty or is switched off, the list
    /// is folded into the bitmap instead, for the bitmap search to find.
    ///
    /// # Safety
    /// This cache owns `s`, its `alloc` span of `class`.
    unsafe fn refill_from_free_list<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        s: *mut Span,
        ev: &mut E,
    ) -> usize {
        // SAFETY: the caller's contract.
        unsafe {
            let span = &*s;
            if span.local_ref().free_len == 0 {
                return 0;
            }
            if !self.free_stash[class].is_empty_and_on(class) {
                self.counts[class].frees += span.fold_free_list() as u64;
                return 0;
            }
            let (head, len) = span.take_free_list();
            self.counts[class].frees += len as u64;
            let addr = self.stash_free_list(class, head, len);
            self.taken(b, class, TABLES.size[class], s, addr, ev);
            addr
        }
    }

    /// Mixes `seed` into the sampling generator (each thread should sample
    /// at different points).
    pub(crate) fn seed(&mut self, seed: u64) {
        self.rng ^= seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.rng |= 1;
    }

    /// The span this cache allocates `class` from (for inspection).
    pub(crate) fn span(&self, class: usize) -> *mut Span {
        self.alloc[class]
    }

    // ANCHOR: cache_alloc
    /// Allocates an object of `class` (Go's `mallocgc` small path). Returns 0
    /// when out of memory.
    #[inline(always)]
    pub(crate) fn alloc<E: EventSink>(&mut self, b: &Backend, class: usize, ev: &mut E) -> usize {
        let size = TABLES.size[class];
        if let Some(addr) = self.free_stash[class].pop(size) {
            self.taken(b, class, size, ptr::null_mut(), addr, ev);
            return addr;
        }
        let s = self.alloc[class];
        if !s.is_null() {
            // SAFETY: this cache owns every span in `alloc`.
            if let Some(i) = unsafe { (*s).next_free() } {
                // SAFETY: s is owned by this cache and i is a free index next_free just claimed.
                let addr = unsafe { (*s).object_addr(i) };
                // SAFETY: s is owned by this cache; elem_size is immutable while it is in use.
                self.taken(b, class, unsafe { (*s).elem_size }, s, addr, ev);
                ev.emit(|| HeapEvent::CacheHit {
                    class,
                    offset: addr,
                });
                return addr;
            }
        }
        self.refill(b, class, ev)
    }
    // ANCHOR_END: cache_alloc

    /// Bookkeeping for an object just taken: count it and run the sampler.
    #[inline(always)]
    fn taken<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        size: usize,
        s: *mut Span,
        addr: usize,
        ev: &mut E,
    ) {
        self.counts[class].allocs += 1;
        self.next_sample -= size as isize;
        if self.next_sample < 0 {
            self.sample(b, class, size, s, addr, ev);
        }
    }

    /// The sample countdown expired: record (unless this is the first draw)
    /// and draw the next gap.
    #[cold]
    #[inline(never)]
    fn sample<E: EventSink>(
        &mut self,
        b: &Backend,
        class: usize,
        size: usize,
        s: *mut Span,
        addr: usize,
        ev: &mut E,
    ) {
        let rate = b.profile.rate();
        if self.sampling_armed && rate != 0 {
            let s = if s.is_null() {
                b.pages.span_of(addr)
            } else {
                s
            };
            b.profile.record(addr, class, size, s);
            ev.emit(|| HeapEvent::Sampled {
                class,
                offset: addr,
            });
        }
        self.sampling_armed = true;
        self.next_sample = next_gap(&mut self.rng, rate);
    }

    /// Restarts the sample countdown (after the rate changed).
    pub(crate) fn reset_sampling(&mut self, rate: usize) {
        self.sampling_armed = true;
        self.next_sample = next_gap(&mut self.rng, rate);
    }

    /// Runs the sampler for a large object of `size` bytes at `addr`.
    pub(crate) fn tick_large<E: EventSink>(
        &mut self,
        b: &Backend,
        size: usize,
        addr: usize,
        ev: &mut E,
    ) {
        self.next_sample -= size as isize;
        if self.next_sample < 0 {
            let s = b.pages.span_of(addr);
            self.sample(b, 0, size, s, addr, ev);
        }
    }

    // ANCHOR: refill
    /// The span for `class` is exhausted, or missing: Go's `mcache.refill`.
    #[cold]
    #[inline(never)]
    fn refill<E: EventSink>(&mut self, b: &Backend, class: usize, ev: &mut E) -> usize {
        let old = self.alloc[class];
        if !old.is_null() {
            // SAFETY: this cache owns `old` until it hands it back.
            unsafe {
                let span = &*old;
                let addr = self.refill_from_free_list(b, class, old, ev);
                if addr != 0 {
                    return addr;
                }
                span.collect_remote(&mut |addr| checked::double_free(addr, class));
                if let Some(i) = span.rewind_and_next_free() {
                    // Still the cache's own span, and still no lock taken.
                    let addr = span.object_addr(i);
                    self.taken(b, class, TABLES.size[class], old, addr, ev);
                    ev.emit(|| HeapEvent::CacheHit {
                        class,
                        offset: addr,
                    });
                    return addr;
                }
                self.alloc[class] = ptr::null_mut();
                if self.keep_spans {
                    self.keep(b, class, old, ev);
                } else {
                    self.give_up(b, class, old, ev);
                }
            }
        }
        if self.keep_spans {
            let addr = self.refill_from_kept(b, class, ev);
            if addr != 0 {
                return addr;
            }
        }
        self.flush_class(b, class);
        if self.held_empty_total != 0 {
            self.give_back_other_empties(b, class, ev);
        }
        let s = b.central[class].cache_span(class, b, self.id(), ev);
        // Handing spans back may have freed pages under a central lock;
        // none is held now (see `page_heap/scavenge.rs`).
        b.settle_pages(ev);
        if s.is_null() {
            return 0;
        }
        self.alloc[class] = s;
        // SAFETY: the central list just gave this cache the span, with space.
        unsafe {
            match (*s).next_free() {
                Some(i) => {
                    let addr = (*s).object_addr(i);
                    self.taken(b, class, TABLES.size[class], s, addr, ev);
                    addr
                }
                None => 0,
            }
        }
    }
    // ANCHOR_END: refill

    /// The fastest free (glibc's tcache does the same): keep the object in
    /// this cache's per-class stash, without even looking up its span, so the
    /// next allocation of the class takes it back at once. Only in unchecked
    /// builds (checked mode must see every free at its span), only while the
    /// stash has room, and only for objects the profile certainly did not
    /// sample. Returns false if the caller must free through the span.
    /// The class comes from the caller's `Layout`, which `GlobalAlloc`
    /// guarantees is the one the object was allocated with.
    ///
    /// # Safety
    /// `addr` is an allocated object of `class` that the caller gives up.
    #[inline(always)]
    pub(crate) unsafe fn stash_free(&mut self, b: &Backend, class: usize, addr: usize) -> bool {
        // A switched-off stash never has room.
        if self.free_stash[class].room <= 0 || b.profile.may_be_sampled(addr) {
            return false;
        }
        // SAFETY: the object is an object of `class` the caller gives up
        // (our contract), at least 8 bytes.
        unsafe { self.free_stash[class].push(addr) };
        self.counts[class].frees += 1;
        if self.counts[class].frees & FREE_FLUSH_MASK == 0 {
            self.flush_class_cold(b, class);
        }
        true
    }

    /// How many objects the class's free stash holds now (for tests).
    #[cfg(test)]
    pub(crate) fn stash_len(&self, class: usize) -> usize {
        (stash_limit(class) as isize - self.free_stash[class].room) as usize
    }

    /// Frees every stashed object to its span.
    fn drain_free_stash<E: EventSink>(&mut self, b: &Backend, ev: &mut E) {
        for class in 1..=NUM_CLASSES {
            let empty = Stash::empty(class, self.use_free_stash);
            let mut stash = core::mem::replace(&mut self.free_stash[class], empty);
            while let Some(addr) = stash.pop(TABLES.size[class]) {
                // SAFETY: stashed objects are objects of this heap still
                // allocated in their spans.
                unsafe { self.release_object(b, b.pages.span_of(addr), addr, ev) };
            }
        }
    }

    /// Frees the object at `addr` of the small-object span `s`.
    ///
    /// # Safety
    /// `addr` is an allocated object of `s` that the caller gives up.
    #[inline(always)]
    pub(crate) unsafe fn free<E: EventSink>(
        &mut self,
        b: &Backend,
        s: *mut Span,
        addr: usize,
        ev: &mut E,
    ) {
        // SAFETY: s is a live small-object span (caller's contract).
        let class = unsafe { (*s).class };
        self.counts[class].frees += 1;
        // SAFETY: the caller's contract.
        unsafe { self.release_object(b, s, addr, ev) };
        if self.counts[class].frees & FREE_FLUSH_MASK == 0 {
            self.flush_class(b, class);
        }
    }

    /// Returns `addr` to its span `s`: a bit cleared if this cache owns the
    /// span, else a push onto the span's remote list. Counts nothing.
    ///
    /// # Safety
    /// `addr` is an allocated object of `s` that the caller gives up.
    #[inline(always)]
    unsafe fn release_object<E: EventSink>(
        &mut self,
        b: &Backend,
        s: *mut Span,
        addr: usize,
        ev: &mut E,
    ) {
        // SAFETY: s is a live small-object span (caller's contract).
        let span = unsafe { &*s };
        let class = span.class;
        // The counting filter answers "certainly not sampled" without the
        // profile's lock for most objects of a span that has samples.
        if span.sampled.load(StatOrdering::Relaxed) != 0 && b.profile.may_be_sampled(addr) {
            b.profile.on_free(addr, s);
        }
        if span.owner.load(Ordering::Relaxed) == self.id() {
            // SAFETY: this cache owns the span, so its bits are ours.
            if !unsafe { span.free_local(span.object_index(addr)) } {
                checked::double_free(addr, class);
            }
            if self.keep_spans {
                // SAFETY: this cache owns s.
                unsafe { self.after_local_free(b, class, s, ev) };
            }
            ev.emit(|| HeapEvent::LocalFree {
                class,
                offset: addr,
            });
        } else {
            // SAFETY: the caller gives up addr, an object of s.
            unsafe { b.remote_free(s, addr, ev) };
        }
    }

    /// `flush_class` out of the fast paths' way.
    #[cold]
    #[inline(never)]
    fn flush_class_cold(&mut self, b: &Backend, class: usize) {
        self.flush_class(b, class);
    }

    /// Adds this cache's counts for `class` to the shared counters.
    pub(crate) fn flush_class(&mut self, b: &Backend, class: usize) {
        let c = &mut self.counts[class];
        b.counters.add(
            class,
            c.allocs - c.flushed_allocs,
            c.frees - c.flushed_frees,
        );
        c.flushed_allocs = c.allocs;
        c.flushed_frees = c.frees;
    }

    /// Flushes every counter (small classes and large objects), keeping the
    /// spans. The frees waiting on the owner's lists of the spans it holds
    /// are counted first, by folding those lists into the bitmaps.
    pub(crate) fn flush_counts(&mut self, b: &Backend) {
        for class in 1..=NUM_CLASSES {
            let s = self.alloc[class];
            if !s.is_null() {
                // SAFETY: this cache owns its alloc span, and is not
                // allocating from it now.
                self.counts[class].frees += unsafe { (*s).fold_free_list() } as u64;
            }
            self.counts[class].frees += self.fold_partial_lists(class) as u64;
            self.flush_class(b, class);
        }
        self.flush_large(b);
    }

    /// Counts not yet flushed, per class (for `Heap::stats`).
    pub(crate) fn unflushed(&self) -> [(u64, u64); NUM_CLASSES + 1] {
        let mut out = [(0, 0); NUM_CLASSES + 1];
        for (o, c) in out.iter_mut().zip(self.counts.iter()) {
            *o = (c.allocs - c.flushed_allocs, c.frees - c.flushed_frees);
        }
        out
    }

    /// Hands every span back to the central lists and flushes the counters
    /// (thread exit, Go's `freemcache` / `mcache.releaseAll`).
    pub(crate) fn release_all<E: EventSink>(&mut self, b: &Backend, ev: &mut E) {
        self.drain_free_stash(b, ev);
        self.release_kept(b, ev);
        self.release_stash(b, ev);
        self.flush_large(b);
        for class in 1..=NUM_CLASSES {
            let s = self.alloc[class];
            if !s.is_null() {
                self.alloc[class] = ptr::null_mut();
                // SAFETY: this cache owns s and gives it up.
                unsafe { self.give_up(b, class, s, ev) };
            }
            self.flush_class(b, class);
        }
        b.settle_pages(ev);
    }
}
