//! The scheduler's event trace, and its export to Chrome Trace Event JSON.
//!
//! Go's `runtime/trace` records what the scheduler does, event by event: a
//! goroutine created, started on a P, stopped (and why), a P going idle, an M
//! entering a syscall. `go tool trace` then draws one track per P with a bar
//! for every stretch a goroutine ran. This module is the same thing for our
//! runtime, at a smaller scale:
//!
//! * The scheduler calls [`Recorder::record`] at each interesting moment. When
//!   tracing is off (the default) that call is one predictable branch on a
//!   `bool`. When it is on, the event gets a timestamp (nanoseconds since the
//!   recorder was created, from one `Instant`) and is pushed onto one of a
//!   few buffers chosen by the M's id, so Ms on different threads rarely touch
//!   the same lock.
//! * [`Recorder::snapshot`] merges the buffers into a [`Trace`] sorted by time.
//!   A `Trace` is plain data (serde-serialisable) that lessons can count and
//!   query ([`Trace::count`], [`Trace::stops_by_reason`], [`Trace::runs`]).
//! * [`Trace::to_chrome_json`] turns it into the Chrome Trace Event format,
//!   which <https://ui.perfetto.dev> and `chrome://tracing` open: one track per
//!   P with a bar for each G run (start to stop, with the stop reason), idle
//!   stretches, steals and preemptions as markers, an arrow from the P that
//!   created a G to where it first ran, and one track per M for syscalls.
//!
//! ```
//! use runtime::{EventKind, StopReason, Trace, TraceEvent};
//!
//! let trace = Trace {
//!     procs: 1,
//!     events: vec![
//!         TraceEvent { ts_ns: 0, p: Some(0), m: 0, kind: EventKind::GoCreate { g: 1 } },
//!         TraceEvent { ts_ns: 1_000, p: Some(0), m: 0, kind: EventKind::GoStart { g: 1 } },
//!         TraceEvent {
//!             ts_ns: 5_000,
//!             p: Some(0),
//!             m: 0,
//!             kind: EventKind::GoStop { g: 1, reason: StopReason::Done },
//!         },
//!     ],
//! };
//! assert_eq!(trace.count(|k| matches!(k, EventKind::GoStart { .. })), 1);
//! assert_eq!(trace.runs()[0].duration_ns(), 4_000);
//! let json = trace.to_chrome_json();
//! assert!(json.contains("\"traceEvents\""));
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::loom::Mutex;

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
    /// It finished (Go's `GoEnd`).
    Done,
}

impl StopReason {
    /// All reasons, in declaration order.
    pub const ALL: [StopReason; 8] = [
        StopReason::Yield,
        StopReason::Preempt,
        StopReason::Block,
        StopReason::Chan,
        StopReason::Sync,
        StopReason::Io,
        StopReason::Sleep,
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
            StopReason::Done => "done",
        }
    }
}

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

    /// The trace as Chrome Trace Event JSON, which Perfetto
    /// (<https://ui.perfetto.dev>) and `chrome://tracing` open.
    ///
    /// Layout: process 1 ("Ps") has one thread per P, named `P0`, `P1`, …;
    /// every G run is a complete (`"X"`) event named `G<id>` on its P with
    /// `args.g` and `args.reason`; idle stretches are `"X"` events named
    /// `idle`; steals, preemptions and syscall entry/exit are instant
    /// (`"i"`) events; flow arrows link a G's creation to its first run and a
    /// steal's victim to its thief. Process 2 ("Ms") has one thread per M,
    /// with a `syscall` bar for each blocking call and the events recorded
    /// without a P. Timestamps are microseconds (floats).
    pub fn to_chrome_json(&self) -> String {
        ChromeTrace::new(self).build().to_string()
    }

    /// Writes [`to_chrome_json`](Trace::to_chrome_json) to `path`.
    pub fn write_chrome_json(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_chrome_json())
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

/// Process ids in the Chrome JSON: one "process" holds the P tracks, the
/// other the M tracks.
const PID_PS: u64 = 1;
const PID_MS: u64 = 2;

