//! A P's local run queue, with two interchangeable backends.
//!
//! Go's P owns `runq`, a 256-slot ring that only the P's owner pushes to and
//! pops from, and that other Ps steal half of when they run dry. The
//! scheduler here talks to [`LocalQueue`], which is one of:
//!
//! * [`RunQueueKind::CrossbeamDeque`] (the default): a crossbeam-deque
//!   `Worker` (FIFO) with its `Stealer`. crossbeam's deque grows without
//!   bound, so this module enforces Go's cap itself: at 256 queued Gs, the
//!   oldest half plus the new G move to the global queue (Go's
//!   `runqputslow`). Its `steal_batch_with_limit_and_pop` takes about half.
//! * [`RunQueueKind::GoRing`]: Go's own ring (`ring.rs`): `runqput`,
//!   `runqget`, `runqsteal` over a fixed array with a packed head, written
//!   against the loom facade so the loom models can check it.
//!
//! Both take tasks in FIFO order, so a lesson sees the same schedule either
//! way. The `runnext` slot is not here: it belongs to the P (`p.rs`).

pub(crate) mod ring;

use crossbeam_deque::{Steal, Stealer, Worker};

use crate::task::Notified;
use ring::{RING_CAPACITY, Ring, RingOwner};

/// Which data structure backs each P's local run queue.
///
/// ```
/// use runtime::{RunQueueKind, Runtime};
/// let rt = Runtime::builder().procs(2).run_queue(RunQueueKind::GoRing).build().unwrap();
/// assert_eq!(rt.block_on(async { runtime::spawn(async { 5 }).await.unwrap() }), 5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum RunQueueKind {
    /// crossbeam-deque's work-stealing deque, capped at 256 by the runtime.
    #[default]
    CrossbeamDeque,
    /// Go's 256-slot ring with `runqput` / `runqget` / `runqsteal`.
    GoRing,
}

/// Go's `len(p.runq)`: how many Gs fit in a local queue before overflow.
pub(crate) const LOCAL_CAPACITY: usize = RING_CAPACITY;

/// One P's local run queue: the half every M may use (steal from it, read
/// its length).
pub(crate) enum LocalQueue {
    Deque(Stealer<Notified>),
    Ring(Ring<Notified>),
}

/// The owner's half of a local run queue: crossbeam's `Worker`, or the
/// ring's [`RingOwner`]. Whoever holds it may push and pop; the scheduler
/// keeps it inside the token of the M that holds the P (`p.rs`), so
/// "only the P's owner pushes" is checked by the compiler.
pub(crate) enum LocalOwner {
    Deque(Worker<Notified>),
    Ring(RingOwner),
}

impl LocalQueue {
    /// An empty queue of `kind`, and its owner.
    pub(crate) fn new(kind: RunQueueKind) -> (Self, LocalOwner) {
        match kind {
            RunQueueKind::CrossbeamDeque => {
                let worker = Worker::new_fifo();
                let stealer = worker.stealer();
                (LocalQueue::Deque(stealer), LocalOwner::Deque(worker))
            }
            RunQueueKind::GoRing => {
                let (ring, owner) = Ring::new();
                (LocalQueue::Ring(ring), LocalOwner::Ring(owner))
            }
        }
    }

    /// Go's `runqput` (tail part): queue `task`; on a full queue send half of
    /// it plus `task` to `overflow` (the global queue, Go's `runqputslow`).
    pub(crate) fn push_back(
        &self,
        owner: &LocalOwner,
        task: Notified,
        overflow: &mut dyn FnMut(Vec<Notified>),
    ) {
        match (self, owner) {
            (LocalQueue::Deque(_), LocalOwner::Deque(w)) => {
                if w.len() >= LOCAL_CAPACITY {
                    let mut batch = Vec::with_capacity(LOCAL_CAPACITY / 2 + 1);
                    while batch.len() < LOCAL_CAPACITY / 2 {
                        match w.pop() {
                            Some(t) => batch.push(t),
                            None => break,
                        }
                    }
                    batch.push(task);
                    overflow(batch);
                } else {
                    w.push(task);
                }
            }
            (LocalQueue::Ring(r), LocalOwner::Ring(o)) => r.push_back(o, task, overflow),
            _ => unreachable!("a queue and its owner are of one kind"),
        }
    }

    /// Go's `runqget` (ring part): the oldest queued G.
    pub(crate) fn pop(&self, owner: &LocalOwner) -> Option<Notified> {
        match (self, owner) {
            (LocalQueue::Deque(_), LocalOwner::Deque(w)) => w.pop(),
            (LocalQueue::Ring(r), LocalOwner::Ring(o)) => r.pop(o),
            _ => unreachable!("a queue and its owner are of one kind"),
        }
    }

