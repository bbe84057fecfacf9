#![cfg(not(loom))] // uses the task runtime, which loom builds leave out

//! # Exercise ex06: preemption points
//!
//! A task gives its thread back only at an `.await` that returns `Pending`.
//! A CPU-bound loop without one keeps its P until it is done: on a runtime
//! with one P (`procs(1)`, Go's `GOMAXPROCS=1`) every other task, a
//! heartbeat, a timer, a network reply, waits behind it. Go had exactly this
//! problem until 1.14: a tight loop with no function calls could not be
//! preempted, because the scheduler only checked for preemption in function
//! prologues. Since 1.14 sysmon interrupts such a goroutine with a signal.
//! A Rust future cannot be interrupted, so the course's runtime keeps the
//! cooperative design and gives tasks two tools:
//!
//! - [`runtime::yield_now`] always yields: the task goes to the back of its
//!   P's run queue (Go's `runtime.Gosched`);
//! - [`runtime::preempt_point`] yields only when the runtime asks: the
//!   task's budget of 128 units per time slice is spent, or sysmon saw it
//!   run longer than 10 ms. It costs almost nothing when it does not yield,
//!   so it can sit inside a hot loop.
//!
//! In this exercise you make CPU-bound work cooperative twice:
//!
//! 1. [`Budget::spend`]: a budget of your own, like tokio's coop budget or
//!    the runtime's: each call spends one unit; the call that spends the
//!    last unit of a slice yields once with `yield_now`, counts the yield
//!    and starts a new slice.
//! 2. [`crunch`]: a long computation, `rounds` applications of [`mix`],
//!    that calls `preempt_point().await` in its loop, so that other tasks on
//!    the same P keep running while it computes.
//!
//! The tests measure fairness by counting, not by timing: a heartbeat task
//! on the same P counts its beats, and the computation notes how many beats
//! happened while it ran.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex06_preemption::{Budget, crunch};
//!
//! let rt = runtime::Runtime::builder().procs(1).build().unwrap();
//! let value = rt.block_on(async {
//!     let mut budget = Budget::new(64);
//!     for _ in 0..1_000 {
//!         budget.spend().await; // yields once every 64 units
//!     }
//!     crunch(1_000_000).await // yields whenever the runtime asks
//! });
//! println!("{value:x}");
//! ```

/// One step of the computation: mixes round `i` into `acc` (a SplitMix64
/// finaliser; any cheap, hard-to-optimise-away function would do).
pub fn mix(acc: u64, i: u64) -> u64 {
    let mut z = acc ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A budget of work units per time slice.
#[derive(Debug)]
// --- your code: mix ---
#[allow(dead_code)] // the fields are for the `spend` you write
// --- end of your code ---
pub struct Budget {
    per_slice: u32,
    left: u32,
    yields: u64,
}

impl Budget {
    /// A budget of `per_slice` units per time slice.
    ///
    /// # Panics
    /// If `per_slice` is 0: a slice must allow some work.
    pub fn new(per_slice: u32) -> Budget {
        assert!(per_slice > 0, "a budget needs at least one unit per slice");
        Budget {
            per_slice,
            left: per_slice,
            yields: 0,
        }
    }

    /// How many times [`spend`](Self::spend) has yielded.
    pub fn yields(&self) -> u64 {
        self.yields
    }

    /// Spends one unit. The call that spends the last unit of the slice
    /// yields the P once (`runtime::yield_now`), then starts a full slice.
    pub async fn spend(&mut self) {
        // --- your code: spend ---
        todo!("count the unit down; at zero, yield_now().await, count the yield, refill")
        // --- end of your code ---
    }
}

/// Folds [`mix`] over rounds `0..rounds`, starting from 0, with a
/// preemption point in every round so that other tasks keep running.
pub async fn crunch(rounds: u64) -> u64 {
    // --- your code: crunch ---
    let _ = rounds;
    todo!("the fold of mix over 0..rounds, with runtime::preempt_point().await in the loop")
    // --- end of your code ---
}
