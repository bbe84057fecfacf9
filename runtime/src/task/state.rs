//! The task state machine: one atomic word per G.
//!
//! Go keeps a G's status in `g.atomicstatus` (`_Grunnable`, `_Grunning`,
//! `_Gwaiting`, `_Gdead`) and moves it with compare-and-swap. A task here
//! does the same with a few flag bits and a reference count packed into one
//! `usize`, so that every transition is a single CAS (this is the shape of
//! tokio's `state.rs`):
//!
//! ```text
//!  bit 0  RUNNING        an M is polling the future right now
//!  bit 1  COMPLETE       the future is gone; the output (or error) is stored
//!  bit 2  NOTIFIED       the task is in a run queue, or must go back into one
//!                        as soon as its current poll ends
//!  bit 3  JOIN_INTEREST  a JoinHandle still exists and wants the output
//!  bit 4  CANCELLED      the task was aborted, or the runtime shut down:
//!                        its future is dropped at the next poll boundary
//!  bits 6.. REFS         how many handles point at the task's allocation
//! ```
//!
//! The transitions that matter, and why each is one CAS:
//!
//! * **wake while idle** (`NOTIFIED` clear, `RUNNING` clear): set `NOTIFIED`
//!   and hand a reference to the scheduler, which queues the task (Go's
//!   `goready`). Exactly one waker wins, so the task is queued once.
//! * **wake while running**: only set `NOTIFIED`. The M polling the task sees
//!   the bit when the poll returns and queues the task itself. This is how a
//!   task that wakes itself (a yield) lands back in a run queue without being
//!   polled twice at once.
//! * **wake after completion**: nothing but dropping the waker's reference.
//! * **poll returns Pending**: clear `RUNNING`; if `NOTIFIED` came in
//!   meanwhile, keep the runner's reference for the re-queue, else drop it.
//! * **abort** (`JoinHandle::abort`): set `CANCELLED`. A running task is
//!   cancelled by its M when the poll returns; a queued one by the M that
//!   pops it instead of polling; an idle one is queued (like a wake) so that
//!   an M does it. Go has no such call: a goroutine is cancelled only by
//!   its own code watching a `context.Context`.
//! * **JoinHandle dropped**: clear `JOIN_INTEREST`. Whoever sees the other
//!   side of the race (the handle seeing `COMPLETE`, or the completing M
//!   seeing no `JOIN_INTEREST`) drops the output, so it is dropped once.
//!
//! Every reference (run-queue entry, waker, JoinHandle, the runtime's list of
//! live tasks) counts `REF_ONE`; the last one frees the single allocation.

use crate::loom::atomic::{AtomicUsize, Ordering::AcqRel, Ordering::Acquire};

const RUNNING: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const NOTIFIED: usize = 1 << 2;
const JOIN_INTEREST: usize = 1 << 3;
const CANCELLED: usize = 1 << 4;
const REF_SHIFT: usize = 6;
const REF_ONE: usize = 1 << REF_SHIFT;

/// The atomic state word of one task.
pub(crate) struct State(AtomicUsize);

/// A copy of the state word at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    #[cfg(all(test, not(loom)))]
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

/// What the M that popped a task from a run queue may do with it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// The M owns the future now and polls it.
    Run,
    /// The task already finished or is being polled elsewhere (cannot happen
    /// with a correct scheduler); the queue's reference was dropped.
    Skip { last_ref: bool },
    /// It was aborted: the M owns the future now and drops it instead of
    /// polling it.
    Cancel,
}

/// What happens after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Nobody woke it: it now waits for a waker; the runner's reference was
    /// dropped (`last_ref` says whether it was the last one).
    Idle { last_ref: bool },
    /// It was woken during the poll: the runner keeps its reference and puts
    /// the task back into a run queue.
    Notified,
    /// It was aborted during the poll: the runner keeps RUNNING and its
    /// reference, drops the future and completes the task as cancelled.
    Cancelled,
}

