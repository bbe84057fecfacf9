//! # Exercise ex13: a channel with wait queues (Go's `chan.go`)
//!
//! A Go channel is an `hchan`: a lock, a ring buffer of `cap` values, and
//! two queues of parked goroutines, `sendq` and `recvq`. A parked goroutine
//! is represented by a *sudog* that holds its value (a sender) or the slot
//! a value will be put in (a receiver). You write the part under the lock:
//!
//! - [`Hchan::send_now`] (Go's `chansend` before it parks): if a receiver is
//!   parked, hand the value *directly* to it (never through the buffer);
//!   else if the buffer has room, buffer it; else give the value back so the
//!   caller can park.
//! - [`Hchan::recv_now`] (Go's `chanrecv` before it parks): take the oldest
//!   buffered value, and if a sender is parked (the buffer was full), move
//!   its value into the buffer and wake it; an unbuffered channel takes the
//!   value straight from a parked sender; then `Closed` once closed; else
//!   `Empty`.
//! - [`Hchan::close`] (Go's `closechan`): mark closed and release every
//!   parked receiver with nothing.
//! - the two futures' `poll`: try under the lock, and if that cannot finish,
//!   queue a sudog and return `Pending`; once a sudog is queued, later polls
//!   ask the sudog how it ended.
//!
//! Given: the sudog, the futures' `Drop` (a cancelled wait leaves the
//! queue, and a value already handed to a cancelled receiver goes back to
//! the front of the buffer), `Sender`'s `Clone`/`Drop` bookkeeping, and
//! [`Sender::stats`].
//!
//! Rules that make it correct: every look at a queue happens under the
//! channel's lock; wakers are called *after* the lock is dropped; a value is
//! moved exactly once.
//!
//! ## Example
//!
//! ```no_run
//! # async fn demo() {
//! let (tx, mut rx) = exercises::ex13_channel::channel::<u32>(0);
//! let h = runtime::spawn(async move { tx.send(1).await });
//! assert_eq!(rx.recv().await, Some(1));
//! # }
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(not(loom))]
use std::sync::Mutex;

/// How a parked wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still queued.
    Waiting,
    /// A value was handed to this receiver, or taken from this sender.
    Done,
    /// The channel closed while this receiver was parked.
    Closed,
}

struct SudogState<T> {
    elem: Option<T>,
    outcome: Outcome,
    waker: Option<Waker>,
}

/// A parked G (Go's `sudog`): its value and its waker. Shared by the queue
/// and the waiting future.
pub struct Sudog<T> {
    state: Mutex<SudogState<T>>,
}

impl<T> Sudog<T> {
    /// A sudog for a G that parks now with `elem` (a sender's value, or
    /// `None` for a receiver).
    pub fn new(elem: Option<T>, waker: &Waker) -> Arc<Self> {
        Arc::new(Sudog {
            state: Mutex::new(SudogState {
                elem,
                outcome: Outcome::Waiting,
                waker: Some(waker.clone()),
            }),
        })
    }

    /// Ends the wait with `outcome`, putting `elem` in (if `Some`). Returns
    /// the waker: call it after dropping the channel's lock.
    pub fn finish(&self, elem: Option<T>, outcome: Outcome) -> Option<Waker> {
        let mut s = self.state.lock().unwrap();
        if elem.is_some() {
            s.elem = elem;
        }
        s.outcome = outcome;
        s.waker.take()
    }

    /// Takes the value out (a sender's value, by the receiver that serves it).
    pub fn take_elem(&self) -> Option<T> {
        self.state.lock().unwrap().elem.take()
    }

    /// The waiting side: how did the wait end? If still `Waiting`, the
    /// waker is refreshed. On `Done`/`Closed` the value (if any) comes along.
    pub fn poll_outcome(&self, waker: &Waker) -> (Outcome, Option<T>) {
        let mut s = self.state.lock().unwrap();
        match s.outcome {
            Outcome::Waiting => {
                s.waker = Some(waker.clone());
                (Outcome::Waiting, None)
            }
            o => (o, s.elem.take()),
        }
    }
}

/// What [`Hchan::recv_now`] found.
pub enum RecvNow<T> {
    /// A value, and the waker of a sender to ready (if one was served).
    Value(T, Option<Waker>),
    /// Nothing yet: park.
    Empty,
    /// Closed and drained.
    Closed,
}

/// Go's `hchan`: everything under the channel's lock.
pub struct Hchan<T> {
    /// The buffered values, oldest first (Go's ring `buf`/`sendx`/`recvx`).
    pub buf: VecDeque<T>,
    /// Capacity (Go's `dataqsiz`); 0 is unbuffered.
    pub cap: usize,
    /// Parked senders, each sudog holding its value.
    pub sendq: VecDeque<Arc<Sudog<T>>>,
    /// Parked receivers.
    pub recvq: VecDeque<Arc<Sudog<T>>>,
    /// Every Sender is gone.
    pub closed: bool,
    /// Live Senders.
    pub senders: usize,
}

