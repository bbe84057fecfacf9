//! Channels: Go's `chan.go`, parking Gs instead of goroutines.
//!
//! # The shape of a channel
//!
//! Go's `hchan` is one lock and, under it, everything else:
//!
//! * `buf`, `sendx`, `recvx`, `qcount`, `dataqsiz`: the ring of a buffered
//!   channel (`buf.rs`); an unbuffered channel has `dataqsiz == 0`;
//! * `sendq` and `recvq`: FIFO queues of *sudogs*, one per G parked in a send
//!   or a receive (`sudog.rs`); a sender's sudog carries its value;
//! * `closed`.
//!
//! Three facts about those queues make the algorithm short:
//!
//! * a receiver waits only when the ring is empty, and a sender hands its
//!   value *directly* to a waiting receiver before it looks at the ring, so
//!   `recvq` is non-empty only while the ring is empty;
//! * a sender waits only when the ring is full, so `sendq` is non-empty only
//!   while the ring is full (for `dataqsiz == 0`, "full" is always true:
//!   every send waits for a receiver, Go's rendezvous);
//! * a receive that takes the oldest value from a full ring refills the freed
//!   slot from the first waiting sender, so FIFO order holds across the ring
//!   and the queue.
//!
//! # Go's `chansend` and `chanrecv`, step by step
//!
//! `send(v)`: lock; if receivers are gone, fail with `v`; if `recvq` has a
//! sudog, put `v` in it, unlock, ready that G (Go's `send`); else if the ring
//! has room, write `v` at `sendx`; else queue a sudog holding `v` on `sendq`
//! and park. Whoever later takes `v` out of the sudog readies the sender.
//!
//! `recv()`: lock; if `sendq` has a sudog, take its value: from it directly
//! when unbuffered, or from the ring's head, moving the sender's value into
//! the freed tail (Go's `recv`); else if the ring has values, read at
//! `recvx`; else if closed, return `None`; else queue a sudog on `recvq` and
//! park. A sender fills it in and readies the receiver, which then finds the
//! value in its sudog without taking the lock again.
//!
//! # Where this differs from Go
//!
//! * **Closing is dropping.** The channel closes when the last [`Sender`] is
//!   dropped (receivers drain the ring, then get `None`), and sends fail,
//!   giving the value back, once the last [`Receiver`] is dropped (values
//!   still in the ring are dropped then). Go's `close(ch)` and its panics on
//!   double close or send-after-close have no equivalent.
//! * **A wait can be cancelled.** A Rust future can be dropped while parked
//!   (under [`timeout`](crate::timeout)); Go's sudogs only leave a queue by
//!   being served (or through `select`). A dropped send leaves `sendq`
//!   with its value (nothing was sent). A dropped receive leaves `recvq`;
//!   if a sender had already handed it a value, that value goes to the next
//!   waiting receiver, or is kept first in line for the next `recv`, so no
//!   value is ever lost or delivered twice.
//! * **Each operation is a preemption point.** A send or receive spends one
//!   unit of the G's poll budget before it starts, and yields once the
//!   budget is spent (as tokio's channels do): a G whose channel operations
//!   never have to wait would otherwise keep its P forever, since nothing
//!   preempts it asynchronously as Go would.
//! * **No `select`** yet.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::buf::Buf;
use super::chan_error::{CapacityError, SendError, TryRecvError, TrySendError};
use super::profile::{WaitKind, record_wait};
use super::sudog::{CLOSED, DONE, Sudog, WAITING, wake_all};
use crate::coop::{PreemptPoint, preempt_point};
use crate::gstatus::park_for;
use crate::loom::Mutex;

type WaitQ<T> = VecDeque<Arc<Sudog<T>>>;

// ANCHOR: hchan
/// Go's `hchan`: everything below sits under the channel's one lock.
struct Hchan<T> {
    /// The ring (`buf`, `sendx`, `recvx`, `qcount`, `dataqsiz`).
    buf: Buf<T>,
    /// Gs parked in a send, each sudog holding its value (Go's `sendq`).
    sendq: WaitQ<T>,
    /// Gs parked in a receive (Go's `recvq`).
    recvq: WaitQ<T>,
    /// Values handed to a receiver whose wait was then cancelled: first in
    /// line for the next receive (Go needs none: its waits cannot be
    /// cancelled).
    returned: VecDeque<T>,
    /// Every `Sender` is gone (Go's `closed`).
    closed: bool,
    /// Every `Receiver` is gone: sends fail.
    recv_gone: bool,
    senders: usize,
    receivers: usize,
}
// ANCHOR_END: hchan