    /// Go's `runqsteal`: moves about half of this queue into `dst` (the
    /// caller's own queue, as `dst_owner` proves) and returns one G to run
    /// now, with how many Gs moved in all. `self` may belong to any P.
    pub(crate) fn steal_into(
        &self,
        dst: &LocalQueue,
        dst_owner: &LocalOwner,
    ) -> Option<(Notified, usize)> {
        match (self, dst, dst_owner) {
            (LocalQueue::Deque(stealer), LocalQueue::Deque(_), LocalOwner::Deque(w)) => {
                let before = w.len();
                loop {
                    match stealer.steal_batch_with_limit_and_pop(w, LOCAL_CAPACITY / 2) {
                        // Other Ps may steal from `w` meanwhile, so the count is a
                        // best effort for metrics and the trace, never an underflow.
                        Steal::Success(t) => {
                            return Some((t, w.len().saturating_sub(before) + 1));
                        }
                        Steal::Empty => return None,
                        Steal::Retry => crate::loom::spin_loop(),
                    }
                }
            }
            (LocalQueue::Ring(src), LocalQueue::Ring(d), LocalOwner::Ring(o)) => {
                let before = d.len();
                // A thief of `d` can shrink it while we fill it: best effort.
                src.steal_into(d, o)
                    .map(|t| (t, d.len().saturating_sub(before) + 1))
            }
            _ => unreachable!("all Ps of a runtime use the same run-queue kind"),
        }
    }

    /// How many Gs are queued (any thread; a snapshot).
    pub(crate) fn len(&self) -> usize {
        match self {
            LocalQueue::Deque(stealer) => stealer.len(),
            LocalQueue::Ring(r) => r.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            LocalQueue::Deque(stealer) => stealer.is_empty(),
            LocalQueue::Ring(r) => r.is_empty(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::{Notified, Schedule, new_task};

    struct NoSched;
    impl Schedule for NoSched {
        fn schedule(&self, _task: Notified) {}
    }

    fn task(id: u64) -> Notified {
        let (raw, notified, jh) = new_task(async {}, NoSched, id);
        drop(jh);
        // SAFETY: no live-task list here: give its reference back.
        drop(unsafe { Notified::from_raw(raw) });
        notified
    }

    fn kinds() -> [(LocalQueue, LocalOwner); 2] {
        [
            LocalQueue::new(RunQueueKind::CrossbeamDeque),
            LocalQueue::new(RunQueueKind::GoRing),
        ]
    }

    #[test]
    fn a_full_queue_sends_its_older_half_and_the_new_task_to_overflow() {
        for (q, owner) in kinds() {
            let mut overflowed: Vec<Vec<u64>> = Vec::new();
            for id in 0..=LOCAL_CAPACITY as u64 {
                q.push_back(&owner, task(id), &mut |b| {
                    overflowed.push(b.iter().map(|t| t.id()).collect())
                });
            }
            assert_eq!(overflowed.len(), 1, "exactly one runqputslow");
            let batch = &overflowed[0];
            assert_eq!(
                batch.len(),
                LOCAL_CAPACITY / 2 + 1,
                "half the queue plus the new G"
            );
            assert_eq!(batch[..3], [0, 1, 2], "the oldest half goes, in FIFO order");
            assert_eq!(
                *batch.last().unwrap(),
                LOCAL_CAPACITY as u64,
                "then the new G"
            );
            assert_eq!(q.len(), LOCAL_CAPACITY / 2);
            let head = q.pop(&owner);
            assert_eq!(
                head.map(|t| t.id()),
                Some(LOCAL_CAPACITY as u64 / 2),
                "FIFO pop"
            );
        }
    }

    #[test]
    fn a_steal_takes_about_half_and_returns_one_to_run() {
        for kind in [RunQueueKind::CrossbeamDeque, RunQueueKind::GoRing] {
            let (victim, victim_owner) = LocalQueue::new(kind);
            let (thief, thief_owner) = LocalQueue::new(kind);
            for id in 0..10 {
                victim.push_back(&victim_owner, task(id), &mut |_| unreachable!());
            }
            let (first, moved) = victim
                .steal_into(&thief, &thief_owner)
                .expect("something to steal");
            assert_eq!(moved, 5, "n - n/2 of 10");
            // Go's ring runs the newest stolen G; crossbeam hands back the oldest.
            assert!(first.id() < 5, "one of the stolen, older half runs now");
            assert_eq!(thief.len(), 4);
            assert_eq!(victim.len(), 5);
        }
    }
}
