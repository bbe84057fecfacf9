//! A randomized multi-threaded stress test of `SpanAlloc`, called directly.
//!
//! Four worker threads each run a seeded xorshift generator and, step by step,
//! allocate objects of random size and alignment, reallocate some, free some,
//! and hand some to the next worker in a ring (a channel per worker), which
//! adopts or frees them, so a good share of frees happen on a thread other
//! than the one that allocated. Sizes cover every size class (each worker also
//! walks the whole class table once, at each class's exact size and one byte
//! past the previous class) and large objects up to 1 MiB from the page heap.
//!
//! Every object is filled with a pattern derived from a unique id and its
//! address (a fill byte, a header word and a trailer word) and the pattern is
//! checked before each free and across each realloc: if the allocator ever
//! handed out overlapping memory, or wrote into a live object, a check fails and
//! names the object. A shared map of live ranges also catches an overlapping
//! hand-out the moment it happens, and every pointer's alignment is checked.
//!
//! The allocator under test is a plain static, not the global allocator: the
//! test harness, the channels and the bookkeeping use the system allocator, so
//! a broken `SpanAlloc` cannot corrupt the checker. The work is bounded (a
//! fixed number of steps), so the test takes a few seconds in a debug build on
//! two cores and involves no timing. `STRESS_SEED=<n>` (decimal, or hex as
//! failure messages print it) runs another seed.

#![cfg(not(loom))]

use allocator::SpanAlloc;
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};

static HEAP: SpanAlloc = SpanAlloc::new();

const WORKERS: usize = 4;
const STEPS_PER_WORKER: usize = 8_000;
const MAX_LIVE_PER_WORKER: usize = 1_500;
const SMALL_MAX: usize = 32 * 1024;
const LARGE_MAX: usize = 1024 * 1024;
const DEFAULT_SEED: u64 = 0x2545_F491_4F6C_DD1D;

/// xorshift64: small, seedable, and the same on every machine.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // xorshift must never hold zero.
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    /// True with probability `n / d`.
    fn chance(&mut self, n: u64, d: u64) -> bool {
        self.next() % d < n
    }
}

/// A live object: where it is, the layout it was allocated with, and the id
/// its pattern derives from.
#[derive(Debug)]
struct Obj {
    addr: usize,
    size: usize,
    align: usize,
    id: u64,
}

impl Obj {
    fn layout(&self) -> Layout {
        Layout::from_size_align(self.size, self.align).expect("valid layout")
    }
}

/// Live address ranges of every worker, to catch an overlapping hand-out at
/// once: start → (end, id).
static LIVE: Mutex<BTreeMap<usize, (usize, u64)>> = Mutex::new(BTreeMap::new());

/// The live-range map; a worker that panicked holding it (a failed check) does
/// not stop the others from reporting their own findings.
fn live_ranges() -> std::sync::MutexGuard<'static, BTreeMap<usize, (usize, u64)>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn register(obj: &Obj, seed: u64) {
    let end = obj.addr + obj.size;
    let mut live = live_ranges();
    if let Some((&start, &(prev_end, prev_id))) = live.range(..=obj.addr).next_back() {
        assert!(
            prev_end <= obj.addr,
            "seed {seed:#x}: object {obj:?} overlaps live object {prev_id} at {start:#x}..{prev_end:#x}"
        );
    }
    if let Some((&start, &(_, next_id))) = live.range(obj.addr..).next() {
        assert!(
            start >= end,
            "seed {seed:#x}: object {obj:?} overlaps live object {next_id} starting at {start:#x}"
        );
    }
    live.insert(obj.addr, (end, obj.id));
}

fn unregister(obj: &Obj) {
    let removed = live_ranges().remove(&obj.addr);
    assert_eq!(
        removed,
        Some((obj.addr + obj.size, obj.id)),
        "bookkeeping lost object {obj:?}"
    );
}

/// The bytes object `id` at `addr` should hold: a fill byte, and when there is
/// room, a header word (`id`) and a trailer word (`id` mixed with `addr`).
fn pattern_into(buf: &mut Vec<u8>, size: usize, id: u64, addr: usize) {
    buf.clear();
    let mixed = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ addr as u64;
    buf.resize(size, (mixed >> 56) as u8 | 1);
    if size >= 16 {
        buf[..8].copy_from_slice(&id.to_le_bytes());
        buf[size - 8..].copy_from_slice(&mixed.to_le_bytes());
    }
}

/// Per-worker state: the generator, its live objects, and a scratch buffer for
/// building expected patterns (so checks are one memcmp, fast in debug builds).
struct Worker {
    index: usize,
    seed: u64,
    rng: XorShift,
    next_id: u64,
    live: Vec<Obj>,
    scratch: Vec<u8>,
    allocated: u64,
    freed: u64,
}