type Chan<T> = Arc<Mutex<Hchan<T>>>;

/// What a send did under the lock.
enum SendStep<T> {
    /// Handed over or buffered; wake this receiver (if any) after unlocking.
    Sent(Option<Waker>),
    /// The ring is full (or the channel unbuffered) and nobody waits.
    Full(T),
    /// Receivers are gone.
    Closed(T),
}

/// What a receive did under the lock.
enum RecvStep<T> {
    /// A value; wake this sender (if any) after unlocking.
    Got(T, Option<Waker>),
    Empty,
    Closed,
}

impl<T> Hchan<T> {
    // ANCHOR: chansend
    /// Go's `chansend` up to the point where it would park.
    fn send_locked(&mut self, v: T) -> SendStep<T> {
        if self.recv_gone {
            return SendStep::Closed(v);
        }
        if let Some(sg) = self.recvq.pop_front() {
            // A receiver is parked: the value goes straight into its sudog,
            // never through the ring (Go's `send` and `sendDirect`).
            // SAFETY: we hold the channel's lock and just took `sg` off
            // `recvq`, so it is still WAITING and ours to complete.
            return SendStep::Sent(unsafe { sg.complete(Some(v), DONE) });
        }
        if !self.buf.is_full() {
            self.buf.push(v); // write at `sendx`
            return SendStep::Sent(None);
        }
        SendStep::Full(v) // park on `sendq`
    }
    // ANCHOR_END: chansend

    // ANCHOR: chanrecv
    /// Go's `chanrecv` up to the point where it would park.
    fn recv_locked(&mut self) -> RecvStep<T> {
        if let Some(v) = self.returned.pop_front() {
            return RecvStep::Got(v, None);
        }
        if let Some(v) = self.buf.pop() {
            // The ring was full if a sender waits: its value takes the slot
            // just freed, so it queues behind everything already buffered.
            let woken = self.sendq.pop_front().and_then(|sg| {
                // SAFETY: we hold the lock and took `sg` off `sendq`: it is
                // WAITING, and its `elem` is the value it is sending.
                let sent = unsafe { sg.take_elem() }.expect("a parked sender holds its value");
                self.buf.push(sent);
                // SAFETY: we still hold the lock, `sg` is off `sendq` and
                // still WAITING (only `complete` moves it on).
                unsafe { sg.complete(None, DONE) }
            });
            return RecvStep::Got(v, woken);
        }
        if let Some(sg) = self.sendq.pop_front() {
            // Unbuffered: take the value from the parked sender (Go's
            // `recvDirect`).
            // SAFETY: we hold the lock and took `sg` off `sendq`.
            let v = unsafe { sg.take_elem() }.expect("a parked sender holds its value");
            // SAFETY: we still hold the lock, `sg` is off `sendq` and
            // still WAITING (only `complete` moves it on).
            return RecvStep::Got(v, unsafe { sg.complete(None, DONE) });
        }
        if self.closed {
            return RecvStep::Closed;
        }
        RecvStep::Empty // park on `recvq`
    }
    // ANCHOR_END: chanrecv

    /// Removes `sg` from `q` (a cancelled wait).
    fn unqueue(q: &mut WaitQ<T>, sg: &Arc<Sudog<T>>) {
        if let Some(i) = q.iter().position(|x| Arc::ptr_eq(x, sg)) {
            q.remove(i);
        }
    }

    fn stats(&self) -> ChanStats {
        let (sendx, recvx) = self.buf.indices();
        ChanStats {
            dataqsiz: self.buf.cap(),
            qcount: self.buf.len() + self.returned.len(),
            sendx,
            recvx,
            sendq: self.sendq.len(),
            recvq: self.recvq.len(),
            closed: self.closed,
            receivers_gone: self.recv_gone,
        }
    }
}

