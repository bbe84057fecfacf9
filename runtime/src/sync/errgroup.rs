//! A task group with Go's `errgroup` semantics: run Gs together, the first
//! error wins and cancels the rest, at most N run at once, an optional
//! deadline, and nothing of the group left running once `wait` returns.
//!
//! Go's `golang.org/x/sync/errgroup` is three things glued together: a
//! `WaitGroup` (wait for every member), a `sync.Once` around the first
//! error, and a `context.Context` whose `cancel` the first error calls.
//! `SetLimit(n)` adds a semaphore (a buffered channel of n) that `Go`
//! blocks on. The members stop only when their own code looks at
//! `ctx.Done()`: Go cannot stop a goroutine from outside.
//!
//! Here the same parts are built from this module's own primitives:
//!
//! - **cancellation is a closed channel.** The group keeps the only
//!   [`Sender`] of a `channel::<()>(0)` and gives each member a clone of the
//!   [`Receiver`]. Closing the channel (dropping that Sender) makes every
//!   member's `recv()` return `None` at once: Go's `ctx.Done()`, which is
//!   also a closed channel. Each member's future is raced against that
//!   `recv()`, and the member *drops* its future when the channel closes:
//!   the future stops at its current `.await`, the cooperative cancellation
//!   that Rust's futures give for free (Go would need the member to check
//!   `ctx.Done()` itself). Code that never awaits cannot be stopped: a CPU
//!   loop runs to its end, as in Go.
//! - **the first error** goes into a slot behind a lock, written once; the
//!   writer also closes the channel. Later errors are dropped, as in Go.
//! - **the limit** is a buffered channel pre-filled with n tokens:
//!   [`ErrGroup::spawn`] takes one (parking the spawning G while all n are
//!   out, like Go's `g.Go` under `SetLimit`), a member gives its token back
//!   when it ends.
//! - **the deadline** ([`ErrGroup::deadline`]) is one more G, a watchdog
//!   that sleeps until the deadline and then cancels the group with
//!   [`GroupError::DeadlineExceeded`], like `context.WithTimeout`.
//! - **nothing left running:** [`ErrGroup::wait`] joins every member (a
//!   cancelled member finishes promptly, at its next `.await`) and then the
//!   watchdog, so when it returns no future of the group exists any more.
//!   [`GroupStats::running`] counts live members, and a test and lesson 23
//!   check it is 0 after `wait`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Receiver, Sender, channel};
use crate::loom::atomic::{AtomicUsize, Ordering};
use crate::loom::{Arc, Mutex};
use crate::{JoinHandle, spawn};

/// Why a group failed: the error [`ErrGroup::wait`] returns.
#[derive(Debug, PartialEq, Eq)]
pub enum GroupError<E> {
    /// The first member to fail returned this error (Go's `g.Wait()`
    /// returning the first non-nil error).
    Failed(E),
    /// The deadline passed first (Go's `context.DeadlineExceeded`).
    DeadlineExceeded,
    /// A member panicked; the message of its panic. Go's errgroup has no
    /// such case (a panic in a goroutine ends the whole program).
    Panicked(String),
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Failed(e) => write!(f, "a member failed: {e}"),
            GroupError::DeadlineExceeded => f.write_str("the group's deadline passed"),
            GroupError::Panicked(m) => write!(f, "a member panicked: {m}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupError<E> {}

/// A bad group configuration: a limit of 0 would let no member ever run
/// (Go's `SetLimit(0)` deadlocks the first `g.Go` instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitError;

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an errgroup limit must be at least 1")
    }
}

impl std::error::Error for LimitError {}

/// What a group did, read with [`ErrGroup::stats`]: counters that a test
/// or a lesson can check ("nothing left running").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Members handed to [`ErrGroup::spawn`].
    pub spawned: usize,
    /// Members whose future is still alive (running, queued or parked).
    pub running: usize,
    /// Members whose future returned `Ok`.
    pub succeeded: usize,
    /// Members whose future returned `Err` (only the first error is kept).
    pub failed: usize,
    /// Members dropped before they finished, because the group was
    /// cancelled (including those spawned after the cancellation, never
    /// polled).
    pub cancelled: usize,
}

