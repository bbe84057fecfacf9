//! What padding the Ps buys: a probe for the `p_padding` bench.
//!
//! The scheduler keeps its Ps in `Box<[CachePadded<P>]>`: each P starts on a
//! cache-line boundary of its own (128 bytes on x86-64, where the adjacent-line
//! prefetcher pulls lines in pairs). Every time slice, the M that owns a P
//! writes its `schedtick` and its poll counter. Without the padding, the end
//! of one P and the start of the next share a line, and two Ms running on two
//! cores would invalidate each other's copy of it on every slice: false
//! sharing, the subject of the alignment chapter.
//!
//! This module is not part of the runtime's API: it exists only with the
//! `bench-internals` feature, which only this crate's own benches turn on;
//! it lets `runtime/benches/p_padding.rs` run the real `P` and its real
//! per-slice bookkeeping (`P::begin_slice`, `P::count_poll`, the same calls
//! `execute` makes) laid out both ways.

use crossbeam_utils::CachePadded;

use crate::p::P;
use crate::runq::RunQueueKind;

/// Ps laid out as the scheduler lays them out (padded) or packed.
pub struct ProcArray {
    padded: Option<Box<[CachePadded<P>]>>,
    packed: Option<Box<[P]>>,
}

impl ProcArray {
    /// `procs` Ps, each on its own cache line, as the scheduler keeps them.
    pub fn padded(procs: usize) -> Self {
        let ps = (0..procs).map(|_| CachePadded::new(new_p())).collect();
        ProcArray {
            padded: Some(ps),
            packed: None,
        }
    }

    /// `procs` Ps packed back to back, as a plain `Box<[P]>` would be.
    pub fn packed(procs: usize) -> Self {
        let ps = (0..procs).map(|_| new_p()).collect();
        ProcArray {
            padded: None,
            packed: Some(ps),
        }
    }

    /// Runs `slices` time slices' worth of the scheduler's per-P bookkeeping
    /// on P `pid`, each slice counting `polls_per_slice` polls; returns the
    /// P's `schedtick`, so the work cannot be optimised away.
    pub fn run_slices(&self, pid: usize, slices: u64, polls_per_slice: u64) -> u64 {
        let p = self.get(pid);
        for _ in 0..slices {
            p.begin_slice();
            for _ in 0..polls_per_slice {
                p.count_poll();
            }
        }
        p.schedtick.load(crate::loom::atomic::Ordering::Relaxed)
    }

    /// Bytes from one P to the next in this layout.
    pub fn stride(&self) -> usize {
        match (&self.padded, &self.packed) {
            (Some(_), _) => size_of::<CachePadded<P>>(),
            _ => size_of::<P>(),
        }
    }

    /// Byte offsets, inside a P, of the two fields every time slice writes:
    /// `schedtick` and the poll counter (`repr(Rust)` chooses the order).
    pub fn hot_field_offsets() -> [(&'static str, usize); 2] {
        let polls =
            std::mem::offset_of!(P, counters) + std::mem::offset_of!(crate::p::PCounters, polls);
        [
            ("schedtick", std::mem::offset_of!(P, schedtick)),
            ("counters.polls", polls),
        ]
    }

    fn get(&self, pid: usize) -> &P {
        match (&self.padded, &self.packed) {
            (Some(ps), _) => &ps[pid],
            (_, Some(ps)) => &ps[pid],
            _ => unreachable!("one of the layouts is always present"),
        }
    }
}

fn new_p() -> P {
    P::new(RunQueueKind::CrossbeamDeque)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn padded_ps_start_on_their_own_cache_lines_and_packed_ones_do_not() {
        let padded = ProcArray::padded(2);
        let packed = ProcArray::packed(2);
        let line = align_of::<CachePadded<u8>>();
        assert!(
            padded.stride().is_multiple_of(line),
            "a padded P spans whole lines"
        );
        assert_eq!(padded.stride(), size_of::<CachePadded<P>>());
        assert_eq!(packed.stride(), size_of::<P>());
        assert!(
            !packed.stride().is_multiple_of(line) || packed.stride() < padded.stride(),
            "packed Ps ({} bytes) should not be line-sized like padded ones ({} bytes)",
            packed.stride(),
            padded.stride()
        );
    }

    #[test]
    fn run_slices_moves_schedtick_once_per_slice() {
        let ps = ProcArray::packed(2);
        assert_eq!(ps.run_slices(1, 10, 3), 10);
        assert_eq!(ps.run_slices(1, 5, 0), 15);
        assert_eq!(ps.run_slices(0, 1, 1), 1, "each P has its own tick");
    }
}
