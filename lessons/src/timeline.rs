//! A per-P timeline of Gs, built from a runtime trace and drawn as SVG.
//!
//! The runtime records events (a G started on a P, a G stopped and why, a P
//! stole from another, a G entered a syscall). This module pairs each
//! `GoStart` with the `GoStop` that ends it into a [`Run`]: one bar on the
//! lane of the P it ran on, coloured by why it stopped. Steals become arrows
//! between lanes, preemptions get a red mark, syscalls a purple strip. It is the
//! same picture Go's `go tool trace` draws, made small enough to print in a book.
//!
//! The model is plain data, so it can be built by hand (as below) or from a
//! trace with [`Timeline::from_trace`].
//!
//! ```
//! use lessons::timeline::{Run, Stop, Timeline};
//!
//! let mut t = Timeline::new(2);
//! t.runs.push(Run { p: 0, g: 1, start_ns: 0, end_ns: 500, stop: Stop::Preempt });
//! t.runs.push(Run { p: 1, g: 2, start_ns: 100, end_ns: 900, stop: Stop::Done });
//! assert_eq!(t.runs_per_p(), vec![1, 1]);
//! let svg = t.to_svg("two Ps");
//! assert!(svg.contains("P1"));
//! assert!(svg.contains("G1 on P0"));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::svg::{Svg, legend, palette};

/// Why a run ended (Go's trace names the same four, plus runs cut by the end
/// of the trace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stop {
    /// The G yielded on its own (`yield_now`).
    Yield,
    /// The G was preempted: its poll budget ran out or sysmon asked.
    Preempt,
    /// The G blocked (a timer, a join, I/O).
    Block,
    /// The G finished.
    Done,
    /// The G entered a blocking call and its P was handed on (`syscall`).
    Syscall,
    /// The trace ended while the G was still running.
    Open,
}

impl Stop {
    /// The colour this stop reason has in every figure.
    pub fn colour(self) -> &'static str {
        match self {
            Stop::Yield => palette::YIELD,
            Stop::Preempt => palette::PREEMPT,
            Stop::Block => palette::BLOCK,
            Stop::Done => palette::DONE,
            Stop::Syscall => palette::SYSCALL,
            Stop::Open => palette::OPEN,
        }
    }

    /// A lower-case name for tables and tooltips.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Yield => "yield",
            Stop::Preempt => "preempt",
            Stop::Block => "block",
            Stop::Done => "done",
            Stop::Syscall => "entered a syscall",
            Stop::Open => "still running",
        }
    }
}

/// One stretch of a G running on a P.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The P it ran on.
    pub p: usize,
    /// The G's id.
    pub g: u64,
    /// When it started, in ns since the trace began.
    pub start_ns: u64,
    /// When it stopped.
    pub end_ns: u64,
    /// Why it stopped.
    pub stop: Stop,
}

/// One steal: `count` Gs moved from P `from` to P `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Steal {
    /// When.
    pub ts_ns: u64,
    /// The victim P.
    pub from: usize,
    /// The thief P.
    pub to: usize,
    /// How many Gs moved.
    pub count: usize,
}

/// One stretch of a G inside `syscall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syscall {
    /// The P the G held when it entered (which it then handed off).
    pub p: Option<usize>,
    /// The G's id.
    pub g: u64,
    /// Entry time.
    pub start_ns: u64,
    /// Exit time.
    pub end_ns: u64,
}

/// Runs, steals and syscalls on `procs` lanes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Number of Ps (lanes).
    pub procs: usize,
    /// Every run, in start order.
    pub runs: Vec<Run>,
    /// Every steal.
    pub steals: Vec<Steal>,
    /// Every syscall.
    pub syscalls: Vec<Syscall>,
    /// Instants the lesson wants marked with a dashed line and a label (a
    /// deadline, the start of a phase), in ns on the same clock as the runs.
    pub notes: Vec<(u64, String)>,
}

impl Timeline {
    /// An empty timeline with `procs` lanes.
    pub fn new(procs: usize) -> Self {
        Timeline {
            procs,
            ..Timeline::default()
        }
    }