impl Worker {
    fn new(index: usize, seed: u64) -> Self {
        Worker {
            index,
            seed,
            rng: XorShift::new(seed ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)),
            next_id: (index as u64) << 40,
            live: Vec::new(),
            scratch: Vec::new(),
            allocated: 0,
            freed: 0,
        }
    }

    fn random_size(&mut self) -> usize {
        match self.rng.next() % 100 {
            0..=59 => self.rng.range(1, 256),
            60..=84 => self.rng.range(257, 4096),
            85..=98 => self.rng.range(4097, SMALL_MAX),
            _ => self.rng.range(SMALL_MAX + 1, LARGE_MAX),
        }
    }

    fn random_align(&mut self) -> usize {
        match self.rng.next() % 200 {
            0..=99 => 1 << self.rng.range(0, 3),    // 1..=8, the common case
            100..=169 => 16,                        // what System guarantees
            170..=193 => 1 << self.rng.range(5, 8), // 32..=256, cache lines
            194..=197 => 4096,                      // a page
            198 => 8192,                            // a Go page
            _ => 1 << self.rng.range(14, 16),       // 16..=64 KiB, beyond a page
        }
    }

    fn alloc(&mut self, size: usize, align: usize) -> Obj {
        let layout = Layout::from_size_align(size, align).expect("valid layout");
        // SAFETY: every size drawn here is at least 1.
        let p = unsafe { HEAP.alloc(layout) };
        assert!(
            !p.is_null(),
            "seed {:#x}: worker {} got null for {layout:?}",
            self.seed,
            self.index
        );
        let addr = p as usize;
        assert_eq!(
            addr % align,
            0,
            "seed {:#x}: {addr:#x} is not aligned to {align} (size {size})",
            self.seed
        );
        self.next_id += 1;
        let obj = Obj {
            addr,
            size,
            align,
            id: self.next_id,
        };
        register(&obj, self.seed);
        self.fill(&obj);
        self.allocated += 1;
        obj
    }

    fn fill(&mut self, obj: &Obj) {
        pattern_into(&mut self.scratch, obj.size, obj.id, obj.addr);
        // SAFETY: `obj` is live and owns `size` bytes at `addr`; the scratch
        // buffer is a separate allocation of exactly `size` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(self.scratch.as_ptr(), obj.addr as *mut u8, obj.size)
        };
    }

    /// Checks the first `len` bytes of `obj` against the pattern it was filled
    /// with (`len < size` after a shrinking realloc).
    fn check(&mut self, obj: &Obj, at: usize, len: usize, what: &str) {
        pattern_into(&mut self.scratch, obj.size, obj.id, obj.addr);
        // SAFETY: the object at `at` is live and holds at least `len` bytes.
        let actual = unsafe { std::slice::from_raw_parts(at as *const u8, len) };
        if actual != &self.scratch[..len] {
            let first_bad = actual
                .iter()
                .zip(&self.scratch)
                .position(|(a, e)| a != e)
                .unwrap_or(0);
            panic!(
                "seed {:#x}: worker {} found object {obj:?} corrupted {what}: byte {first_bad} is {:#04x}, expected {:#04x}",
                self.seed, self.index, actual[first_bad], self.scratch[first_bad]
            );
        }
    }

    fn free(&mut self, obj: Obj) {
        self.check(&obj, obj.addr, obj.size, "before free");
        unregister(&obj);
        // SAFETY: `obj` was allocated from HEAP with this layout and is freed
        // exactly once: `Obj` is not Clone and this consumes it.
        unsafe { HEAP.dealloc(obj.addr as *mut u8, obj.layout()) };
        self.freed += 1;
    }

    fn realloc(&mut self, obj: Obj) -> Obj {
        self.check(&obj, obj.addr, obj.size, "before realloc");
        let new_size = self.random_size();
        unregister(&obj);
        // SAFETY: `obj` is live, from HEAP with this layout; `new_size` ≥ 1 and
        // rounded up to the alignment does not overflow (it is at most 1 MiB).
        let p = unsafe { HEAP.realloc(obj.addr as *mut u8, obj.layout(), new_size) };
        assert!(!p.is_null(), "seed {:#x}: realloc returned null", self.seed);
        assert_eq!(
            p as usize % obj.align,
            0,
            "seed {:#x}: realloc of {obj:?} to {new_size} lost the alignment",
            self.seed
        );
        // The old contents must survive, up to the smaller of the two sizes.
        self.check(&obj, p as usize, obj.size.min(new_size), "across realloc");
        self.next_id += 1;
        let moved = Obj {
            addr: p as usize,
            size: new_size,
            align: obj.align,
            id: self.next_id,
        };
        register(&moved, self.seed);
        self.fill(&moved);
        moved
    }

    /// Takes in an object from the previous worker: checks it, then keeps it
    /// (to free or pass on later) or frees it at once.
    fn adopt(&mut self, obj: Obj) {
        self.check(&obj, obj.addr, obj.size, "after the handoff");
        if self.live.len() < MAX_LIVE_PER_WORKER && self.rng.chance(1, 2) {
            self.live.push(obj);
        } else {
            self.free(obj);
        }
    }

    fn take_random(&mut self) -> Obj {
        let i = self.rng.range(0, self.live.len() - 1);
        self.live.swap_remove(i)
    }

    fn run(mut self, to_next: Sender<Obj>, from_prev: Receiver<Obj>) -> (u64, u64) {
        // Every size class at its exact size, and one byte past the class
        // below, at the smallest and a typical alignment.
        let class_sizes: Vec<usize> = allocator::size_classes().iter().map(|c| c.size).collect();
        let mut below = 0;
        for &size in &class_sizes {
            for (s, align) in [(size, 1), (below + 1, 8), (size, 16)] {
                let obj = self.alloc(s, align);
                self.live.push(obj);
            }
            below = size;
        }
        while self.live.len() > 100 {
            let obj = self.take_random();
            self.free(obj);
        }

        for _ in 0..STEPS_PER_WORKER {
            while let Ok(obj) = from_prev.try_recv() {
                self.adopt(obj);
            }
            let roll = self.rng.next() % 100;
            if self.live.is_empty() || (roll < 50 && self.live.len() < MAX_LIVE_PER_WORKER) {
                let size = self.random_size();
                let align = self.random_align();
                let obj = self.alloc(size, align);
                self.live.push(obj);
            } else if roll < 80 {
                let obj = self.take_random();
                self.free(obj);
            } else if roll < 85 {
                let obj = self.take_random();
                let moved = self.realloc(obj);
                self.live.push(moved);
            } else {
                let obj = self.take_random();
                to_next
                    .send(obj)
                    .expect("the next worker drains until we hang up");
            }
        }

        // Hang up, then take in whatever the previous worker still sends: it
        // stops once it has hung up too, which ends this loop.
        drop(to_next);
        for obj in from_prev {
            self.adopt(obj);
        }
        while let Some(obj) = self.live.pop() {
            self.free(obj);
        }
        (self.allocated, self.freed)
    }
}

