//! User annotations: a program writes its own events into the scheduler's
//! trace (Go's `runtime/trace.Log`).
//!
//! The scheduler's events say where a G ran and why it stopped; they cannot
//! say *what the program was doing*: that a circuit breaker opened, that a
//! retry began. Go lets code say it with `trace.Log(ctx, category,
//! message)`, an event on the calling goroutine that `go tool trace` draws on
//! its timeline. [`trace_log`] is the same here:
//!
//! * Off (no runtime in the process records a trace) it is one relaxed
//!   load of a process-wide count of recording runtimes, so a library can
//!   log on every state change without asking whether anyone listens.
//! * On, it finds the runtime of the calling thread (the M's context),
//!   and records [`EventKind::UserLog`] with the running G, its P and its M,
//!   like any scheduler event: the annotation sorts among them by time.
//!   Called outside a runtime, or between polls (no G is running), or in a
//!   runtime that does not trace, it records nothing: there is no G to
//!   put it on.
//!
//! Reading them back: [`Trace::user_logs`]; the Chrome export draws each as
//! an instant event on the P track where the G was running (so it sits on
//! the G's bar), named after the message and with the category as its
//! `cat`.

use super::event::{EventKind, Trace, TraceEvent, UserLog};
use super::recorder;
use crate::context::{NO_G, with_current};

/// Writes an annotation into the runtime's trace on the running G (Go's
/// `runtime/trace.Log(ctx, category, message)`).
///
/// Costs one relaxed atomic load when no runtime is tracing. When the
/// calling G's runtime traces, the event appears in [`Trace::user_logs`]
/// and in the Chrome JSON as an instant on the G's bar. Outside a runtime or
/// a G it does nothing.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).trace(true).build().unwrap();
/// rt.block_on(async {
///     runtime::spawn(async { runtime::trace_log("breaker", "closed->open") })
///         .await
///         .unwrap();
/// });
/// runtime::trace_log("breaker", "ignored: not on a G");
/// let trace = rt.trace().unwrap();
/// let logs = trace.user_logs("breaker");
/// assert_eq!(logs.len(), 1);
/// assert_eq!(logs[0].1.message, "closed->open");
/// assert!(logs[0].1.g > 0, "recorded on the spawned G");
/// assert!(trace.to_chrome_json().contains("\"closed->open\""));
/// ```
#[inline]
pub fn trace_log(category: &str, message: &str) {
    if recorder::any_recording() {
        log_slow(category, message);
    }
}

#[cold]
fn log_slow(category: &str, message: &str) {
    with_current(|ctx| {
        let Some(ctx) = ctx else { return };
        let g = ctx.current_g.get();
        if g == NO_G || !ctx.shared.trace.enabled() {
            return;
        }
        let log = UserLog {
            g,
            category: category.to_string(),
            message: message.to_string(),
        };
        ctx.shared
            .trace
            .record(ctx.pid(), ctx.m.id, EventKind::UserLog(Box::new(log)));
    });
}

impl Trace {
    /// The annotations written with [`trace_log`] in `category`, in time
    /// order, each with its event (time, P, M). An empty `category` means
    /// every category. (Go's trace parser gives them as `EventLog` events.)
    ///
    /// ```
    /// use runtime::{EventKind, Trace, TraceEvent, UserLog};
    /// let log = |ts_ns, message: &str| TraceEvent {
    ///     ts_ns,
    ///     p: Some(0),
    ///     m: 1,
    ///     kind: EventKind::UserLog(Box::new(UserLog {
    ///         g: 4,
    ///         category: "breaker".into(),
    ///         message: message.into(),
    ///     })),
    /// };
    /// let trace = Trace { procs: 1, events: vec![log(10, "closed->open"), log(90, "open->half_open")] };
    /// let msgs: Vec<&str> = trace.user_logs("breaker").iter().map(|(_, l)| l.message.as_str()).collect();
    /// assert_eq!(msgs, ["closed->open", "open->half_open"]);
    /// assert!(trace.user_logs("retry").is_empty());
    /// ```
    pub fn user_logs(&self, category: &str) -> Vec<(&TraceEvent, &UserLog)> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::UserLog(log) if category.is_empty() || log.category == category => {
                    Some((e, &**log))
                }
                _ => None,
            })
            .collect()
    }
}
