//! # Exercise ex11: growing a goroutine stack by copying (reference solution)
//!
//! The distance every address moves is `new.hi - old.hi` (it can be
//! negative: a shrink, or a new stack below the old one), so the solution
//! works in signed arithmetic. Only words in `old.sp..old.hi` are live; the
//! rest of the new stack stays zeroed.

// --- your code: imports ---
use memsim::stack::{STACK_GUARD, StackImage, WORD, Word};
// --- end of your code ---

/// The size of the new stack when a frame of `frame` bytes does not fit in a
/// stack of `old_size` bytes of which `used` are in use: double `old_size`
/// until `new_size - used >= STACK_GUARD + frame`.
pub fn grown_size(old_size: usize, used: usize, frame: usize) -> usize {
    // --- your code: grown_size ---
    let mut new_size = old_size * 2;
    while new_size - used < STACK_GUARD + frame {
        new_size *= 2;
    }
    new_size
    // --- end of your code ---
}

/// Go's `copystack`: a new stack of `new_size` bytes starting at `new_lo`,
/// holding `old`'s used part (`old.sp..old.hi()`) at the same distance from
/// the top, with `sp` moved by the same distance, and every `Word::Ptr` that
/// pointed into `old` moved too. Returns the new stack and how many pointers
/// were adjusted.
// --- your code: grown_size (2) ---
// --- end of your code ---
pub fn copy_stack(old: &StackImage, new_lo: usize, new_size: usize) -> (StackImage, usize) {
    // --- your code: copy_stack ---
    let mut new = StackImage::new(new_lo, new_size);
    let delta = new.hi() as isize - old.hi() as isize;
    let moved = |addr: usize| (addr as isize + delta) as usize;
    new.sp = moved(old.sp);
    let mut adjusted = 0;
    for addr in (old.sp..old.hi()).step_by(WORD) {
        let word = match old.read(addr) {
            Word::Ptr(p) if old.contains(p) => {
                adjusted += 1;
                Word::Ptr(moved(p))
            }
            other => other,
        };
        new.write(moved(addr), word);
    }
    (new, adjusted)
    // --- end of your code ---
}
