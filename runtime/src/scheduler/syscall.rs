//! Blocking calls: Go's `entersyscall`, `exitsyscall`, and sysmon's
//! `retake` of a P stuck in one.
//!
//! A G that blocks its thread (a read, a lock, `thread::sleep`) would keep
//! its P idle for the whole call, so on `procs(1)` nothing else could run.
//! Go's answer, reproduced here:
//!
//! * `entersyscall`: the M keeps its P only loosely: it marks the P
//!   `_Psyscall`, forgets it (`m.p = nil`, remembering `oldp`), and blocks.
//!   Here forgetting is giving up the token (`HeldP`, `p.rs`): during the
//!   call this M cannot touch the P's queue, and the compiler checks it.
//!   This costs a few stores, so short calls stay cheap.
//! * sysmon, on each round, `retake`s a P that has been in `_Psyscall` since
//!   its previous round (one tick), when there is work waiting for it or no
//!   idle P to pick new work up: it CASes the status to `_Pidle` and calls
//!   `handoffp`, which starts another M on that P.
//! * `exitsyscall`: the M tries to CAS its old P from `_Psyscall` back to
//!   `_Prunning` (the fast path: nobody took it), and takes the token back. If sysmon won that race,
//!   it takes an idle P if there is one, or waits in `p_waiters` for one
//!   to be released (or given up by a busy M that sysmon asks to make way,
//!   see `lockedm.rs`). (Go would queue the G and park the M; here the G is
//!   in the middle of a poll on this thread's stack, so the M waits with
//!   it.)

use super::Shared;
use crate::context::{MachineCtx, with_current};
use crate::loom::atomic::Ordering;
use crate::p::{HeldP, P_IDLE, P_RUNNING, P_SYSCALL, bump};
use crate::trace::EventKind;
use std::sync::Arc;

impl Shared {
    // ANCHOR: syscall
    /// Go's `entersyscall`: leave the P up for grabs while this M blocks.
    /// Consumes the M's token (the M holds no P during the call) and
    /// returns the P's number, Go's `m.oldp`.
    pub(crate) fn entersyscall(&self, ctx: &MachineCtx, held: HeldP) -> usize {
        let pid = held.id();
        let p = &self.ps[pid];
        bump(&p.counters.syscalls);
        if self.trace.enabled() {
            self.trace.record(
                Some(pid),
                ctx.m.id,
                EventKind::SyscallEnter {
                    g: ctx.current_g.get(),
                },
            );
        }
        bump(&p.syscalltick);
        p.release(held);
        // Release: everything this M did with the P happens-before whoever
        // claims it by CAS.
        p.status.store(P_SYSCALL, Ordering::Release);
        pid
    }

    /// Go's `exitsyscall`: get a P back before the G goes on running, and
    /// return its token.
    #[must_use = "the token is the P: hold it (ctx.hold)"]
    pub(crate) fn exitsyscall(&self, ctx: &MachineCtx, oldp: usize) -> HeldP {
        let p = &self.ps[oldp];
        let held = if p
            .status
            .compare_exchange(P_SYSCALL, P_RUNNING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            bump(&p.syscalltick);
            // Our CAS won the P back from `_Psyscall`: nobody else claims it.
            p.claim(oldp)
        } else {
            // Retaken by sysmon while we were blocked.
            let pid = self.acquire_p_blocking(ctx);
            self.acquirep(ctx, pid)
        };
        if self.trace.enabled() {
            self.trace.record(
                Some(held.id()),
                ctx.m.id,
                EventKind::SyscallExit {
                    g: ctx.current_g.get(),
                },
            );
        }
        held
    }
    // ANCHOR_END: syscall

    /// sysmon's half of the protocol (Go's `retake` for `_Psyscall`): take P
    /// `pid` from its blocked M and hand it to another. Returns true if the
    /// P was retaken.
    pub(crate) fn retake_syscall(self: &Arc<Self>, pid: usize) -> bool {
        let p = &self.ps[pid];
        if p.status
            .compare_exchange(P_SYSCALL, P_IDLE, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.counters.retakes.fetch_add(1, Ordering::Relaxed);
        // Our CAS took the P from `_Psyscall`: sysmon holds it, to hand off.
        let held = p.claim(pid);
        self.handoffp(held, None);
        true
    }
}

/// Runs `f` as a blocking call on the current M (see `crate::syscall`).
pub(crate) fn syscall_in_context<R>(f: impl FnOnce() -> R) -> R {
    let entered = with_current(|ctx| {
        let ctx = ctx?;
        let held = ctx.take_p()?;
        let oldp = ctx.shared.entersyscall(ctx, held);
        Some((ctx as *const MachineCtx, oldp))
    });
    let Some((ctx, oldp)) = entered else {
        // Not on an M with a P: nothing to hand off.
        return f();
    };
    struct Exit {
        ctx: *const MachineCtx,
        oldp: usize,
    }
    impl Drop for Exit {
        fn drop(&mut self) {
            // SAFETY: the MachineCtx lives on this thread's stack for the whole
            // poll that called `syscall`, which outlives this guard.
            let ctx = unsafe { &*self.ctx };
            ctx.hold(ctx.shared.exitsyscall(ctx, self.oldp));
        }
    }
    let _exit = Exit { ctx, oldp };
    // The goroutine dump shows the G in `syscall` until `f` returns.
    let _mark = crate::gstatus::enter_syscall();
    f()
}
