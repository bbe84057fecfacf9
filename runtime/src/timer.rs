//! Timers: `sleep`, `sleep_until` and `timeout` (Go's `time.Sleep`,
//! `time.After` and the runtime timer heap).
//!
//! Go keeps a timer heap per P, checked in `schedule`/`findRunnable`, and an
//! idle M sleeps in the netpoller no longer than the earliest timer. Here
//! there is one ordered map for the whole runtime, keyed by
//! `(deadline, sequence number)`, holding each sleeping G's waker:
//!
//! * a `Sleep` registers on its first `Pending` poll and removes itself when
//!   it completes or is dropped, so a cancelled `timeout` leaves nothing;
//! * Ms holding a P fire due timers in `find_runnable` (the woken Gs go to
//!   that P's `runnext`);
//! * one idle M, the timer sleeper, parks with the earliest deadline as its
//!   timeout, and is unparked if an earlier timer arrives;
//! * sysmon fires timers that are overdue because every M is busy.
//!
//! The earliest deadline is mirrored in an atomic so the scheduler's check
//! costs one load when no timer is due.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::context::with_current;
use crate::loom::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::loom::Mutex;

type Key = (Instant, u64);

const NONE: u64 = u64::MAX;

/// The runtime's timers.
pub(crate) struct Timers {
    inner: Mutex<TimerQueue>,
    /// Earliest deadline in ns since `start`, or `NONE`.
    next_ns: AtomicU64,
    start: Instant,
}

/// The timers, ordered by `(deadline, sequence number)`: a `BTreeMap`
/// where Go keeps a 4-ary heap per P.
struct TimerQueue {
    map: BTreeMap<Key, Waker>,
    seq: u64,
    closed: bool,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            inner: Mutex::new(TimerQueue {
                map: BTreeMap::new(),
                seq: 0,
                closed: false,
            }),
            next_ns: AtomicU64::new(NONE),
            start: Instant::now(),
        }
    }

    fn to_ns(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.start).as_nanos()).unwrap_or(NONE - 1)
    }

    fn publish_next(&self, queue: &TimerQueue) {
        let next = queue
            .map
            .keys()
            .next()
            .map_or(NONE, |(d, _)| self.to_ns(*d));
        self.next_ns.store(next, Ordering::SeqCst);
    }

    /// Adds a timer. Returns its key and whether it is now the earliest, or
    /// `None` if the runtime is shutting down.
    fn register(&self, deadline: Instant, waker: &Waker) -> Option<(Key, bool)> {
        let mut h = self.inner.lock();
        if h.closed {
            return None;
        }
        h.seq += 1;
        let key = (deadline, h.seq);
        h.map.insert(key, waker.clone());
        let earliest = h.map.keys().next() == Some(&key);
        if earliest {
            self.publish_next(&h);
        }
        Some((key, earliest))
    }

    /// Refreshes the waker of a registered timer; false if it already fired.
    fn update(&self, key: Key, waker: &Waker) -> bool {
        let mut h = self.inner.lock();
        match h.map.get_mut(&key) {
            Some(w) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    fn remove(&self, key: Key) {
        let mut h = self.inner.lock();
        let removed = h.map.remove(&key);
        if removed.is_some() && key.0 <= h.map.keys().next().map_or(key.0, |k| k.0) {
            self.publish_next(&h);
        }
        drop(h);
        drop(removed);
    }

    /// True if the earliest timer's deadline has passed. With no timer this
    /// is one atomic load: the clock is read only when a timer exists.
    pub(crate) fn due(&self) -> bool {
        self.next_ns.load(Ordering::SeqCst) != NONE && self.due_at(Instant::now())
    }

    /// True if the earliest timer's deadline is at or before `at`.
    pub(crate) fn due_at(&self, at: Instant) -> bool {
        let next = self.next_ns.load(Ordering::SeqCst);
        next != NONE && self.to_ns(at) >= next
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let next = self.next_ns.load(Ordering::SeqCst);
        (next != NONE).then(|| self.start + Duration::from_nanos(next))
    }

    /// Removes every timer due at `now` and wakes its G. Returns how many.
    pub(crate) fn fire_due(&self, now: Instant) -> usize {
        let mut h = self.inner.lock();
        let mut woken = Vec::new();
        while let Some(entry) = h.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            woken.push(entry.remove());
        }
        self.publish_next(&h);
        drop(h);
        let n = woken.len();
        for w in woken {
            w.wake();
        }
        n
    }

    /// Timers registered and not yet fired or cancelled.
    pub(crate) fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// Shutdown: refuse new timers, drop every waker.
    pub(crate) fn close(&self) {
        let mut h = self.inner.lock();
        h.closed = true;
        let map = std::mem::take(&mut h.map);
        self.publish_next(&h);
        drop(h);
        drop(map);
    }
}