impl<T> Hchan<T> {
    /// Go's `chansend` up to parking: `Ok(waker to call)` if the value was
    /// handed to a parked receiver or buffered, `Err(v)` if the caller must
    /// park with it.
    pub fn send_now(&mut self, v: T) -> Result<Option<Waker>, T> {
        // --- your code: send_now ---
        let _ = v;
        todo!("Hchan::send_now: hand v to a parked receiver, or buffer it, or give it back")
        // --- end of your code ---
    }

    /// Go's `chanrecv` up to parking.
    pub fn recv_now(&mut self) -> RecvNow<T> {
        // --- your code: recv_now ---
        todo!(
            "Hchan::recv_now: take from the buffer (refilling from sendq) or from a parked sender"
        )
        // --- end of your code ---
    }

    /// Go's `closechan`: closed, and every parked receiver released with
    /// nothing. Returns their wakers.
    pub fn close(&mut self) -> Vec<Waker> {
        // --- your code: close ---
        todo!("Hchan::close: mark closed and release every parked receiver")
        // --- end of your code ---
    }
}

type Chan<T> = Arc<Mutex<Hchan<T>>>;

/// Makes a channel: `cap == 0` is unbuffered (every send waits for a
/// receiver).
pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Mutex::new(Hchan {
        buf: VecDeque::new(),
        cap,
        sendq: VecDeque::new(),
        recvq: VecDeque::new(),
        closed: false,
        senders: 1,
    }));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending half; `Clone` for more senders. The last one dropped closes
/// the channel.
pub struct Sender<T> {
    chan: Chan<T>,
}

/// The receiving half.
pub struct Receiver<T> {
    chan: Chan<T>,
}

/// A snapshot: (values buffered, parked senders, parked receivers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Values in the buffer.
    pub buffered: usize,
    /// Gs parked on `sendq`.
    pub sendq: usize,
    /// Gs parked on `recvq`.
    pub recvq: usize,
}

impl<T> Sender<T> {
    /// Sends `v`, parking until a receiver takes it or the buffer has room.
    pub fn send(&self, v: T) -> SendFuture<'_, T> {
        SendFuture {
            chan: &self.chan,
            value: Some(v),
            waiter: None,
        }
    }

    /// The channel's queues now.
    pub fn stats(&self) -> Stats {
        let c = self.chan.lock().unwrap();
        Stats {
            buffered: c.buf.len(),
            sendq: c.sendq.len(),
            recvq: c.recvq.len(),
        }
    }
}

impl<T> Receiver<T> {
    /// Receives a value, parking until one is sent; `None` once closed and
    /// drained.
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture {
            chan: &self.chan,
            waiter: None,
        }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().unwrap().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut c = self.chan.lock().unwrap();
        c.senders -= 1;
        // (While unwinding from a panic, skip `close`: a second panic in a
        // destructor would abort the whole test run.)
        if c.senders == 0 && !std::thread::panicking() {
            let wakers = c.close();
            drop(c);
            for w in wakers {
                w.wake();
            }
        }
    }
}

/// The future of [`Sender::send`]: `Ok(())` once the value was taken or
/// buffered.
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    // --- your code: helpers ---
    #[allow(dead_code)] // read by the poll you write
    // --- end of your code ---
    value: Option<T>,
    waiter: Option<Arc<Sudog<T>>>,
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // --- your code: poll ---
        let _ = (self, cx);
        todo!("SendFuture::poll: send_now under the lock, else park a sudog on sendq")
        // --- end of your code ---
    }
}

impl<T> Drop for SendFuture<'_, T> {
    /// Given: a cancelled send leaves `sendq` (its value is dropped, unsent).
    fn drop(&mut self) {
        if let Some(sg) = self.waiter.take() {
            let mut c = self.chan.lock().unwrap();
            if let Some(i) = c.sendq.iter().position(|x| Arc::ptr_eq(x, &sg)) {
                c.sendq.remove(i);
            }
        }
    }
}

/// The future of [`Receiver::recv`].
pub struct RecvFuture<'a, T> {
    chan: &'a Chan<T>,
    waiter: Option<Arc<Sudog<T>>>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // --- your code: poll (2) ---
        let _ = (self, cx);
        todo!("RecvFuture::poll: recv_now under the lock, else park a sudog on recvq")
        // --- end of your code ---
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    /// Given: a cancelled receive leaves `recvq`; a value already handed to
    /// it goes to the next parked receiver or the front of the buffer, so it
    /// is not lost.
    fn drop(&mut self) {
        if let Some(sg) = self.waiter.take() {
            let mut c = self.chan.lock().unwrap();
            let mut woken = None;
            if let Some(i) = c.recvq.iter().position(|x| Arc::ptr_eq(x, &sg)) {
                c.recvq.remove(i);
            } else if let Some(v) = sg.take_elem() {
                // Handed to us but never taken: the next parked receiver
                // gets it, or it waits first in line in the buffer.
                match c.recvq.pop_front() {
                    Some(next) => woken = next.finish(Some(v), Outcome::Done),
                    None => c.buf.push_front(v),
                }
            }
            drop(c);
            if let Some(w) = woken {
                w.wake();
            }
        }
    }
}