/// Chrome's timestamps are microseconds.
fn micros(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

/// Builds the Chrome Trace Event list for one [`Trace`].
struct ChromeTrace<'a> {
    trace: &'a Trace,
    out: Vec<Value>,
    next_flow_id: u64,
    /// Set while drawing a run that followed a `GoUnblock`: who readied the
    /// G and how long it waited, for that run's first bar.
    woken: Option<(Option<u64>, u64)>,
}

impl<'a> ChromeTrace<'a> {
    fn new(trace: &'a Trace) -> Self {
        Self {
            trace,
            out: Vec::new(),
            next_flow_id: 1,
            woken: None,
        }
    }

    /// The track an event belongs on: its P's, or its M's if it had no P.
    fn track(event: &TraceEvent) -> (u64, u64) {
        match event.p {
            Some(p) => (PID_PS, p as u64),
            None => (PID_MS, event.m as u64),
        }
    }

    fn build(mut self) -> Value {
        self.metadata();
        self.g_runs();
        self.spans_and_markers();
        json!({ "traceEvents": self.out, "displayTimeUnit": "ns" })
    }

    fn metadata(&mut self) {
        let name = |pid: u64, tid: Option<u64>, what: &str, value: String| {
            let mut v = json!({ "name": what, "ph": "M", "pid": pid, "args": { "name": value } });
            if let Some(tid) = tid {
                v["tid"] = json!(tid);
            }
            v
        };
        self.out
            .push(name(PID_PS, None, "process_name", "Ps".into()));
        self.out
            .push(name(PID_MS, None, "process_name", "Ms".into()));
        let max_p = self.trace.events.iter().filter_map(|e| e.p).max();
        let procs = self.trace.procs.max(max_p.map_or(0, |p| p + 1));
        for p in 0..procs {
            self.out
                .push(name(PID_PS, Some(p as u64), "thread_name", format!("P{p}")));
            self.out.push(json!({
                "name": "thread_sort_index", "ph": "M", "pid": PID_PS, "tid": p, "args": { "sort_index": p }
            }));
        }
        let mut ms: Vec<usize> = self.trace.events.iter().map(|e| e.m).collect();
        ms.sort_unstable();
        ms.dedup();
        for m in ms {
            self.out
                .push(name(PID_MS, Some(m as u64), "thread_name", format!("M{m}")));
        }
    }

