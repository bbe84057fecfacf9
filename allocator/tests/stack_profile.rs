//! Reading the heap profile by stack while every allocation is sampled:
//! the read must not allocate under the profile's lock, or the sample of
//! its own allocation waits on that lock forever. (That hang was seen in a
//! CI run of profiler/tests/heap.rs: gdb showed `stack_profile` holding the
//! lock, a `to_vec` under it sampled, and `Profiler::record` waiting on the
//! lock. This test did not reproduce it on the old code in a few runs: the
//! frames copied here may be too few for their allocation to be sampled at
//! the moment it matters. It guards the property, with a time limit.)
#![cfg(not(any(loom, asan)))]

use std::sync::mpsc;
use std::time::Duration;

use allocator::SpanAlloc;

#[global_allocator]
static ALLOC: SpanAlloc = SpanAlloc::new();

#[test]
fn the_stack_profile_can_be_read_while_every_allocation_is_sampled() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // The rate is read by each thread's cache: set it on the thread
        // that allocates and reads.
        ALLOC.set_profile_rate(1); // Go's MemProfileRate = 1: sample everything
        let kept: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 100 + i]).collect();
        let records = ALLOC.stack_profile();
        ALLOC.set_profile_rate(512 * 1024);
        let _ = tx.send(records.len());
        drop(kept);
    });
    let stacks = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            panic!(
                "stack_profile() did not return in 30 s with every allocation sampled: \
             it allocated under the profile's lock and its own sample waited on it"
            )
        });
    assert!(stacks >= 1, "64 sampled allocations left no stack record");
}