/// What the members and the group share.
struct Shared<E> {
    /// The first failure; `None` until one happens. Written once.
    first: Mutex<Option<GroupError<E>>>,
    /// The only sender of the cancel channel; taken (dropped) to cancel.
    cancel: Mutex<Option<Sender<()>>>,
    running: AtomicUsize,
    succeeded: AtomicUsize,
    failed: AtomicUsize,
    cancelled: AtomicUsize,
}

impl<E> Shared<E> {
    /// The shared state and the cancel channel's receiving side.
    fn new() -> (Self, Receiver<()>) {
        let (cancel, done) = channel::<()>(0);
        let shared = Shared {
            first: Mutex::new(None),
            cancel: Mutex::new(Some(cancel)),
            running: AtomicUsize::new(0),
            succeeded: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
        };
        (shared, done)
    }

    /// Records `why` if it is the first failure, and cancels the group.
    /// Returns whether `why` was the one kept.
    fn fail(&self, why: GroupError<E>) -> bool {
        let kept = {
            let mut first = self.first.lock();
            if first.is_none() {
                *first = Some(why);
                true
            } else {
                false
            }
        };
        self.close();
        kept
    }

    /// Closes the cancel channel: every member's `recv()` returns `None`.
    fn close(&self) {
        // Take the sender out under the lock, drop it after: dropping the
        // last Sender wakes the parked receivers.
        let sender = self.cancel.lock().take();
        drop(sender);
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.lock().is_none()
    }
}

/// A group of Gs with Go's `errgroup` semantics: the first error cancels
/// the others, an optional limit on how many run at once, an optional
/// deadline, and [`wait`](ErrGroup::wait) returns only when no member is
/// left. Go's `errgroup.WithContext`, `g.Go`, `g.SetLimit`, `g.Wait`.
///
/// ```
/// use runtime::sync::{ErrGroup, GroupError};
///
/// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
/// let result = rt.block_on(async {
///     let mut g = ErrGroup::new();
///     g.spawn(async { Ok(()) }).await;
///     g.spawn(async { Err("bad frame") }).await;
///     g.spawn(std::future::pending()).await; // cancelled by the error
///     g.wait().await
/// });
/// assert_eq!(result, Err(GroupError::Failed("bad frame")));
/// ```
pub struct ErrGroup<E> {
    shared: Arc<Shared<E>>,
    /// The cancel channel's receiving side, cloned into each member.
    done: Receiver<()>,
    members: Vec<JoinHandle<()>>,
    spawned: usize,
    /// With a limit: the token channel (Go's semaphore channel).
    tokens: Option<(Sender<()>, Receiver<()>)>,
    watchdog: Option<JoinHandle<()>>,
}

impl<E: Send + 'static> Default for ErrGroup<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Send + 'static> ErrGroup<E> {
    /// An empty group with no limit and no deadline.
    pub fn new() -> Self {
        let (shared, done) = Shared::new();
        ErrGroup {
            shared: Arc::new(shared),
            done,
            members: Vec::new(),
            spawned: 0,
            tokens: None,
            watchdog: None,
        }
    }

    /// At most `n` members run at once; [`spawn`](Self::spawn) parks the
    /// spawning G while `n` are running. Go's `g.SetLimit(n)`. `n == 0` is
    /// an error, not a deadlock.
    ///
    /// ```
    /// let g = runtime::sync::ErrGroup::<()>::new();
    /// assert!(g.limit(0).is_err());
    /// ```
    pub fn limit(mut self, n: usize) -> Result<Self, LimitError> {
        if n == 0 {
            return Err(LimitError);
        }
        let (tx, rx) = channel::<()>(n);
        for _ in 0..n {
            tx.try_send(())
                .expect("a fresh channel of n holds n tokens");
        }
        self.tokens = Some((tx, rx));
        Ok(self)
    }

