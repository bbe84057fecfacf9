//! # Exercise ex11: growing a goroutine stack by copying
//!
//! A goroutine starts with a 2 KiB stack. When a function's prologue finds
//! that its frame would not fit, the runtime allocates a bigger stack and
//! copies the old one into it (Go's `newstack` and `copystack`). Stacks grow
//! down: the stack pointer `sp` starts at the top (`hi`) and frames are
//! pushed below it, so the used part is `sp..hi`.
//!
//! Copying is easy; the catch is pointers. A local whose address was taken
//! (`p := &x`) lives in the stack, and `p` may itself be in the stack, in a
//! frame further up. After the copy, `x` is at a new address, so every
//! pointer **into the old stack** must be moved by the same distance the
//! stack moved. Pointers to anywhere else (the heap, globals) must not be
//! touched. Go knows which words are pointers from the compiler's stack maps;
//! here each word says so itself: `Word::Ptr(addr)` or `Word::Scalar(v)`.
//!
//! This is a **simulated** stack (`memsim::stack`): addresses are numbers in
//! a pretend address space. Write:
//!
//! - [`grown_size`]: Go doubles the stack, and keeps doubling until the new
//!   frame fits with the guard area (`STACK_GUARD` bytes above `lo`) still
//!   free below it.
//! - [`copy_stack`]: the new stack, with the used part at the same distance
//!   from the top, `sp` moved accordingly, and pointers fixed up. It also
//!   serves for shrinking (a smaller new size), so do not assume it grows.

// --- your code: imports ---
use memsim::stack::{STACK_GUARD, StackImage, Word};
// --- end of your code ---

/// The size of the new stack when a frame of `frame` bytes does not fit in a
/// stack of `old_size` bytes of which `used` are in use: double `old_size`
/// until `new_size - used >= STACK_GUARD + frame`.
pub fn grown_size(old_size: usize, used: usize, frame: usize) -> usize {
    // --- your code: grown_size ---
    let _ = (old_size, used, frame, STACK_GUARD);
    todo!("double until the frame fits above the guard")
    // --- end of your code ---
}

/// Go's `copystack`: a new stack of `new_size` bytes starting at `new_lo`,
/// holding `old`'s used part (`old.sp..old.hi()`) at the same distance from
/// the top, with `sp` moved by the same distance, and every `Word::Ptr` that
/// pointed into `old` moved too. Returns the new stack and how many pointers
/// were adjusted.
// --- your code: grown_size (2) ---
///
/// `StackImage::new(lo, size)` makes an empty stack; `read`/`write` take
/// addresses; `contains(addr)` says whether an address is inside a stack.
// --- end of your code ---
pub fn copy_stack(old: &StackImage, new_lo: usize, new_size: usize) -> (StackImage, usize) {
    // --- your code: copy_stack ---
    let _ = (old, new_lo, new_size, Word::Scalar(0));
    todo!("copy sp..hi to the same distance from the new top; move pointers into the old stack")
    // --- end of your code ---
}
