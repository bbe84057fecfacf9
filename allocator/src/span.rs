//! A span (Go's `mspan`): a run of 8 KiB pages, cut into equal objects of one
//! size class, or holding one large object, or sitting free in the page heap.
//!
//! ## Finding a free object
//!
//! `alloc_bits` has one bit per object, 1 for allocated. Scanning it bit by
//! bit would be slow, so, as in Go, the span keeps `alloc_cache`: the
//! *complement* of the bitmap word that holds `free_index`, shifted so that
//! bit 0 stands for object `free_index`. A free object is then one
//! trailing-zero count away: `free_index + alloc_cache.trailing_zeros()`
//! (Go's `nextFreeFast`). Taking it shifts the cache right past that bit and
//! moves `free_index` after it; when `free_index` reaches the next multiple
//! of 64 the cache is refilled from the next bitmap word (Go's
//! `refillAllocCache`). When `free_index` runs off the end, the span is full
//! as far as this pass knows.
//!
//! Go frees only through its sweeper, in bulk, and never moves `freeindex`
//! backwards. Here objects are freed one at a time, so a free behind
//! `free_index` pulls `free_index` back to the freed object (and reloads the
//! cache from its word): the object just freed, still hot in the CPU cache,
//! is the next one handed out. Objects freed by other threads arrive through
//! the remote list and are found by rewinding `free_index` to 0. Go's own
//! way is here too, for `Heap`'s garbage collector: `install_mark_bits`
//! makes the mark bits the allocation bits in one move.
//!
//! ## The owner's free list
//!
//! Clearing a bit is not the cheapest free: it needs the object's index (a
//! multiply), a read-modify-write of the bitmap word and the count, and a
//! check that the bit was set. mimalloc gives each page its own free list
//! instead (its free lists are "sharded" per page), and a free by the
//! owning thread is a push. Here the owner's fast free (`Cache::
//! free_owned_fast`) pushes the object on its span's `free_list` the same
//! way, and leaves the bitmap alone: an object on the list still counts as
//! allocated, exactly as one in the thread cache's free stash does. So the
//! bitmap is conservative, never wrong: nothing can hand out an object on
//! the list twice, and whoever needs the bits to be exact folds the list in
//! first (`fold_free_list`: the cache does it in `give_up`, before any other
//! owner can see the span). The list is emptied in one move when the span
//! is allocated from again: the cache takes it whole as its class's free
//! stash (`take_free_list`). A span is empty when `alloc_count ==
//! free_len`. Go has no such list because Go never frees one object at a
//! time: its sweeper rebuilds the bitmap for a whole span at once.
//!
//! ## Who may touch what
//!
//! A span's allocation state (`SpanLocal`: bitmap, cache, counts, list
//! links) has exactly one owner at a time: the thread cache that holds the
//! span, or, while the span sits on a central list or in the page heap, the
//! lock of that list. Nothing else touches it, so the fast paths need no
//! atomics. The owner is recorded in `owner` (a cache's address, 0 for "a
//! lock"), which any thread may read.
//!
//! A thread that frees an object of a span it does not own pushes the object
//! onto the span's `remote` list: an intrusive lock-free stack (the object's
//! first word holds the next pointer), one compare-and-swap per free, as in
//! mimalloc's `thread_free` list. The owner takes the whole list with one
//! swap when it needs space (`collect_remote`). Bit 0 of the list head is the
//! `PARKED` flag: a full span handed back to its central list is parked there
//! with the flag set, and the first remote free that clears the flag moves it
//! to the central partial list (see `central.rs`). Objects are at least 8
//! bytes and 8-aligned, so bit 0 of a real pointer is always 0.

use core::cell::UnsafeCell;
use core::ptr;
use core::sync::atomic::AtomicUsize as PlainAtomicUsize;

use crate::size_class::{MAX_OBJECTS_PER_SPAN, PAGE_SIZE, TABLES, object_index};
use crate::sync::{AtomicUsize, Ordering};

/// Words of the allocation bitmap: enough for the 1024 objects of class 1.
const BITMAP_WORDS: usize = MAX_OBJECTS_PER_SPAN / 64;

/// Flag in bit 0 of `Span::remote`: the span is parked on its central full
/// list and the next remote free must move it to the partial list.
pub(crate) const PARKED: usize = 1;

/// What a span is being used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanState {
    /// A run of free pages in the page heap (Go's `mSpanFree`).
    Free,
    /// Objects of one size class (Go's `mSpanInUse` with a size class).
    Small,
    /// One large object (Go's size class 0).
    Large,
}

/// Which list, if any, a span is linked into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Not on a list: held by a thread cache, or a large object.
    None,
    /// A central partial list: has (or will have) free objects.
    Partial,
    /// A central full list.
    Full,
    /// A page heap free list.
    Free,
    /// A thread cache's queue of kept full spans (see `cache/kept.rs`).
    CacheFull,
    /// A thread cache's queue of kept spans with free objects.
    CachePartial,
}

