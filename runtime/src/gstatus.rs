//! Every live G, what it is doing and where: the goroutine dump (Go's
//! `allgs` walked by `runtime.Stack(buf, true)` and `goroutine?debug=2`).
//!
//! Go can print any goroutine's stack because every G has one. Ours are
//! stackless futures: a parked G is a state machine in a heap cell, and
//! nothing records how it got there. So each G carries two sites instead,
//! the two Go's dump ends up mattering for:
//!
//! * **where it was spawned**: Go's `g.gopc`, one PC saved by `newproc`.
//!   Here `#[track_caller]` on `spawn` hands down the caller's
//!   `&'static Location` (file, line, column; a pointer into the binary, so
//!   storing it costs one word and no walk), with the spawning G's id (Go's
//!   `g.parentGoid`);
//! * **where it waits**: the `recv`, `send`, `lock`, `sleep`, `wait` or
//!   `JoinHandle` poll that parked it. Those primitives already take the
//!   caller's `Location` for the block profile (`sync/profile.rs`); when
//!   one parks the G it calls [`park`], which writes a *wait record*
//!   (reason, site, since when) into the G's header. Go's `gopark` stores
//!   `g.waitreason` the same way.
//!
//! The list of every G is the one shutdown already needs (`task/owned.rs`):
//! sharded 32 ways by G id, so a spawn and an exit each take one shard's
//! lock, which Ms spawning on different Ps rarely share. Nothing is added
//! to that path but two words in the header. A dump takes the shards' locks
//! one at a time and copies each G's record out; it never stops the world
//! (Go's `goroutineProfileWithLabels` does), so the dump is a set of
//! per-G snapshots taken over a few microseconds, not one instant. A
//! `block_on` root is no task and is not in that list: each registers a
//! [`RootG`] with the runtime for as long as it runs, listed as G 0.
//!
//! The wait record is written by the G's own M (a G runs on one M at a time,
//! and the task's state word orders one M's writes before the next M's), and
//! read by whoever dumps. The reader must not see half of one wait and half
//! of the next (a `Mutex::lock` reason with a `sleep` site), so the record
//! is a seqlock: the writer makes `seq` odd, writes, makes it even again;
//! the reader retries until it read the same even `seq` before and after.
//! Its loom model is at the bottom. A G's state comes from its state word
//! (`task/state.rs`): RUNNING is running (or in a syscall, when its record
//! says so), NOTIFIED is runnable, neither is waiting.

use std::panic::Location;
use std::ptr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::context::with_current;
use crate::loom::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering, fence};
use crate::trace::StopReason;

/// Why a G waits: Go's `waitReason`, as `goroutine?debug=2` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WaitReason {
    /// `Receiver::recv` on an empty channel (`waitReasonChanReceive`).
    ChanReceive,
    /// `Sender::send` on a full channel (`waitReasonChanSend`).
    ChanSend,
    /// `Mutex::lock` (`waitReasonSyncMutexLock`).
    MutexLock,
    /// `RwLock::read` (`waitReasonSyncRWMutexRLock`).
    RwLockRead,
    /// `RwLock::write` (`waitReasonSyncRWMutexLock`).
    RwLockWrite,
    /// `WaitGroup::wait` (`waitReasonSyncWaitGroupWait`).
    WaitGroup,
    /// Awaiting another G's `JoinHandle` (Go has none: a goroutine's result
    /// comes over a channel, so Go would say `chan receive`).
    Join,
    /// A timer: `sleep`, `sleep_until`, a `timeout`'s deadline
    /// (`waitReasonSleep`).
    Sleep,
    /// A socket not yet ready, parked in the netpoller (`waitReasonIOWait`).
    Io,
    /// Inside `runtime::syscall`: the G's M is blocked in the call, its P
    /// handed on (Go's `_Gsyscall` state; not a wait reason in Go).
    Syscall,
    /// A future returned `Pending` without saying why.
    Other,
}

impl WaitReason {
    const ALL: [WaitReason; 11] = [
        WaitReason::ChanReceive,
        WaitReason::ChanSend,
        WaitReason::MutexLock,
        WaitReason::RwLockRead,
        WaitReason::RwLockWrite,
        WaitReason::WaitGroup,
        WaitReason::Join,
        WaitReason::Sleep,
        WaitReason::Io,
        WaitReason::Syscall,
        WaitReason::Other,
    ];