    /// One `"X"` bar per G run, plus a flow arrow from where each G was
    /// created to its first run.
    ///
    /// A run that makes a blocking call is cut in two: the G gives up its P
    /// at `SyscallEnter` (another M may run other Gs on it meanwhile) and
    /// resumes on whichever P it got back at `SyscallExit`. Drawing the whole
    /// run on the first P would overlap the bars of the Gs that ran there
    /// during the call; the call itself is drawn on the M's track.
    fn g_runs(&mut self) {
        let mut created: HashMap<u64, &TraceEvent> = HashMap::new();
        let mut syscall_edges: HashMap<u64, Vec<&TraceEvent>> = HashMap::new();
        // G -> the unblock waiting for its next run.
        let mut unblocked: HashMap<u64, &TraceEvent> = HashMap::new();
        let mut unblock_flows = Vec::new();
        for event in &self.trace.events {
            match event.kind {
                EventKind::GoCreate { g } => {
                    created.entry(g).or_insert(event);
                }
                EventKind::GoUnblock { g, .. } => {
                    unblocked.insert(g, event);
                }
                EventKind::GoStart { g } => {
                    if let Some(u) = unblocked.remove(&g) {
                        unblock_flows.push((u, event));
                    }
                }
                EventKind::SyscallEnter { g } | EventKind::SyscallExit { g } => {
                    syscall_edges.entry(g).or_default().push(event);
                }
                _ => {}
            }
        }
        // (g, start of its run) -> who readied it and how long it waited.
        let woken: HashMap<(u64, u64), (Option<u64>, u64)> = unblock_flows
            .iter()
            .map(|(u, start)| {
                let by = match u.kind {
                    EventKind::GoUnblock { by, .. } => by,
                    _ => None,
                };
                let g = match start.kind {
                    EventKind::GoStart { g } => g,
                    _ => 0,
                };
                ((g, start.ts_ns), (by, start.ts_ns.saturating_sub(u.ts_ns)))
            })
            .collect();
        for run in self.trace.runs() {
            self.woken = woken.get(&(run.g, run.start_ns)).copied();
            let first_track = match run.p {
                Some(p) => (PID_PS, p as u64),
                None => (PID_MS, run.m as u64),
            };
            let (mut track, mut since, mut m) = (first_track, run.start_ns, run.m);
            let mut on_p = true;
            let edges = syscall_edges.get(&run.g).map_or(&[][..], Vec::as_slice);
            for edge in edges
                .iter()
                .filter(|e| (run.start_ns..=run.end_ns).contains(&e.ts_ns))
            {
                match edge.kind {
                    EventKind::SyscallEnter { .. } if on_p => {
                        self.g_bar(run.g, m, track, since, edge.ts_ns, "syscall");
                        on_p = false;
                    }
                    EventKind::SyscallExit { .. } if !on_p => {
                        (track, since, m) = (Self::track(edge), edge.ts_ns, edge.m);
                        on_p = true;
                    }
                    _ => {}
                }
            }
            if on_p {
                let reason = run.reason.map_or("running", StopReason::as_str);
                self.g_bar(run.g, m, track, since, run.end_ns, reason);
            }
            if let Some(create) = created.remove(&run.g) {
                let (cpid, ctid) = Self::track(create);
                self.flow(
                    "create",
                    (cpid, ctid, create.ts_ns),
                    (first_track.0, first_track.1, run.start_ns),
                );
            }
        }
        // An arrow from where a G was readied to where it next ran: its
        // scheduling latency, labelled in microseconds.
        for (u, start) in unblock_flows {
            let wait_us = micros(start.ts_ns.saturating_sub(u.ts_ns));
            let (upid, utid) = Self::track(u);
            let (spid, stid) = Self::track(start);
            self.flow(
                &format!("unblock ({wait_us:.1} µs to run)"),
                (upid, utid, u.ts_ns),
                (spid, stid, start.ts_ns),
            );
        }
    }

    /// One bar of G `g` running on `track` from `start_ns` to `end_ns`.
    fn g_bar(
        &mut self,
        g: u64,
        m: usize,
        track: (u64, u64),
        start_ns: u64,
        end_ns: u64,
        reason: &str,
    ) {
        let mut args = json!({ "g": g, "reason": reason, "m": m });
        // The first bar of a run that followed an unblock: its wait to run.
        if let Some((by, waited_ns)) = self.woken.take() {
            args["readied_by"] = json!(by);
            args["wait_us"] = json!((micros(waited_ns) * 10.0).round() / 10.0);
        }
        self.out.push(json!({
            "name": format!("G{g}"), "cat": "g", "ph": "X",
            "pid": track.0, "tid": track.1,
            "ts": micros(start_ns), "dur": micros(end_ns.saturating_sub(start_ns)),
            "args": args,
        }));
    }

    /// A flow arrow from one track and time to another. The end binds to the
    /// slice that starts there (`"bp": "e"`), so the arrow lands on the bar.
    fn flow(&mut self, name: &str, from: (u64, u64, u64), to: (u64, u64, u64)) {
        let id = self.next_flow_id;
        self.next_flow_id += 1;
        self.out.push(json!({
            "name": name, "cat": "flow", "ph": "s", "id": id,
            "pid": from.0, "tid": from.1, "ts": micros(from.2),
        }));
        self.out.push(json!({
            "name": name, "cat": "flow", "ph": "f", "bp": "e", "id": id,
            "pid": to.0, "tid": to.1, "ts": micros(to.2),
        }));
    }

