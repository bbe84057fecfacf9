//! Where Gs waited, and for how long: the raw material of Go's block and
//! mutex profiles.
//!
//! Every channel, lock and wait-group wait that parked a G is recorded when
//! it ends (completed or cancelled), in two places:
//!
//! * the current runtime's [`Metrics`](crate::Metrics): `chan_waits`,
//!   `sync_waits` and `wait_ns` (cheap counters, per runtime);
//! * a process-wide table read by [`wait_records`], keyed by the kind of
//!   wait and the caller's source location (`#[track_caller]` on `send`,
//!   `recv`, `lock`, `read`, `write`, `wait`), with a count and the total
//!   nanoseconds. The profiler turns it into pprof's `block` profile.
//!
//! The mutex profile is different, as in Go: it charges the G that *held*
//! the lock, not the one that waited. When an unlock wakes or hands over to
//! a waiter, the holder's `lock()` site is charged with the delay it caused,
//! scaled by the queue as Go 1.22's `semrelease1` does: the head waiter's
//! wait plus, for the `n` waiters still queued behind it, `n` times the mean
//! of the head's and the tail's waits (the total delay of the whole queue,
//! without walking it). Those records have [`Profile::Mutex`].
//!
//! Go samples both profiles (`SetBlockProfileRate`,
//! `SetMutexProfileFraction`); here every wait is recorded, because a wait
//! already costs a park and a wake-up and the table is sharded by call site.
//! Records live for the whole process, like Go's profile buckets.

use std::panic::Location;
use std::time::Duration;

use crate::context::with_current;
use crate::loom::atomic::Ordering;

/// Which profile a record belongs to (pprof's `block` or `mutex`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Profile {
    /// Time a G spent parked, charged to where it waited (Go's block
    /// profile, `blockevent`).
    Block,
    /// Delay a lock holder caused to the Gs queued behind it, charged to
    /// where the holder took the lock (Go's mutex profile, `mutexevent`).
    Mutex,
}

/// What a G waited on (Go's `waitReason`, finer than [`StopReason`](crate::StopReason)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum WaitKind {
    /// A channel send (Go's `waitReasonChanSend`).
    ChanSend,
    /// A channel receive (Go's `waitReasonChanReceive`).
    ChanRecv,
    /// `Mutex::lock` (Go's `waitReasonSyncMutexLock`).
    Mutex,
    /// `RwLock::read` (Go's `waitReasonSyncRWMutexRLock`).
    RwLockRead,
    /// `RwLock::write` (Go's `waitReasonSyncRWMutexLock`).
    RwLockWrite,
    /// `WaitGroup::wait` (Go's `waitReasonSyncWaitGroupWait`).
    WaitGroup,
}

impl WaitKind {
    fn is_chan(self) -> bool {
        matches!(self, WaitKind::ChanSend | WaitKind::ChanRecv)
    }
}

/// One bucket of the block or mutex profile: every wait of one kind at one
/// call site (see [`wait_records`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WaitRecord {
    /// Block (the waiter's site) or Mutex (the holder's site).
    pub profile: Profile,
    /// What was waited on.
    pub kind: WaitKind,
    /// The call site: `send`/`recv`/`lock`/... for a block record, the
    /// holder's `lock` for a mutex record.
    #[serde(serialize_with = "ser_location")]
    pub location: &'static Location<'static>,
    /// Waits (block) or contended unlocks (mutex) recorded here.
    pub count: u64,
    /// Their total delay in nanoseconds.
    pub total_ns: u64,
}

fn ser_location<S: serde::Serializer>(l: &&Location<'_>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(l)
}