    /// The reason as Go's dump prints it (`chan receive`, `sync.Mutex.Lock`).
    ///
    /// ```
    /// assert_eq!(runtime::WaitReason::ChanReceive.as_str(), "chan receive");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::MutexLock => "sync.Mutex.Lock",
            WaitReason::RwLockRead => "sync.RWMutex.RLock",
            WaitReason::RwLockWrite => "sync.RWMutex.Lock",
            WaitReason::WaitGroup => "sync.WaitGroup.Wait",
            WaitReason::Join => "join",
            WaitReason::Sleep => "sleep",
            WaitReason::Io => "IO wait",
            WaitReason::Syscall => "syscall",
            WaitReason::Other => "wait",
        }
    }

    /// The coarser reason the execution trace records for the same park.
    /// (The trace has no `join` reason yet: a join is a plain block there.)
    pub(crate) fn stop_reason(self) -> StopReason {
        match self {
            WaitReason::ChanReceive | WaitReason::ChanSend => StopReason::Chan,
            WaitReason::MutexLock
            | WaitReason::RwLockRead
            | WaitReason::RwLockWrite
            | WaitReason::WaitGroup => StopReason::Sync,
            WaitReason::Sleep => StopReason::Sleep,
            WaitReason::Io => StopReason::Io,
            WaitReason::Join => StopReason::Join,
            WaitReason::Syscall | WaitReason::Other => StopReason::Block,
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(c: u8) -> Option<WaitReason> {
        Self::ALL.get(usize::from(c).checked_sub(1)?).copied()
    }
}

/// What a G is doing (Go's `_Grunnable`, `_Grunning`, `_Gwaiting`,
/// `_Gsyscall`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GState {
    /// In a run queue, or woken and about to be queued.
    Runnable,
    /// Being polled on an M right now.
    Running,
    /// Parked until a waker fires; see its [`WaitReason`].
    Waiting,
    /// Running, inside `runtime::syscall`.
    Syscall,
}

impl GState {
    /// The state as Go's dump prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            GState::Runnable => "runnable",
            GState::Running => "running",
            GState::Waiting => "waiting",
            GState::Syscall => "syscall",
        }
    }
}

/// One G in a dump (Go's `runtime.StackRecord` plus the header line of
/// `goroutine?debug=2`).
#[derive(Clone, Debug)]
pub struct Goroutine {
    /// Its id (Go's `goid`), as traces and `current_g_id` give it.
    pub id: u64,
    /// What it was doing when the dump looked.
    pub state: GState,
    /// Why it waits (for `Waiting` and `Syscall`).
    pub wait_reason: Option<WaitReason>,
    /// How long it has waited, at the dump.
    pub waited: Option<Duration>,
    /// The `recv`/`lock`/`sleep`/`.await` that parked it, if the primitive
    /// said (Go shows the blocked frame at the top of the stack).
    pub wait_site: Option<&'static Location<'static>>,
    /// Where `spawn` was called (Go's `created by ...` line, `g.gopc`).
    pub spawned_at: &'static Location<'static>,
    /// The G that spawned it: 0 for a `block_on` root, `None` when spawned
    /// from a plain thread (Go's `parentGoid`).
    pub parent: Option<u64>,
    /// Its labels (Go's `g.labels`), in key order.
    pub labels: Vec<(String, String)>,
}

