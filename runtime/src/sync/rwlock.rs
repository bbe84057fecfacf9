//! `RwLock<T>`: Go's `sync.RWMutex`, many readers or one writer, for Gs.
//!
//! Go's `RWMutex` guarantees that writers are not starved: once a writer
//! calls `Lock`, new `RLock` calls block until that writer has had its turn
//! (`readerCount` goes negative by `rwmutexMaxReaders`), and when the writer
//! unlocks, every reader that queued meanwhile goes before the next writer.
//! So readers and writers alternate under contention and neither side
//! starves.
//!
//! The same policy here, with all bookkeeping under one small internal lock
//! (Go uses atomics on `readerCount`/`readerWait` and two semaphores; a
//! teaching runtime can afford the lock, and it keeps cancellation simple):
//!
//! * `read()` succeeds at once if no writer holds the lock *and none waits*;
//!   otherwise it queues on the readers' queue;
//! * `write()` succeeds at once if nobody holds the lock and no writer is
//!   queued before it; otherwise it queues on the writers' queue (FIFO);
//! * the last reader out hands the lock to the first queued writer;
//! * a writer out hands the lock to *every* queued reader if there are any,
//!   else to the next writer.
//!
//! A waiter is a sudog granted the lock by whoever releases it (like
//! starvation mode's hand-off in `mutex.rs`), so a woken G never competes.

use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::profile::{WaitKind, record_wait};
use super::sudog::{DONE, Sudog, WAITING, wake_all};
use crate::gstatus::park_for;
use crate::loom::{Mutex, UnsafeCell};

type Queue = VecDeque<Arc<Sudog<()>>>;

struct State {
    /// Readers holding the lock.
    readers: usize,
    /// A writer holds the lock.
    writer: bool,
    /// Parked readers (Go's `readerSem`).
    rq: Queue,
    /// Parked writers (Go's `writerSem`, plus the writers queued on `w`).
    wq: Queue,
}

impl State {
    /// Hands the lock on, if it is free enough: to every queued reader when
    /// `prefer_readers` (a writer just left) or when no writer is queued;
    /// otherwise to the first queued writer once no reader holds it.
    /// Collects the wakers, to be called after unlocking.
    fn grant(&mut self, prefer_readers: bool, woken: &mut Vec<Option<Waker>>) {
        if self.writer {
            return;
        }
        if (prefer_readers || self.wq.is_empty()) && !self.rq.is_empty() {
            for sg in self.rq.drain(..) {
                self.readers += 1;
                // SAFETY: we hold the state lock and took `sg` off `rq`.
                woken.push(unsafe { sg.complete(None, DONE) });
            }
            return;
        }
        if self.readers == 0
            && let Some(sg) = self.wq.pop_front()
        {
            self.writer = true;
            // SAFETY: we hold the state lock and took `sg` off `wq`.
            woken.push(unsafe { sg.complete(None, DONE) });
        }
    }
}

/// A reader-writer lock for Gs (Go's `sync.RWMutex`), writers not starved.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
/// rt.block_on(async {
///     let l = runtime::sync::RwLock::new(vec![1]);
///     {
///         let a = l.read().await;
///         let b = l.read().await; // readers share
///         assert_eq!(a.len() + b.len(), 2);
///     }
///     l.write().await.push(2);
///     assert_eq!(*l.read().await, vec![1, 2]);
/// });
/// ```
pub struct RwLock<T> {
    state: Mutex<State>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock gives `&mut T` to one writer or `&T` to readers on any
// thread, as std's RwLock: Send needs T: Send, Sync needs T: Send + Sync.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: a shared `&RwLock` hands out `&T` to several readers at once on
// any threads (so T: Sync) and `&mut T` to one writer (so T: Send), as
// std's RwLock requires.
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    Write,
}

impl<T> RwLock<T> {
    /// A new, unlocked RwLock.
    pub fn new(value: T) -> Self {
        RwLock {
            state: Mutex::new(State {
                readers: 0,
                writer: false,
                rq: VecDeque::new(),
                wq: VecDeque::new(),
            }),
            value: UnsafeCell::new(value),
        }
    }

    /// Shared access (Go's `RLock`); waits while a writer holds the lock or
    /// is queued.
    #[track_caller]
    pub fn read(&self) -> Acquire<'_, T, ReadGuard<'_, T>> {
        Acquire::new(self, Mode::Read, Location::caller())
    }

