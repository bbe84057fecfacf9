//! The Chrome Trace Event export: what Perfetto (<https://ui.perfetto.dev>)
//! and `chrome://tracing` open.
//!
//! One "process" holds a track per P, the other a track per M. Every G run
//! becomes complete (`"X"`) events on its P's track, one per slice between
//! syscalls ([`Trace::run_slices`]), with the stop reason; a blocking call
//! is a `syscall` bar on the M's track; idle stretches, steals and
//! preemptions are bars and instant markers; flow arrows link a G's
//! creation to its first run, an unblock to the run it caused, and a
//! steal's victim to its thief.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Value, json};

use super::event::{EventKind, StopReason, Trace, TraceEvent};
use super::runs::SliceEnd;

impl Trace {
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
    /// without a P. An annotation from [`trace_log`](crate::trace_log) is an
    /// instant named after its message, with its category as `cat` and
    /// `args.g`, on the track of the G that wrote it. Timestamps are
    /// microseconds (floats).
    pub fn to_chrome_json(&self) -> String {
        ChromeTrace::new(self).build().to_string()
    }

    /// Writes [`to_chrome_json`](Trace::to_chrome_json) to `path`.
    pub fn write_chrome_json(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_chrome_json())
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
        for (run, slices) in self.trace.run_slices() {
            self.woken = woken.get(&(run.g, run.start_ns)).copied();
            let first_track = match run.p {
                Some(p) => (PID_PS, p as u64),
                None => (PID_MS, run.m as u64),
            };
            // One bar per stretch on a P: the run cut around its syscalls.
            for slice in slices {
                let track = match slice.p {
                    Some(p) => (PID_PS, p as u64),
                    None => (PID_MS, slice.m as u64),
                };
                let reason = match slice.end {
                    SliceEnd::Syscall => "syscall",
                    SliceEnd::Stop(reason) => reason.map_or("running", StopReason::as_str),
                };
                self.g_bar(run.g, slice.m, track, slice.start_ns, slice.end_ns, reason);
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
                EventKind::UserLog(ref log) => {
                    // On the P track where the G runs, so it sits on the G's
                    // bar; the program's category is the event's `cat`.
                    let (pid, tid) = Self::track(event);
                    self.out.push(json!({
                        "name": log.message, "cat": log.category, "ph": "i", "s": "t",
                        "pid": pid, "tid": tid, "ts": micros(event.ts_ns),
                        "args": { "g": log.g, "category": log.category, "message": log.message },
                    }));
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