/// The part of a span only its current owner touches (see the module doc).
/// Hot fields first: they share a cache line.
#[repr(C)]
pub(crate) struct SpanLocal {
    /// Index where the search for a free object resumes (Go's `freeindex`).
    pub(crate) free_index: usize,
    /// Complement of the bitmap from `free_index` to the end of its word
    /// (Go's `allocCache`).
    pub(crate) alloc_cache: u64,
    /// Objects allocated and not yet freed to the owner (Go's `allocCount`);
    /// objects waiting on the remote list still count.
    pub(crate) alloc_count: usize,
    /// The `free_len` at which a free onto the owner's list must tell the
    /// owning cache, so that its fast path decides with one compare: the
    /// first free into a kept full span (it moves to the cache's partial
    /// queue), the free that empties a kept partial one (it may go back),
    /// never (`usize::MAX`) otherwise. Kept by `set_list`.
    pub(crate) free_watch: usize,
    /// Which list the span is on; change it with `set_list`.
    pub(crate) list: ListKind,
    pub(crate) state: SpanState,
    /// Head of the owner's free list (see "The owner's free list" above),
    /// linked through the objects' first words; 0 when empty.
    pub(crate) free_list: usize,
    /// Objects on `free_list`. They still count in `alloc_bits` and
    /// `alloc_count`, so the span's live objects are the difference.
    pub(crate) free_len: usize,
    pub(crate) next: *mut Span,
    pub(crate) prev: *mut Span,
    /// One bit per object, 1 = allocated (Go's `allocBits`).
    pub(crate) alloc_bits: [u64; BITMAP_WORDS],
    /// For free runs: the pages were returned to the OS by the scavenger.
    pub(crate) scavenged: bool,
}

impl SpanLocal {
    /// Whether no object of the span is live: every one still counted
    /// allocated is on the owner's free list (none in a stash, none on the
    /// remote list, none in use).
    #[inline(always)]
    pub(crate) fn nothing_live(&self) -> bool {
        self.alloc_count == self.free_len
    }

    /// Records that the span is now on list `kind` (or none), with the
    /// `free_watch` that goes with it. Call it again for a kept partial
    /// span whose `alloc_count` changed.
    #[inline]
    pub(crate) fn set_list(&mut self, kind: ListKind) {
        self.list = kind;
        self.free_watch = match kind {
            ListKind::CacheFull => self.free_len + 1,
            ListKind::CachePartial => self.alloc_count,
            _ => usize::MAX,
        };
    }
}

/// A span (Go's `mspan`). Lives in the page heap's metadata memory, never in
/// the pages it describes. Fields other than `local` are set when the span is
/// (re)initialised and are read-only while it is in use. The fields every
/// free reads come first, in one cache line.
#[repr(C)]
pub struct Span {
    /// Address of the first byte (Go's `startAddr`).
    pub(crate) start: usize,
    /// Bytes per object (Go's `elemsize`).
    pub(crate) elem_size: usize,
    /// Size class, 0 for a large object or a free run.
    pub(crate) class: usize,
    /// `offset * div_mul >> 32 == offset / elem_size` (Go's `divMul`).
    pub(crate) div_mul: u64,
    /// Address of the owning cache, 0 when a lock owns the span.
    pub(crate) owner: AtomicUsize,
    /// Objects of this span that the heap profile sampled; checked on free so
    /// that unsampled frees skip the profile. Statistics, not protocol: a
    /// plain atomic outside the loom facade.
    pub(crate) sampled: PlainAtomicUsize,
    /// Objects in the span (Go's `nelems`).
    pub(crate) nelems: usize,
    /// Length in 8 KiB pages (Go's `npages`).
    pub(crate) npages: usize,
    /// Owner-only state; see [`Span::local`].
    local: UnsafeCell<SpanLocal>,
    /// Head of the remote-free stack, with [`PARKED`] in bit 0. Written by
    /// other threads: kept off the owner's cache lines above.
    pub(crate) remote: AtomicUsize,
}

// SAFETY: the owner-only state behind `local` is reached only through the
// unsafe `local()` accessor, whose contract (one owner at a time, handed over
// through a lock or an atomic) makes cross-thread use sound; the remaining
// fields are atomics or immutable while shared.
unsafe impl Sync for Span {}
// SAFETY: a span holds no thread-bound data (no thread-local references,
// no `Rc`); its owner-only state moves between threads by the same handover
// as for `Sync`.
unsafe impl Send for Span {}

