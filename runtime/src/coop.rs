//! Cooperative preemption: `yield_now` and `preempt_point`.
//!
//! Go preempts a goroutine asynchronously (a signal interrupts it after
//! 10 ms). A Rust future cannot be interrupted: it gives the thread back only
//! when it returns `Pending`. So preemption here is cooperative, with Go's
//! two triggers:
//!
//! * a **budget** of 128 units per time slice (tokio's coop budget): every
//!   poll of a G, every `preempt_point` and every socket operation
//!   (`runtime::net`) spends one; once spent, the next of those yields;
//! * **sysmon**, which marks a P whose G has run for 10 ms without a new
//!   slice (Go's `preemptone`); the G yields at its next `preempt_point`.
//!
//! A loop with no preemption point (and no other `.await` that returns
//! `Pending`) is never preempted: on `procs(1)` it starves every other G,
//! exactly like a tight loop in Go before 1.14's asynchronous preemption.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::context::with_current;
use crate::p::bump;
use crate::trace::StopReason;

/// Gives up the P: the G goes to the back of its P's run queue and the next
/// G runs (Go's `runtime.Gosched`). Always yields once.
///
/// Unlike Go, which puts the G on the global queue, the G goes to the tail
/// of the local queue; on one P the order is the same.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// rt.block_on(async {
///     for _ in 0..3 {
///         runtime::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        with_current(|ctx| {
            if let Some(ctx) = ctx {
                ctx.stop_reason.set(StopReason::Yield);
                if let Some(pid) = ctx.pid() {
                    bump(&ctx.shared.ps[pid].counters.yields);
                }
            }
        });
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A preemption point: yields only if this G has been asked to (its budget
/// is spent, or sysmon saw it run longer than 10 ms); otherwise returns at
/// once. Put one in long loops so they cannot starve other Gs.
///
/// Go inserts such checks in every function prologue; here they are
/// explicit. Outside a runtime it never yields.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let sum = rt.block_on(async {
///     let mut sum = 0u64;
///     for i in 0..10_000 {
///         sum += i;
///         runtime::preempt_point().await; // yields every 128 iterations or so
///     }
///     sum
/// });
/// assert_eq!(sum, 49_995_000);
/// assert!(rt.metrics().preemptions_budget > 0);
/// ```
pub fn preempt_point() -> PreemptPoint {
    PreemptPoint { yielded: false }
}

/// The future returned by [`preempt_point`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct PreemptPoint {
    yielded: bool,
}

// ANCHOR: preempt_point
/// Spends one unit of the time slice's budget. True if the running G must
/// yield now instead (budget spent, or sysmon asked its P to preempt); the
/// preemption is then counted and named as the G's stop reason. Used by
/// [`preempt_point`] and by socket operations that would not otherwise
/// return `Pending` (`runtime::net`).
pub(crate) fn spend_budget() -> bool {
    with_current(|ctx| {
        let ctx = ctx?;
        let pid = ctx.pid()?;
        let p = &ctx.shared.ps[pid];
        let budget = ctx.budget.get();
        if budget == 0 {
            bump(&p.counters.preempt_budget);
        } else if p.preempt.load(crate::loom::atomic::Ordering::Relaxed) {
            bump(&p.counters.preempt_sysmon);
        } else {
            ctx.budget.set(budget - 1);
            return None;
        }
        ctx.stop_reason.set(StopReason::Preempt);
        Some(())
    })
    .is_some()
}

impl Future for PreemptPoint {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded || !spend_budget() {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
// ANCHOR_END: preempt_point
