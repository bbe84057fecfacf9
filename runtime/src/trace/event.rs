//! The event model: what the scheduler records, as plain data.
//!
//! A [`Trace`] is a list of [`TraceEvent`]s in time order, each saying what
//! happened ([`EventKind`]), when (nanoseconds since the recorder started),
//! on which M and, if the M held one, on which P. This is the shape of Go's
//! `runtime/trace` stream, with far fewer kinds. Everything serialises with
//! serde, so a lesson can save a trace and a test can read it back.

use serde::{Deserialize, Serialize};

/// A recorded run of the scheduler: what happened, where and when.
///
/// The Go equivalent is the event stream `runtime/trace` writes and
/// `go tool trace` reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Trace {
    /// How many Ps the runtime had (Go's `GOMAXPROCS`).
    pub procs: usize,
    /// Every event, sorted by timestamp.
    pub events: Vec<TraceEvent>,
}

/// One thing the scheduler did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Nanoseconds since tracing started.
    pub ts_ns: u64,
    /// The P the event happened on, if the M held one (an M in a syscall or
    /// looking for a P holds none).
    pub p: Option<usize>,
    /// The M (OS thread) that recorded the event.
    pub m: usize,
    /// What happened.
    pub kind: EventKind,
}

/// What a [`TraceEvent`] records. Go's trace has the same events under the
/// names in each variant's doc.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum EventKind {
    /// A G was created (Go's `GoCreate`).
    GoCreate {
        /// The new G's id.
        g: u64,
    },
    /// A G became runnable again after waiting (Go's `GoUnblock`): `by`
    /// readied `g`. The wait from here to `g`'s next `GoStart` is its
    /// scheduling latency ([`Trace::scheduling_latencies`]).
    GoUnblock {
        /// The G made runnable.
        g: u64,
        /// The G whose code readied it (0 is the `block_on` root), or `None`
        /// when no G did: a timer fired by an idle M, the netpoller, or a
        /// thread outside the runtime.
        by: Option<u64>,
    },
    /// A G started running on this P (Go's `GoStart`).
    GoStart {
        /// The G's id.
        g: u64,
    },
    /// A G stopped running on this P (Go's `GoSched`, `GoPreempt`, `GoBlock`,
    /// `GoEnd`, told apart by `reason`).
    GoStop {
        /// The G's id.
        g: u64,
        /// Why it stopped.
        reason: StopReason,
    },
    /// A P stole Gs from another P's run queue (Go's `runqsteal`).
    Steal {
        /// The victim P.
        from: usize,
        /// The thief P.
        to: usize,
        /// How many Gs moved, including the one the thief runs next.
        count: usize,
    },
    /// A P found no work and its M is about to park (Go's `ProcStop`).
    ProcIdle,
    /// A P has work again (Go's `ProcStart`).
    ProcBusy,
    /// A G entered a blocking call and its P may be handed off (Go's
    /// `GoSysCall`, `entersyscall`).
    SyscallEnter {
        /// The G making the call.
        g: u64,
    },
    /// A G came back from a blocking call (Go's `GoSysExit`, `exitsyscall`).
    SyscallExit {
        /// The G that made the call.
        g: u64,
    },
    /// The netpoller ran `epoll_wait` and readied Gs, or an M that was
    /// blocked in it woke up (Go's `netpoll`; `go tool trace` shows its
    /// effects as unblocks by the network). Recorded at the end of the poll
    /// by the M that polled (sysmon records as M 0).
    NetPoll {
        /// Gs whose socket became ready.
        readied: usize,
        /// Socket events epoll reported.
        events: usize,
        /// How long the M slept in `epoll_wait` (0 for a non-blocking poll).
        waited_ns: u64,
    },
    /// Code running on a G wrote an annotation into the trace with
    /// [`trace_log`](crate::trace_log) (Go's `EvUserLog`, written by
    /// `runtime/trace.Log`). Boxed so that the rare annotation does not make
    /// every other event bigger.
    UserLog(Box<UserLog>),
}

/// An annotation a program wrote into the trace: a category and a message
/// on the G that wrote it (Go's `runtime/trace.Log(ctx, category, message)`;
/// `go tool trace` shows it on the goroutine's timeline).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UserLog {
    /// The G that wrote it (0 for a `block_on` root).
    pub g: u64,
    /// What kind of annotation, e.g. `"breaker"`.
    pub category: String,
    /// What happened, e.g. `"closed->open"`.
    pub message: String,
}

/// Why a G stopped running.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopReason {
    /// It called `yield_now` (Go's `Gosched`).
    Yield,
    /// It was asked to yield: budget spent or sysmon saw it run too long
    /// (Go's `GoPreempt`).
    Preempt,
    /// It returned `Pending` and waits for a waker (Go's `GoBlock`, `gopark`)
    /// that none of the reasons below names.
    Block,
    /// It waits on a channel send or receive (Go's `waitReasonChanSend`,
    /// `waitReasonChanReceive`).
    Chan,
    /// It waits for a lock or a wait group (Go's `waitReasonSyncMutexLock`,
    /// `waitReasonSyncRWMutexRLock`, `waitReasonSyncWaitGroupWait`).
    Sync,
    /// It waits for a socket to be ready (Go's `waitReasonIOWait`, parked in
    /// the netpoller).
    Io,
    /// It waits for a timer (Go's `waitReasonSleep`).
    Sleep,
    /// It waits for another G to finish, on its `JoinHandle` (Go has no
    /// join: a goroutine waits on a channel or a `WaitGroup` instead).
    Join,
    /// It finished (Go's `GoEnd`).
    Done,
}

impl StopReason {
    /// All reasons, in declaration order.
    pub const ALL: [StopReason; 9] = [
        StopReason::Yield,
        StopReason::Preempt,
        StopReason::Block,
        StopReason::Chan,
        StopReason::Sync,
        StopReason::Io,
        StopReason::Sleep,
        StopReason::Join,
        StopReason::Done,
    ];

    /// The reason as a lower-case word, as it appears in the Chrome JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Yield => "yield",
            StopReason::Preempt => "preempt",
            StopReason::Block => "block",
            StopReason::Chan => "chan",
            StopReason::Sync => "sync",
            StopReason::Io => "io",
            StopReason::Sleep => "sleep",
            StopReason::Join => "join",
            StopReason::Done => "done",
        }
    }
}