/// What a consuming wake (`Waker::wake`) must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WakeAction {
    /// Queue the task: a reference was taken for the run queue; drop the
    /// waker's own once `schedule` has returned.
    Submit,
    /// The waker's reference was dropped and nothing else is needed.
    Nothing,
    /// The waker's reference was the last one: free the task.
    Dealloc,
}

impl State {
    /// A freshly spawned task: queued once, with a JoinHandle, and three
    /// references (run queue, JoinHandle, the runtime's list of live tasks).
    pub(crate) fn new() -> Self {
        State(AtomicUsize::new(NOTIFIED | JOIN_INTEREST | (3 * REF_ONE)))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    fn update<T>(&self, mut f: impl FnMut(usize) -> (Option<usize>, T)) -> T {
        let mut cur = self.0.load(Acquire);
        loop {
            let (next, out) = f(cur);
            let Some(next) = next else { return out };
            match self.0.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return out,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The M popped the task from a run queue (Go's `execute`: `_Grunnable`
    /// to `_Grunning`).
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|s| {
            if s & (RUNNING | COMPLETE) != 0 {
                let next = s - REF_ONE;
                (
                    Some(next),
                    ToRunning::Skip {
                        last_ref: next >> REF_SHIFT == 0,
                    },
                )
            } else if s & CANCELLED != 0 {
                (Some((s | RUNNING) & !NOTIFIED), ToRunning::Cancel)
            } else {
                (Some((s | RUNNING) & !NOTIFIED), ToRunning::Run)
            }
        })
    }

    /// The poll returned `Pending` (Go's `gopark`, unless a wake raced in).
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.update(|s| {
            debug_assert!(
                s & RUNNING != 0,
                "transition_to_idle on a task that is not running"
            );
            if s & CANCELLED != 0 {
                (None, ToIdle::Cancelled)
            } else if s & NOTIFIED != 0 {
                (Some(s & !RUNNING), ToIdle::Notified)
            } else {
                let next = (s & !RUNNING) - REF_ONE;
                (
                    Some(next),
                    ToIdle::Idle {
                        last_ref: next >> REF_SHIFT == 0,
                    },
                )
            }
        })
    }

    /// The future is gone and the output stored: RUNNING off, COMPLETE on.
    /// Returns the state before, so the caller can see `JOIN_INTEREST`.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = Snapshot(self.0.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        prev
    }

    /// `Waker::wake` (consumes the waker's reference). On `Submit` a new
    /// reference was taken for the run queue and the waker's own is still
    /// held: the caller drops it only after `schedule` returned, so the task
    /// cell (and the scheduler handle inside it) outlives the whole call
    /// even if another M runs the task to completion meanwhile.
    pub(crate) fn transition_to_notified_by_val(&self) -> WakeAction {
        self.update(|s| {
            if s & RUNNING != 0 {
                // The runner holds a reference, so this one is never the last.
                (Some((s | NOTIFIED) - REF_ONE), WakeAction::Nothing)
            } else if s & (COMPLETE | NOTIFIED) != 0 {
                let next = s - REF_ONE;
                let action = if next >> REF_SHIFT == 0 {
                    WakeAction::Dealloc
                } else {
                    WakeAction::Nothing
                };
                (Some(next), action)
            } else {
                (Some((s | NOTIFIED) + REF_ONE), WakeAction::Submit)
            }
        })
    }

    /// `Waker::wake_by_ref`: returns true if the caller must queue the task,
    /// in which case a new reference was taken for the queue.
    pub(crate) fn transition_to_notified_by_ref(&self) -> bool {
        self.update(|s| {
            if s & RUNNING != 0 {
                if s & NOTIFIED != 0 {
                    (None, false)
                } else {
                    (Some(s | NOTIFIED), false)
                }
            } else if s & (COMPLETE | NOTIFIED) != 0 {
                (None, false)
            } else {
                (Some((s | NOTIFIED) + REF_ONE), true)
            }
        })
    }

