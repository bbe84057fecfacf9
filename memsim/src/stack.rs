//! Goroutine stacks, simulated: a contiguous stack that starts at 2 KiB, is
//! checked in every function prologue, grows by doubling and copying, and
//! shrinks at GC time; and, beside it, the segmented stacks Go used before 1.3.
//!
//! This is a **simulation**: the stack is a vector of words in a pretend
//! address space, so that a lesson can print addresses, grow the stack on
//! purpose and check every pointer afterwards. The rules are Go's
//! (`runtime/stack.go`):
//!
//! - A new goroutine gets a 2 KiB stack (`_StackMin`/`fixedStack`). Stacks
//!   grow down: the stack pointer `sp` starts at `hi` and frames are pushed
//!   below it.
//! - Every function's prologue compares `sp - framesize` with a guard above
//!   `lo` (`stackguard0`, 928 bytes above it on linux/amd64) and calls
//!   `morestack` if the frame would cross it.
//! - `newstack` allocates a stack twice the size (doubling until the frame
//!   fits) and `copystack` copies the used part to the same distance from the
//!   new top. Pointers **into** the old stack (a local whose address was taken
//!   and stored in another frame) are moved by `new.hi - old.hi`; pointers to
//!   anywhere else (the heap) are left alone. Go can do this because the
//!   compiler records which stack words are pointers (stack maps); here every
//!   word says whether it is a pointer.
//! - At GC time a goroutine using less than a quarter of its stack gets a
//!   stack half the size (`shrinkstack`), never below 2 KiB.
//!
//! Segmented stacks instead chain fixed segments: a frame that does not fit
//! allocates a new segment, and returning from it frees the segment. A call
//! in a loop right at a segment boundary allocates and frees a segment per
//! iteration: the "hot split" that made Go switch to contiguous stacks.
//!
//! ```
//! use memsim::stack::{GoStack, Word, STACK_MIN};
//! let mut stack = GoStack::new();
//! stack.call("main", 64);
//! stack.store(0, Word::Scalar(42));    // x := 42
//! let p = stack.slot_addr(0);
//! stack.store(1, Word::Ptr(p));        // p := &x, a pointer into the stack
//! stack.call("f", 1500);               // too big for 2 KiB: the stack grows
//! assert_eq!(stack.size(), 2 * STACK_MIN);
//! let moved = match stack.load_in(0, 1) { Word::Ptr(q) => q, w => panic!("{w:?}") };
//! assert_ne!(moved, p);                            // the pointer was adjusted...
//! assert_eq!(stack.read(moved), Word::Scalar(42)); // ...and still finds x
//! ```

use serde::Serialize;

/// A new goroutine's stack size (Go: `_StackMin`, 2048 bytes).
pub const STACK_MIN: usize = 2048;
/// Bytes above `lo` that a frame may not cross without calling `morestack`
/// (Go: `_StackGuard`, 928 on linux/amd64).
pub const STACK_GUARD: usize = 928;
/// Bytes per word.
pub const WORD: usize = 8;

/// One stack word: a plain value, or a pointer (the stack map's bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Word {
    /// Not a pointer: copied as is.
    Scalar(u64),
    /// A pointer: adjusted on copy if it points into the old stack.
    Ptr(usize),
}

/// A stack's memory: `size` bytes from `lo`, one [`Word`] per 8 bytes, plus
/// the stack pointer. The used part is `sp..lo + size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackImage {
    /// Lowest address.
    pub lo: usize,
    /// Stack pointer: the lowest address in use.
    pub sp: usize,
    /// Words from `lo` upward.
    pub words: Vec<Word>,
}