    /// Cancels the group `after` from now with
    /// [`GroupError::DeadlineExceeded`], unless it failed or finished
    /// before. Go's `context.WithTimeout` passed to `errgroup.WithContext`.
    /// Must be called inside a runtime (it spawns the watchdog G).
    ///
    /// ```
    /// use runtime::sync::{ErrGroup, GroupError};
    /// use std::time::Duration;
    ///
    /// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
    /// let result = rt.block_on(async {
    ///     let mut g = ErrGroup::<()>::new().deadline(Duration::from_millis(20));
    ///     g.spawn(std::future::pending()).await;
    ///     g.wait().await
    /// });
    /// assert_eq!(result, Err(GroupError::DeadlineExceeded));
    /// ```
    pub fn deadline(mut self, after: Duration) -> Self {
        if let Some(old) = self.watchdog.take() {
            old.abort();
        }
        let shared = self.shared.clone();
        let mut done = self.done.clone();
        self.watchdog = Some(spawn(async move {
            // Sleep until the deadline, or stop early when the group is
            // cancelled (or finished: `wait` closes the channel too).
            let expired = Race::new(crate::sleep(after), done.recv()).await;
            if let Either::Left(()) = expired {
                shared.fail(GroupError::DeadlineExceeded);
            }
        }));
        self
    }