    fn instant(&mut self, event: &TraceEvent, name: &str, args: Value) {
        let (pid, tid) = Self::track(event);
        self.out.push(json!({
            "name": name, "cat": "sched", "ph": "i", "s": "t",
            "pid": pid, "tid": tid, "ts": micros(event.ts_ns), "args": args,
        }));
    }

    fn span(&mut self, name: &str, track: (u64, u64), start_ns: u64, end_ns: u64, args: Value) {
        self.out.push(json!({
            "name": name, "cat": "sched", "ph": "X",
            "pid": track.0, "tid": track.1,
            "ts": micros(start_ns), "dur": micros(end_ns.saturating_sub(start_ns)),
            "args": args,
        }));
    }

    /// Idle stretches and syscalls as bars; steals, preemptions and syscall
    /// edges as instants.
    fn spans_and_markers(&mut self) {
        let trace = self.trace;
        let end_of_trace = trace.events.last().map_or(0, |e| e.ts_ns);
        // P -> when it went idle; G -> the SyscallEnter event.
        let mut idle_since: HashMap<usize, u64> = HashMap::new();
        let mut in_syscall: HashMap<u64, &TraceEvent> = HashMap::new();
        for event in &trace.events {
            match event.kind {
                EventKind::ProcIdle => {
                    if let Some(p) = event.p {
                        idle_since.entry(p).or_insert(event.ts_ns);
                    }
                }
                EventKind::ProcBusy => {
                    if let Some(since) = event.p.and_then(|p| idle_since.remove(&p)) {
                        let p = event.p.unwrap_or_default() as u64;
                        self.span("idle", (PID_PS, p), since, event.ts_ns, json!({}));
                    }
                }
                EventKind::Steal { from, to, count } => {
                    self.instant(
                        event,
                        "steal",
                        json!({ "from": from, "to": to, "count": count }),
                    );
                    self.flow(
                        "steal",
                        (PID_PS, from as u64, event.ts_ns),
                        (PID_PS, to as u64, event.ts_ns),
                    );
                }
                EventKind::GoStop {
                    g,
                    reason: StopReason::Preempt,
                } => {
                    self.instant(event, "preempt", json!({ "g": g }));
                }
                EventKind::SyscallEnter { g } => {
                    self.instant(event, "syscall enter", json!({ "g": g }));
                    in_syscall.insert(g, event);
                }
                EventKind::SyscallExit { g } => {
                    self.instant(event, "syscall exit", json!({ "g": g }));
                    if let Some(enter) = in_syscall.remove(&g) {
                        let track = (PID_MS, enter.m as u64);
                        self.span(
                            "syscall",
                            track,
                            enter.ts_ns,
                            event.ts_ns,
                            json!({ "g": g }),
                        );
                    }
                }
                EventKind::NetPoll {
                    readied,
                    events,
                    waited_ns,
                } => {
                    let args = json!({ "readied": readied, "events": events });
                    if waited_ns > 0 {
                        let track = (PID_MS, event.m as u64);
                        let start = event.ts_ns.saturating_sub(waited_ns);
                        self.span("epoll_wait", track, start, event.ts_ns, args.clone());
                    }
                    self.instant(event, "netpoll", args);
                }
                EventKind::GoCreate { .. }
                | EventKind::GoUnblock { .. }
                | EventKind::GoStart { .. }
                | EventKind::GoStop { .. } => {}
            }
        }
        // Whatever is still open when the trace was taken runs to its end.
        let mut idle: Vec<_> = idle_since.into_iter().collect();
        idle.sort_unstable();
        for (p, since) in idle {
            self.span("idle", (PID_PS, p as u64), since, end_of_trace, json!({}));
        }
        let mut open: Vec<_> = in_syscall.into_iter().collect();
        open.sort_unstable_by_key(|(g, _)| *g);
        for (g, enter) in open {
            let track = (PID_MS, enter.m as u64);
            self.span(
                "syscall",
                track,
                enter.ts_ns,
                end_of_trace,
                json!({ "g": g, "unfinished": true }),
            );
        }
    }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ev(ts_ns: u64, p: Option<usize>, m: usize, kind: EventKind) -> TraceEvent {
        TraceEvent { ts_ns, p, m, kind }
    }