/// Makes a channel (Go's `make(chan T, cap)`), or says why it cannot.
///
/// `cap == 0` is an unbuffered channel: every send waits for a receiver.
/// The ring is allocated here, once; a capacity it cannot allocate (more
/// bytes than the address space, or than the allocator will give) is a
/// [`CapacityError`].
///
/// ```
/// let err = runtime::sync::try_channel::<u64>(usize::MAX).unwrap_err();
/// assert_eq!(err.cap, usize::MAX);
/// assert!(runtime::sync::try_channel::<u64>(16).is_ok());
/// ```
pub fn try_channel<T>(cap: usize) -> Result<(Sender<T>, Receiver<T>), CapacityError> {
    let buf = Buf::with_capacity(cap).ok_or(CapacityError {
        cap,
        elem_size: std::mem::size_of::<T>(),
    })?;
    let chan = Arc::new(Mutex::new(Hchan {
        buf,
        sendq: VecDeque::new(),
        recvq: VecDeque::new(),
        returned: VecDeque::new(),
        closed: false,
        recv_gone: false,
        senders: 1,
        receivers: 1,
    }));
    Ok((Sender { chan: chan.clone() }, Receiver { chan }))
}

/// Makes a channel (Go's `make(chan T, cap)`): `cap == 0` is Go's unbuffered
/// rendezvous, otherwise a ring of `cap` values.
///
/// # Panics
///
/// If the ring of `cap` values cannot be allocated (as Go's `makechan`
/// panics with `size out of range`), with the [`CapacityError`] message;
/// [`try_channel`] returns the error instead. The panic happens here, in
/// the caller, never inside the scheduler.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = runtime::sync::channel::<u64>(0);
///     let h = runtime::spawn(async move { tx.send(1).await });
///     assert_eq!(rx.recv().await, Some(1)); // the sender was waiting for us
///     h.await.unwrap().unwrap();
///     assert_eq!(rx.recv().await, None);    // every Sender is gone
/// });
/// ```
pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    match try_channel(cap) {
        Ok(pair) => pair,
        Err(e) => panic!("runtime::sync::channel: {e}"),
    }
}

/// A snapshot of a channel's `hchan` fields, under Go's names (for lessons
/// and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ChanStats {
    /// Ring slots (Go's `dataqsiz`): the capacity.
    pub dataqsiz: usize,
    /// Values buffered (Go's `qcount`).
    pub qcount: usize,
    /// Slot the next buffered send writes (Go's `sendx`).
    pub sendx: usize,
    /// Slot the next buffered receive reads (Go's `recvx`).
    pub recvx: usize,
    /// Gs parked in a send (length of Go's `sendq`).
    pub sendq: usize,
    /// Gs parked in a receive (length of Go's `recvq`).
    pub recvq: usize,
    /// Every Sender is gone (Go's `closed`).
    pub closed: bool,
    /// Every Receiver is gone.
    pub receivers_gone: bool,
}

/// The sending half (Go's `chan<- T`). Clone it for more senders; when the
/// last one is dropped the channel closes.
pub struct Sender<T> {
    chan: Chan<T>,
}

/// The receiving half (Go's `<-chan T`). Clone it for more receivers (Go's
/// channels are many-to-many); when the last one is dropped, sends fail.
pub struct Receiver<T> {
    chan: Chan<T>,
}

impl<T> Sender<T> {
    /// Sends `v`, parking the G until a receiver takes it (unbuffered) or
    /// there is room in the ring (Go's `ch <- v`). Fails with the value back
    /// once every receiver is gone.
    ///
    /// Cancel-safe: dropping the future before it completes takes the value
    /// off `sendq`, unsent (it is dropped with the future).
    #[track_caller]
    pub fn send(&self, v: T) -> SendFuture<'_, T> {
        SendFuture {
            chan: &self.chan,
            value: Some(v),
            waiter: None,
            coop: preempt_point(),
            at: Location::caller(),
        }
    }

    /// Sends without waiting: to a parked receiver, or into the ring (Go's
    /// `select { case ch <- v: default: }`).
    pub fn try_send(&self, v: T) -> Result<(), TrySendError<T>> {
        let mut ch = self.chan.lock();
        match ch.send_locked(v) {
            SendStep::Sent(w) => {
                drop(ch);
                wake_all([w]);
                Ok(())
            }
            SendStep::Full(v) => Err(TrySendError::Full(v)),
            SendStep::Closed(v) => Err(TrySendError::Closed(v)),
        }
    }

    /// True once every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.lock().recv_gone
    }

    /// The channel's `hchan` fields now.
    pub fn stats(&self) -> ChanStats {
        self.chan.lock().stats()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut ch = self.chan.lock();
        ch.senders -= 1;
        if ch.senders > 0 {
            return;
        }
        // Go's `closechan`: release every parked receiver. (No sender can be
        // parked: a parked send borrows a Sender.)
        ch.closed = true;
        let woken: Vec<_> = ch
            .recvq
            .drain(..)
            // SAFETY: we hold the lock and took each sudog off `recvq`.
            .map(|sg| unsafe { sg.complete(None, CLOSED) })
            .collect();
        drop(ch);
        wake_all(woken);
    }
}

