//! A socket's registration with its runtime's poller, and the one loop
//! every socket operation runs (Go's `fd.pd.prepareRead` / `waitRead`
//! around each syscall in `internal/poll/fd_unix.go`).
//!
//! ```text
//!   budget spent?           yield (a preemption point, like tokio's coop)
//!   loop:
//!     reset(dir)            forget stale readiness
//!     syscall               read, write, accept, connect's SO_ERROR
//!       done / error  -> return it
//!       EAGAIN        -> poll_wait(dir):
//!                          READY meanwhile -> loop
//!                          waker published -> Pending (the G parks, its P
//!                                             runs other Gs)
//! ```
//!
//! Dropping the registration (the socket closes) takes the socket out of
//! epoll and frees its slot before the fd is closed.

use std::io;
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::pd::{Dir, PollDesc};
use super::poller::Poller;
use crate::context::with_current;

/// A socket registered with a poller.
#[derive(Debug)]
pub(crate) struct Registration {
    pd: Arc<PollDesc>,
    poller: Arc<Poller>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller").finish_non_exhaustive()
    }
}

/// The current runtime's poller, started on first use (Go's
/// `netpollGenericInit`).
fn current_poller() -> io::Result<Arc<Poller>> {
    let shared = with_current(|ctx| ctx.map(|c| c.shared.clone())).ok_or_else(|| {
        io::Error::other(
            "runtime::net sockets need a runtime: create them inside Runtime::block_on \
             or a spawned task",
        )
    })?;
    shared.netpoller()
}

impl Registration {
    /// Registers `fd` with the current runtime's poller.
    pub(crate) fn new(fd: RawFd) -> io::Result<Registration> {
        let poller = current_poller()?;
        let pd = poller.register(fd)?;
        Ok(Registration { pd, poller })
    }

    // ANCHOR: poll_io
    /// Runs `op` until it does not return `WouldBlock`, parking the G on
    /// the socket's `dir` half in between. `at` is where the program waits
    /// (the caller of `read`, `accept`...), for the goroutine dump; the
    /// `futures_io` traits' polls cannot say, and pass `None`.
    pub(crate) fn poll_io<T>(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        at: Option<&'static Location<'static>>,
        mut op: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        // A preemption point, as in tokio: a G whose socket always has data
        // would otherwise never return `Pending` and never give up its P.
        if crate::coop::spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            self.pd.reset(dir);
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                done => {
                    // A G polled again while parked (a timer in a `timeout`
                    // woke it) may still be counted as waiting.
                    self.pd.cancel_wait(dir, self.poller.waiters());
                    return Poll::Ready(done);
                }
            }
            match self.pd.poll_wait(dir, cx, self.poller.waiters()) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    // Go's `gopark(..., waitReasonIOWait)`: the trace's stop
                    // reason and the dump's wait record.
                    crate::gstatus::park(crate::gstatus::WaitReason::Io, at);
                    return Poll::Pending;
                }
            }
        }
    }
    // ANCHOR_END: poll_io

    /// A guard that withdraws a wait on `dir` if the operation's future is
    /// dropped while parked (its `timeout` fired).
    pub(crate) fn cancel_on_drop(&self, dir: Dir) -> CancelOnDrop<'_> {
        CancelOnDrop { reg: self, dir }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.poller.deregister(&self.pd);
    }
}

/// See [`Registration::cancel_on_drop`].
pub(crate) struct CancelOnDrop<'a> {
    reg: &'a Registration,
    dir: Dir,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        self.reg.pd.cancel_wait(self.dir, self.reg.poller.waiters());
    }
}
