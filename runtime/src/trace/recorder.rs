//! The recorder: how the scheduler writes events while it runs.

use std::time::Instant;

use super::event::{EventKind, Trace, TraceEvent};
use crate::loom::Mutex;

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
