//! What a run measured, and the report made of it.
//!
//! Each connection's G records into its own [`Recorder`] (no sharing, no
//! lock on the hot path); the recorders are merged when the run ends. Two
//! HDR histograms (Gil Tene's HdrHistogram, 3 significant digits, 1 µs to
//! 60 s): *latency*, from the moment a request was due to be sent to the
//! moment its answer arrived, and *service time*, from when it was actually
//! sent. In a closed loop they are the same thing. In an open loop they
//! differ exactly when the load generator could not send on time, which is
//! when the server was slow: that difference is coordinated omission.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::client::ErrorKind;
use crate::config::{Config, Mode};

/// Width of one point of the latency-over-time series.
pub const SERIES_STEP: Duration = Duration::from_millis(100);

/// One point of the latency-over-time series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Point {
    /// Start of the interval, from the start of the run.
    pub t_ms: u64,
    /// Answers whose request was due in this interval.
    pub count: u64,
    /// Their mean latency.
    pub mean_us: u64,
    /// Their largest latency.
    pub max_us: u64,
}

/// One connection's measurements.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency from the intended send time (µs).
    pub latency: Histogram<u64>,
    /// Latency from the actual send time (µs).
    pub service: Histogram<u64>,
    /// Failed requests by kind.
    pub errors: BTreeMap<ErrorKind, u64>,
    /// (count, sum µs, max µs) per [`SERIES_STEP`].
    pub series: Vec<(u64, u64, u64)>,
    /// The furthest behind schedule a send was (µs).
    pub behind_max_us: u64,
    /// Sum of how far behind each send was (µs).
    pub behind_sum_us: u64,
    /// Requests that were due before the end but never sent.
    pub not_sent: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(),
            service: histogram(),
            errors: BTreeMap::new(),
            series: Vec::new(),
            behind_max_us: 0,
            behind_sum_us: 0,
            not_sent: 0,
        }
    }
}

impl Recorder {
    /// Records an answered request: due `due` after the start, with its
    /// latency and service time.
    pub fn answered(&mut self, due: Duration, latency: Duration, service: Duration) {
        let l = (latency.as_micros() as u64).clamp(1, 60_000_000);
        let s = (service.as_micros() as u64).clamp(1, 60_000_000);
        self.latency.saturating_record(l);
        self.service.saturating_record(s);
        let slot = (due.as_nanos() / SERIES_STEP.as_nanos()) as usize;
        if self.series.len() <= slot {
            self.series.resize(slot + 1, (0, 0, 0));
        }
        let p = &mut self.series[slot];
        *p = (p.0 + 1, p.1 + l, p.2.max(l));
    }

    /// Records how late a send was.
    pub fn behind(&mut self, late: Duration) {
        let us = late.as_micros() as u64;
        self.behind_max_us = self.behind_max_us.max(us);
        self.behind_sum_us += us;
    }

    /// Records a failed request.
    pub fn failed(&mut self, kind: ErrorKind) {
        *self.errors.entry(kind).or_default() += 1;
    }

    /// Adds another connection's measurements.
    pub fn merge(&mut self, other: &Recorder) {
        self.latency.add(&other.latency).expect("same bounds");
        self.service.add(&other.service).expect("same bounds");
        for (k, n) in &other.errors {
            *self.errors.entry(*k).or_default() += n;
        }
        if self.series.len() < other.series.len() {
            self.series.resize(other.series.len(), (0, 0, 0));
        }
        for (a, b) in self.series.iter_mut().zip(&other.series) {
            *a = (a.0 + b.0, a.1 + b.1, a.2.max(b.2));
        }
        self.behind_max_us = self.behind_max_us.max(other.behind_max_us);
        self.behind_sum_us += other.behind_sum_us;
        self.not_sent += other.not_sent;
    }
}

/// Percentiles of one histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Mean (µs).
    pub mean_us: u64,
    /// Median (µs).
    pub p50_us: u64,
    /// 90th percentile (µs).
    pub p90_us: u64,
    /// 99th percentile (µs).
    pub p99_us: u64,
    /// 99.9th percentile (µs).
    pub p999_us: u64,
    /// Largest (µs).
    pub max_us: u64,
}

