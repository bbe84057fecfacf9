//! A request's path through the scheduler: one track per request in the
//! runtime's Chrome trace, built from the scheduler's own events.
//!
//! `tracing`'s spans say what a request did; they do not say where it
//! waited for the *scheduler*, because a span does not follow the work onto
//! the Gs it spawns, and it never sees a G sitting runnable in a queue.
//! The runtime's trace sees all of that, but per P and per G, not per
//! request. Joining the two needs only one fact: which Gs worked for which
//! request. So:
//!
//! 1. Each request's G, and each G the request spawns, calls [`note`] once
//!    at its start. `note` reads the G's id ([`runtime::current_g_id`]) and the
//!    trace id from its labels (inherited from the request, see
//!    [`crate::traceparent`]) and keeps the pair, when recording is on
//!    ([`enable`]; off, it is one relaxed load).
//! 2. After the run, [`request_events`] walks the runtime's [`Trace`] and,
//!    for the Gs of each request, turns `GoStart`/`GoStop`/`GoUnblock` into
//!    bars on a track named after the request: each poll (which P and M ran
//!    it, why it stopped), each wait with its reason (`io`, `sleep`,
//!    `chan`, ...) from the stop to the `GoUnblock`, and the wait from being
//!    readied to running (`runnable`, the scheduling latency), and what
//!    the request's code wrote with `runtime::trace_log` (a breaker's state
//!    change) as an instant.
//! 3. [`chrome_json_with_requests`] appends those tracks (process 3,
//!    "requests") to the runtime's own Chrome JSON, which Perfetto and the
//!    book's timeline widget both draw.
//!
//! A G id is only unique within one runtime, so notes also carry the
//! service's name (the `service` label each server sets): the frontend's
//! and the backend's Gs are told apart even when both run in one process.
//! A kept-alive connection's G serves many requests in turn; it belongs to
//! the first request noted on it, so the lessons send one request per
//! connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use runtime::{EventKind, StopReason, Trace};
use serde_json::{Value, json};

use crate::traceparent;

/// The label naming the service a G works for.
pub const SERVICE: &str = "service";

static ENABLED: AtomicBool = AtomicBool::new(false);
static NOTES: Mutex<Vec<Note>> = Mutex::new(Vec::new());

/// One G working for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The service (its `service` label).
    pub service: String,
    /// The G's id in that service's runtime.
    pub g: u64,
    /// The request's trace id.
    pub trace_id: String,
    /// The span the G works in.
    pub span_id: String,
}

/// Starts (or stops) recording which G works for which request.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Records that the running G works for the request in its labels (a no-op
/// when recording is off, outside a G, or without a trace id).
pub fn note() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(g) = runtime::current_g_id() else {
        return;
    };
    let labels = runtime::current_labels();
    let (Some(trace_id), Some(span_id)) = (
        labels.get(traceparent::TRACE_ID),
        labels.get(traceparent::SPAN_ID),
    ) else {
        return;
    };
    let note = Note {
        service: labels.get(SERVICE).unwrap_or("").to_string(),
        g,
        trace_id: trace_id.to_string(),
        span_id: span_id.to_string(),
    };
    NOTES.lock().unwrap_or_else(|e| e.into_inner()).push(note);
}

