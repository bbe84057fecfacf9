//! The thread-local "who am I": which runtime, which M, which P.
//!
//! Go reaches the current G through a register (`getg()`), and from it the M
//! (`g.m`) and P (`m.p`). Here each M thread (and each thread inside
//! `block_on`) installs a [`MachineCtx`] on its stack and points a thread-local
//! at it. `spawn`, wakers, `preempt_point` and `syscall` look it up to find
//! their P without any shared state.

use std::cell::{Cell, Ref, RefCell};
use std::ptr;

use crate::m::MHandle;
use crate::p::HeldP;
use crate::scheduler::Shared;
use crate::trace::StopReason;
use std::sync::Arc;

/// `MachineCtx::current_g` when the M is not polling anything.
pub(crate) const NO_G: u64 = u64::MAX;

/// Poll budget per time slice (tokio's coop budget; Go uses 10 ms of time).
pub(crate) const BUDGET: u32 = 128;

/// The state of one M, visible to code running on it: Go's `m` (the
/// thread-local half; `MHandle` is the half other threads see). Named so
/// as not to be confused with `std::task::Context`, a future's waker.
pub(crate) struct MachineCtx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) m: Arc<MHandle>,
    /// The P this M holds (Go's `m.p`), if any: the token itself, so that
    /// code running on this M (a waker readying a G) can use the P's
    /// owner-only operations. Private: only `hold` and `take_p` change it.
    p: RefCell<Option<HeldP>>,
    /// Go's `m.spinning`: looking for work to steal.
    pub(crate) spinning: Cell<bool>,
    /// Polls and preemption points left in this time slice.
    pub(crate) budget: Cell<u32>,
    /// Why the running G is about to return `Pending` (set by yield_now and
    /// preempt_point; `Block` otherwise).
    pub(crate) stop_reason: Cell<StopReason>,
    /// The G being polled (0 while polling a `block_on` root future,
    /// [`NO_G`] between polls).
    pub(crate) current_g: Cell<u64>,
    /// The goroutine-dump record of the G being polled (null between polls
    /// and for the root): where `gstatus::park` writes its wait.
    pub(crate) current_info: Cell<*const crate::gstatus::GInfo>,
    /// A wait was already recorded in this poll (the first one wins).
    pub(crate) wait_named: Cell<bool>,
    /// This M is a `block_on` thread, locked to its root (Go's `lockedg`):
    /// it runs the root and no other G.
    pub(crate) locked: Cell<bool>,
    /// xorshift state for picking steal victims (Go's `cheaprand`).
    rng: Cell<u64>,
}

thread_local! {
    static CURRENT: Cell<*const MachineCtx> = const { Cell::new(ptr::null()) };
}

impl MachineCtx {
    pub(crate) fn new(shared: Arc<Shared>, m: Arc<MHandle>) -> Self {
        let seed = (m.id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        MachineCtx {
            shared,
            m,
            p: RefCell::new(None),
            spinning: Cell::new(false),
            budget: Cell::new(BUDGET),
            stop_reason: Cell::new(StopReason::Block),
            current_g: Cell::new(NO_G),
            current_info: Cell::new(ptr::null()),
            wait_named: Cell::new(false),
            locked: Cell::new(false),
            rng: Cell::new(seed),
        }
    }

    /// The number of the P this M holds, if any.
    pub(crate) fn pid(&self) -> Option<usize> {
        self.p.borrow().as_ref().map(HeldP::id)
    }

    /// The P this M holds, borrowed (for `runqput` and friends). While the
    /// borrow lives, the P cannot be given up (`take_p` would panic).
    pub(crate) fn held(&self) -> Ref<'_, Option<HeldP>> {
        self.p.borrow()
    }

    /// This M now holds `p` (after `acquirep` or `exitsyscall`).
    pub(crate) fn hold(&self, p: HeldP) {
        let old = self.p.replace(Some(p));
        assert!(old.is_none(), "an M holds at most one P");
    }

    /// This M gives up its P, if it holds one (for `releasep`,
    /// `entersyscall`, `handoffp`, which consume the token).
    pub(crate) fn take_p(&self) -> Option<HeldP> {
        self.p.borrow_mut().take()
    }

    /// A cheap random number (xorshift64).
    pub(crate) fn rand(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x
    }

    /// Makes this the current thread's context until the guard drops.
    pub(crate) fn enter(&self) -> EnterGuard {
        let prev = CURRENT.with(|c| c.replace(self as *const MachineCtx));
        EnterGuard { prev }
    }
}

/// Restores the previous context when dropped.
pub(crate) struct EnterGuard {
    prev: *const MachineCtx,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Runs `f` with the current thread's context, if it is inside a runtime.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&MachineCtx>) -> R) -> R {
    let ptr = CURRENT.try_with(|c| c.get()).unwrap_or(ptr::null());
    // SAFETY: a non-null pointer was set by `enter` from a MachineCtx that lives
    // on this thread's stack until its guard resets the pointer, and it is
    // only ever used from this thread.
    f(unsafe { ptr.as_ref() })
}

/// The id of the G being polled on this thread (Go's `getg().goid`): the id
/// the trace's events carry, 0 for a `block_on` root future, `None` outside
/// a poll. One thread-local load and one field read, no lock, no
/// allocation: the CPU profiler's SIGPROF handler calls it to say which G a
/// sample interrupted, and code above the runtime maps Gs to its own ids
/// with it (a request's trace).
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let g = rt.block_on(async { runtime::spawn(async { runtime::current_g_id() }).await.unwrap() });
/// assert!(g.is_some_and(|g| g > 0));
/// assert_eq!(runtime::current_g_id(), None, "none outside");
/// ```
pub fn current_g_id() -> Option<u64> {
    with_current(|c| c.map(|c| c.current_g.get()).filter(|g| *g != NO_G))
}

/// True if this thread is running inside a runtime (an M or `block_on`).
pub(crate) fn in_runtime() -> bool {
    with_current(|c| c.is_some())
}