/// A snapshot of every wait recorded so far in this process, sorted by
/// total delay, largest first: what Go's `pprof.Lookup("block")` and
/// `pprof.Lookup("mutex")` report, per call site.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = runtime::sync::channel::<u32>(0);
///     let h = runtime::spawn(async move { rx.recv().await });
///     tx.send(7).await.unwrap();          // a rendezvous: one side waits
///     assert_eq!(h.await.unwrap(), Some(7));
/// });
/// let waits = runtime::sync::wait_records();
/// assert!(waits.iter().any(|r| r.profile == runtime::sync::Profile::Block));
/// ```
pub fn wait_records() -> Vec<WaitRecord> {
    let mut out = table::snapshot();
    out.sort_by_key(|r| std::cmp::Reverse(r.total_ns));
    out
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Records the end of a wait that parked a G.
pub(crate) fn record_wait(kind: WaitKind, at: &'static Location<'static>, waited: Duration) {
    let ns = nanos(waited);
    with_current(|ctx| {
        if let Some(ctx) = ctx {
            let c = &ctx.shared.counters;
            if kind.is_chan() {
                c.chan_waits.fetch_add(1, Ordering::Relaxed);
            } else {
                c.sync_waits.fetch_add(1, Ordering::Relaxed);
            }
            c.wait_ns.fetch_add(ns, Ordering::Relaxed);
        }
    });
    table::add(Profile::Block, kind, at, ns);
}

/// Records the delay a mutex holder caused, at unlock (Go 1.22's
/// `semrelease1` arithmetic): `head` is how long the woken waiter waited,
/// `tail` how long the last one still queued did, `behind` how many are
/// still queued.
pub(crate) fn record_contention(
    kind: WaitKind,
    holder: &'static Location<'static>,
    head: Duration,
    tail: Duration,
    behind: usize,
) {
    let dt0 = nanos(head);
    let dtail = nanos(tail);
    let scaled = (dt0.saturating_add(dtail) / 2).saturating_mul(behind as u64);
    table::add(Profile::Mutex, kind, holder, dt0.saturating_add(scaled));
}

/// Bumps a mutex counter of the current runtime.
pub(crate) fn count_mutex_event(starvation: bool) {
    with_current(|ctx| {
        if let Some(ctx) = ctx {
            let c = &ctx.shared.counters;
            if starvation {
                c.mutex_starvations.fetch_add(1, Ordering::Relaxed);
            } else {
                c.mutex_handoffs.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

#[cfg(not(loom))]
mod table {
    use super::*;
    use crate::loom::Mutex;
    use std::collections::BTreeMap;

    type Key = (Profile, WaitKind, &'static Location<'static>);
    const SHARDS: usize = 16;

    /// Sharded by call site, so Gs waiting at different places never share
    /// a lock.
    static TABLE: [Mutex<BTreeMap<Key, (u64, u64)>>; SHARDS] =
        [const { Mutex::new(BTreeMap::new()) }; SHARDS];

    fn shard(at: &'static Location<'static>) -> usize {
        let h = (at.line() as usize)
            .wrapping_mul(31)
            .wrapping_add(at.column() as usize)
            .wrapping_add(at.file().len());
        h % SHARDS
    }

    pub(super) fn add(profile: Profile, kind: WaitKind, at: &'static Location<'static>, ns: u64) {
        let mut t = TABLE[shard(at)].lock();
        let e = t.entry((profile, kind, at)).or_insert((0, 0));
        e.0 += 1;
        e.1 = e.1.saturating_add(ns);
    }

    pub(super) fn snapshot() -> Vec<WaitRecord> {
        let mut out = Vec::new();
        for s in &TABLE {
            for (&(profile, kind, location), &(count, total_ns)) in s.lock().iter() {
                out.push(WaitRecord {
                    profile,
                    kind,
                    location,
                    count,
                    total_ns,
                });
            }
        }
        out
    }
}

/// Under loom there is no process-wide table (loom's locks cannot live in a
/// static); the models check the protocols, not the bookkeeping.
#[cfg(loom)]
mod table {
    use super::*;
    pub(super) fn add(_: Profile, _: WaitKind, _: &'static Location<'static>, _: u64) {}
    pub(super) fn snapshot() -> Vec<WaitRecord> {
        Vec::new()
    }
}