/// A future that completes at a deadline (Go's `time.Sleep` as a future).
///
/// Created by [`sleep`] or [`sleep_until`]. It must be polled inside a
/// runtime (in `block_on` or a spawned task).
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The timer queue it is registered in, and its key there.
    registered: Option<(Arc<Timers>, Key)>,
}

/// Waits for `duration` without blocking the M: the G parks and a timer
/// readies it (Go's `time.Sleep`).
///
/// ```
/// use std::time::{Duration, Instant};
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let start = Instant::now();
/// rt.block_on(runtime::sleep(Duration::from_millis(2)));
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    sleep_until(now.checked_add(duration).unwrap_or_else(|| far_future(now)))
}

/// Waits until `deadline` (see [`sleep`]). A deadline further ahead than
/// about 30 years is moved to 30 years ahead: "practically never".
pub fn sleep_until(deadline: Instant) -> Sleep {
    let now = Instant::now();
    Sleep {
        deadline: deadline.min(far_future(now)),
        registered: None,
    }
}

/// About 30 years after `now`: where a huge duration is clamped to, so that
/// `sleep(Duration::MAX)` or a `timeout` of a century never overflows an
/// `Instant` (tokio clamps the same way). Go's `when` saturates at maxWhen.
fn far_future(now: Instant) -> Instant {
    const THIRTY_YEARS: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    now.checked_add(THIRTY_YEARS).unwrap_or(now)
}

impl Sleep {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();

    // `track_caller`: the `.await` that sleeps is the G's wait site in the
    // goroutine dump (`gstatus.rs`).
    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some((timers, key)) = self.registered.take() {
                timers.remove(key);
            }
            return Poll::Ready(());
        }
        crate::gstatus::park(
            crate::gstatus::WaitReason::Sleep,
            Some(std::panic::Location::caller()),
        );
        if let Some((timers, key)) = &self.registered
            && timers.update(*key, cx.waker())
        {
            return Poll::Pending;
        }
        // Not registered (or its entry is gone): register with the runtime
        // polling it, and tell that runtime's scheduler if this is now the
        // earliest timer. The Sleep keeps only the timer queue.
        let deadline = self.deadline;
        let registered = with_current(|ctx| {
            let ctx = ctx.unwrap_or_else(|| {
                panic!("runtime::sleep was polled outside a runtime: await it inside Runtime::block_on or a task started with runtime::spawn")
            });
            let shared = &ctx.shared;
            let (key, earliest) = shared.timers.register(deadline, cx.waker())?;
            if earliest {
                shared.timers_changed();
            }
            Some((shared.timers.clone(), key))
        });
        self.registered = registered;
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((timers, key)) = self.registered.take() {
            timers.remove(key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}

/// The error of [`timeout`]: the deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`: `Ok(output)` if it finishes in
/// time, `Err(Elapsed)` if not, in which case `future` is dropped (Go's
/// `context.WithTimeout` + `select`, as one future).
///
/// ```
/// use std::time::Duration;
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let r = rt.block_on(runtime::timeout(Duration::from_millis(5), std::future::pending::<()>()));
/// assert!(r.is_err());
/// let r = rt.block_on(runtime::timeout(Duration::from_secs(5), async { 3 }));
/// assert_eq!(r, Ok(3));
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
    }
}

/// The future returned by [`timeout`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Timeout<F> {
    future: F,
    sleep: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning: `future` is never moved out of the
        // pinned Timeout (no method hands it out by value or &mut), and
        // `Sleep` is Unpin, so projecting to it needs no guarantee.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` came from a pinned Timeout, and `future` is never
        // moved out of it (no method hands it out), so it stays where it is
        // until dropped: pinning it is sound.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(v) = future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn timers_fire_in_deadline_order_and_only_when_due() {
        let t = Timers::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let now = Instant::now();
        let (late, earliest) = t.register(now + Duration::from_secs(60), &waker).unwrap();
        assert!(earliest);
        let (_, earliest) = t.register(now + Duration::from_millis(1), &waker).unwrap();
        assert!(earliest, "an earlier timer becomes the earliest");
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(1)));
        assert!(!t.due_at(now));
        assert_eq!(t.fire_due(now + Duration::from_millis(2)), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(t.len(), 1);
        t.remove(late);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_deadline(), None, "nothing left, no deadline");
    }

    #[test]
    fn a_closed_timer_queue_refuses_timers_and_drops_wakers() {
        let t = Timers::new();
        let waker = Waker::noop();
        t.register(Instant::now() + Duration::from_secs(1), waker)
            .unwrap();
        t.close();
        assert_eq!(t.len(), 0);
        assert!(t.register(Instant::now(), waker).is_none());
    }
}