impl Span {
    /// A span of `npages` pages at `start`, in state `state`.
    pub(crate) fn new(start: usize, npages: usize, state: SpanState) -> Span {
        Span {
            start,
            npages,
            class: 0,
            elem_size: npages * PAGE_SIZE,
            div_mul: 0,
            nelems: 1,
            local: UnsafeCell::new(SpanLocal {
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
                list: ListKind::None,
                state,
                free_index: 0,
                alloc_cache: 0,
                alloc_count: 0,
                free_watch: usize::MAX,
                free_list: 0,
                free_len: 0,
                alloc_bits: [0; BITMAP_WORDS],
                scavenged: false,
            }),
            owner: AtomicUsize::new(0),
            remote: AtomicUsize::new(0),
            sampled: PlainAtomicUsize::new(0),
        }
    }

    /// Exclusive access to the owner-only state.
    ///
    /// # Safety
    /// The caller must be the span's current owner: the cache that holds it,
    /// the holder of the central or page-heap lock whose list holds it, or the
    /// sole user of a span not yet published. No other reference returned by
    /// this function may be alive.
    #[allow(clippy::mut_from_ref)]
    #[inline(always)]
    pub(crate) unsafe fn local(&self) -> &mut SpanLocal {
        // SAFETY: exclusivity is the caller's contract above.
        unsafe { &mut *self.local.get() }
    }

    /// Shared read of the owner-only state, for single-threaded inspection.
    ///
    /// # Safety
    /// No owner may be mutating the span concurrently.
    pub(crate) unsafe fn local_ref(&self) -> &SpanLocal {
        // SAFETY: no concurrent writer, per the caller's contract.
        unsafe { &*self.local.get() }
    }

    /// Turns a fresh in-use span into a span of `class` with every object free.
    ///
    /// # Safety
    /// The caller owns the span and nobody else can see it yet.
    pub(crate) unsafe fn init_small(&mut self, class: usize) {
        self.class = class;
        self.elem_size = TABLES.size[class];
        self.div_mul = TABLES.div_mul[class] as u64;
        self.nelems = TABLES.objects[class];
        let l = self.local.get_mut();
        l.state = SpanState::Small;
        l.free_index = 0;
        l.alloc_count = 0;
        l.free_list = 0;
        l.free_len = 0;
        l.alloc_bits = [0; BITMAP_WORDS];
        l.alloc_cache = !0;
        self.owner = AtomicUsize::new(0);
        self.remote = AtomicUsize::new(0);
        self.sampled = PlainAtomicUsize::new(0);
    }

    /// Address of object `index`.
    #[inline(always)]
    pub(crate) fn object_addr(&self, index: usize) -> usize {
        self.start + index * self.elem_size
    }

    /// Index of the object at `addr`, by divMagic. `addr` must be in the span.
    #[inline(always)]
    pub(crate) fn object_index(&self, addr: usize) -> usize {
        debug_assert_eq!(
            (((addr - self.start) as u64 * self.div_mul) >> 32) as usize,
            object_index(self.class, addr - self.start)
        );
        (((addr - self.start) as u64 * self.div_mul) >> 32) as usize
    }

    /// Whether `addr` is the start of an object of this small span.
    pub(crate) fn is_object_start(&self, addr: usize) -> bool {
        addr >= self.start
            && addr < self.start + self.nelems * self.elem_size
            && (addr - self.start).is_multiple_of(self.elem_size)
    }

    /// End address (exclusive) of the span's pages.
    pub(crate) fn end(&self) -> usize {
        self.start + self.npages * PAGE_SIZE
    }

    /// Pushes the object at `addr` onto the remote-free stack. Returns true if
    /// the span was parked full and this call unparked it: the caller must then
    /// tell the central list (see `Central::unpark`).
    ///
    /// # Safety
    /// `addr` is an allocated object of this span, which the caller gives up.
    pub(crate) unsafe fn push_remote(&self, addr: usize) -> bool {
        let mut head = self.remote.load(Ordering::Relaxed);
        loop {
            // SAFETY: the object is at least 8 bytes, 8-aligned, and ours to
            // reuse now that it is freed: its first word becomes the link.
            unsafe { (addr as *mut usize).write(head & !PARKED) };
            match self.remote.compare_exchange_weak(
                head,
                addr,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return head & PARKED != 0,
                Err(now) => head = now,
            }
        }
    }

    /// Tries to set [`PARKED`] on an empty remote list; fails (returns false)
    /// if remote frees are waiting, which the owner should collect instead.
    pub(crate) fn try_park(&self) -> bool {
        let mut head = self.remote.load(Ordering::Relaxed);
        loop {
            if head & !PARKED != 0 {
                return false;
            }
            match self
                .remote
                .compare_exchange(head, PARKED, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => head = now,
            }
        }
    }

