//! Reading a trace: counts, runs of a G, runs cut around syscalls, and
//! scheduling latencies.
//!
//! A G's run is a `GoStart` and the `GoStop` that ends it ([`GRun`]). A run
//! that makes a blocking call (`runtime::syscall`) is not one stretch on one
//! P: at `SyscallEnter` the M gives its P away, and at `SyscallExit` it goes
//! on with whichever P it got back (perhaps another). [`Trace::run_slices`]
//! cuts each run at those edges into [`RunSlice`]s, each on one track; the
//! Chrome export draws them, and so does the lessons' timeline, so the
//! cutting is written once, here.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::event::{EventKind, StopReason, Trace, TraceEvent};

/// One stretch of a G running on a P: a `GoStart` and the `GoStop` that ends
/// it. Go's trace viewer draws each as a bar on the P's track.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GRun {
    /// The G's id.
    pub g: u64,
    /// The P it ran on (where it started).
    pub p: Option<usize>,
    /// The M that ran it.
    pub m: usize,
    /// When it started, in nanoseconds since tracing began.
    pub start_ns: u64,
    /// When it stopped; for a run still going when the trace was taken, the
    /// time of the trace's last event.
    pub end_ns: u64,
    /// Why it stopped, or `None` if it was still running.
    pub reason: Option<StopReason>,
}

impl GRun {
    /// How long the G ran, in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// Why a [`RunSlice`] ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SliceEnd {
    /// The G entered a syscall: its M gave the P away.
    Syscall,
    /// The run ended (the stop reason, or `None` if still running).
    Stop(Option<StopReason>),
}

/// One stretch of a G's run on one track: the part of a [`GRun`] before,
/// between or after its syscalls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSlice {
    /// The P it ran on, or `None` for an M without a P.
    pub p: Option<usize>,
    /// The M that ran it.
    pub m: usize,
    /// When the stretch began (the run's start, or a syscall's exit).
    pub start_ns: u64,
    /// When it ended (a syscall's entry, or the run's end).
    pub end_ns: u64,
    /// What ended it.
    pub end: SliceEnd,
}

impl Trace {
    /// How many events match `pred`, e.g.
    /// `trace.count(|k| matches!(k, EventKind::Steal { .. }))`.
    pub fn count(&self, pred: impl Fn(&EventKind) -> bool) -> usize {
        self.events.iter().filter(|e| pred(&e.kind)).count()
    }

    /// How many times Gs stopped for each reason. Every reason is present,
    /// with 0 if it never happened.
    pub fn stops_by_reason(&self) -> BTreeMap<StopReason, usize> {
        let mut counts: BTreeMap<StopReason, usize> =
            StopReason::ALL.iter().map(|&r| (r, 0)).collect();
        for event in &self.events {
            if let EventKind::GoStop { reason, .. } = event.kind {
                *counts.entry(reason).or_default() += 1;
            }
        }
        counts
    }