/// Every note so far (recording goes on).
pub fn notes() -> Vec<Note> {
    NOTES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The request tracks of `service` as Chrome trace events (process `pid`,
/// one thread per trace id, in order of first appearance).
pub fn request_events(trace: &Trace, notes: &[Note], service: &str, pid: u32) -> Vec<Value> {
    // G -> track; the first note of a G wins.
    let mut track_of: HashMap<u64, usize> = HashMap::new();
    let mut tracks: Vec<&str> = Vec::new();
    for n in notes.iter().filter(|n| n.service == service) {
        let t = match tracks.iter().position(|t| *t == n.trace_id) {
            Some(t) => t,
            None => {
                tracks.push(&n.trace_id);
                tracks.len() - 1
            }
        };
        track_of.entry(n.g).or_insert(t);
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    let mut out = vec![json!({"ph": "M", "pid": pid, "name": "process_name",
        "args": {"name": format!("requests ({service})")}})];
    for (t, id) in tracks.iter().enumerate() {
        out.push(
            json!({"ph": "M", "pid": pid, "tid": t, "name": "thread_name",
            "args": {"name": format!("req {}", &id[..id.len().min(8)])}}),
        );
    }
    // Per G: the open run, the stop that began its wait, the unblock.
    let mut running: HashMap<u64, (u64, Option<usize>, usize)> = HashMap::new();
    let mut stopped: HashMap<u64, (u64, StopReason)> = HashMap::new();
    let mut readied: HashMap<u64, (u64, Option<u64>)> = HashMap::new();
    for e in &trace.events {
        match e.kind {
            EventKind::GoStart { g } => {
                let Some(&t) = track_of.get(&g) else { continue };
                running.insert(g, (e.ts_ns, e.p, e.m));
                if let Some((at, by)) = readied.remove(&g) {
                    out.push(json!({"ph": "X", "pid": pid, "tid": t, "name": "runnable",
                        "ts": us(at), "dur": us(e.ts_ns - at),
                        "args": {"g": g, "readied_by": by, "wait_us": (e.ts_ns - at) / 1000}}));
                }
            }
            EventKind::GoStop { g, reason } => {
                let Some(&t) = track_of.get(&g) else { continue };
                if let Some((start, p, m)) = running.remove(&g) {
                    out.push(json!({"ph": "X", "pid": pid, "tid": t, "cat": "g",
                        "name": format!("G{g}"), "ts": us(start), "dur": us(e.ts_ns - start),
                        "args": {"g": g, "p": p, "m": m, "reason": reason.as_str()}}));
                }
                if reason != StopReason::Done {
                    stopped.insert(g, (e.ts_ns, reason));
                }
            }
            EventKind::GoUnblock { g, by } => {
                let Some(&t) = track_of.get(&g) else { continue };
                if let Some((at, reason)) = stopped.remove(&g) {
                    out.push(json!({"ph": "X", "pid": pid, "tid": t,
                        "name": format!("wait: {}", reason.as_str()),
                        "ts": us(at), "dur": us(e.ts_ns - at),
                        "args": {"g": g, "reason": reason.as_str()}}));
                }
                readied.insert(g, (e.ts_ns, by));
            }
            // What the request's code said it did (`runtime::trace_log`,
            // e.g. a breaker's state change): an instant on its track.
            EventKind::UserLog(ref log) => {
                let Some(&t) = track_of.get(&log.g) else {
                    continue;
                };
                out.push(json!({"ph": "i", "s": "t", "pid": pid, "tid": t,
                    "cat": log.category, "name": log.message, "ts": us(e.ts_ns),
                    "args": {"g": log.g, "p": e.p, "m": e.m}}));
            }
            _ => {}
        }
    }
    out
}

/// The runtime's Chrome trace of `service` with its request tracks added
/// (process 3).
pub fn chrome_json_with_requests(trace: &Trace, notes: &[Note], service: &str) -> String {
    let mut doc: Value = serde_json::from_str(&trace.to_chrome_json())
        .unwrap_or_else(|_| json!({"traceEvents": []}));
    let extra = request_events(trace, notes, service, 3);
    if let Some(events) = doc.get_mut("traceEvents").and_then(Value::as_array_mut) {
        events.extend(extra);
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::TraceEvent;

    #[test]
    fn a_request_track_has_its_polls_waits_and_runnable_stretches() {
        let ev = |ts_ns, p, kind| TraceEvent {
            ts_ns,
            p,
            m: 1,
            kind,
        };
        let trace = Trace {
            procs: 2,
            events: vec![
                ev(1_000, Some(0), EventKind::GoStart { g: 7 }),
                ev(
                    3_000,
                    Some(0),
                    EventKind::GoStop {
                        g: 7,
                        reason: StopReason::Io,
                    },
                ),
                ev(9_000, None, EventKind::GoUnblock { g: 7, by: None }),
                ev(10_000, Some(1), EventKind::GoStart { g: 7 }),
                ev(
                    12_000,
                    Some(1),
                    EventKind::GoStop {
                        g: 7,
                        reason: StopReason::Done,
                    },
                ),
                ev(
                    11_000,
                    Some(1),
                    EventKind::UserLog(Box::new(runtime::UserLog {
                        g: 7,
                        category: "breaker".into(),
                        message: "closed->open".into(),
                    })),
                ),
                ev(12_500, Some(1), EventKind::GoStart { g: 8 }), // not this request's
            ],
        };
        let notes = [
            Note {
                service: "front".into(),
                g: 7,
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                span_id: "a".into(),
            },
            Note {
                service: "back".into(),
                g: 8,
                trace_id: "x".into(),
                span_id: "b".into(),
            },
        ];
        let evs = request_events(&trace, &notes, "front", 3);
        let names: Vec<&str> = evs
            .iter()
            .filter(|e| e["ph"] == "X")
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["G7", "wait: io", "runnable", "G7"]);
        let track = evs.iter().find(|e| e["name"] == "thread_name").unwrap();
        assert_eq!(track["args"]["name"], "req 4bf92f35");
        let first = &evs.iter().filter(|e| e["ph"] == "X").collect::<Vec<_>>();
        assert_eq!(
            (
                first[0]["args"]["p"].as_u64(),
                first[3]["args"]["p"].as_u64()
            ),
            (Some(0), Some(1)),
            "the P of each poll"
        );
        assert_eq!(first[1]["dur"], 6.0, "waited 6 µs on the socket");
        assert_eq!(first[2]["args"]["wait_us"], 1, "readied 1 µs before it ran");
        let logs: Vec<_> = evs.iter().filter(|e| e["ph"] == "i").collect();
        assert_eq!(logs.len(), 1, "the request's G logged once: {logs:?}");
        assert_eq!(
            (&logs[0]["name"], &logs[0]["cat"], &logs[0]["ts"]),
            (&json!("closed->open"), &json!("breaker"), &json!(11.0)),
            "the log on the request's track, at its time"
        );
        let json = chrome_json_with_requests(&trace, &notes, "front");
        assert!(json.contains("requests (front)") && json.contains("\"traceEvents\""));
    }
}