    /// Takes every remotely freed object and frees it locally; returns how
    /// many were collected. Clears [`PARKED`].
    ///
    /// With `on_bad` the caller learns of a double free found in the list
    /// (an object whose bit is already clear). The walk stops there: after a
    /// double free the rest of the list cannot be trusted (it may loop).
    ///
    /// # Safety
    /// The caller owns the span (see [`Span::local`]).
    pub(crate) unsafe fn collect_remote(&self, on_bad: &mut dyn FnMut(usize)) -> usize {
        if self.remote.load(Ordering::Relaxed) & !PARKED == 0 {
            return 0;
        }
        let mut node = self.remote.swap(0, Ordering::Acquire) & !PARKED;
        let mut n = 0;
        while node != 0 {
            // SAFETY: every node on the list is a freed object of this span
            // whose first word was written by `push_remote` before the
            // Release CAS that our Acquire swap synchronises with.
            let next = unsafe { (node as *const usize).read() };
            // SAFETY: the caller owns the span.
            if unsafe { self.free_local(self.object_index(node)) } {
                n += 1;
            } else {
                on_bad(node);
                break;
            }
            node = next;
        }
        n
    }

    /// Marks object `index` free. Returns false (and changes nothing) if it was
    /// not allocated: a double free.
    ///
    /// # Safety
    /// The caller owns the span.
    #[inline(always)]
    pub(crate) unsafe fn free_local(&self, index: usize) -> bool {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        // The mask keeps the index provably in the bitmap (index < 1024).
        let word = (index / 64) & (BITMAP_WORDS - 1);
        let mask = 1u64 << (index % 64);
        if l.alloc_bits[word] & mask == 0 {
            return false;
        }
        l.alloc_bits[word] &= !mask;
        l.alloc_count -= 1;
        if index < l.free_index {
            // Behind free_index: pull the search back to it, so the object
            // just freed (still hot in the CPU cache) is the next one taken.
            l.free_index = index;
            l.alloc_cache = !l.alloc_bits[word] >> (index % 64);
        } else if word == l.free_index / 64 {
            // Inside the cache's window: visible at once.
            l.alloc_cache |= 1u64 << (index - l.free_index);
        }
        true
    }

    /// `free_local` for a span that is not the one its cache allocates from
    /// (a kept span, see `cache/kept.rs`): clears the bit and the count, and
    /// leaves `free_index` and `alloc_cache` alone, since whoever makes the
    /// span an allocation span again restarts its search at object 0.
    ///
    /// # Safety
    /// The caller owns the span, which no cache allocates from now.
    #[inline(always)]
    pub(crate) unsafe fn free_bit(&self, index: usize) -> bool {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        let word = (index / 64) & (BITMAP_WORDS - 1);
        let mask = 1u64 << (index % 64);
        if l.alloc_bits[word] & mask == 0 {
            return false;
        }
        l.alloc_bits[word] &= !mask;
        l.alloc_count -= 1;
        true
    }

    /// Pushes `addr`, an object of this span that the owner frees, on the
    /// owner's free list (see "The owner's free list"). Returns the span's
    /// owner-only state, for the caller's checks of what the free changed.
    ///
    /// # Safety
    /// The caller owns the span, and gives up `addr`, an allocated object of
    /// it (at least 8 bytes: its first word becomes the link).
    #[inline(always)]
    pub(crate) unsafe fn push_free(&self, addr: usize) -> &SpanLocal {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        // SAFETY: the object is the caller's to give up, and big enough.
        unsafe { (addr as *mut usize).write(l.free_list) };
        l.free_list = addr;
        l.free_len += 1;
        l
    }

    /// Takes the owner's whole free list: its head and length, (0, 0) if
    /// empty. The objects stay allocated in the bitmap; the caller holds
    /// them now (the thread cache makes them its free stash).
    ///
    /// # Safety
    /// The caller owns the span.
    #[inline(always)]
    pub(crate) unsafe fn take_free_list(&self) -> (usize, usize) {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        let taken = (l.free_list, l.free_len);
        (l.free_list, l.free_len) = (0, 0);
        taken
    }

    /// Frees every object on the owner's free list in the bitmap, so that
    /// the bits and the count are exact again (before the span changes
    /// hands). `free_index` and `alloc_cache` are left alone: whoever
    /// allocates from the span next restarts its search at object 0.
    ///
    /// Returns how many objects it folded.
    ///
    /// # Safety
    /// The caller owns the span, and nobody allocates from it meanwhile.
    pub(crate) unsafe fn fold_free_list(&self) -> usize {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        let folded = l.free_len;
        if l.nothing_live() {
            // The span is empty, and clearing the bitmap is cheaper than
            // walking the list.
            l.alloc_bits = [0; BITMAP_WORDS];
            (l.alloc_count, l.free_list, l.free_len) = (0, 0, 0);
            return folded;
        }
        // SAFETY: ownership is the caller's contract.
        let (mut node, _) = unsafe { self.take_free_list() };
        while node != 0 {
            // SAFETY: listed objects are this span's, linked through their
            // first words; the bit of each is set (it counts as allocated).
            unsafe {
                let next = (node as *const usize).read();
                let was_set = self.free_bit(self.object_index(node));
                debug_assert!(was_set, "an object on the free list was free in the bitmap");
                node = next;
            }
        }
        folded
    }