    /// For every `GoUnblock`, how long its G waited from being readied to
    /// its next `GoStart`: `(g, readied_at_ns, waited_ns)`, in order. This
    /// is the scheduling latency Go's trace viewer shows as the gap between
    /// an unblock and the goroutine's next run.
    ///
    /// ```
    /// use runtime::{EventKind, Trace, TraceEvent};
    /// let ev = |ts_ns, kind| TraceEvent { ts_ns, p: Some(0), m: 0, kind };
    /// let trace = Trace {
    ///     procs: 1,
    ///     events: vec![
    ///         ev(100, EventKind::GoUnblock { g: 3, by: Some(1) }),
    ///         ev(450, EventKind::GoStart { g: 3 }),
    ///     ],
    /// };
    /// assert_eq!(trace.scheduling_latencies(), vec![(3, 100, 350)]);
    /// ```
    pub fn scheduling_latencies(&self) -> Vec<(u64, u64, u64)> {
        let mut waiting: HashMap<u64, u64> = HashMap::new();
        let mut out = Vec::new();
        for event in &self.events {
            match event.kind {
                EventKind::GoUnblock { g, .. } => {
                    waiting.insert(g, event.ts_ns);
                }
                EventKind::GoStart { g } => {
                    if let Some(at) = waiting.remove(&g) {
                        out.push((g, at, event.ts_ns.saturating_sub(at)));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Every run of a G, paired start to stop, in order of start time.
    ///
    /// A G runs on one M at a time, so a `GoStop` closes the open `GoStart`
    /// of the same G. A start with no stop yet becomes a run ending at the
    /// trace's last event, with no reason; a stop with no start (tracing began
    /// mid-run) is left out.
    pub fn runs(&self) -> Vec<GRun> {
        let end_of_trace = self.events.last().map_or(0, |e| e.ts_ns);
        let mut open: HashMap<u64, &TraceEvent> = HashMap::new();
        let mut runs = Vec::new();
        for event in &self.events {
            match event.kind {
                EventKind::GoStart { g } => {
                    if let Some(start) = open.insert(g, event) {
                        // Started again without a stop: close the old run
                        // where the new one begins rather than lose it.
                        runs.push(run_from(g, start, event.ts_ns, None));
                    }
                }
                EventKind::GoStop { g, reason } => {
                    if let Some(start) = open.remove(&g) {
                        runs.push(run_from(g, start, event.ts_ns, Some(reason)));
                    }
                }
                _ => {}
            }
        }
        runs.extend(
            open.into_iter()
                .map(|(g, start)| run_from(g, start, end_of_trace, None)),
        );
        runs.sort_by_key(|r| (r.start_ns, r.g));
        runs
    }

    /// Every run (as [`runs`](Trace::runs)) with its on-P stretches: the run
    /// cut at each syscall it made. A syscall's stretch itself is not a
    /// slice (the G ran on no P); the slice after it starts on the P and M
    /// of the `SyscallExit`. A run that is still in a syscall when the trace
    /// ends has no slice after it.
    ///
    /// ```
    /// use runtime::{EventKind, SliceEnd, StopReason, Trace, TraceEvent};
    /// let ev = |ts_ns, p, kind| TraceEvent { ts_ns, p: Some(p), m: 1, kind };
    /// let trace = Trace {
    ///     procs: 2,
    ///     events: vec![
    ///         ev(0, 0, EventKind::GoStart { g: 7 }),
    ///         ev(10, 0, EventKind::SyscallEnter { g: 7 }),
    ///         ev(50, 1, EventKind::SyscallExit { g: 7 }),
    ///         ev(60, 1, EventKind::GoStop { g: 7, reason: StopReason::Done }),
    ///     ],
    /// };
    /// let (_, slices) = &trace.run_slices()[0];
    /// let cut: Vec<_> = slices.iter().map(|s| (s.p, s.start_ns, s.end_ns, s.end)).collect();
    /// assert_eq!(cut, vec![
    ///     (Some(0), 0, 10, SliceEnd::Syscall),
    ///     (Some(1), 50, 60, SliceEnd::Stop(Some(StopReason::Done))),
    /// ]);
    /// ```
    pub fn run_slices(&self) -> Vec<(GRun, Vec<RunSlice>)> {
        let mut edges: HashMap<u64, Vec<&TraceEvent>> = HashMap::new();
        for event in &self.events {
            if let EventKind::SyscallEnter { g } | EventKind::SyscallExit { g } = event.kind {
                edges.entry(g).or_default().push(event);
            }
        }
        self.runs()
            .into_iter()
            .map(|run| {
                let mut slices = Vec::new();
                let (mut p, mut m, mut since) = (run.p, run.m, run.start_ns);
                let mut on_p = true;
                let mine = edges.get(&run.g).map_or(&[][..], Vec::as_slice);
                for edge in mine
                    .iter()
                    .filter(|e| (run.start_ns..=run.end_ns).contains(&e.ts_ns))
                {
                    match edge.kind {
                        EventKind::SyscallEnter { .. } if on_p => {
                            slices.push(RunSlice {
                                p,
                                m,
                                start_ns: since,
                                end_ns: edge.ts_ns,
                                end: SliceEnd::Syscall,
                            });
                            on_p = false;
                        }
                        EventKind::SyscallExit { .. } if !on_p => {
                            (p, m, since) = (edge.p, edge.m, edge.ts_ns);
                            on_p = true;
                        }
                        _ => {}
                    }
                }
                if on_p {
                    slices.push(RunSlice {
                        p,
                        m,
                        start_ns: since,
                        end_ns: run.end_ns.max(since),
                        end: SliceEnd::Stop(run.reason),
                    });
                }
                (run, slices)
            })
            .collect()
    }
}

fn run_from(g: u64, start: &TraceEvent, end_ns: u64, reason: Option<StopReason>) -> GRun {
    GRun {
        g,
        p: start.p,
        m: start.m,
        start_ns: start.ts_ns,
        end_ns: end_ns.max(start.ts_ns),
        reason,
    }
}
