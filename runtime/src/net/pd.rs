//! The poll descriptor: one per socket, two wait slots (Go's `pollDesc` in
//! `netpoll.go`).
//!
//! Each direction (read, write) has a state word, as Go's `pd.rg` / `pd.wg`:
//!
//! ```text
//!   NIL   nothing happened, nobody waits             (Go's pdNil)
//!   READY the poller saw the socket ready, nobody    (pdReady)
//!         has consumed that yet
//!   WAIT  a G waits; its waker is in the slot        (pdWait, then the G)
//! ```
//!
//! Two sides race on it:
//!
//! * the **G** (`poll_wait`, Go's `netpollblock`) got `EAGAIN` from the
//!   syscall. If the state is READY it consumes it (readiness arrived
//!   between the syscall and now) and tries the syscall again. Otherwise it
//!   publishes its waker and only then moves NIL -> WAIT with a
//!   compare-and-swap; if the CAS finds READY, the poller won the race and
//!   the G goes on at once instead of sleeping;
//! * the **poller** (`set_ready`, Go's `netpollunblock` from `netpollready`)
//!   swaps the state to READY. If it took WAIT, there is a parked G whose
//!   waker it must wake: the waker was published before WAIT, so it is
//!   there.
//!
//! Whichever order the two run in, the G either sees READY or leaves WAIT
//! for the poller to find: no lost wake-up. The loom model in
//! `loom_models.rs` checks every interleaving, and shows that a G that
//! checks READY and then plainly stores WAIT (no CAS) loses one.
//!
//! A G that stops waiting (its `timeout` fired and dropped the read)
//! withdraws with `cancel_wait`, so the poller's count of waiters stays
//! true. The count, Go's `netpollWaiters`, is what lets the scheduler skip
//! polling when no G waits on the network.
//!
//! The descriptor also carries the registration it belongs to (slot and
//! sequence number in the poller's table; see `poller.rs`), which is how an
//! event for a closed socket whose fd number was reused is told apart.

use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll, Waker};

use crate::loom::Mutex;
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

pub(crate) const NIL: usize = 0;
pub(crate) const READY: usize = 1;
pub(crate) const WAIT: usize = 2;

/// Which half of a socket: reads (and accept) or writes (and connect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    Read = 0,
    Write = 1,
}

/// One direction's state and waiting G (Go's `rg` or `wg`).
#[derive(Debug)]
pub(crate) struct Half {
    pub(crate) state: AtomicUsize,
    /// The waiting G's waker, published before `state` becomes WAIT.
    pub(crate) waker: Mutex<Option<Waker>>,
}

impl Half {
    fn new() -> Self {
        Half {
            state: AtomicUsize::new(NIL),
            waker: Mutex::new(None),
        }
    }
}

/// A socket's poll descriptor (Go's `pollDesc`).
#[derive(Debug)]
pub(crate) struct PollDesc {
    pub(crate) fd: RawFd,
    /// Index in the poller's registration table.
    pub(crate) slot: u32,
    /// The slot's sequence number when this socket took it (Go's `fdseq`):
    /// events carry it, and an event whose number is not the slot's current
    /// one belongs to an earlier socket and is dropped.
    pub(crate) seq: u32,
    halves: [Half; 2],
    /// Set when the socket or the whole poller closes (Go's `pd.closing`):
    /// waits fail from then on.
    closing: AtomicBool,
}

impl PollDesc {
    pub(crate) fn new(fd: RawFd, slot: u32, seq: u32) -> Self {
        PollDesc {
            fd,
            slot,
            seq,
            halves: [Half::new(), Half::new()],
            closing: AtomicBool::new(false),
        }
    }

    pub(crate) fn half(&self, dir: Dir) -> &Half {
        &self.halves[dir as usize]
    }

    // ANCHOR: poll_wait
    /// Go's `pollReset` before a read or write: forget a readiness nobody
    /// used, so that the syscall that follows decides. (Anything ready
    /// after this point sets READY again.)
    pub(crate) fn reset(&self, dir: Dir) {
        let h = self.half(dir);
        if h.state.load(SeqCst) == READY {
            let _ = h.state.compare_exchange(READY, NIL, SeqCst, SeqCst);
        }
    }