    /// Go's `nextFreeFast`: takes a free object from the cached bitmap word
    /// only; `None` when that word has none (then `next_free` walks on).
    ///
    /// # Safety
    /// The caller owns the span.
    #[inline(always)]
    pub(crate) unsafe fn next_free_fast(&self) -> Option<usize> {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        let bit = l.alloc_cache.trailing_zeros() as usize;
        let index = l.free_index + bit;
        if bit < 64 && index < self.nelems {
            take(l, index, self.nelems);
            return Some(index);
        }
        None
    }

    /// Takes up to `max` free objects at once from the cached bitmap word
    /// (`next_free_fast`, many at a time), lowest first, and sets their bits
    /// with one write. Returns them as `(base, taken)`: bit `i` of `taken`
    /// is object `base + i`. `None` when the cached word has none left.
    ///
    /// A word that is free from its lowest free bit up (a fresh span, or
    /// one emptied and cleared) is the common case, and needs no loop: the
    /// run is a mask. Otherwise the lowest `max` bits are picked one by one.
    ///
    /// # Safety
    /// The caller owns the span.
    #[inline(always)]
    pub(crate) unsafe fn take_free_run(&self, max: usize) -> Option<(usize, u64)> {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        let base = l.free_index;
        // Bit i of the cache is object base + i; none lies past the last
        // object.
        let room = self.nelems.saturating_sub(base);
        let free = if room < 64 {
            l.alloc_cache & ((1u64 << room) - 1)
        } else {
            l.alloc_cache
        };
        if free == 0 || max == 0 {
            return None;
        }
        let n = (free.count_ones() as usize).min(max);
        let low = free.trailing_zeros();
        let run = free >> low;
        let taken = if run & run.wrapping_add(1) == 0 {
            // One contiguous run from the lowest free bit: its first n bits.
            (u64::MAX >> (64 - n)) << low
        } else {
            let (mut rest, mut taken) = (free, 0u64);
            for _ in 0..n {
                let lowest = rest & rest.wrapping_neg();
                taken |= lowest;
                rest ^= lowest;
            }
            taken
        };
        // The cache covers free_index to the end of its word, so the taken
        // bits, shifted to free_index's place in that word, are their bits.
        l.alloc_bits[(base / 64) & (BITMAP_WORDS - 1)] |= taken << (base % 64);
        l.alloc_count += n;
        let last = 63 - taken.leading_zeros() as usize;
        l.alloc_cache = (l.alloc_cache >> last) >> 1;
        l.free_index = base + last + 1;
        if l.free_index.is_multiple_of(64) && l.free_index < self.nelems {
            l.alloc_cache = !l.alloc_bits[(l.free_index / 64) & (BITMAP_WORDS - 1)];
        }
        Some((base, taken))
    }

    // ANCHOR: next_free
    /// Takes a free object (Go's `nextFreeFast`, falling into
    /// `nextFreeIndex`), without rewinding: `None` when no free object lies at
    /// or after `free_index`.
    ///
    /// # Safety
    /// The caller owns the span.
    #[inline(always)]
    pub(crate) unsafe fn next_free(&self) -> Option<usize> {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        let bit = l.alloc_cache.trailing_zeros() as usize;
        let index = l.free_index + bit;
        if bit < 64 && index < self.nelems {
            take(l, index, self.nelems);
            return Some(index);
        }
        next_free_index(l, self.nelems)
    }
    // ANCHOR_END: next_free

    /// Restarts the search at object 0 (finding objects freed behind
    /// `free_index`) and takes a free object, if any.
    ///
    /// # Safety
    /// The caller owns the span.
    pub(crate) unsafe fn rewind_and_next_free(&self) -> Option<usize> {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        if l.alloc_count >= self.nelems {
            return None;
        }
        l.free_index = 0;
        l.alloc_cache = !l.alloc_bits[0];
        next_free_index(l, self.nelems)
    }

    /// Whether every object is allocated (pending remote frees not counted).
    ///
    /// # Safety
    /// The caller owns the span.
    pub(crate) unsafe fn is_full(&self) -> bool {
        // SAFETY: ownership is the caller's contract.
        unsafe { self.local().alloc_count >= self.nelems }
    }

    /// Objects allocated (pending remote frees still count).
    ///
    /// # Safety
    /// The caller owns the span.
    pub(crate) unsafe fn alloc_count(&self) -> usize {
        // SAFETY: ownership is the caller's contract.
        unsafe { self.local().alloc_count }
    }