impl Percentiles {
    /// The percentiles of `h` (zeros when empty).
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            mean_us: h.mean().round() as u64,
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// A run's report; serialises to the JSON `loadgen --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `open` or `closed`.
    pub mode: Mode,
    /// Connections used.
    pub connections: usize,
    /// The target rate (open loop), requests per second.
    pub rate: Option<f64>,
    /// The arrival pattern (open loop): `constant`, `poisson`, or a burst
    /// like `burst 500x100ms every 1s`.
    pub pattern: Option<String>,
    /// How long the run sent, in seconds.
    pub elapsed_s: f64,
    /// Answered requests (any status below 400).
    pub requests: u64,
    /// Failed requests, all kinds.
    pub errors: u64,
    /// Failed requests by kind.
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// Answered requests per second.
    pub qps: f64,
    /// Mean latency (µs).
    pub mean_us: u64,
    /// Median latency (µs).
    pub p50_us: u64,
    /// 90th percentile latency (µs).
    pub p90_us: u64,
    /// 99th percentile latency (µs).
    pub p99_us: u64,
    /// 99.9th percentile latency (µs).
    pub p999_us: u64,
    /// Largest latency (µs).
    pub max_us: u64,
    /// Service time (from the actual send) percentiles.
    pub service: Percentiles,
    /// The furthest behind schedule any send was (µs; 0 in a closed loop).
    pub behind_schedule_us: u64,
    /// The mean of how far behind each send was (µs).
    pub behind_mean_us: u64,
    /// Requests due before the end that were never sent.
    pub not_sent: u64,
    /// Latency over time.
    pub series: Vec<Point>,
}

impl Report {
    /// Builds the report from the merged recorder.
    pub fn new(cfg: &Config, rec: &Recorder, elapsed: Duration) -> Report {
        let lat = Percentiles::of(&rec.latency);
        let requests = rec.latency.len();
        let errors = rec.errors.values().sum();
        let series = rec
            .series
            .iter()
            .enumerate()
            .map(|(i, &(count, sum, max))| Point {
                t_ms: i as u64 * SERIES_STEP.as_millis() as u64,
                count,
                mean_us: sum.checked_div(count).unwrap_or(0),
                max_us: max,
            })
            .collect();
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            mode: cfg.mode,
            connections: cfg.connections,
            rate: (cfg.mode == Mode::Open).then_some(cfg.rate),
            pattern: (cfg.mode == Mode::Open).then(|| cfg.arrivals.describe()),
            elapsed_s: secs,
            requests,
            errors,
            errors_by_kind: rec.errors.iter().map(|(k, n)| (k.name(), *n)).collect(),
            qps: requests as f64 / secs,
            mean_us: lat.mean_us,
            p50_us: lat.p50_us,
            p90_us: lat.p90_us,
            p99_us: lat.p99_us,
            p999_us: lat.p999_us,
            max_us: lat.max_us,
            service: Percentiles::of(&rec.service),
            behind_schedule_us: rec.behind_max_us,
            behind_mean_us: rec
                .behind_sum_us
                .checked_div(requests + errors)
                .unwrap_or(0),
            not_sent: rec.not_sent,
            series,
        }
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let ms = |us: u64| format!("{:.2} ms", us as f64 / 1000.0);
        let mut s = String::new();
        let mode = match self.mode {
            Mode::Open => format!(
                "open loop at {:.0} req/s, {} (latency from the intended send time)",
                self.rate.unwrap_or(0.0),
                self.pattern.as_deref().unwrap_or("constant")
            ),
            Mode::Closed => "closed loop (latency from the actual send time, like wrk)".to_string(),
        };
        s += &format!(
            "{mode}, {} connections, {:.2} s\n",
            self.connections, self.elapsed_s
        );
        s += &format!(
            "  requests {}   errors {}   qps {:.0}\n",
            self.requests, self.errors, self.qps
        );
        s += "             mean       p50       p90       p99     p99.9       max\n";
        let row = |name: &str, p: &Percentiles| {
            format!(
                "  {name:<9}{:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}\n",
                ms(p.mean_us),
                ms(p.p50_us),
                ms(p.p90_us),
                ms(p.p99_us),
                ms(p.p999_us),
                ms(p.max_us)
            )
        };
        let lat = Percentiles {
            mean_us: self.mean_us,
            p50_us: self.p50_us,
            p90_us: self.p90_us,
            p99_us: self.p99_us,
            p999_us: self.p999_us,
            max_us: self.max_us,
        };
        s += &row("latency", &lat);
        s += &row("service", &self.service);
        if self.mode == Mode::Open {
            s += &format!(
                "  behind schedule: at most {}, {} on average; not sent: {}\n",
                ms(self.behind_schedule_us),
                ms(self.behind_mean_us),
                self.not_sent
            );
        }
        if !self.errors_by_kind.is_empty() {
            let kinds: Vec<String> = self
                .errors_by_kind
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            s += &format!("  errors by kind: {}\n", kinds.join(", "));
        }
        s
    }
}
