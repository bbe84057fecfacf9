//! # Exercise ex05: `findrunnable`, where a P looks for work
//!
//! When a G stops running (it finished, blocked, or yielded), Go's scheduler
//! calls `findRunnable` (proc.go) to choose the next G for this P. The order
//! of the places it looks is the scheduler's policy in a nutshell: cheap and
//! local first, shared and expensive later, sleep last.
//!
//! This exercise is a *deterministic model* of that search, not the real
//! scheduler: a [`Model`] holds every P's `runnext` and local queue, the
//! global queue, per-P timers and a clock, all plain data, so that scripted
//! scenarios give one right answer. Write [`Model::find_runnable`] so that it
//! follows these rules, in this order:
//!
//! 1. **Fairness.** If this P's `schedtick % 61 == 0` and the global queue is
//!    not empty, take one G from the head of the global queue
//!    ([`Source::GlobalFairness`]). Without this, two Gs that keep waking
//!    each other through `runnext` could starve the global queue forever.
//! 2. **`runnext`** ([`Source::RunNext`]). This G *inherits the time slice*
//!    (`inherit_time == true`).
//! 3. **The local queue**, from its head ([`Source::Local`]).
//! 4. **The global queue**, in a batch ([`Source::Global`]): take
//!    `n = min(len, len / procs + 1, LOCAL_CAPACITY / 2)` Gs from its head;
//!    run the first, append the rest to this P's local queue (Go's
//!    `globrunqget`).
//! 5. **Timers** of this P ([`Source::Timer`]): every timer with
//!    `when <= now` fires, earliest first (ties in the order they were
//!    added). Run the first fired G, append the other fired Gs to the local
//!    queue; timers not yet due stay.
//! 6. **Steal** ([`Source::Steal`]): visit the other Ps in the order
//!    `p + 1, p + 2, …` wrapping around (Go picks a random order; the model
//!    fixes one so that scenarios are repeatable). First pass: from the first
//!    victim with a non-empty local queue take `n - n/2` Gs from its head;
//!    run the last of them, append the others to this P's local queue.
//!    Only if no victim has local work, a second pass takes the first
//!    victim's `runnext` (Go steals `runnext` only on its last attempt, to
//!    leave a G that was just readied on its own P).
//! 7. **Park** ([`Next::Park`]), reporting when this P's earliest pending
//!    timer is due, if it has one, so that the M knows how long to sleep.
//!
//! Every G returned with `inherit_time == false` increments this P's
//! `schedtick` (Go does it in `execute`); a `runnext` G does not.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex05_findrunnable::{Model, Next, Source};
//!
//! let mut m = Model::new(2);
//! m.ps[0].schedtick = 1;
//! m.ps[1].local.extend([7, 8]);
//! assert_eq!(
//!     m.find_runnable(0),
//!     Next::Run { g: 7, source: Source::Steal { victim: 1 }, inherit_time: false }
//! );
//! ```

use std::collections::VecDeque;

/// A goroutine, reduced to its id.
pub type G = u32;

/// Capacity of a P's local queue (Go's `runq` ring).
pub const LOCAL_CAPACITY: usize = 256;

/// The global queue is checked first once every this many schedule ticks.
pub const FAIRNESS_TICKS: u32 = 61;

/// A timer that makes `g` runnable at time `when` (Go 1.14+ keeps a heap of
/// timers per P).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// When the timer fires, on the model's clock.
    pub when: u64,
    /// The G it makes runnable.
    pub g: G,
}

/// One P (processor) of the model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct P {
    /// The G to run next, inheriting the time slice (Go's `p.runnext`).
    pub runnext: Option<G>,
    /// The local run queue, head first (Go's `p.runq`).
    pub local: VecDeque<G>,
    /// Timers owned by this P, in the order they were added.
    pub timers: Vec<Timer>,
    /// Gs this P has scheduled without inheriting a time slice (Go's
    /// `p.schedtick`).
    pub schedtick: u32,
}

/// Where [`Model::find_runnable`] found a G.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The once-every-61-ticks look at the global queue.
    GlobalFairness,
    /// This P's `runnext`.
    RunNext,
    /// This P's local queue.
    Local,
    /// A batch from the global queue, because the local queue was empty.
    Global,
    /// An expired timer of this P.
    Timer,
    /// Another P's queue (or, last, its `runnext`).
    Steal {
        /// The P it came from.
        victim: usize,
    },
}

/// What the P does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Run `g`.
    Run {
        /// The G to run.
        g: G,
        /// Where it was found.
        source: Source,
        /// True only for `runnext`: the G shares the current time slice.
        inherit_time: bool,
    },
    /// Nothing to run: park the M until `wake_at` (this P's earliest timer)
    /// or until someone makes work.
    Park {
        /// When this P's earliest pending timer fires, if it has one.
        wake_at: Option<u64>,
    },
}

/// The scheduler state that `findrunnable` reads, as plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    /// The Ps (Go's `allp`), `procs` of them.
    pub ps: Vec<P>,
    /// The global run queue, head first (Go's `sched.runq`).
    pub global: VecDeque<G>,
    /// The model's clock, which scenarios set by hand.
    pub now: u64,
}

impl Model {
    /// A model with `procs` idle Ps, empty queues and the clock at 0.
    pub fn new(procs: usize) -> Model {
        assert!(procs > 0, "a scheduler needs at least one P");
        Model {
            ps: vec![P::default(); procs],
            global: VecDeque::new(),
            now: 0,
        }
    }

    /// Go's `findRunnable` for P number `p`: the next G to run, or park.
    /// Follows the rules in the module documentation, in order.
    pub fn find_runnable(&mut self, p: usize) -> Next {
        // --- your code: find_runnable ---
        let _ = p;
        todo!(
            "follow the seven rules in the module docs: fairness, runnext, local, global, timers, steal, park"
        )
        // --- end of your code ---
    }
}