/// A seed as failure messages print it (`0x…`) or in decimal.
fn parse_seed(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[test]
fn random_sizes_alignments_and_cross_thread_frees_keep_every_object_intact() {
    let seed = match std::env::var("STRESS_SEED") {
        Err(_) => DEFAULT_SEED,
        Ok(text) => parse_seed(&text).unwrap_or_else(|| {
            panic!("STRESS_SEED={text:?} is not a number (decimal, or hex with 0x as in failure messages)")
        }),
    };

    let (senders, receivers): (Vec<Sender<Obj>>, Vec<Receiver<Obj>>) =
        (0..WORKERS).map(|_| mpsc::channel()).unzip();
    let mut senders: Vec<Option<Sender<Obj>>> = senders.into_iter().map(Some).collect();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(i, from_prev)| {
            // Worker i sends to worker i + 1 and receives from worker i - 1.
            let to_next = senders[(i + 1) % WORKERS].take().expect("one sender each");
            let worker = Worker::new(i, seed);
            std::thread::spawn(move || worker.run(to_next, from_prev))
        })
        .collect();

    let (mut allocated, mut freed) = (0, 0);
    for h in handles {
        let (a, f) = h.join().expect("a worker panicked: see its message above");
        allocated += a;
        freed += f;
    }
    assert!(
        allocated > (WORKERS * STEPS_PER_WORKER / 3) as u64,
        "the workers allocated only {allocated} objects"
    );
    assert_eq!(
        allocated, freed,
        "every object allocated must be freed exactly once (allocations and frees by all workers)"
    );
    assert!(
        live_ranges().is_empty(),
        "objects still registered live after every worker finished"
    );

    // Only this test uses the allocator's heap in this binary (the harness
    // runs on the system allocator), and every worker flushed its cache's
    // counters when it exited: the statistics must balance exactly.
    let stats = HEAP.stats();
    assert!(
        stats.total_allocs >= allocated,
        "the heap counted {} allocations; the workers made at least {allocated}",
        stats.total_allocs
    );
    assert_eq!(
        stats.total_allocs, stats.total_frees,
        "allocations and frees counted by the heap should balance once every object is freed"
    );
    assert_eq!(
        stats.in_use_bytes, 0,
        "bytes still in use after every object was freed"
    );
}