    /// Pairs a trace's start and stop events into runs cut around their
    /// syscalls (with [`runtime::Trace::run_slices`]) and collects its
    /// steals and syscalls. Times
    /// become nanoseconds since the trace's first event.
    pub fn from_trace(trace: &runtime::Trace) -> Self {
        use runtime::{EventKind, SliceEnd, StopReason};
        let mut t = Timeline::new(trace.procs);
        let t0 = trace.events.first().map_or(0, |e| e.ts_ns);
        let last = trace.events.last().map_or(0, |e| e.ts_ns) - t0;
        // The syscalls, for their own marks (entry to exit, per G).
        let mut in_syscall: BTreeMap<u64, (Option<usize>, u64)> = BTreeMap::new();
        for e in &trace.events {
            let ts = e.ts_ns - t0;
            match e.kind {
                EventKind::Steal { from, to, count } => {
                    t.procs = t.procs.max(from.max(to) + 1);
                    t.steals.push(Steal {
                        ts_ns: ts,
                        from,
                        to,
                        count,
                    });
                }
                EventKind::SyscallEnter { g } => {
                    in_syscall.insert(g, (e.p, ts));
                }
                EventKind::SyscallExit { g } => {
                    if let Some((p, start)) = in_syscall.remove(&g) {
                        t.syscalls.push(Syscall {
                            p,
                            g,
                            start_ns: start,
                            end_ns: ts,
                        });
                    }
                }
                _ => {}
            }
        }
        for (g, (p, start)) in in_syscall {
            t.syscalls.push(Syscall {
                p,
                g,
                start_ns: start,
                end_ns: last,
            });
        }
        // The runtime cuts each run around its syscalls (the same cut its
        // Chrome export draws): one bar per stretch on a P.
        for (run, slices) in trace.run_slices() {
            let Some(mut p) = run.p else { continue };
            let stop = match run.reason {
                Some(StopReason::Yield) => Stop::Yield,
                Some(StopReason::Preempt) => Stop::Preempt,
                // Every wait for a waker is drawn alike: a parked G.
                Some(
                    StopReason::Block
                    | StopReason::Chan
                    | StopReason::Sync
                    | StopReason::Io
                    | StopReason::Sleep
                    | StopReason::Join,
                ) => Stop::Block,
                Some(StopReason::Done) => Stop::Done,
                None => Stop::Open,
            };
            for slice in slices {
                // After a syscall the M holds whichever P it got back.
                p = slice.p.unwrap_or(p);
                let end = match slice.end {
                    SliceEnd::Syscall => Stop::Syscall,
                    SliceEnd::Stop(_) => stop,
                };
                t.push_run(p, run.g, slice.start_ns - t0, slice.end_ns - t0, end);
            }
        }
        t.runs.sort_by_key(|r| (r.start_ns, r.p));
        t
    }

    fn push_run(&mut self, p: usize, g: u64, start_ns: u64, end_ns: u64, stop: Stop) {
        self.procs = self.procs.max(p + 1);
        self.runs.push(Run {
            p,
            g,
            start_ns,
            end_ns: end_ns.max(start_ns),
            stop,
        });
    }

    /// The time the last run, steal, syscall or note ends.
    pub fn end_ns(&self) -> u64 {
        let runs = self.runs.iter().map(|r| r.end_ns);
        let steals = self.steals.iter().map(|s| s.ts_ns);
        let calls = self.syscalls.iter().map(|s| s.end_ns);
        let notes = self.notes.iter().map(|(ts, _)| *ts);
        runs.chain(steals)
            .chain(calls)
            .chain(notes)
            .max()
            .unwrap_or(0)
    }

    /// How many runs each P had.
    pub fn runs_per_p(&self) -> Vec<usize> {
        let mut n = vec![0; self.procs];
        for r in &self.runs {
            n[r.p] += 1;
        }
        n
    }

    /// How many distinct Gs ran on each P.
    pub fn gs_per_p(&self) -> Vec<usize> {
        let mut sets = vec![BTreeSet::new(); self.procs];
        for r in &self.runs {
            sets[r.p].insert(r.g);
        }
        sets.iter().map(BTreeSet::len).collect()
    }

    /// Nanoseconds each P spent running Gs.
    pub fn busy_ns_per_p(&self) -> Vec<u64> {
        let mut n = vec![0; self.procs];
        for r in &self.runs {
            n[r.p] += r.end_ns - r.start_ns;
        }
        n
    }