impl StackImage {
    /// A zeroed stack of `size` bytes at `lo`, empty (`sp == hi`).
    pub fn new(lo: usize, size: usize) -> Self {
        StackImage {
            lo,
            sp: lo + size,
            words: vec![Word::Scalar(0); size / WORD],
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.words.len() * WORD
    }

    /// One past the highest address.
    pub fn hi(&self) -> usize {
        self.lo + self.size()
    }

    /// Bytes in use (`hi - sp`).
    pub fn used(&self) -> usize {
        self.hi() - self.sp
    }

    /// Whether `addr` lies inside this stack.
    pub fn contains(&self, addr: usize) -> bool {
        addr >= self.lo && addr < self.hi()
    }

    /// The word at `addr` (which must be inside the stack and word-aligned).
    pub fn read(&self, addr: usize) -> Word {
        assert!(
            self.contains(addr) && addr.is_multiple_of(WORD),
            "{addr:#x} is not a word of this stack"
        );
        self.words[(addr - self.lo) / WORD]
    }

    /// Writes the word at `addr`.
    pub fn write(&mut self, addr: usize, word: Word) {
        assert!(
            self.contains(addr) && addr.is_multiple_of(WORD),
            "{addr:#x} is not a word of this stack"
        );
        self.words[(addr - self.lo) / WORD] = word;
    }
}

// ANCHOR: copystack
/// Go's `copystack`: a new stack of `new_size` bytes at `new_lo` holding the
/// used part of `old` at the same distance from the top, with every pointer
/// into `old` moved by the same distance. Pointers elsewhere are untouched.
/// Returns the new stack and the number of pointers adjusted.
pub fn copy_stack(old: &StackImage, new_lo: usize, new_size: usize) -> (StackImage, usize) {
    assert!(
        new_size >= old.used(),
        "the new stack must hold the used part"
    );
    let mut new = StackImage::new(new_lo, new_size);
    let delta = new.hi() as isize - old.hi() as isize;
    new.sp = (old.sp as isize + delta) as usize;
    let mut adjusted = 0;
    for addr in (old.sp..old.hi()).step_by(WORD) {
        let word = match old.read(addr) {
            Word::Ptr(p) if old.contains(p) => {
                adjusted += 1;
                Word::Ptr((p as isize + delta) as usize)
            }
            other => other,
        };
        new.write((addr as isize + delta) as usize, word);
    }
    (new, adjusted)
}
// ANCHOR_END: copystack

/// A copy function with [`copy_stack`]'s contract (the ex11 exercise plugs its
/// own in with [`GoStack::with_copier`]).
pub type CopyFn = fn(&StackImage, usize, usize) -> (StackImage, usize);

/// Counters for one stack (or one segmented stack).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StackStats {
    /// Prologue checks that failed (`morestack` calls).
    pub morestack: usize,
    /// Stack (or segment) allocations, the first one included.
    pub allocations: usize,
    /// Stack (or segment) frees.
    pub frees: usize,
    /// Bytes copied by growing and shrinking.
    pub bytes_copied: usize,
    /// Pointers into the stack adjusted while copying.
    pub pointers_adjusted: usize,
    /// Times the stack was shrunk.
    pub shrinks: usize,
}

#[derive(Debug, Clone, Serialize)]
struct Frame {
    name: &'static str,
    /// The frame's lowest address (`sp` after the prologue).
    base: usize,
    size: usize,
}

/// A simulated contiguous goroutine stack.
#[derive(Debug, Clone)]
pub struct GoStack {
    mem: StackImage,
    frames: Vec<Frame>,
    next_lo: usize,
    copier: CopyFn,
    stats: StackStats,
    log: Vec<String>,
}