    /// Go's `netpollblock`, as a poll: the syscall said `EAGAIN`. Returns
    /// `Ready(Ok)` if readiness came in meanwhile (try again), `Pending`
    /// once the waker is published for the poller to wake, or the error of
    /// a closed socket. `waiters` is the poller's count of waiting Gs.
    pub(crate) fn poll_wait(
        &self,
        dir: Dir,
        cx: &mut Context<'_>,
        waiters: &AtomicUsize,
    ) -> Poll<io::Result<()>> {
        if self.closing.load(SeqCst) {
            return Poll::Ready(Err(closed_error()));
        }
        let h = self.half(dir);
        if h.state.compare_exchange(READY, NIL, SeqCst, SeqCst).is_ok() {
            return Poll::Ready(Ok(()));
        }
        // Publish the waker first: a poller that sees WAIT must find it.
        {
            let mut slot = h.waker.lock();
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        match h.state.compare_exchange(NIL, WAIT, SeqCst, SeqCst) {
            Ok(_) => {
                waiters.fetch_add(1, SeqCst);
                // Closed while we published: do not sleep on a dead socket.
                if self.closing.load(SeqCst) {
                    self.cancel_wait(dir, waiters);
                    return Poll::Ready(Err(closed_error()));
                }
                Poll::Pending
            }
            Err(WAIT) => Poll::Pending, // already waiting; the waker is refreshed
            Err(_) => {
                // READY: the poller got here between our two steps.
                let _ = h.state.compare_exchange(READY, NIL, SeqCst, SeqCst);
                Poll::Ready(Ok(()))
            }
        }
    }

    /// Go's `netpollunblock` for one direction, called by the poller: mark
    /// it ready and return the waiting G's waker, if a G waits.
    pub(crate) fn set_ready(&self, dir: Dir, waiters: &AtomicUsize) -> Option<Waker> {
        let h = self.half(dir);
        if h.state.swap(READY, SeqCst) == WAIT {
            waiters.fetch_sub(1, SeqCst);
            h.waker.lock().take()
        } else {
            None
        }
    }
    // ANCHOR_END: poll_wait

    /// A G stops waiting without having been readied (its `timeout` fired
    /// and dropped the read): take it off the count of waiters. A no-op
    /// unless the direction is WAIT.
    pub(crate) fn cancel_wait(&self, dir: Dir, waiters: &AtomicUsize) {
        let h = self.half(dir);
        if h.state.load(SeqCst) == WAIT
            && h.state.compare_exchange(WAIT, NIL, SeqCst, SeqCst).is_ok()
        {
            waiters.fetch_sub(1, SeqCst);
            drop(h.waker.lock().take());
        }
    }

    /// The socket (or the poller) closes: waits fail from now on. Returns
    /// the wakers of Gs still waiting, to wake so they see the error.
    pub(crate) fn close(&self, waiters: &AtomicUsize) -> Vec<Waker> {
        self.closing.store(true, SeqCst);
        let mut woken = Vec::new();
        for dir in [Dir::Read, Dir::Write] {
            let h = self.half(dir);
            if h.state.swap(NIL, SeqCst) == WAIT {
                waiters.fetch_sub(1, SeqCst);
            }
            woken.extend(h.waker.lock().take());
        }
        woken
    }
}

/// The error of a wait on a socket whose poller has shut down.
pub(crate) fn closed_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the runtime that polled this socket has shut down",
    )
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize as StdCount;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, SeqCst);
        }
    }

    fn flag() -> (Arc<Flag>, Waker) {
        let f = Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
        (f.clone(), Waker::from(f))
    }

    #[test]
    fn ready_before_wait_is_consumed_without_sleeping() {
        let pd = PollDesc::new(3, 0, 1);
        let n = StdCount::new(0);
        assert!(pd.set_ready(Dir::Read, &n).is_none(), "nobody waited");
        let (_f, w) = flag();
        let mut cx = Context::from_waker(&w);
        assert!(matches!(
            pd.poll_wait(Dir::Read, &mut cx, &n),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(n.load(SeqCst), 0);
        assert!(
            pd.poll_wait(Dir::Read, &mut cx, &n).is_pending(),
            "consumed once"
        );
        assert_eq!(n.load(SeqCst), 1, "one waiter counted");
    }

    #[test]
    fn ready_after_wait_hands_back_the_waiters_waker() {
        let pd = PollDesc::new(3, 0, 1);
        let n = StdCount::new(0);
        let (f, w) = flag();
        let mut cx = Context::from_waker(&w);
        assert!(pd.poll_wait(Dir::Write, &mut cx, &n).is_pending());
        assert!(
            pd.set_ready(Dir::Read, &n).is_none(),
            "the read half is not waited on"
        );
        pd.set_ready(Dir::Write, &n)
            .expect("the write waiter's waker")
            .wake();
        assert!(f.0.load(SeqCst));
        assert_eq!(n.load(SeqCst), 0);
    }

    #[test]
    fn cancel_and_close_keep_the_waiter_count_true() {
        let pd = PollDesc::new(3, 0, 1);
        let n = StdCount::new(0);
        let (f, w) = flag();
        let mut cx = Context::from_waker(&w);
        assert!(pd.poll_wait(Dir::Read, &mut cx, &n).is_pending());
        pd.cancel_wait(Dir::Read, &n);
        assert_eq!(n.load(SeqCst), 0);
        assert!(pd.poll_wait(Dir::Read, &mut cx, &n).is_pending());
        let woken = pd.close(&n);
        assert_eq!((woken.len(), n.load(SeqCst)), (1, 0));
        woken.into_iter().for_each(Waker::wake);
        assert!(f.0.load(SeqCst));
        let r = pd.poll_wait(Dir::Read, &mut cx, &n);
        assert!(
            matches!(r, Poll::Ready(Err(_))),
            "a closed descriptor fails waits"
        );
    }
}