    fn sample() -> Trace {
        use EventKind::*;
        Trace {
            procs: 2,
            events: vec![
                ev(0, Some(0), 0, GoCreate { g: 1 }),
                ev(100, Some(0), 0, GoStart { g: 1 }),
                ev(150, Some(0), 0, GoCreate { g: 2 }),
                ev(
                    200,
                    Some(1),
                    1,
                    Steal {
                        from: 0,
                        to: 1,
                        count: 1,
                    },
                ),
                ev(210, Some(1), 1, GoStart { g: 2 }),
                ev(
                    300,
                    Some(0),
                    0,
                    GoStop {
                        g: 1,
                        reason: StopReason::Yield,
                    },
                ),
                ev(310, Some(0), 0, GoStart { g: 1 }),
                ev(400, Some(1), 1, SyscallEnter { g: 2 }),
                ev(420, None, 2, ProcIdle),
                ev(
                    450,
                    Some(0),
                    0,
                    GoStop {
                        g: 1,
                        reason: StopReason::Preempt,
                    },
                ),
                ev(460, Some(0), 0, ProcIdle),
                ev(500, Some(1), 1, SyscallExit { g: 2 }),
                ev(
                    600,
                    Some(1),
                    1,
                    GoStop {
                        g: 2,
                        reason: StopReason::Done,
                    },
                ),
                ev(700, Some(0), 0, ProcBusy),
                ev(710, Some(0), 0, GoStart { g: 1 }),
                ev(
                    800,
                    Some(0),
                    0,
                    GoStop {
                        g: 1,
                        reason: StopReason::Block,
                    },
                ),
                ev(900, Some(0), 0, GoStart { g: 1 }),
            ],
        }
    }

    fn chrome(trace: &Trace) -> Vec<Value> {
        let parsed: Value =
            serde_json::from_str(&trace.to_chrome_json()).expect("the export is valid JSON");
        assert_eq!(parsed["displayTimeUnit"], "ns");
        parsed["traceEvents"]
            .as_array()
            .expect("traceEvents is an array")
            .clone()
    }