impl Default for GoStack {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the pretend address space hands out stacks (addresses look like Go's).
const FIRST_STACK: usize = 0xc000_040000;

impl GoStack {
    /// A 2 KiB stack, empty.
    pub fn new() -> Self {
        Self::with_copier(copy_stack)
    }

    /// A 2 KiB stack that grows and shrinks with `copier` instead of [`copy_stack`].
    pub fn with_copier(copier: CopyFn) -> Self {
        GoStack {
            mem: StackImage::new(FIRST_STACK, STACK_MIN),
            frames: Vec::new(),
            next_lo: FIRST_STACK + 0x10_0000,
            copier,
            stats: StackStats {
                allocations: 1,
                ..StackStats::default()
            },
            log: Vec::new(),
        }
    }

    /// Current size in bytes.
    pub fn size(&self) -> usize {
        self.mem.size()
    }

    /// Bytes in use.
    pub fn used(&self) -> usize {
        self.mem.used()
    }

    /// `lo` and `hi` of the current stack.
    pub fn bounds(&self) -> (usize, usize) {
        (self.mem.lo, self.mem.hi())
    }

    /// Counters so far.
    pub fn stats(&self) -> StackStats {
        self.stats
    }

    /// Frame depth.
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// What happened (grows and shrinks), one line each, oldest first.
    pub fn log(&self) -> &[String] {
        &self.log
    }

    /// The memory image (for printing and for tests).
    pub fn image(&self) -> &StackImage {
        &self.mem
    }

    // ANCHOR: prologue
    /// Calls a function whose frame is `frame_bytes` (rounded up to words).
    /// The prologue check runs first: if the frame would reach into the guard
    /// area, the stack grows (Go: `morestack` → `newstack` → `copystack`).
    pub fn call(&mut self, name: &'static str, frame_bytes: usize) {
        let size = frame_bytes.div_ceil(WORD) * WORD;
        let guard = self.mem.lo + STACK_GUARD;
        if self.mem.sp < guard + size {
            self.stats.morestack += 1;
            let mut new_size = self.size() * 2;
            while new_size - self.used() < STACK_GUARD + size {
                new_size *= 2;
            }
            self.move_to(
                new_size,
                &format!("morestack in {name}'s prologue (frame {size} B)"),
            );
        }
        self.mem.sp -= size;
        self.frames.push(Frame {
            name,
            base: self.mem.sp,
            size,
        });
    }
    // ANCHOR_END: prologue

    /// Returns from the innermost function.
    ///
    /// # Panics
    /// If no function is running.
    pub fn ret(&mut self) {
        let frame = self.frames.pop().expect("ret with no frame");
        self.mem.sp = frame.base + frame.size;
    }

    /// Address of word `slot` of the innermost frame (`&local`).
    pub fn slot_addr(&self, slot: usize) -> usize {
        self.slot_addr_in(self.frames.len() - 1, slot)
    }

    /// Address of word `slot` of frame `depth` (0 = outermost).
    pub fn slot_addr_in(&self, depth: usize, slot: usize) -> usize {
        let frame = &self.frames[depth];
        assert!(
            slot * WORD < frame.size,
            "slot {slot} is outside {}'s {}-byte frame",
            frame.name,
            frame.size
        );
        frame.base + slot * WORD
    }

    /// Writes word `slot` of the innermost frame.
    pub fn store(&mut self, slot: usize, word: Word) {
        let addr = self.slot_addr(slot);
        self.mem.write(addr, word);
    }

    /// Reads word `slot` of the innermost frame.
    pub fn load(&self, slot: usize) -> Word {
        self.mem.read(self.slot_addr(slot))
    }

    /// Reads word `slot` of frame `depth` (0 = outermost).
    pub fn load_in(&self, depth: usize, slot: usize) -> Word {
        self.mem.read(self.slot_addr_in(depth, slot))
    }

    /// Reads the word at `addr`, which must be inside the current stack: a
    /// dereference of a pointer into the stack.
    pub fn read(&self, addr: usize) -> Word {
        self.mem.read(addr)
    }

    /// Go's `shrinkstack`, run at GC time: if less than a quarter of the stack
    /// is in use, move to a stack half the size (never below 2 KiB).
    /// Returns whether it shrank.
    pub fn shrink_if_underused(&mut self) -> bool {
        let half = self.size() / 2;
        if half < STACK_MIN || self.used() >= self.size() / 4 {
            return false;
        }
        self.stats.shrinks += 1;
        self.move_to(half, "shrinkstack at GC: less than 1/4 in use");
        true
    }

    fn move_to(&mut self, new_size: usize, why: &str) {
        let old = (self.mem.lo, self.size());
        let new_lo = self.next_lo;
        self.next_lo += new_size.max(0x1_0000) * 2;
        let (new, adjusted) = (self.copier)(&self.mem, new_lo, new_size);
        let delta = new.hi() as isize - self.mem.hi() as isize;
        for frame in &mut self.frames {
            frame.base = (frame.base as isize + delta) as usize;
        }
        self.stats.bytes_copied += self.used();
        self.stats.pointers_adjusted += adjusted;
        self.stats.allocations += 1;
        self.stats.frees += 1;
        self.log.push(format!(
            "{why}: {} B at {:#x} -> {} B at {:#x}, copied {} B, adjusted {adjusted} pointers",
            old.1,
            old.0,
            new_size,
            new_lo,
            self.used()
        ));
        self.mem = new;
    }
}

/// Segmented stacks (Go before 1.3, early Rust): a chain of fixed-size
/// segments. Only the counts matter here, so frames carry no contents.
#[derive(Debug, Clone)]
pub struct SegmentedStack {
    segment_size: usize,
    /// Bytes used in each live segment, innermost last.
    segments: Vec<usize>,
    /// For each frame, whether it opened a new segment.
    frames: Vec<(usize, bool)>,
    stats: StackStats,
}

impl SegmentedStack {
    /// One segment of `segment_size` bytes.
    pub fn new(segment_size: usize) -> Self {
        SegmentedStack {
            segment_size,
            segments: vec![0],
            frames: Vec::new(),
            stats: StackStats {
                allocations: 1,
                ..StackStats::default()
            },
        }
    }

    /// Calls a function with a `frame_bytes` frame: if it does not fit in the
    /// current segment, a new segment is allocated and linked (`morestack`).
    pub fn call(&mut self, frame_bytes: usize) {
        let used = self.segments.last_mut().expect("at least one segment");
        if *used + frame_bytes + STACK_GUARD.min(self.segment_size / 4) > self.segment_size {
            self.stats.morestack += 1;
            self.stats.allocations += 1;
            self.segments.push(frame_bytes);
            self.frames.push((frame_bytes, true));
        } else {
            *used += frame_bytes;
            self.frames.push((frame_bytes, false));
        }
    }

    /// Returns: a frame that opened a segment frees it (`lessstack`).
    pub fn ret(&mut self) {
        let (size, opened) = self.frames.pop().expect("ret with no frame");
        if opened {
            self.segments.pop();
            self.stats.frees += 1;
        } else {
            *self.segments.last_mut().expect("at least one segment") -= size;
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> StackStats {
        self.stats
    }

    /// Live segments.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }
}

/// The hot-split experiment: fill the stack with `depth` frames of
/// `frame_bytes`, then call (and return from) one more function of
/// `frame_bytes` `iterations` times. Returns (segmented, contiguous) counters.
///
/// ```
/// let (seg, contiguous) = memsim::stack::hot_split(4096, 7, 400, 1000);
/// assert!(seg.allocations > 1000);        // one segment per call in the loop
/// assert!(contiguous.allocations <= 3);   // grown once or twice, then never again
/// ```
pub fn hot_split(
    segment_size: usize,
    depth: usize,
    frame_bytes: usize,
    iterations: usize,
) -> (StackStats, StackStats) {
    let mut seg = SegmentedStack::new(segment_size);
    let mut contiguous = GoStack::new();
    for _ in 0..depth {
        seg.call(frame_bytes);
        contiguous.call("outer", frame_bytes);
    }
    for _ in 0..iterations {
        seg.call(frame_bytes);
        seg.ret();
        contiguous.call("leaf", frame_bytes);
        contiguous.ret();
    }
    (seg.stats(), contiguous.stats())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_2k_and_doubles_when_a_frame_does_not_fit() {
        let mut s = GoStack::new();
        assert_eq!(s.size(), 2048);
        s.call("a", 512);
        assert_eq!(s.size(), 2048, "512 B + guard fits in 2 KiB");
        s.call("b", 1024);
        assert_eq!(s.size(), 4096, "the second frame crosses the guard: double");
        assert_eq!(s.stats().morestack, 1);
    }

    #[test]
    fn pointers_into_the_stack_move_and_heap_pointers_do_not() {
        let mut s = GoStack::new();
        s.call("main", 32);
        s.store(0, Word::Scalar(7));
        let x = s.slot_addr(0);
        s.store(1, Word::Ptr(0x7f00_0000_1000)); // a heap pointer
        s.store(2, Word::Ptr(x));
        s.call("f", 2000);
        let (lo, hi) = s.bounds();
        let Word::Ptr(moved) = s.load_in(0, 2) else {
            panic!("pointer lost its pointer-ness")
        };
        assert!(
            moved >= lo && moved < hi,
            "adjusted pointer {moved:#x} should be in the new stack {lo:#x}..{hi:#x}"
        );
        assert_eq!(s.read(moved), Word::Scalar(7));
        s.ret();
        assert_eq!(
            s.load(1),
            Word::Ptr(0x7f00_0000_1000),
            "heap pointers are not adjusted"
        );
        assert_eq!(s.load(0), Word::Scalar(7));
        assert!(s.stats().pointers_adjusted >= 1);
    }

    #[test]
    fn deep_recursion_keeps_every_frames_parent_pointer_valid() {
        let mut s = GoStack::new();
        s.call("main", 16);
        s.store(0, Word::Scalar(0));
        for depth in 1..200u64 {
            s.call("rec", 48);
            let parent = s.slot_addr_in(s.depth() - 2, 0);
            s.store(0, Word::Scalar(depth));
            s.store(1, Word::Ptr(parent));
        }
        assert!(s.size() >= 16 * 1024);
        for depth in (1..200u64).rev() {
            assert_eq!(s.load(0), Word::Scalar(depth));
            let Word::Ptr(parent) = s.load(1) else {
                panic!("slot 1 should hold a pointer")
            };
            assert_eq!(
                s.read(parent),
                Word::Scalar(depth - 1),
                "frame {depth}'s parent pointer"
            );
            s.ret();
        }
    }

    #[test]
    fn shrinks_by_half_when_under_a_quarter_used_but_not_below_2k() {
        let mut s = GoStack::new();
        s.call("main", 16);
        s.call("big", 7000);
        let grown = s.size();
        assert_eq!(grown, 8192);
        assert!(
            !s.shrink_if_underused(),
            "7 KiB of 8 KiB in use is more than a quarter"
        );
        s.ret();
        assert!(s.shrink_if_underused());
        assert_eq!(s.size(), grown / 2);
        while s.shrink_if_underused() {}
        assert_eq!(s.size(), STACK_MIN);
    }

    #[test]
    fn hot_split_allocates_per_call_on_segments_only() {
        let (seg, contiguous) = hot_split(4096, 7, 400, 500);
        assert_eq!(
            seg.allocations, 501,
            "one segment per loop iteration plus the first"
        );
        assert_eq!(seg.frees, 500);
        assert!(contiguous.allocations <= 3, "{contiguous:?}");
    }
}