    // ANCHOR: install_mark_bits
    /// The bitmap swap at the end of Go's `mspan.sweep`: the collector's mark
    /// bits (`gcmarkBits`) become the allocation bits (`s.allocBits =
    /// s.gcmarkBits`), so every unmarked object is free at once; the search
    /// restarts at object 0 (`freeindex = 0`, `refillAllocCache(0)`) and the
    /// count becomes the number of marked objects (`allocCount = nalloc`).
    /// The caller's `marks` buffer stays the caller's: it plays the fresh,
    /// zeroed `gcmarkBits` once cleared. Returns the objects kept.
    ///
    /// Objects waiting on the remote-free list are dropped from it: they are
    /// free already, and, being unmarked, free in the new bits too.
    ///
    /// # Safety
    /// The caller owns the span, and no other thread frees into it
    /// meanwhile. `marks` has `nelems.div_ceil(64)` words, no bit at or past
    /// `nelems`, and no bit on an object that is free or on the remote list
    /// (the caller checks all of it: see `Heap::sweep_span`).
    pub(crate) unsafe fn install_mark_bits(&self, marks: &[u64]) -> usize {
        // SAFETY: ownership is the caller's contract.
        let l = unsafe { self.local() };
        debug_assert_eq!(l.free_len, 0, "a swept span has no owner's free list");
        // The pending remote frees are unmarked, so already free below; the
        // list (and the PARKED flag) goes. The caller re-parks if full.
        self.remote.swap(0, Ordering::Acquire);
        l.alloc_bits = [0; BITMAP_WORDS];
        l.alloc_bits[..marks.len()].copy_from_slice(marks);
        let kept = marks.iter().map(|w| w.count_ones() as usize).sum();
        l.alloc_count = kept;
        l.free_index = 0;
        l.alloc_cache = !l.alloc_bits[0];
        kept
    }
    // ANCHOR_END: install_mark_bits
}

// ANCHOR: take
/// Marks `index` allocated and advances the cache past it.
#[inline(always)]
fn take(l: &mut SpanLocal, index: usize, nelems: usize) {
    let bit = index - l.free_index;
    l.alloc_bits[(index / 64) & (BITMAP_WORDS - 1)] |= 1u64 << (index % 64);
    l.alloc_count += 1;
    // Two shifts, since bit + 1 may be 64.
    l.alloc_cache = (l.alloc_cache >> bit) >> 1;
    l.free_index = index + 1;
    if l.free_index.is_multiple_of(64) && l.free_index < nelems {
        l.alloc_cache = !l.alloc_bits[(l.free_index / 64) & (BITMAP_WORDS - 1)];
    }
}
// ANCHOR_END: take

