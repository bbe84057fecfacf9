//! Graded tests of exercise ex11: growing a simulated goroutine stack by
//! copying, with the pointers into it adjusted.

mod common;

use common::grade;
use exercises::ex11_stack_growth::{copy_stack, grown_size};
use memsim::stack::{GoStack, STACK_GUARD, StackImage, Word};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(20);

/// A 2 KiB stack at 0x10000 with 4 words in use: a scalar, a pointer to that
/// scalar, a heap pointer, and a pointer to the word just above the stack.
fn sample() -> StackImage {
    let mut s = StackImage::new(0x10000, 2048);
    let hi = s.hi();
    s.sp = hi - 32;
    s.write(hi - 8, Word::Scalar(42));
    s.write(hi - 16, Word::Ptr(hi - 8)); // &x: into the stack
    s.write(hi - 24, Word::Ptr(0x7f00_0000)); // into the heap
    s.write(hi - 32, Word::Ptr(hi)); // one past the top: not in the stack
    s
}

#[test]
fn grown_size_doubles_until_the_frame_fits_above_the_guard() {
    grade("ex11", LIMIT, || {
        assert_eq!(
            grown_size(2048, 1500, 100),
            4096,
            "2 KiB with 1500 B used and a 100 B frame: double once"
        );
        assert_eq!(
            grown_size(2048, 100, 8000),
            16384,
            "an 8000 B frame needs 8000 + guard above the used part"
        );
        let size = grown_size(4096, 4000, 0);
        assert_eq!(size, 8192);
        assert!(size - 4000 >= STACK_GUARD);
    });
}

#[test]
fn copy_keeps_the_used_part_at_the_same_distance_from_the_top() {
    grade("ex11", LIMIT, || {
        let old = sample();
        let (new, _) = copy_stack(&old, 0x40000, 4096);
        assert_eq!(new.lo, 0x40000);
        assert_eq!(new.size(), 4096, "the new stack should be new_size bytes");
        assert_eq!(new.used(), old.used(), "the used part keeps its size");
        assert_eq!(
            new.sp,
            new.hi() - 32,
            "sp should be 32 bytes below the new top"
        );
        assert_eq!(
            new.read(new.hi() - 8),
            Word::Scalar(42),
            "the scalar at the top should be copied unchanged"
        );
    });
}

#[test]
fn pointers_into_the_stack_move_and_others_do_not() {
    grade("ex11", LIMIT, || {
        let old = sample();
        let (new, adjusted) = copy_stack(&old, 0x40000, 4096);
        assert_eq!(
            new.read(new.hi() - 16),
            Word::Ptr(new.hi() - 8),
            "&x must point at x's new address"
        );
        assert_eq!(
            new.read(new.hi() - 24),
            Word::Ptr(0x7f00_0000),
            "a heap pointer must not change"
        );
        assert_eq!(
            new.read(new.hi() - 32),
            Word::Ptr(old.hi()),
            "a pointer just past the old stack is not into it"
        );
        assert_eq!(
            adjusted, 1,
            "exactly one pointer pointed into the old stack"
        );
    });
}

#[test]
fn copying_to_a_smaller_stack_below_works_too() {
    grade("ex11", LIMIT, || {
        let old = sample();
        let (new, adjusted) = copy_stack(&old, 0x1000, 1024);
        assert_eq!(new.size(), 1024);
        assert_eq!(
            new.read(new.hi() - 16),
            Word::Ptr(new.hi() - 8),
            "shrinking moves pointers too (downwards here)"
        );
        assert_eq!(adjusted, 1);
    });
}

#[test]
fn deep_recursion_on_your_copy_keeps_every_parent_pointer_valid() {
    grade("ex11", LIMIT, || {
        let mut stack = GoStack::with_copier(copy_stack);
        stack.call("main", 16);
        stack.store(0, Word::Scalar(0));
        for depth in 1..500u64 {
            stack.call("recurse", 40);
            stack.store(0, Word::Scalar(depth));
            let parent = stack.slot_addr_in(stack.depth() - 2, 0);
            stack.store(1, Word::Ptr(parent));
        }
        assert!(
            stack.stats().morestack >= 3,
            "500 frames of 40 B should grow a 2 KiB stack several times"
        );
        for depth in (1..500u64).rev() {
            assert_eq!(
                stack.load(0),
                Word::Scalar(depth),
                "frame {depth}'s own value after growing"
            );
            let Word::Ptr(parent) = stack.load(1) else {
                panic!("frame {depth}'s slot 1 should still be a pointer")
            };
            assert_eq!(
                stack.read(parent),
                Word::Scalar(depth - 1),
                "frame {depth}'s pointer to its parent after growing"
            );
            stack.ret();
        }
        assert!(
            stack.shrink_if_underused(),
            "a nearly empty big stack shrinks at GC"
        );
        assert_eq!(
            stack.load(0),
            Word::Scalar(0),
            "main's value survives the shrink"
        );
    });
}