    /// Starts `member` as a new G of the group. With a limit, waits first
    /// until fewer than the limit are running. If the group is already
    /// cancelled, `member` is dropped without being polled (and counted as
    /// cancelled). Go's `g.Go(f)`.
    pub async fn spawn<F>(&mut self, member: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
    {
        self.spawned += 1;
        let token = match &mut self.tokens {
            Some((give_back, take)) => {
                // Either a token comes back or the group is cancelled;
                // `take` itself never closes (we hold `give_back`).
                match Race::new(take.recv(), self.done.recv()).await {
                    Either::Left(_) => Some(give_back.clone()),
                    Either::Right(_) => None,
                }
            }
            None => None,
        };
        if self.shared.is_cancelled() {
            if let Some(t) = token {
                let _ = t.try_send(()); // the token goes back unused
            }
            self.shared.cancelled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let shared = self.shared.clone();
        let mut done = self.done.clone();
        shared.running.fetch_add(1, Ordering::Relaxed);
        // ANCHOR: member
        self.members.push(spawn(async move {
            let guard = Member {
                shared: &shared,
                token,
            };
            match Race::new(member, done.recv()).await {
                Either::Left(Ok(())) => {
                    guard.shared.succeeded.fetch_add(1, Ordering::Relaxed);
                }
                Either::Left(Err(e)) => {
                    guard.shared.failed.fetch_add(1, Ordering::Relaxed);
                    guard.shared.fail(GroupError::Failed(e));
                }
                Either::Right(_) => {
                    guard.shared.cancelled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        // ANCHOR_END: member
    }

    /// The group's counters now.
    pub fn stats(&self) -> GroupStats {
        let s = &self.shared;
        GroupStats {
            spawned: self.spawned,
            running: s.running.load(Ordering::Acquire),
            succeeded: s.succeeded.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            cancelled: s.cancelled.load(Ordering::Relaxed),
        }
    }

    /// Waits for every member, then returns the first failure (an error, a
    /// panic or the deadline), or `Ok` if there was none. When it returns,
    /// no member's future is alive and the watchdog is gone. Go's
    /// `g.Wait()`.
    pub async fn wait(self) -> Result<(), GroupError<E>> {
        self.wait_with_stats().await.0
    }

    /// [`wait`](Self::wait), also giving the counters as they stand after
    /// every member has ended (so `running` is 0).
    pub async fn wait_with_stats(mut self) -> (Result<(), GroupError<E>>, GroupStats) {
        for member in std::mem::take(&mut self.members) {
            if let Err(e) = member.await
                && e.is_panic()
            {
                self.shared.fail(GroupError::Panicked(e.to_string()));
            }
        }
        // Every member has ended: close the channel so the watchdog stops
        // sleeping, and join it, so nothing of the group outlives `wait`.
        self.shared.close();
        if let Some(w) = self.watchdog.take() {
            let _ = w.await;
        }
        let stats = self.stats();
        let failure = self.shared.first.lock().take();
        // A deadline that passed after every member had already succeeded
        // (between the last one ending and the close above) cancelled
        // nothing: the group finished in time.
        let late = matches!(failure, Some(GroupError::DeadlineExceeded))
            && stats.succeeded == stats.spawned;
        match failure {
            Some(why) if !late => (Err(why), stats),
            _ => (Ok(()), stats),
        }
    }
}

/// A member's bookkeeping that must happen however its future ends: done,
/// dropped by cancellation, or unwound by a panic.
struct Member<'a, E> {
    shared: &'a Shared<E>,
    token: Option<Sender<()>>,
}

impl<E> Drop for Member<'_, E> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The member's panic cancels the others now; `wait` records
            // its message when it joins this G.
            self.shared.close();
        }
        // Count this member out before its token goes back, so a spawn
        // that takes the token never sees more than `limit` running.
        self.shared.running.fetch_sub(1, Ordering::Release);
        if let Some(t) = self.token.take() {
            // Never full: at most `limit` tokens exist.
            let _ = t.try_send(());
        }
    }
}

/// Which of two raced futures finished first.
enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `left` then `right`, and finishes with whichever is ready first
/// (`left` wins a tie: a member that finished keeps its result even if the
/// group was cancelled at the same moment). Both are dropped together.
struct Race<A, B> {
    left: A,
    right: B,
}

impl<A, B> Race<A, B> {
    fn new(left: A, right: B) -> Self {
        Race { left, right }
    }
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning: `left` and `right` are never moved
        // out of the pinned `Race`, and `Race` has no Drop or Unpin impl of
        // its own that could move them.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `left` lives inside the pinned `Race` (see above).
        if let Poll::Ready(a) = unsafe { Pin::new_unchecked(&mut this.left) }.poll(cx) {
            return Poll::Ready(Either::Left(a));
        }
        // SAFETY: as for `left`, a field of the pinned `Race`.
        if let Poll::Ready(b) = unsafe { Pin::new_unchecked(&mut this.right) }.poll(cx) {
            return Poll::Ready(Either::Right(b));
        }
        Poll::Pending
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn on(procs: usize, f: impl Future<Output = ()> + Send + 'static) {
        crate::Runtime::builder()
            .procs(procs)
            .build()
            .expect("a runtime")
            .block_on(f);
    }

    #[test]
    fn every_member_succeeds_and_wait_is_ok() {
        on(2, async {
            let mut g = ErrGroup::<()>::new();
            for _ in 0..50 {
                g.spawn(async {
                    crate::yield_now().await;
                    Ok(())
                })
                .await;
            }
            let (r, s) = g.wait_with_stats().await;
            assert_eq!(r, Ok(()));
            assert_eq!((s.spawned, s.succeeded, s.running), (50, 50, 0));
        });
    }

    #[test]
    fn the_first_error_wins_and_cancels_the_waiting_members() {
        on(2, async {
            let mut g = ErrGroup::new();
            for _ in 0..8 {
                g.spawn(std::future::pending()).await;
            }
            g.spawn(async { Err(1) }).await;
            let (r, s) = g.wait_with_stats().await;
            assert_eq!(r, Err(GroupError::Failed(1)), "the only error is returned");
            assert_eq!(s.cancelled, 8, "every pending member was cancelled: {s:?}");
            assert_eq!(s.running, 0, "nothing left running after wait");
        });
    }

    #[test]
    fn of_two_errors_only_the_first_is_kept() {
        on(1, async {
            // On one P the first member's G records its error before the
            // second member's G runs again: the gate opens when the first
            // member's future ends (it owns the only sender).
            let (go, mut gate) = channel::<()>(0);
            let mut g = ErrGroup::new();
            g.spawn(async move {
                let _go = go;
                crate::yield_now().await;
                Err("first")
            })
            .await;
            g.spawn(async move {
                let _ = gate.recv().await;
                Err("second")
            })
            .await;
            let (r, s) = g.wait_with_stats().await;
            assert_eq!(r, Err(GroupError::Failed("first")));
            assert_eq!(s.failed, 2, "the second member failed too, and was dropped");
        });
    }

    #[test]
    fn the_limit_bounds_how_many_run_at_once() {
        on(4, async {
            let now = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let mut g = ErrGroup::<()>::new().limit(3).unwrap();
            for _ in 0..30 {
                let (now, peak) = (now.clone(), peak.clone());
                g.spawn(async move {
                    let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    for _ in 0..5 {
                        crate::yield_now().await;
                    }
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await;
                assert!(g.stats().running <= 3, "spawn let a 4th member in");
            }
            assert_eq!(g.wait().await, Ok(()));
            let peak = peak.load(Ordering::SeqCst);
            assert!(
                (1..=3).contains(&peak),
                "expected at most 3 at once, saw {peak}"
            );
        });
    }

    #[test]
    fn a_spawn_parked_on_the_limit_gives_up_when_the_group_is_cancelled() {
        on(2, async {
            let mut g = ErrGroup::<&str>::new().limit(1).unwrap();
            g.spawn(async {
                crate::sleep(Duration::from_millis(5)).await;
                Err("boom")
            })
            .await;
            let polled = Arc::new(AtomicBool::new(false));
            let p = polled.clone();
            g.spawn(async move {
                p.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
            let (r, s) = g.wait_with_stats().await;
            assert_eq!(r, Err(GroupError::Failed("boom")));
            assert!(
                !polled.load(Ordering::SeqCst),
                "a member spawned after the error ran"
            );
            assert_eq!((s.spawned, s.cancelled), (2, 1));
        });
    }

    #[test]
    fn the_deadline_cancels_members_and_the_watchdog_is_joined() {
        on(2, async {
            let mut g = ErrGroup::<()>::new().deadline(Duration::from_millis(10));
            for _ in 0..4 {
                g.spawn(async {
                    crate::sleep(Duration::from_secs(3600)).await;
                    Ok(())
                })
                .await;
            }
            let (r, s) = g.wait_with_stats().await;
            assert_eq!(r, Err(GroupError::DeadlineExceeded));
            assert_eq!((s.cancelled, s.running), (4, 0));
        });
    }

    #[test]
    fn a_group_that_finishes_in_time_is_ok_despite_a_deadline() {
        on(1, async {
            let mut g = ErrGroup::<()>::new().deadline(Duration::from_secs(3600));
            g.spawn(async { Ok(()) }).await;
            assert_eq!(g.wait().await, Ok(()), "an unexpired deadline is no error");
        });
    }

    #[test]
    fn a_panicking_member_cancels_the_rest_and_is_reported() {
        on(2, async {
            let mut g = ErrGroup::<()>::new();
            g.spawn(std::future::pending()).await;
            g.spawn(async { panic!("bad input") }).await;
            let (r, s) = g.wait_with_stats().await;
            match r {
                Err(GroupError::Panicked(m)) => assert!(m.contains("bad input"), "{m}"),
                other => panic!("expected Panicked, got {other:?}"),
            }
            assert_eq!((s.cancelled, s.running), (1, 0));
        });
    }
}

/// Loom model of the first-error slot and the cancel channel. Run with
/// `RUSTFLAGS="--cfg loom" cargo test -p runtime --release --lib loom_errgroup`.
///
/// Broken variant that failed: `fail` checking `first.is_none()` under one
/// lock and writing the slot under a second (check, then act): loom found
/// the interleaving where both failing members see an empty slot, and the
/// model's "exactly one error kept" assertion failed (`left: 2, right: 1`).
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use crate::loom::thread;
    use loom::future::block_on;

    #[test]
    fn loom_errgroup_two_failures_keep_one_and_cancel_once() {
        loom::model(|| {
            let (shared, mut done) = Shared::<u32>::new();
            let shared = Arc::new(shared);
            let mut members = Vec::new();
            for e in [1, 2] {
                let s = shared.clone();
                members.push(thread::spawn(move || s.fail(GroupError::Failed(e))));
            }
            // A member parked on `done` is woken by whichever closes it.
            assert_eq!(block_on(done.recv()), None, "the cancel channel closed");
            let kept: usize = members
                .into_iter()
                .map(|m| m.join().unwrap() as usize)
                .sum();
            assert_eq!(kept, 1, "exactly one error kept");
            let first = shared.first.lock().take();
            assert!(
                matches!(first, Some(GroupError::Failed(1 | 2))),
                "the kept error is one of the two"
            );
        });
    }
}