/// Go's `nextFreeIndex`: walks the bitmap a word at a time from
/// `free_index`, refilling the cache, and takes the first free object.
#[inline(never)]
fn next_free_index(l: &mut SpanLocal, nelems: usize) -> Option<usize> {
    loop {
        if l.free_index >= nelems {
            return None;
        }
        let bit = l.alloc_cache.trailing_zeros() as usize;
        if bit == 64 {
            // Nothing free in the rest of this word: refill from the next.
            let next_word = l.free_index / 64 + 1;
            l.free_index = next_word * 64;
            if l.free_index >= nelems {
                l.free_index = nelems;
                return None;
            }
            l.alloc_cache = !l.alloc_bits[next_word];
            continue;
        }
        let index = l.free_index + bit;
        if index >= nelems {
            l.free_index = nelems;
            l.alloc_cache = 0;
            return None;
        }
        take(l, index, nelems);
        return Some(index);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn span_of(class: usize) -> Span {
        let mut s = Span::new(0x10_0000, TABLES.pages[class], SpanState::Small);
        // SAFETY: the span is local to the test.
        unsafe { s.init_small(class) };
        s
    }

    #[test]
    fn allocates_every_object_once_in_order_then_reports_full() {
        for class in [1, 3, 5, 10, 35, 67] {
            let s = span_of(class);
            for want in 0..s.nelems {
                // SAFETY: the test owns the span.
                assert_eq!(unsafe { s.next_free() }, Some(want), "class {class}");
            }
            // SAFETY: the test owns the span; nothing else touches it.
            unsafe {
                assert_eq!(s.next_free(), None, "class {class} should be full");
                assert!(s.is_full());
                assert_eq!(s.rewind_and_next_free(), None);
            }
        }
    }

    #[test]
    fn the_owners_free_list_counts_as_allocated_until_folded() {
        let class = 4; // 32-byte objects, 256 per span
        let pages = TABLES.pages[class];
        // Real memory: the list links through the objects' first words.
        let mut memory = vec![0u64; pages * PAGE_SIZE / 8];
        let mut s = Span::new(memory.as_mut_ptr() as usize, pages, SpanState::Small);
        // SAFETY: the test owns the span and the memory it describes.
        unsafe {
            s.init_small(class);
            let all: Vec<usize> = (0..s.nelems)
                .map(|_| s.object_addr(s.next_free().unwrap()))
                .collect();
            for &a in &all[..5] {
                s.push_free(a);
            }
            assert_eq!(
                s.alloc_count(),
                s.nelems,
                "listed objects still count as allocated"
            );
            assert_eq!(
                s.rewind_and_next_free(),
                None,
                "a listed object was found free"
            );
            assert_eq!(s.fold_free_list(), 5, "five objects were listed");
            assert_eq!((s.alloc_count(), s.local_ref().free_len), (s.nelems - 5, 0));
            let mut again = vec![s.object_addr(s.rewind_and_next_free().unwrap())];
            while let Some(i) = s.next_free() {
                again.push(s.object_addr(i));
            }
            assert_eq!(
                again,
                all[..5],
                "folding should free exactly the listed objects"
            );
            // Everything listed: the span is empty, and folding clears it.
            for &a in &all {
                s.push_free(a);
            }
            assert_eq!(
                s.take_free_list(),
                (all[s.nelems - 1], s.nelems),
                "LIFO, all of them"
            );
            for &a in &all {
                s.push_free(a);
            }
            assert_eq!(s.fold_free_list(), s.nelems, "every object was listed");
            assert_eq!(s.alloc_count(), 0, "an emptied span should fold to empty");
            assert_eq!(s.rewind_and_next_free(), Some(0));
        }
        drop(memory);
    }

    #[test]
    fn freed_objects_are_reused_first_and_double_frees_refused() {
        let s = span_of(1); // 1024 objects
        // SAFETY: the test owns the span throughout.
        unsafe {
            for _ in 0..10 {
                s.next_free().unwrap();
            }
            // Object 3 is behind free_index (10): the search moves back to it.
            assert!(s.free_local(3));
            assert!(!s.free_local(3), "second free of 3 must be refused");
            // Object 12 is not allocated yet: freeing it is a double free.
            assert!(!s.free_local(12));
            assert_eq!(s.local_ref().free_index, 3);
            assert_eq!(s.next_free(), Some(3), "the object just freed comes first");
            assert_eq!(s.next_free(), Some(10));
            // Allocate through the rest of the span.
            for want in 11..1024 {
                assert_eq!(s.next_free(), Some(want));
            }
            assert_eq!(s.next_free(), None);
            assert_eq!(s.rewind_and_next_free(), None, "nothing free anywhere");
            // Free two objects in different words, lowest first wins.
            assert!(s.free_local(700));
            assert!(s.free_local(130));
            assert_eq!(s.next_free(), Some(130));
            assert!(s.free_local(140), "140 is in the window: visible at once");
            assert_eq!(s.next_free(), Some(140));
            assert_eq!(s.next_free(), Some(700));
            assert_eq!(s.next_free(), None);
        }
    }

    #[test]
    fn alloc_cache_is_the_shifted_complement_of_the_bitmap() {
        let s = span_of(1);
        // SAFETY: the test owns the span.
        unsafe {
            for _ in 0..5 {
                s.next_free();
            }
            let l = s.local_ref();
            assert_eq!(l.free_index, 5);
            assert_eq!(l.alloc_bits[0], 0b11111);
            assert_eq!(l.alloc_cache, !0u64 >> 5);
        }
    }

    #[test]
    fn random_alloc_free_matches_a_model() {
        let mut seed = 0x9e3779b97f4a7c15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for class in [1, 2, 9, 40] {
            let s = span_of(class);
            let mut live = vec![false; s.nelems];
            for _ in 0..20_000 {
                if rand() % 3 != 0 {
                    // SAFETY: the test owns the span.
                    let got = unsafe { s.next_free().or_else(|| s.rewind_and_next_free()) };
                    match got {
                        Some(i) => {
                            assert!(!live[i], "class {class}: object {i} handed out twice");
                            live[i] = true;
                        }
                        None => assert!(live.iter().all(|&b| b), "class {class}: space lost"),
                    }
                } else {
                    let i = (rand() as usize) % s.nelems;
                    // SAFETY: the test owns the span, and i < nelems.
                    let freed = unsafe { s.free_local(i) };
                    assert_eq!(freed, live[i], "class {class} free {i}");
                    live[i] = false;
                }
                // SAFETY: the test owns the span; nothing else touches it.
                let count = unsafe { s.alloc_count() };
                assert_eq!(count, live.iter().filter(|&&b| b).count());
            }
        }
    }

    #[test]
    fn a_batch_takes_what_single_takes_would_in_the_same_order() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Class 9 (144 B) has 56 objects: its only word ends early.
        for class in [1, 4, 9, 40] {
            let (batched, single) = (span_of(class), span_of(class));
            for _ in 0..2_000 {
                if rand() % 4 == 0 {
                    let i = (rand() as usize) % batched.nelems;
                    // SAFETY: the test owns both spans, and i < nelems.
                    let (a, b) = unsafe { (batched.free_local(i), single.free_local(i)) };
                    assert_eq!(a, b, "class {class}: free {i}");
                    continue;
                }
                let max = 1 + (rand() as usize) % 40;
                // SAFETY: the test owns both spans.
                let got: Vec<usize> = match unsafe { batched.take_free_run(max) } {
                    Some((base, taken)) => (0..64)
                        .filter(|i| taken & (1 << i) != 0)
                        .map(|i| base + i)
                        .collect(),
                    None => vec![],
                };
                let n = got.len();
                assert!(n <= max, "class {class}: took {n} of at most {max}");
                let want: Vec<usize> = (0..n)
                    // SAFETY: the test owns the span.
                    .map(|_| unsafe { single.next_free_fast() }.expect("single takes as many"))
                    .collect();
                assert_eq!(got, want, "class {class}: batch of {max}");
                if n == 0 {
                    // SAFETY: the test owns both spans.
                    unsafe {
                        assert_eq!(
                            single.next_free_fast(),
                            None,
                            "class {class}: batch missed one"
                        );
                        // Walk both on to the next free object (or rewind).
                        let a = batched
                            .next_free()
                            .or_else(|| batched.rewind_and_next_free());
                        let b = single.next_free().or_else(|| single.rewind_and_next_free());
                        assert_eq!(a, b, "class {class}: the walk after a batch");
                    }
                }
                // SAFETY: the test owns both spans.
                unsafe {
                    let (a, b) = (batched.local_ref(), single.local_ref());
                    assert_eq!(a.alloc_bits, b.alloc_bits, "class {class}: bits");
                    assert_eq!(
                        (a.free_index, a.alloc_cache, a.alloc_count),
                        (b.free_index, b.alloc_cache, b.alloc_count),
                        "class {class}: cursor"
                    );
                }
            }
        }
    }

    #[test]
    fn installed_mark_bits_become_the_allocation_state() {
        let s = span_of(3); // 24-byte objects, 341 per span: six bitmap words
        let words = s.nelems.div_ceil(64);
        // SAFETY: the test owns the span.
        unsafe {
            for _ in 0..200 {
                s.next_free().unwrap();
            }
            let mut marks = vec![0u64; words];
            for i in [1, 5, 64, 130, 199] {
                marks[i / 64] |= 1 << (i % 64);
            }
            assert_eq!(s.install_mark_bits(&marks), 5);
            let l = s.local_ref();
            assert_eq!(&l.alloc_bits[..words], &marks[..]);
            assert!(l.alloc_bits[words..].iter().all(|&w| w == 0));
            assert_eq!((l.alloc_count, l.free_index), (5, 0));
            assert_eq!(l.alloc_cache, !marks[0], "refilled from word 0");
            // Every unmarked slot is free again, lowest first, then the
            // never-used tail.
            let mut want: Vec<usize> = (0..s.nelems)
                .filter(|i| ![1, 5, 64, 130, 199].contains(i))
                .collect();
            want.reverse();
            while let Some(i) = s.next_free() {
                assert_eq!(Some(i), want.pop(), "after the swap");
            }
            assert!(want.is_empty(), "free slots not handed out: {want:?}");
        }
    }

    #[test]
    fn remote_frees_are_collected_and_parking_needs_an_empty_list() {
        let class = 6; // 64-byte objects, 128 per span
        let mem = vec![0u64; 8192 / 8];
        let mut s = Span::new(mem.as_ptr() as usize, 1, SpanState::Small);
        // SAFETY: the span describes `mem`, which the test owns.
        unsafe {
            s.init_small(class);
            let a = s.next_free().unwrap();
            let b = s.next_free().unwrap();
            assert!(s.try_park(), "an empty remote list can be parked");
            assert!(s.push_remote(s.object_addr(a)), "first push unparks");
            assert!(!s.push_remote(s.object_addr(b)));
            assert!(!s.try_park(), "pending frees forbid parking");
            let mut bad = vec![];
            assert_eq!(s.collect_remote(&mut |p| bad.push(p)), 2);
            assert!(bad.is_empty());
            assert_eq!(s.alloc_count(), 0);
            // A double free through the remote list is reported on collection.
            let c = s.next_free().unwrap();
            s.push_remote(s.object_addr(c));
            s.push_remote(s.object_addr(c));
            assert_eq!(s.collect_remote(&mut |p| bad.push(p)), 1);
            assert_eq!(bad, vec![s.object_addr(c)]);
        }
        drop(mem);
    }
}