impl<T> Receiver<T> {
    /// Receives a value, parking the G until one is sent (Go's `v, ok :=
    /// <-ch`); `None` once every Sender is gone and the ring is drained.
    ///
    /// Cancel-safe: dropping the future before it completes loses nothing
    /// (a value already handed to it goes to the next receiver).
    #[track_caller]
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture {
            chan: &self.chan,
            waiter: None,
            coop: preempt_point(),
            at: Location::caller(),
        }
    }

    /// Receives without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut ch = self.chan.lock();
        match ch.recv_locked() {
            RecvStep::Got(v, w) => {
                drop(ch);
                wake_all([w]);
                Ok(v)
            }
            RecvStep::Empty => Err(TryRecvError::Empty),
            RecvStep::Closed => Err(TryRecvError::Closed),
        }
    }

    /// The channel's `hchan` fields now.
    pub fn stats(&self) -> ChanStats {
        self.chan.lock().stats()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.lock().receivers += 1;
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut ch = self.chan.lock();
        ch.receivers -= 1;
        if ch.receivers > 0 {
            return;
        }
        // Nobody can receive any more: every parked sender gets its value
        // back, and what is buffered is dropped (after unlocking).
        ch.recv_gone = true;
        let woken: Vec<_> = ch
            .sendq
            .drain(..)
            // SAFETY: we hold the lock and took each sudog off `sendq`; the
            // value stays in it for the sender to take back.
            .map(|sg| unsafe { sg.complete(None, CLOSED) })
            .collect();
        let mut dropped = Vec::with_capacity(ch.buf.len());
        while let Some(v) = ch.buf.pop() {
            dropped.push(v);
        }
        let returned = std::mem::take(&mut ch.returned);
        drop(ch);
        wake_all(woken);
        drop(dropped);
        drop(returned);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sender").field(&self.stats()).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Receiver").field(&self.stats()).finish()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    /// The value, until it is sent or parked in a sudog.
    value: Option<T>,
    /// Our sudog while parked on `sendq`.
    waiter: Option<Arc<Sudog<T>>>,
    /// Spends one unit of the G's poll budget (see below).
    coop: PreemptPoint,
    at: &'static Location<'static>,
}