    fn with_ph<'v>(events: &'v [Value], ph: &str) -> Vec<&'v Value> {
        events.iter().filter(|e| e["ph"] == ph).collect()
    }

    #[test]
    fn chrome_json_names_every_p_and_m() {
        let events = chrome(&sample());
        let names: Vec<(u64, u64, String)> = with_ph(&events, "M")
            .into_iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| {
                (
                    e["pid"].as_u64().unwrap(),
                    e["tid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for expected in [
            (1, 0, "P0"),
            (1, 1, "P1"),
            (2, 0, "M0"),
            (2, 1, "M1"),
            (2, 2, "M2"),
        ] {
            let expected = (expected.0, expected.1, expected.2.to_string());
            assert!(
                names.contains(&expected),
                "missing {expected:?} in {names:?}"
            );
        }
    }

    #[test]
    fn g_runs_become_complete_events_paired_start_to_stop() {
        let events = chrome(&sample());
        assert_no_overlap(&events);
        let runs: Vec<(String, u64, f64, f64, String)> = with_ph(&events, "X")
            .into_iter()
            .filter(|e| e["cat"] == "g")
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["tid"].as_u64().unwrap(),
                    e["ts"].as_f64().unwrap(),
                    e["dur"].as_f64().unwrap(),
                    e["args"]["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expected = vec![
            ("G1".to_string(), 0, 0.1, 0.2, "yield".to_string()),
            // G2's run is cut by its syscall (400..500): the bar before it
            // ends with "syscall", the bar after it ends with the real reason.
            ("G2".to_string(), 1, 0.21, 0.19, "syscall".to_string()),
            ("G2".to_string(), 1, 0.5, 0.1, "done".to_string()),
            ("G1".to_string(), 0, 0.31, 0.14, "preempt".to_string()),
            ("G1".to_string(), 0, 0.71, 0.09, "block".to_string()),
            // Still running at the end of the trace: a zero-length bar here,
            // since its start is the trace's last event.
            ("G1".to_string(), 0, 0.9, 0.0, "running".to_string()),
        ];
        assert_eq!(
            runs.len(),
            expected.len(),
            "one bar per stretch on a P: {runs:?}"
        );
        for (got, want) in runs.iter().zip(&expected) {
            assert_eq!((&got.0, got.1, &got.4), (&want.0, want.1, &want.4));
            assert!((got.2 - want.2).abs() < 1e-9, "ts µs: {got:?} vs {want:?}");
            assert!((got.3 - want.3).abs() < 1e-9, "dur µs: {got:?} vs {want:?}");
        }
    }

    /// Bars on one track must not overlap (Perfetto and chrome://tracing
    /// draw overlapping, non-nested complete events wrongly).
    fn assert_no_overlap(events: &[Value]) {
        let mut bars: Vec<(u64, u64, f64, f64)> = with_ph(events, "X")
            .into_iter()
            .map(|e| {
                let ts = e["ts"].as_f64().unwrap();
                let pid = e["pid"].as_u64().unwrap();
                (
                    pid,
                    e["tid"].as_u64().unwrap(),
                    ts,
                    ts + e["dur"].as_f64().unwrap(),
                )
            })
            .collect();
        bars.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)));
        for pair in bars.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if (a.0, a.1) == (b.0, b.1) {
                assert!(
                    a.3 <= b.2 + 1e-9,
                    "overlapping bars on one track: {a:?} and {b:?}"
                );
            }
        }
    }

    #[test]
    fn a_g_in_a_syscall_leaves_its_p_to_others_in_the_export() {
        use EventKind::*;
        // G1 blocks in a syscall on P0; M1 takes P0 and runs G2; G1 comes
        // back on P1.
        let trace = Trace {
            procs: 2,
            events: vec![
                ev(0, Some(0), 0, GoStart { g: 1 }),
                ev(100, Some(0), 0, SyscallEnter { g: 1 }),
                ev(150, Some(0), 1, GoStart { g: 2 }),
                ev(
                    250,
                    Some(0),
                    1,
                    GoStop {
                        g: 2,
                        reason: StopReason::Done,
                    },
                ),
                ev(300, Some(1), 0, SyscallExit { g: 1 }),
                ev(
                    400,
                    Some(1),
                    0,
                    GoStop {
                        g: 1,
                        reason: StopReason::Done,
                    },
                ),
            ],
        };
        let events = chrome(&trace);
        assert_no_overlap(&events);
        let bars: Vec<(String, u64, u64, String)> = with_ph(&events, "X")
            .into_iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_string(),
                    e["pid"].as_u64().unwrap(),
                    e["tid"].as_u64().unwrap(),
                    e["args"]["reason"].as_str().unwrap_or("-").to_string(),
                )
            })
            .collect();
        let expect = |name: &str, pid, tid, reason: &str| {
            let bar = (name.to_string(), pid, tid, reason.to_string());
            assert!(bars.contains(&bar), "expected {bar:?} among {bars:?}");
        };
        expect("G1", 1, 0, "syscall");
        expect("G2", 1, 0, "done");
        expect("G1", 1, 1, "done");
        expect("syscall", 2, 0, "-");
        assert_eq!(bars.len(), 4, "{bars:?}");
    }

    #[test]
    fn markers_and_flows_are_present() {
        let events = chrome(&sample());
        let instants: Vec<&str> = with_ph(&events, "i")
            .into_iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            instants,
            ["steal", "syscall enter", "preempt", "syscall exit"],
            "instants in time order"
        );
        let steal = with_ph(&events, "i")[0];
        assert_eq!(steal["args"]["count"], 1);
        assert_eq!(steal["tid"], 1, "on the thief's track");

        // G1 and G2 creation flows, plus the steal arrow: three starts, three
        // finishes with matching ids.
        let starts: Vec<u64> = with_ph(&events, "s")
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        let mut finishes: Vec<u64> = with_ph(&events, "f")
            .iter()
            .map(|e| e["id"].as_u64().unwrap())
            .collect();
        finishes.sort_unstable();
        let mut sorted_starts = starts.clone();
        sorted_starts.sort_unstable();
        assert_eq!(sorted_starts, finishes);
        assert_eq!(starts.len(), 3);

        let spans: Vec<(&str, u64, u64)> = with_ph(&events, "X")
            .into_iter()
            .filter(|e| e["cat"] == "sched")
            .map(|e| {
                (
                    e["name"].as_str().unwrap(),
                    e["pid"].as_u64().unwrap(),
                    e["tid"].as_u64().unwrap(),
                )
            })
            .collect();
        assert!(
            spans.contains(&("syscall", 2, 1)),
            "syscall bar on M1: {spans:?}"
        );
        assert!(spans.contains(&("idle", 1, 0)), "idle bar on P0: {spans:?}");
    }

    #[test]
    fn stops_by_reason_counts_every_reason() {
        let stops = sample().stops_by_reason();
        assert_eq!(stops[&StopReason::Yield], 1);
        assert_eq!(stops[&StopReason::Preempt], 1);
        assert_eq!(stops[&StopReason::Block], 1);
        assert_eq!(stops[&StopReason::Done], 1);
        let empty = Trace {
            procs: 1,
            events: vec![],
        }
        .stops_by_reason();
        assert_eq!(
            empty.len(),
            StopReason::ALL.len(),
            "all reasons present, even with no events"
        );
        assert!(empty.values().all(|&n| n == 0));
    }

    #[test]
    fn count_and_serde_round_trip() {
        let trace = sample();
        assert_eq!(trace.count(|k| matches!(k, EventKind::GoStart { .. })), 5);
        assert_eq!(trace.count(|k| *k == EventKind::ProcIdle), 2);
        let text = serde_json::to_string(&trace).unwrap();
        let back: Trace = serde_json::from_str(&text).unwrap();
        assert_eq!(back.procs, 2);
        let kinds: Vec<_> = back.events.iter().map(|e| e.kind.clone()).collect();
        let original: Vec<_> = trace.events.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(kinds, original);
    }

    #[test]
    fn disabled_recorder_records_nothing() {
        let recorder = Recorder::new(false, 2);
        assert!(!recorder.enabled());
        recorder.record(Some(0), 0, EventKind::ProcIdle);
        assert!(recorder.snapshot().events.is_empty());
    }

    #[test]
    fn recorder_merges_threads_in_time_order() {
        let recorder = std::sync::Arc::new(Recorder::new(true, 2));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
        let threads: Vec<_> = (0..3usize)
            .map(|m| {
                let recorder = recorder.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    for i in 0..1_000u64 {
                        let g = m as u64 * 1_000 + i;
                        recorder.record(Some(m % 2), m, EventKind::GoStart { g });
                        recorder.record(
                            Some(m % 2),
                            m,
                            EventKind::GoStop {
                                g,
                                reason: StopReason::Done,
                            },
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let trace = recorder.snapshot();
        assert_eq!(trace.procs, 2);
        assert_eq!(trace.events.len(), 3 * 2 * 1_000, "no event lost");
        assert!(
            trace.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
            "sorted by time"
        );
        for m in 0..3 {
            let per_m: Vec<_> = trace.events.iter().filter(|e| e.m == m).collect();
            assert_eq!(per_m.len(), 2_000);
            // Each M's own events keep their order: start g, stop g, start g+1 ...
            for (i, pair) in per_m.chunks(2).enumerate() {
                let g = m as u64 * 1_000 + i as u64;
                assert_eq!(pair[0].kind, EventKind::GoStart { g });
                assert_eq!(
                    pair[1].kind,
                    EventKind::GoStop {
                        g,
                        reason: StopReason::Done
                    }
                );
            }
        }
        let runs = trace.runs();
        assert_eq!(runs.len(), 3_000, "one run per start");
        assert!(
            runs.iter().all(|r| r.reason == Some(StopReason::Done)),
            "every start paired with its own stop"
        );
    }
}
