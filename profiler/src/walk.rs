//! Walking the stack by frame pointers from the SIGPROF handler: the walk
//! itself is the allocator's (`allocator::frames`, whose module comment
//! explains it), because the heap profile's stacks need the same walk one
//! crate below this one. This module adds the walk from "here".

pub use allocator::frames::{MAX_STACK, init, walk};

/// The current thread's stack, leaf first (this function's caller first),
/// by the same walk. For the allocator-free paths that want a stack now.
#[inline(never)]
pub fn here(out: &mut [u64]) -> usize {
    let fp: u64;
    let sp: u64;
    // SAFETY: reads two registers, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rbp", "mov {}, rsp", out(reg) fp, out(reg) sp, options(nomem, nostack));
    }
    if out.is_empty() {
        return 0;
    }
    // Skip our own frame: start at our return address.
    // SAFETY: fp is this function's own frame pointer (frame pointers are
    // forced), so fp and fp + 8 are in our live frame.
    let (next, ret) = unsafe { (*(fp as *const u64), *((fp + 8) as *const u64)) };
    walk(ret, next, sp, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(never)]
    fn leaf(out: &mut [u64]) -> usize {
        std::hint::black_box(here(out))
    }

    #[test]
    fn the_walk_finds_its_callers_and_stops_on_garbage() {
        assert!(init(), "process_vm_readv on ourselves");
        let mut out = [0u64; 64];
        let n = leaf(&mut out);
        assert!(n >= 3, "at least leaf, this test and the test harness: {n}");
        // The first frame resolves to `leaf`.
        let mut names = Vec::new();
        backtrace::resolve((out[0] - 1) as *mut _, |s| {
            names.push(s.name().map(|n| n.to_string()).unwrap_or_default())
        });
        assert!(names.iter().any(|n| n.contains("leaf")), "{names:?}");
        // A pointer to unmapped memory ends the stack instead of faulting.
        let n = walk(1, 0x10, 0x8, &mut out);
        assert_eq!(n, 1, "only the pc");
        let n = walk(1, 0xdead_0000_0000, 0xdead_0000_0000 - 64, &mut out);
        assert_eq!(n, 1, "unreadable frame pointer");
    }
}
