//! The poller: one epoll instance per runtime and its table of sockets
//! (Go's `netpoll.go` and `netpoll_epoll.go`).
//!
//! * **Registration.** A socket is registered once, when it is created,
//!   for read, write and peer close, edge-triggered. It takes a slot in the
//!   table; the slot's sequence number goes up each time a new socket takes
//!   it, and both are packed into the event's data word. Go packs the
//!   `pollDesc` pointer with a tag (`fdseq`) the same way: when a socket is
//!   closed and its fd number reused, an event already fetched for the old
//!   socket carries the old number and is dropped instead of waking the new
//!   socket's G.
//! * **`netpoll(delay)`.** `epoll_wait`, then for each event the directions
//!   it concerns are set ready (`PollDesc::set_ready`); the wakers of Gs
//!   that waited come back to the caller, which readies the Gs as one batch
//!   (Go's `injectglist`; see `scheduler/find.rs`).
//! * **Who polls.** Go lets `findRunnable` poll without blocking, one idle
//!   M block in `netpoll` until its next timer, and sysmon poll when nobody
//!   has for 10 ms. `polling` makes the non-blocking polls one at a time;
//!   `blocked` says an M sleeps in `epoll_wait` (Go's `sched.lastpoll ==
//!   0`), and then nobody else polls: that M sees every event first.
//! * **Waking the blocked M** (Go's `netpollBreak`): write the eventfd.
//!   `wake_sig` makes many wake-ups cost one write until the M has drained
//!   it. Only a blocking poll drains the eventfd (as in Go), so a quick
//!   non-blocking poll on another M can never swallow the wake-up meant for
//!   the blocked one.
//! * **Closing** (the runtime's drop): every socket still registered fails
//!   its waits from then on, and the epoll fds are closed.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pd::{Dir, PollDesc};
use super::sys::{Epoll, Event, WAKE_TOKEN};
use crate::loom::Mutex;
use crate::loom::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

/// One slot of the registration table.
struct Slot {
    seq: u32,
    pd: Option<Arc<PollDesc>>,
}

/// The registration table (Go keeps `pollDesc`s in `pollcache`).
struct Table {
    /// `None` once the poller is closed. Waits clone the `Arc`, so the fds
    /// close when the last wait returns.
    epoll: Option<Arc<Epoll>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
}

/// What one `netpoll` found.
#[derive(Debug, Default)]
pub(crate) struct Polled {
    /// Wakers of the Gs that waited and are now ready.
    pub(crate) wakers: Vec<std::task::Waker>,
    /// Socket events seen (stale ones included).
    pub(crate) events: usize,
}

/// A runtime's network poller.
pub(crate) struct Poller {
    table: Mutex<Table>,
    waiters: AtomicUsize,
    polling: AtomicBool,
    blocked: AtomicBool,
    wake_sig: AtomicBool,
    closed: AtomicBool,
    start: Instant,
    last_poll_ns: AtomicU64,
    pub(crate) polls: AtomicU64,
    pub(crate) blocking_polls: AtomicU64,
    pub(crate) readied: AtomicU64,
    pub(crate) stale_events: AtomicU64,
    /// Sockets registered now (kept beside the table so metrics need no lock).
    registered: AtomicUsize,
}

impl Poller {
    /// Go's `netpollGenericInit`: epoll and the eventfd.
    pub(crate) fn new() -> io::Result<Poller> {
        let ep = Epoll::new()?;
        Ok(Poller {
            table: Mutex::new(Table {
                epoll: Some(Arc::new(ep)),
                slots: Vec::new(),
                free: Vec::new(),
            }),
            waiters: AtomicUsize::new(0),
            polling: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            wake_sig: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            start: Instant::now(),
            last_poll_ns: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            blocking_polls: AtomicU64::new(0),
            readied: AtomicU64::new(0),
            stale_events: AtomicU64::new(0),
            registered: AtomicUsize::new(0),
        })
    }

    /// The epoll instance, unless closed.
    fn ep(&self) -> Option<Arc<Epoll>> {
        self.table.lock().epoll.clone()
    }

    /// The count of Gs waiting on a socket (Go's `netpollWaiters`).
    pub(crate) fn waiters(&self) -> &AtomicUsize {
        &self.waiters
    }

    /// Whether any G waits on a socket (Go's `netpollAnyWaiters`).
    pub(crate) fn any_waiters(&self) -> bool {
        self.waiters.load(SeqCst) > 0
    }