    /// Exclusive access (Go's `Lock`).
    #[track_caller]
    pub fn write(&self) -> Acquire<'_, T, WriteGuard<'_, T>> {
        Acquire::new(self, Mode::Write, Location::caller())
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// Takes the lock now if that needs no waiting.
    fn try_acquire(&self, mode: Mode) -> bool {
        let mut s = self.state.lock();
        match mode {
            Mode::Read if !s.writer && s.wq.is_empty() => {
                s.readers += 1;
                true
            }
            Mode::Write if !s.writer && s.readers == 0 && s.wq.is_empty() => {
                s.writer = true;
                true
            }
            _ => false,
        }
    }

    fn release(&self, mode: Mode) {
        let mut woken = Vec::new();
        let mut s = self.state.lock();
        match mode {
            Mode::Read => {
                s.readers -= 1;
                if s.readers == 0 {
                    s.grant(false, &mut woken); // the first queued writer
                }
            }
            Mode::Write => {
                s.writer = false;
                s.grant(true, &mut woken); // every queued reader first
            }
        }
        drop(s);
        wake_all(woken);
    }
}

/// [`ReadGuard`] or [`WriteGuard`]: what an [`Acquire`] future gives once
/// the lock is held (implemented only by those two).
pub trait FromLock<'a, T>: Sized {
    #[doc(hidden)]
    fn from_lock(lock: &'a RwLock<T>) -> Self;
}

/// The future of [`RwLock::read`] and [`RwLock::write`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a, T, G> {
    lock: &'a RwLock<T>,
    mode: Mode,
    waiter: Option<Arc<Sudog<()>>>,
    at: &'static Location<'static>,
    _guard: PhantomData<fn() -> G>,
}

impl<'a, T, G> Acquire<'a, T, G> {
    fn new(lock: &'a RwLock<T>, mode: Mode, at: &'static Location<'static>) -> Self {
        Acquire {
            lock,
            mode,
            waiter: None,
            at,
            _guard: PhantomData,
        }
    }

    fn kind(&self) -> WaitKind {
        match self.mode {
            Mode::Read => WaitKind::RwLockRead,
            Mode::Write => WaitKind::RwLockWrite,
        }
    }
}

impl<'a, T, G: FromLock<'a, T>> Future for Acquire<'a, T, G> {
    type Output = G;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<G> {
        let this = self.get_mut();
        if let Some(sg) = &this.waiter {
            if sg.status() == DONE {
                record_wait(this.kind(), this.at, sg.since.elapsed());
                this.waiter = None;
                return Poll::Ready(G::from_lock(this.lock));
            }
            let s = this.lock.state.lock();
            if sg.status() == WAITING {
                // SAFETY: we hold the state lock and it is queued.
                unsafe { sg.set_waker(cx.waker()) };
                drop(s);
                park_for(this.kind(), this.at);
                return Poll::Pending;
            }
            drop(s);
            return Pin::new(this).poll(cx);
        }
        if this.lock.try_acquire(this.mode) {
            return Poll::Ready(G::from_lock(this.lock));
        }
        let mut s = this.lock.state.lock();
        // Released between the try and this lock? Try again under it.
        let free = match this.mode {
            Mode::Read => !s.writer && s.wq.is_empty(),
            Mode::Write => !s.writer && s.readers == 0 && s.wq.is_empty(),
        };
        if free {
            drop(s);
            return Pin::new(this).poll(cx);
        }
        let sg = Arc::new(Sudog::new(None, cx.waker(), Instant::now()));
        match this.mode {
            Mode::Read => s.rq.push_back(sg.clone()),
            Mode::Write => s.wq.push_back(sg.clone()),
        }
        drop(s);
        this.waiter = Some(sg);
        park_for(this.kind(), this.at);
        Poll::Pending
    }
}

impl<T, G> Drop for Acquire<'_, T, G> {
    /// Cancelled: leave the queue, or give back a lock already granted.
    fn drop(&mut self) {
        let Some(sg) = self.waiter.take() else { return };
        let mut s = self.lock.state.lock();
        let mut woken = Vec::new();
        if sg.status() == WAITING {
            let q = match self.mode {
                Mode::Read => &mut s.rq,
                Mode::Write => &mut s.wq,
            };
            if let Some(i) = q.iter().position(|x| Arc::ptr_eq(x, &sg)) {
                q.remove(i);
            }
            // A cancelled writer may have been all that held readers back.
            if self.mode == Mode::Write {
                s.grant(false, &mut woken);
            }
            drop(s);
        } else {
            drop(s);
            self.lock.release(self.mode);
        }
        wake_all(woken);
        record_wait(self.kind(), self.at, sg.since.elapsed());
    }
}

/// Shared access to the data of an [`RwLock`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ReadGuard<'a, T> {
    lock: &'a RwLock<T>,
}

/// Exclusive access to the data of an [`RwLock`].
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct WriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    _not_sync: PhantomData<&'a mut T>,
}

impl<'a, T> FromLock<'a, T> for ReadGuard<'a, T> {
    fn from_lock(lock: &'a RwLock<T>) -> Self {
        ReadGuard { lock }
    }
}

impl<'a, T> FromLock<'a, T> for WriteGuard<'a, T> {
    fn from_lock(lock: &'a RwLock<T>) -> Self {
        WriteGuard {
            lock,
            _not_sync: PhantomData,
        }
    }
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: readers hold the lock shared: no writer exists meanwhile.
        self.lock.value.with(|p| unsafe { &*p })
    }
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer holds the lock exclusively.
        self.lock.value.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the writer holds the lock exclusively, and &mut self makes
        // this the only reference through the guard.
        self.lock.value.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(Mode::Read);
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.release(Mode::Write);
    }
}