    /// How many runs ended for each reason.
    pub fn stops(&self) -> BTreeMap<Stop, usize> {
        let mut n = BTreeMap::new();
        for r in &self.runs {
            *n.entry(r.stop).or_insert(0) += 1;
        }
        n
    }

    /// The runs of one G, in order.
    pub fn runs_of(&self, g: u64) -> Vec<Run> {
        self.runs.iter().filter(|r| r.g == g).copied().collect()
    }

    /// Only what happened in `[from_ns, to_ns)`, with times kept as they were.
    /// Runs crossing the edges are clipped.
    pub fn window(&self, from_ns: u64, to_ns: u64) -> Timeline {
        let runs = self
            .runs
            .iter()
            .filter(|r| r.end_ns >= from_ns && r.start_ns < to_ns)
            .map(|r| Run {
                start_ns: r.start_ns.max(from_ns),
                end_ns: r.end_ns.min(to_ns),
                ..*r
            })
            .collect();
        let steals = self
            .steals
            .iter()
            .filter(|s| s.ts_ns >= from_ns && s.ts_ns < to_ns)
            .copied()
            .collect();
        let syscalls = self
            .syscalls
            .iter()
            .filter(|s| s.end_ns >= from_ns && s.start_ns < to_ns)
            .map(|s| Syscall {
                start_ns: s.start_ns.max(from_ns),
                end_ns: s.end_ns.min(to_ns),
                ..*s
            })
            .collect();
        let notes = self
            .notes
            .iter()
            .filter(|(ts, _)| *ts >= from_ns && *ts < to_ns)
            .cloned()
            .collect();
        Timeline {
            procs: self.procs,
            runs,
            steals,
            syscalls,
            notes,
        }
    }