    // ANCHOR: register
    /// Go's `poll_runtime_pollOpen`: a slot with a fresh sequence number,
    /// and the one `epoll_ctl(ADD)` of the socket's life.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<Arc<PollDesc>> {
        let mut t = self.table.lock();
        let Some(ep) = t.epoll.clone() else {
            return Err(super::pd::closed_error());
        };
        let slot = match t.free.pop() {
            Some(s) => s,
            None => {
                t.slots.push(Slot { seq: 0, pd: None });
                (t.slots.len() - 1) as u32
            }
        };
        let entry = &mut t.slots[slot as usize];
        entry.seq = entry.seq.wrapping_add(1);
        let pd = Arc::new(PollDesc::new(fd, slot, entry.seq));
        let token = (u64::from(slot) << 32) | u64::from(entry.seq);
        if let Err(e) = ep.add(fd, token) {
            t.free.push(slot);
            return Err(e);
        }
        t.slots[slot as usize].pd = Some(pd.clone());
        self.registered.fetch_add(1, SeqCst);
        Ok(pd)
    }
    // ANCHOR_END: register

    /// Go's `poll_runtime_pollClose`: the socket is about to be closed.
    /// Its slot is freed for the next socket (with the next sequence
    /// number); Gs still waiting on it are woken to see the error.
    pub(crate) fn deregister(&self, pd: &PollDesc) {
        let mut t = self.table.lock();
        let mine = t
            .slots
            .get(pd.slot as usize)
            .is_some_and(|s| s.seq == pd.seq && s.pd.is_some());
        if mine {
            if let Some(ep) = &t.epoll {
                let _ = ep.delete(pd.fd);
            }
            t.slots[pd.slot as usize].pd = None;
            t.free.push(pd.slot);
            self.registered.fetch_sub(1, SeqCst);
        }
        drop(t);
        for w in pd.close(&self.waiters) {
            w.wake();
        }
    }

    /// Takes the right to poll without blocking, if nobody polls (the
    /// issue's "one M at a time") and no M is blocked in `epoll_wait`
    /// (that M will see the events).
    pub(crate) fn try_begin_poll(&self) -> bool {
        !self.blocked.load(SeqCst)
            && !self.polling.load(SeqCst)
            && self
                .polling
                .compare_exchange(false, true, SeqCst, SeqCst)
                .is_ok()
    }

    /// Gives back the right taken by `try_begin_poll`.
    pub(crate) fn end_poll(&self) {
        self.polling.store(false, SeqCst);
    }

    /// Takes the role of the one M blocked in `epoll_wait`.
    pub(crate) fn try_begin_block(&self) -> bool {
        !self.closed.load(SeqCst)
            && self
                .blocked
                .compare_exchange(false, true, SeqCst, SeqCst)
                .is_ok()
    }

    /// Gives back the role taken by `try_begin_block`.
    pub(crate) fn end_block(&self) {
        self.blocked.store(false, SeqCst);
    }

    /// Whether an M is blocked in `epoll_wait`.
    pub(crate) fn is_blocked(&self) -> bool {
        self.blocked.load(SeqCst)
    }

    /// How long since the last poll finished (sysmon polls after 10 ms).
    pub(crate) fn since_last_poll(&self, now: Instant) -> Duration {
        let last = self.start + Duration::from_nanos(self.last_poll_ns.load(SeqCst));
        now.saturating_duration_since(last)
    }

    /// Go's `netpollBreak`: interrupt the M blocked in `epoll_wait`.
    pub(crate) fn wake(&self) {
        if !self.wake_sig.load(SeqCst)
            && self
                .wake_sig
                .compare_exchange(false, true, SeqCst, SeqCst)
                .is_ok()
            && let Some(ep) = self.ep()
        {
            ep.wake();
        }
    }

    // ANCHOR: netpoll
    /// Go's `netpoll(delay)`: wait up to `delay` (`None`: until an event or
    /// a wake-up; `Some(ZERO)`: just look) and set ready every direction an
    /// event concerns. The caller must hold `polling` (then `blocking` is
    /// false and `delay` zero) or `blocked` (then `blocking` is true).
    pub(crate) fn netpoll(&self, delay: Option<Duration>, blocking: bool) -> Polled {
        let mut polled = Polled::default();
        let Some(ep) = self.ep() else {
            return polled;
        };
        let mut events: Vec<Event> = Vec::new();
        let _ = ep.wait(delay, &mut events);
        self.polls.fetch_add(1, SeqCst);
        if blocking {
            self.blocking_polls.fetch_add(1, SeqCst);
        }
        if !events.is_empty() {
            let t = self.table.lock();
            for ev in &events {
                if ev.token == WAKE_TOKEN {
                    // Only the blocked M drains it: see the module docs.
                    if blocking {
                        ep.drain_wake();
                        self.wake_sig.store(false, SeqCst);
                    }
                    continue;
                }
                polled.events += 1;
                let (slot, seq) = ((ev.token >> 32) as u32, ev.token as u32);
                let pd = match t.slots.get(slot as usize) {
                    Some(s) if s.seq == seq => s.pd.as_ref(),
                    _ => None,
                };
                let Some(pd) = pd else {
                    // An event for a socket closed since (its slot may have
                    // a new socket now, with a new sequence number).
                    self.stale_events.fetch_add(1, SeqCst);
                    continue;
                };
                if ev.readable() {
                    polled.wakers.extend(pd.set_ready(Dir::Read, &self.waiters));
                }
                if ev.writable() {
                    polled
                        .wakers
                        .extend(pd.set_ready(Dir::Write, &self.waiters));
                }
            }
        }
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_poll_ns.store(now, SeqCst);
        self.readied.fetch_add(polled.wakers.len() as u64, SeqCst);
        polled
    }
    // ANCHOR_END: netpoll

    /// Shuts the poller down (the runtime's drop, after its Ms exited):
    /// every socket still registered fails its waits from now on, and its
    /// waiters are woken to see that; the epoll fds are closed.
    pub(crate) fn close(&self) {
        let mut t = self.table.lock();
        if self.closed.swap(true, SeqCst) {
            return;
        }
        let pds: Vec<Arc<PollDesc>> = t.slots.iter_mut().filter_map(|s| s.pd.take()).collect();
        self.registered.store(0, SeqCst);
        t.free.clear();
        t.epoll = None;
        drop(t);
        for pd in pds {
            for w in pd.close(&self.waiters) {
                w.wake();
            }
        }
    }

    /// Sockets registered now.
    pub(crate) fn registered(&self) -> usize {
        self.registered.load(SeqCst)
    }

    #[cfg(all(test, not(loom)))]
    fn inject_events_for_test(&self, events: &[Event]) -> Polled {
        // The dispatch half of `netpoll`, fed by hand.
        let mut polled = Polled::default();
        let t = self.table.lock();
        for ev in events {
            let (slot, seq) = ((ev.token >> 32) as u32, ev.token as u32);
            match t.slots.get(slot as usize) {
                Some(s) if s.seq == seq && s.pd.is_some() => {
                    let pd = s.pd.as_ref().expect("checked");
                    polled.wakers.extend(pd.set_ready(Dir::Read, &self.waiters));
                }
                _ => {
                    self.stale_events.fetch_add(1, SeqCst);
                }
            }
        }
        polled
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::task::{Context, Wake, Waker};

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn a_stale_event_for_a_reused_slot_wakes_nobody() {
        let poller = Poller::new().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let old = poller.register(a.as_raw_fd()).unwrap();
        let stale = Event {
            token: (u64::from(old.slot) << 32) | u64::from(old.seq),
            bits: libc::EPOLLIN as u32,
        };
        poller.deregister(&old);
        drop(a);
        // The same fd number and slot, a new socket.
        let b = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let new = poller.register(b.as_raw_fd()).unwrap();
        assert_eq!(new.slot, old.slot, "the slot is reused");
        assert_ne!(new.seq, old.seq, "with a new sequence number");
        let woken = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        let w = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&w);
        assert!(
            new.poll_wait(Dir::Read, &mut cx, poller.waiters())
                .is_pending()
        );
        let polled = poller.inject_events_for_test(&[stale]);
        assert!(
            polled.wakers.is_empty(),
            "the old socket's event woke the new G"
        );
        assert_eq!(poller.stale_events.load(SeqCst), 1);
        assert_eq!(poller.waiters.load(SeqCst), 1, "the new G still waits");
        poller.deregister(&new);
        assert_eq!(woken.0.load(SeqCst), 1, "closing wakes the waiter once");
        assert_eq!(poller.waiters.load(SeqCst), 0);
    }

    #[test]
    fn close_fails_later_registrations_and_wakes_waiters() {
        let poller = Poller::new().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pd = poller.register(l.as_raw_fd()).unwrap();
        let woken = Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        let w = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&w);
        assert!(
            pd.poll_wait(Dir::Read, &mut cx, poller.waiters())
                .is_pending()
        );
        poller.close();
        assert_eq!(woken.0.load(SeqCst), 1);
        assert!(
            pd.poll_wait(Dir::Read, &mut cx, poller.waiters())
                .is_ready()
        );
        assert!(poller.register(l.as_raw_fd()).is_err());
        poller.deregister(&pd); // after close: harmless
    }
}