// The value is moved, never pinned.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(sg) = &this.waiter {
            loop {
                match sg.status() {
                    DONE => {
                        record_wait(WaitKind::ChanSend, this.at, sg.since.elapsed());
                        this.waiter = None;
                        return Poll::Ready(Ok(()));
                    }
                    CLOSED => {
                        record_wait(WaitKind::ChanSend, this.at, sg.since.elapsed());
                        // SAFETY: a final status was loaded with Acquire:
                        // the sudog is ours alone again.
                        let v = unsafe { sg.take_elem() }.expect("a closed send keeps its value");
                        this.waiter = None;
                        return Poll::Ready(Err(SendError(v)));
                    }
                    _ => {
                        let ch = this.chan.lock();
                        if sg.status() == WAITING {
                            // SAFETY: we hold the lock and it is still queued.
                            unsafe { sg.set_waker(cx.waker()) };
                            drop(ch);
                            park_for(WaitKind::ChanSend, this.at);
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
        // A preemption point before the operation: a G whose sends never
        // have to wait would otherwise never give up its P (Go preempts it
        // asynchronously; we cannot). Nothing has happened yet, so yielding
        // here is as cancel-safe as the rest.
        if Pin::new(&mut this.coop).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let v = this
            .value
            .take()
            .expect("SendFuture polled after completion");
        let mut ch = this.chan.lock();
        match ch.send_locked(v) {
            SendStep::Sent(w) => {
                drop(ch);
                wake_all([w]);
                Poll::Ready(Ok(()))
            }
            SendStep::Closed(v) => Poll::Ready(Err(SendError(v))),
            SendStep::Full(v) => {
                // Go's `acquireSudog`, `c.sendq.enqueue(mysg)`, `gopark`.
                let sg = Arc::new(Sudog::new(Some(v), cx.waker(), Instant::now()));
                ch.sendq.push_back(sg.clone());
                drop(ch);
                this.waiter = Some(sg);
                park_for(WaitKind::ChanSend, this.at);
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(sg) = self.waiter.take() {
            let mut ch = self.chan.lock();
            if sg.status() == WAITING {
                Hchan::unqueue(&mut ch.sendq, &sg);
            }
            drop(ch);
            record_wait(WaitKind::ChanSend, self.at, sg.since.elapsed());
        }
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct RecvFuture<'a, T> {
    chan: &'a Chan<T>,
    /// Our sudog while parked on `recvq`.
    waiter: Option<Arc<Sudog<T>>>,
    /// Spends one unit of the G's poll budget (see below).
    coop: PreemptPoint,
    at: &'static Location<'static>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if let Some(sg) = &this.waiter {
            loop {
                match sg.status() {
                    DONE | CLOSED => {
                        record_wait(WaitKind::ChanRecv, this.at, sg.since.elapsed());
                        // SAFETY: a final status was loaded with Acquire:
                        // the sudog is ours alone again. CLOSED leaves it
                        // empty, so this is None.
                        let v = unsafe { sg.take_elem() };
                        this.waiter = None;
                        return Poll::Ready(v);
                    }
                    _ => {
                        let ch = this.chan.lock();
                        if sg.status() == WAITING {
                            // SAFETY: we hold the lock and it is still queued.
                            unsafe { sg.set_waker(cx.waker()) };
                            drop(ch);
                            park_for(WaitKind::ChanRecv, this.at);
                            return Poll::Pending;
                        }
                    }
                }
            }
        }
        // A preemption point first, as in SendFuture::poll.
        if Pin::new(&mut this.coop).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let mut ch = this.chan.lock();
        match ch.recv_locked() {
            RecvStep::Got(v, w) => {
                drop(ch);
                wake_all([w]);
                Poll::Ready(Some(v))
            }
            RecvStep::Closed => Poll::Ready(None),
            RecvStep::Empty => {
                let sg = Arc::new(Sudog::new(None, cx.waker(), Instant::now()));
                ch.recvq.push_back(sg.clone());
                drop(ch);
                this.waiter = Some(sg);
                park_for(WaitKind::ChanRecv, this.at);
                Poll::Pending
            }
        }
    }
}

// ANCHOR: recv_drop
impl<T> Drop for RecvFuture<'_, T> {
    /// A receive cancelled while parked. If a sender already put a value in
    /// our sudog, that value must not be lost: it goes to the next parked
    /// receiver, or first in line for the next `recv`.
    fn drop(&mut self) {
        let Some(sg) = self.waiter.take() else { return };
        let mut ch = self.chan.lock();
        let mut woken = None;
        match sg.status() {
            WAITING => Hchan::unqueue(&mut ch.recvq, &sg),
            DONE => {
                // SAFETY: DONE is final and was stored before the sender
                // unlocked; the sudog is ours.
                if let Some(v) = unsafe { sg.take_elem() } {
                    match ch.recvq.pop_front() {
                        // SAFETY: we hold the lock and took `next` off `recvq`.
                        Some(next) => woken = unsafe { next.complete(Some(v), DONE) },
                        None => ch.returned.push_back(v),
                    }
                }
            }
            _ => {} // CLOSED: nothing was handed to us
        }
        drop(ch);
        wake_all([woken]);
        record_wait(WaitKind::ChanRecv, self.at, sg.since.elapsed());
    }
}
// ANCHOR_END: recv_drop