    /// `JoinHandle::abort`: mark the task cancelled. Returns true if the
    /// caller must queue it (it was idle), in which case a new reference was
    /// taken for the queue; a running or queued task is cancelled by the M
    /// that has it, a finished one is left alone.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> bool {
        self.update(|s| {
            if s & (CANCELLED | COMPLETE) != 0 {
                (None, false)
            } else if s & (RUNNING | NOTIFIED) != 0 {
                (Some(s | CANCELLED), false)
            } else {
                (Some((s | NOTIFIED | CANCELLED) + REF_ONE), true)
            }
        })
    }

    /// The JoinHandle is dropped. Returns the state before.
    pub(crate) fn unset_join_interest(&self) -> Snapshot {
        Snapshot(self.0.fetch_and(!JOIN_INTEREST, AcqRel))
    }

    /// Runtime shutdown: take the future away from a task that is not
    /// running. Returns true if the caller now owns the future and must drop
    /// it and complete the task.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|s| {
            if s & (RUNNING | COMPLETE) != 0 {
                (Some(s | CANCELLED), false)
            } else {
                (Some(s | RUNNING | CANCELLED), true)
            }
        })
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self
            .0
            .fetch_add(REF_ONE, crate::loom::atomic::Ordering::Relaxed);
        assert!(prev < usize::MAX / 2, "task reference count overflow");
    }

    /// Drops one reference; true if it was the last.
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = self.0.fetch_sub(REF_ONE, AcqRel);
        debug_assert!(prev >> REF_SHIFT >= 1);
        prev >> REF_SHIFT == 1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wake_while_running_defers_the_queueing_to_the_runner() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        // A waker (its own reference) fires mid-poll: no submit.
        s.ref_inc();
        assert_eq!(s.transition_to_notified_by_val(), WakeAction::Nothing);
        assert_eq!(s.transition_to_idle(), ToIdle::Notified);
        let snap = s.load();
        assert!(snap.is_notified() && !snap.is_running());
        assert_eq!(
            snap.ref_count(),
            3,
            "runner kept its reference for the re-queue"
        );
    }

    #[test]
    fn one_submit_for_two_wakes() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle { last_ref: false });
        assert!(
            s.transition_to_notified_by_ref(),
            "first wake queues the task"
        );
        assert!(
            !s.transition_to_notified_by_ref(),
            "second wake finds it queued"
        );
    }

    #[test]
    fn wake_after_completion_only_drops_the_reference() {
        let s = State::new();
        s.transition_to_running();
        let prev = s.transition_to_complete();
        assert!(prev.is_join_interested());
        s.ref_inc();
        assert_eq!(s.transition_to_notified_by_val(), WakeAction::Nothing);
        assert!(!s.transition_to_notified_by_ref());
        assert!(s.load().is_complete());
    }

    #[test]
    fn last_reference_is_reported_once() {
        let s = State::new();
        assert!(!s.ref_dec());
        assert!(!s.ref_dec());
        assert!(s.ref_dec());
    }

    #[test]
    fn abort_queues_an_idle_task_and_flags_a_running_one() {
        // Idle: queued (one new reference), then cancelled instead of run.
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle { last_ref: false });
        assert!(s.transition_to_notified_and_cancel(), "idle: queue it");
        assert!(!s.transition_to_notified_and_cancel(), "aborted once");
        assert_eq!(s.transition_to_running(), ToRunning::Cancel);
        // Running: the poll boundary cancels it.
        let t = State::new();
        assert_eq!(t.transition_to_running(), ToRunning::Run);
        assert!(
            !t.transition_to_notified_and_cancel(),
            "running: not queued"
        );
        assert_eq!(t.transition_to_idle(), ToIdle::Cancelled);
        assert!(t.load().is_running(), "the runner still owns the future");
        // Finished: nothing.
        let u = State::new();
        u.transition_to_running();
        u.transition_to_complete();
        assert!(!u.transition_to_notified_and_cancel());
        assert!(!u.load().is_cancelled());
    }

    #[test]
    fn shutdown_takes_an_idle_task_but_not_a_running_one() {
        let s = State::new();
        assert!(s.transition_to_shutdown());
        let t = State::new();
        t.transition_to_running();
        assert!(!t.transition_to_shutdown());
        assert!(t.load().is_cancelled());
    }
}