    /// The timeline drawn as SVG: one lane per P, time left to right.
    pub fn to_svg(&self, title: &str) -> String {
        let left = 44.0;
        let plot_w = 860.0;
        let lane_h = 30.0;
        let top = if self.notes.is_empty() { 52.0 } else { 68.0 };
        let procs = self.procs.max(1);
        // Below the Ps, one thin lane per G that made a blocking call: while
        // it is in the kernel it holds an M but no P.
        let mut callers: Vec<u64> = Vec::new();
        for s in &self.syscalls {
            if !callers.contains(&s.g) {
                callers.push(s.g);
            }
        }
        let call_h = 16.0;
        let calls_top = top + lane_h * procs as f64 + if callers.is_empty() { 0.0 } else { 22.0 };
        let lanes_bottom = calls_top + call_h * callers.len() as f64;
        let height = lanes_bottom + 42.0;
        let mut svg = Svg::new(left + plot_w + 20.0, height);
        svg.text(left, 18.0, title, 14.0, "start");
        legend(
            &mut svg,
            left,
            38.0,
            &[
                (palette::YIELD, "yield"),
                (palette::PREEMPT, "preempted"),
                (palette::BLOCK, "blocked"),
                (palette::DONE, "done"),
                (palette::OPEN, "still running"),
                (palette::SYSCALL, "syscall"),
                (palette::STEAL, "steal"),
            ],
        );

        let t0 = self
            .runs
            .iter()
            .map(|r| r.start_ns)
            .chain(self.steals.iter().map(|s| s.ts_ns))
            .chain(self.syscalls.iter().map(|s| s.start_ns))
            .min()
            .unwrap_or(0);
        let span = (self.end_ns().saturating_sub(t0)).max(1) as f64;
        let x_of = |ns: u64| left + plot_w * (ns.saturating_sub(t0) as f64) / span;
        let lane_y = |p: usize| top + lane_h * p as f64;

        for p in 0..procs {
            let y = lane_y(p);
            if p % 2 == 1 {
                svg.rect(left, y, plot_w, lane_h, "#f7f7f7", None);
            }
            svg.text(
                left - 8.0,
                y + lane_h / 2.0 + 4.0,
                &format!("P{p}"),
                12.0,
                "end",
            );
        }
        if !callers.is_empty() {
            svg.text(
                left,
                calls_top - 6.0,
                "in a blocking call (the G keeps its M, not its P):",
                10.0,
                "start",
            );
        }
        for (i, g) in callers.iter().enumerate() {
            let y = calls_top + call_h * i as f64;
            svg.text(
                left - 8.0,
                y + call_h / 2.0 + 4.0,
                &format!("G{g}"),
                10.0,
                "end",
            );
        }
        for s in &self.syscalls {
            let lane = callers.iter().position(|g| *g == s.g).unwrap_or(0);
            let (x1, x2) = (x_of(s.start_ns), x_of(s.end_ns));
            let held =
                s.p.map(|p| format!(", entered holding P{p}"))
                    .unwrap_or_default();
            let tip = format!(
                "G{} in a syscall for {}{held}",
                s.g,
                fmt_ns(s.end_ns - s.start_ns)
            );
            svg.rect(
                x1,
                calls_top + call_h * lane as f64 + 3.0,
                (x2 - x1).max(1.5),
                call_h - 6.0,
                palette::SYSCALL,
                Some(&tip),
            );
        }
        for r in &self.runs {
            let (x1, x2) = (x_of(r.start_ns), x_of(r.end_ns));
            let y = lane_y(r.p) + 4.0;
            let tip = format!(
                "G{} on P{}: {} from {}, {}",
                r.g,
                r.p,
                fmt_ns(r.end_ns - r.start_ns),
                fmt_ns(r.start_ns - t0),
                r.stop.name()
            );
            // Even a run of a few microseconds stays visible.
            svg.rect(
                x1,
                y,
                (x2 - x1).max(1.5),
                lane_h - 13.0,
                r.stop.colour(),
                Some(&tip),
            );
            if x2 - x1 > 8.0 + 7.0 * digits(r.g) {
                svg.text(
                    (x1 + x2) / 2.0,
                    y + 13.0,
                    &format!("G{}", r.g),
                    10.0,
                    "middle",
                );
            }
            if r.stop == Stop::Preempt {
                svg.mark(
                    x2,
                    y,
                    palette::PREEMPT,
                    Some(&format!("G{} preempted", r.g)),
                );
            }
        }
        for s in &self.steals {
            let x = x_of(s.ts_ns);
            let (yf, yt) = (lane_y(s.from) + lane_h / 2.0, lane_y(s.to) + lane_h / 2.0);
            let tip = format!("P{} stole {} G(s) from P{}", s.to, s.count, s.from);
            svg.arrow((x, yf), (x, yt), palette::STEAL, Some(&tip));
        }

        for (ts, label) in &self.notes {
            let x = x_of(*ts);
            let bottom = lanes_bottom;
            let mut y = top - 2.0;
            while y < bottom {
                svg.line(x, y, x, (y + 4.0).min(bottom), palette::INK, 1.0);
                y += 7.0;
            }
            // Labels near the right edge go to the left of their line.
            if x > left + plot_w - 80.0 {
                svg.text(x - 3.0, top - 4.0, label, 10.0, "end");
            } else {
                svg.text(x + 3.0, top - 4.0, label, 10.0, "start");
            }
        }

        // Time axis with round ticks.
        let axis_y = lanes_bottom + 4.0;
        svg.line(left, axis_y, left + plot_w, axis_y, palette::INK, 1.0);
        let step = nice_step(span / 8.0);
        let mut tick = 0.0;
        while tick <= span {
            let x = left + plot_w * tick / span;
            svg.line(x, axis_y, x, axis_y + 4.0, palette::INK, 1.0);
            svg.text(x, axis_y + 16.0, &fmt_ns(tick as u64), 10.0, "middle");
            tick += step;
        }
        svg.text(
            left + plot_w,
            axis_y + 32.0,
            "time since first event",
            10.0,
            "end",
        );
        svg.finish()
    }
}

fn digits(g: u64) -> f64 {
    (g.max(1) as f64).log10().floor() + 2.0
}

/// A round tick step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.5 {
        2.0
    } else if f < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// Formats nanoseconds as ns, µs, ms or s.