/// Every live G of the runtime this is called in (Go's
/// `runtime.GoroutineProfile`, `pprof.Lookup("goroutine")`), by id. Each
/// `block_on` root running now is listed as G 0, "spawned" where
/// `block_on` was called (Go lists its main goroutine the same way); Gs
/// being polled right now show as `Running`. Empty outside a runtime.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let gs = rt.block_on(async {
///     let (tx, mut rx) = runtime::sync::channel::<()>(0);
///     let h = runtime::spawn(async move { rx.recv().await });
///     while !runtime::goroutines().iter().any(|g| g.id == h.id() && g.wait_reason.is_some()) {
///         runtime::yield_now().await;
///     }
///     let gs = runtime::goroutines();
///     drop(tx);
///     h.await.unwrap();
///     gs
/// });
/// assert_eq!(gs.len(), 2); // the root, which took the dump, and its G
/// assert_eq!((gs[0].id, gs[0].state), (0, runtime::GState::Running));
/// assert_eq!(gs[1].wait_reason, Some(runtime::WaitReason::ChanReceive));
/// assert_eq!(gs[1].state, runtime::GState::Waiting);
/// ```
pub fn goroutines() -> Vec<Goroutine> {
    let Some(shared) = with_current(|c| c.map(|c| c.shared.clone())) else {
        return Vec::new();
    };
    let now = nanotime();
    let mut out = Vec::with_capacity(shared.owned.len());
    shared.owned.for_each(|h| {
        let snap = h.state.load();
        let wait = h.info.wait.read();
        let (state, wait) = if snap.is_running() {
            match wait {
                Some(w) if w.0 == WaitReason::Syscall => (GState::Syscall, Some(w)),
                _ => (GState::Running, None),
            }
        } else if snap.is_notified() || wait.is_none() {
            (GState::Runnable, None)
        } else {
            (GState::Waiting, wait)
        };
        out.push(Goroutine {
            id: h.id,
            state,
            wait_reason: wait.map(|w| w.0),
            waited: wait.map(|w| Duration::from_nanos(now.saturating_sub(w.2))),
            wait_site: wait.and_then(|w| w.1),
            spawned_at: h.info.spawned_at,
            parent: h.info.parent,
            labels: h
                .labels
                .iter()
                .flat_map(|set| set.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
    });
    for root in shared.roots.lock().iter() {
        let wait = root.info.wait.read();
        let (state, wait) = match wait {
            Some(w) if w.0 == WaitReason::Syscall => (GState::Syscall, Some(w)),
            _ if root.polling.load(Ordering::Acquire) == 1 => (GState::Running, None),
            None => (GState::Runnable, None),
            Some(w) => (GState::Waiting, Some(w)),
        };
        out.push(Goroutine {
            id: 0,
            state,
            wait_reason: wait.map(|w| w.0),
            waited: wait.map(|w| Duration::from_nanos(now.saturating_sub(w.2))),
            wait_site: wait.and_then(|w| w.1),
            spawned_at: root.info.spawned_at,
            parent: None,
            labels: Vec::new(),
        });
    }
    out.sort_by_key(|g| g.id);
    out
}

/// Says why the running G is about to return `Pending`, and where, for the
/// trace's stop reason and the goroutine dump (Go's `gopark` takes the same
/// `waitReason`): a channel, a lock, a socket, a timer or a join calls this
/// just before it parks the G. `at` is the caller of the waiting primitive
/// (its `#[track_caller]` location). The first wait named in a poll wins (a
/// `timeout` polls its future before its timer, so a channel inside a
/// timeout is a channel wait). Outside a runtime it does nothing.
pub(crate) fn park(reason: WaitReason, at: Option<&'static Location<'static>>) {
    with_current(|ctx| {
        let Some(ctx) = ctx else { return };
        if ctx.stop_reason.get() == StopReason::Block {
            ctx.stop_reason.set(reason.stop_reason());
        }
        if ctx.wait_named.replace(true) {
            return; // an inner wait of this poll already spoke
        }
        // SAFETY: `current_info` is set by `Running::enter` to the header of
        // the G this thread polls, whose reference the runner holds for the
        // whole poll, and reset before that reference can go.
        if let Some(info) = unsafe { ctx.current_info.get().as_ref() } {
            info.wait.write(Some(reason), at, nanotime());
        }
    });
}

/// After a poll that returned `Pending`: a G that parked without naming a
/// wait (a future of its own, `std::future::pending`) is recorded as
/// `Other`, so that the dump never shows a stale reason from an earlier
/// wait.
pub(crate) fn parked_unnamed(info: &GInfo) {
    let unnamed = with_current(|ctx| ctx.is_some_and(|c| !c.wait_named.get()));
    if unnamed {
        info.wait.write(Some(WaitReason::Other), None, nanotime());
    }
}

/// [`park`] for a `runtime::sync` wait of `kind` at `at`.
pub(crate) fn park_for(kind: crate::sync::WaitKind, at: &'static Location<'static>) {
    use crate::sync::WaitKind as K;
    let reason = match kind {
        K::ChanSend => WaitReason::ChanSend,
        K::ChanRecv => WaitReason::ChanReceive,
        K::Mutex => WaitReason::MutexLock,
        K::RwLockRead => WaitReason::RwLockRead,
        K::RwLockWrite => WaitReason::RwLockWrite,
        K::WaitGroup => WaitReason::WaitGroup,
    };
    park(reason, Some(at));
}

/// Marks the running G as in a syscall until the guard drops.
pub(crate) fn enter_syscall() -> SyscallMark {
    let info = with_current(|ctx| ctx.map_or(ptr::null(), |c| c.current_info.get()));
    // SAFETY: as in `park`: the G's header outlives its poll.
    if let Some(i) = unsafe { info.as_ref() } {
        i.wait.write(Some(WaitReason::Syscall), None, nanotime());
    }
    SyscallMark(info)
}

/// See [`enter_syscall`].
pub(crate) struct SyscallMark(*const GInfo);

impl Drop for SyscallMark {
    fn drop(&mut self) {
        // SAFETY: as in `park`: the syscall runs inside the G's poll.
        if let Some(i) = unsafe { self.0.as_ref() } {
            i.wait.write(None, None, 0);
        }
    }
}

/// Nanoseconds since the first call in this process: the clock of the wait
/// records (one `Instant` read per park; a park costs far more).
fn nanotime() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// What the goroutine dump knows of one G, in its task header.
pub(crate) struct GInfo {
    /// The caller of `spawn` (Go's `gopc`).
    pub(crate) spawned_at: &'static Location<'static>,
    /// The spawning G (Go's `parentGoid`).
    pub(crate) parent: Option<u64>,
    wait: WaitCell,
}

impl GInfo {
    /// The record of a G spawned at `spawned_at` by the current G.
    pub(crate) fn new(spawned_at: &'static Location<'static>) -> Self {
        GInfo {
            spawned_at,
            parent: crate::context::current_g_id(),
            wait: WaitCell::new(),
        }
    }
}

/// A `block_on` root in the dump: G 0, on the thread that called
/// `block_on` (Go's main goroutine, G 1, is listed the same way). It has no
/// task state word, so it says itself whether it is being polled.
pub(crate) struct RootG {
    pub(crate) info: GInfo,
    polling: AtomicU8,
}

impl RootG {
    /// The root of a `block_on` called at `at`, registered with the
    /// runtime until the guard drops.
    pub(crate) fn register(
        shared: &std::sync::Arc<crate::scheduler::Shared>,
        at: &'static Location<'static>,
    ) -> RootGuard {
        let root = std::sync::Arc::new(RootG {
            info: GInfo {
                spawned_at: at,
                parent: None,
                wait: WaitCell::new(),
            },
            polling: AtomicU8::new(0),
        });
        shared.roots.lock().push(root.clone());
        RootGuard {
            shared: shared.clone(),
            root,
        }
    }

    /// Marks a poll of the root; `park` writes its wait while the guard
    /// lives.
    pub(crate) fn polling(&self) -> (Running, RootPoll<'_>) {
        self.polling.store(1, Ordering::Release);
        (Running::enter(&self.info), RootPoll(self))
    }
}

/// See [`RootG::polling`].
pub(crate) struct RootPoll<'a>(&'a RootG);

impl Drop for RootPoll<'_> {
    fn drop(&mut self) {
        self.0.polling.store(0, Ordering::Release);
    }
}

/// Takes a root off the runtime's list when its `block_on` returns.
pub(crate) struct RootGuard {
    shared: std::sync::Arc<crate::scheduler::Shared>,
    pub(crate) root: std::sync::Arc<RootG>,
}

impl Drop for RootGuard {
    fn drop(&mut self) {
        self.shared
            .roots
            .lock()
            .retain(|r| !std::sync::Arc::ptr_eq(r, &self.root));
    }
}

/// Sets the thread's "G being polled" for [`park`] while it lives.
pub(crate) struct Running(bool);

impl Running {
    /// `info` must outlive the guard (it is the polled G's header, and the
    /// runner holds a reference for the whole poll).
    pub(crate) fn enter(info: &GInfo) -> Running {
        Running(with_current(|ctx| match ctx {
            Some(c) => {
                c.current_info.set(info);
                c.wait_named.set(false);
                true
            }
            None => false,
        }))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.0 {
            with_current(|ctx| {
                if let Some(c) = ctx {
                    c.current_info.set(ptr::null());
                }
            });
        }
    }
}

/// A wait record: (reason, site, since) behind a seqlock, one writer.
struct WaitCell {
    seq: AtomicU32,
    reason: AtomicU8,
    site: AtomicPtr<Location<'static>>,
    since: AtomicU64,
}

/// A consistent read of a [`WaitCell`].
type Wait = (WaitReason, Option<&'static Location<'static>>, u64);

impl WaitCell {
    fn new() -> Self {
        WaitCell {
            seq: AtomicU32::new(0),
            reason: AtomicU8::new(0),
            site: AtomicPtr::new(ptr::null_mut()),
            since: AtomicU64::new(0),
        }
    }

    /// Only the G's own M calls this (one writer at a time).
    fn write(
        &self,
        reason: Option<WaitReason>,
        at: Option<&'static Location<'static>>,
        since: u64,
    ) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        // The odd seq is visible before any field changes.
        fence(Ordering::Release);
        self.reason
            .store(reason.map_or(0, WaitReason::code), Ordering::Relaxed);
        self.site.store(
            at.map_or(ptr::null_mut(), |l| l as *const Location<'static> as *mut _),
            Ordering::Relaxed,
        );
        self.since.store(since, Ordering::Relaxed);
        // The fields are visible before the even seq.
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    fn read(&self) -> Option<Wait> {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                crate::loom::spin_loop(); // a write is under way
                continue;
            }
            let reason = self.reason.load(Ordering::Relaxed);
            let site = self.site.load(Ordering::Relaxed);
            let since = self.since.load(Ordering::Relaxed);
            // The field loads happen before the second seq load.
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                // SAFETY: a non-null site was stored from a
                // `&'static Location`, which lives for the whole program.
                let site = unsafe { site.cast_const().as_ref() };
                return WaitReason::from_code(reason).map(|r| (r, site, since));
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_models {
    //! The wait record's seqlock: a dumping thread reads the record of a G
    //! whose M writes two waits in a row. Run with `RUSTFLAGS="--cfg loom"
    //! cargo test -p runtime --release --lib loom_wait_record`.
    use super::*;
    use crate::loom::{Arc, thread};

    fn sites() -> (&'static Location<'static>, &'static Location<'static>) {
        (Location::caller(), Location::caller())
    }

    /// The broken variant: read the fields without checking `seq` again,
    /// so a read overlapping a write mixes two waits.
    fn read_without_recheck(c: &WaitCell) -> Option<Wait> {
        while c.seq.load(Ordering::Acquire) & 1 == 1 {
            crate::loom::spin_loop();
        }
        let reason = WaitReason::from_code(c.reason.load(Ordering::Relaxed));
        // SAFETY: as in `read`.
        let site = unsafe { c.site.load(Ordering::Relaxed).cast_const().as_ref() };
        let since = c.since.load(Ordering::Relaxed);
        reason.map(|r| (r, site, since))
    }

    fn model(read: fn(&WaitCell) -> Option<Wait>) {
        loom::model(move || {
            let (a, b) = sites();
            let cell = Arc::new(WaitCell::new());
            cell.write(Some(WaitReason::MutexLock), Some(a), 1);
            let w = cell.clone();
            let t = thread::spawn(move || w.write(Some(WaitReason::Sleep), Some(b), 2));
            let seen = read(&cell);
            t.join().unwrap();
            let ok = [
                Some((WaitReason::MutexLock, Some(a), 1)),
                Some((WaitReason::Sleep, Some(b), 2)),
            ];
            assert!(
                ok.contains(&seen),
                "torn wait record: read {seen:?}, expected one whole write"
            );
        });
    }

    #[test]
    fn loom_wait_record_reads_one_whole_write() {
        model(WaitCell::read);
    }

    #[test]
    #[should_panic(expected = "torn wait record")]
    fn loom_wait_record_broken_without_recheck_tears() {
        model(read_without_recheck);
    }
}
