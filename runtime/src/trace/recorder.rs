//! The recorder: how the scheduler writes events while it runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::event::{EventKind, Trace, TraceEvent};
use crate::loom::Mutex;

/// How many runtimes in this process record a trace: the gate of
/// [`trace_log`](crate::trace_log), so that a program's annotations cost one
/// relaxed load when nobody traces. It is a hint, not a protocol (std's
/// atomic, outside the loom facade, because a `static` needs a `const`
/// constructor): a log that races with a runtime's start or end may be kept
/// or dropped, and the recorder's own `enabled` decides for real.
static RECORDING: AtomicUsize = AtomicUsize::new(0);

/// Whether any runtime in the process is recording (one relaxed load).
#[inline]
pub(crate) fn any_recording() -> bool {
    RECORDING.load(Ordering::Relaxed) > 0
}

/// Collects events while the runtime runs; the scheduler owns one.
///
/// Events go into one of several buffers picked by the recording M's id, so
/// that Ms on different threads almost never contend for a lock. Disabled,
/// [`record`](Recorder::record) is a branch on a `bool` and nothing else.
pub(crate) struct Recorder {
    enabled: bool,
    procs: usize,
    start: Instant,
    shards: Box<[Mutex<Vec<TraceEvent>>]>,
}

impl Recorder {
    /// A recorder for a runtime with `procs` Ps; records only if `enabled`.
    pub(crate) fn new(enabled: bool, procs: usize) -> Self {
        // Ms outnumber Ps only by the ones in syscalls and sysmon; twice the
        // Ps keeps collisions rare. A disabled recorder needs no buffers.
        let shard_count = if enabled { (procs * 2).max(2) } else { 0 };
        if enabled {
            RECORDING.fetch_add(1, Ordering::Relaxed);
        }
        Self {
            enabled,
            procs,
            start: Instant::now(),
            shards: (0..shard_count).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    /// Whether events are being recorded. The scheduler can check this before
    /// doing any work to build an event.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records that `kind` happened now, on M `m` holding P `p`.
    #[inline]
    pub(crate) fn record(&self, p: Option<usize>, m: usize, kind: EventKind) {
        if self.enabled {
            self.record_slow(p, m, kind);
        }
    }

    #[cold]
    fn record_slow(&self, p: Option<usize>, m: usize, kind: EventKind) {
        let shard = &self.shards[m % self.shards.len()];
        let mut events = shard.lock();
        // Timestamp under the lock, so each shard stays in time order and the
        // merge in `snapshot` only has to interleave sorted runs.
        let ts_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        events.push(TraceEvent { ts_ns, p, m, kind });
    }

    /// Everything recorded so far, sorted by time. Recording continues.
    pub(crate) fn snapshot(&self) -> Trace {
        let mut events: Vec<TraceEvent> = Vec::new();
        for shard in self.shards.iter() {
            events.extend(shard.lock().iter().cloned());
        }
        // Stable: events with equal timestamps keep their per-shard order.
        events.sort_by_key(|e| e.ts_ns);
        Trace {
            procs: self.procs,
            events,
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.enabled {
            RECORDING.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