///
/// ```
/// assert_eq!(lessons::timeline::fmt_ns(1_500), "1.5 µs");
/// assert_eq!(lessons::timeline::fmt_ns(12_000_000), "12 ms");
/// ```
pub fn fmt_ns(ns: u64) -> String {
    let (v, unit) = match ns {
        0..1_000 => return format!("{ns} ns"),
        1_000..1_000_000 => (ns as f64 / 1e3, "µs"),
        1_000_000..1_000_000_000 => (ns as f64 / 1e6, "ms"),
        _ => (ns as f64 / 1e9, "s"),
    };
    if v >= 10.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{:.1} {unit}", v).replace(".0 ", " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Timeline {
        let mut t = Timeline::new(2);
        t.runs.push(Run {
            p: 0,
            g: 1,
            start_ns: 0,
            end_ns: 10,
            stop: Stop::Yield,
        });
        t.runs.push(Run {
            p: 0,
            g: 2,
            start_ns: 10,
            end_ns: 30,
            stop: Stop::Preempt,
        });
        t.runs.push(Run {
            p: 1,
            g: 1,
            start_ns: 12,
            end_ns: 40,
            stop: Stop::Done,
        });
        t.steals.push(Steal {
            ts_ns: 11,
            from: 0,
            to: 1,
            count: 1,
        });
        t
    }

    #[test]
    fn counts_per_p_and_per_reason() {
        let t = sample();
        assert_eq!(t.runs_per_p(), vec![2, 1]);
        assert_eq!(t.gs_per_p(), vec![2, 1]);
        assert_eq!(t.busy_ns_per_p(), vec![30, 28]);
        assert_eq!(t.stops()[&Stop::Preempt], 1);
        assert_eq!(t.runs_of(1).len(), 2);
        assert_eq!(t.end_ns(), 40);
    }

    #[test]
    fn window_clips_runs_at_its_edges() {
        let w = sample().window(20, 35);
        assert_eq!(w.runs.len(), 2);
        assert_eq!(w.runs[0].start_ns, 20);
        assert_eq!(w.runs[1].end_ns, 35);
        assert!(w.steals.is_empty());
    }

    #[test]
    fn svg_draws_steals_and_preemptions() {
        let svg = sample().to_svg("t");
        assert!(svg.contains("P1 stole 1 G(s) from P0"));
        assert!(svg.contains("G2 preempted"));
        let mut noted = sample();
        noted.notes.push((35, "deadline".into()));
        assert!(noted.to_svg("t").contains(">deadline</text>"));
        assert!(svg.matches("<rect").count() >= 3, "three runs drawn");
    }

    #[test]
    fn a_run_is_cut_around_its_syscall_and_resumes_on_the_p_it_got_back() {
        use runtime::{EventKind as K, StopReason, Trace, TraceEvent};
        let ev = |ts_ns, p, m, kind| TraceEvent { ts_ns, p, m, kind };
        let trace = Trace {
            procs: 2,
            events: vec![
                ev(0, Some(0), 0, K::GoStart { g: 7 }),
                ev(10, Some(0), 0, K::SyscallEnter { g: 7 }),
                ev(20, Some(0), 1, K::GoStart { g: 8 }),
                ev(
                    30,
                    Some(0),
                    1,
                    K::GoStop {
                        g: 8,
                        reason: StopReason::Done,
                    },
                ),
                ev(50, Some(1), 0, K::SyscallExit { g: 7 }),
                ev(
                    60,
                    Some(1),
                    0,
                    K::GoStop {
                        g: 7,
                        reason: StopReason::Done,
                    },
                ),
            ],
        };
        let t = Timeline::from_trace(&trace);
        let g7 = t.runs_of(7);
        assert_eq!(g7.len(), 2, "{g7:?}");
        assert_eq!((g7[0].p, g7[0].end_ns, g7[0].stop), (0, 10, Stop::Syscall));
        assert_eq!((g7[1].p, g7[1].start_ns, g7[1].stop), (1, 50, Stop::Done));
        assert_eq!(t.syscalls.len(), 1);
        assert_eq!(t.runs_of(8)[0].p, 0, "G8 ran on the P that G7 handed off");
    }

    #[test]
    fn nice_steps_are_round() {
        assert_eq!(nice_step(7.0), 5.0);
        assert_eq!(nice_step(120.0), 100.0);
        assert_eq!(nice_step(2600.0), 2000.0);
    }
}
