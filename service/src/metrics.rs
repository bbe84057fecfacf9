//! Per-route metrics: requests, QPS, errors, in flight, and an HDR latency
//! histogram, exposed in Prometheus' text format and as JSON.
//!
//! What a Prometheus user expects from an HTTP service (the names follow
//! the Prometheus naming guide: base units, `_total` for counters):
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `service_requests_total{route}` | counter | requests answered |
//! | `service_request_errors_total{route}` | counter | answered with a 5xx |
//! | `service_requests_limited_total{route}` | counter | refused by the limiter (429) |
//! | `service_requests_in_flight{route}` | gauge | started, not yet answered |
//! | `service_request_duration_seconds{route}` | histogram | `_bucket{le}`, `_sum`, `_count` |
//! | `service_request_latency_seconds{route}` | summary | P50, P99, P99.9 from the HDR histogram |
//! | `service_request_qps{route}` | gauge | answered per second over the last second |
//!
//! The histogram type is what Prometheus aggregates across instances
//! (`histogram_quantile(0.99, sum by (le) (rate(..._bucket[1m])))`); its
//! fixed buckets are coarse, so the exact percentiles of *this* process are
//! also given as a summary, read from an HDR histogram (3 significant
//! digits, 1 µs to 60 s), the same recorder `loadgen` uses on the client
//! side. Each route's numbers sit behind one small lock taken once per
//! request, after the response is made: the counters, the sum and the
//! histogram always agree with each other in a scrape.
//!
//! QPS is counted in 100 ms buckets in a ring of 50 (five seconds); the
//! gauge is the last ten complete buckets, so it is the rate of the last
//! full second, as `rate(service_requests_total[1s])` would be.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Bucket bounds of the Prometheus histogram, in seconds.
pub const BUCKETS_S: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// The quantiles of the summary (P50, P99, P99.9).
pub const QUANTILES: [f64; 3] = [0.5, 0.99, 0.999];

const SLOT: Duration = Duration::from_millis(100);
const SLOTS: usize = 50;
const QPS_SLOTS: u64 = 10;
/// The largest latency recorded (longer ones are clamped to it).
const MAX_US: u64 = 60_000_000;

/// One route's numbers at one moment (the JSON form of `/metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The route's name.
    pub route: &'static str,
    /// Requests answered.
    pub requests: u64,
    /// Answered with a 5xx.
    pub errors: u64,
    /// Refused by the route's limiter (429).
    pub limited: u64,
    /// In flight now.
    pub in_flight: i64,
    /// Answered per second over the last complete second.
    pub qps: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// The longest, µs.
    pub max_us: u64,
    /// Sum of all latencies, µs.
    pub sum_us: u64,
}

#[derive(Debug)]
struct Inner {
    requests: u64,
    errors: u64,
    limited: u64,
    sum_us: u64,
    hist: Histogram<u64>,
    /// Since the last [`Metrics::take_interval`] (HdrHistogram's interval
    /// recorder): what a timeline needs, where `hist` is since the start.
    interval: Histogram<u64>,
    /// (slot number since start, count) per ring position.
    ring: [(u64, u64); SLOTS],
}

/// One route's recorder.
#[derive(Debug)]
pub struct RouteMetrics {
    name: &'static str,
    in_flight: AtomicI64,
    inner: Mutex<Inner>,
}

impl RouteMetrics {
    fn new(name: &'static str) -> RouteMetrics {
        RouteMetrics {
            name,
            in_flight: AtomicI64::new(0),
            inner: Mutex::new(Inner {
                requests: 0,
                errors: 0,
                limited: 0,
                sum_us: 0,
                hist: Histogram::new_with_bounds(1, MAX_US, 3).expect("valid HDR bounds"),
                interval: Histogram::new_with_bounds(1, MAX_US, 3).expect("valid HDR bounds"),
                ring: [(u64::MAX, 0); SLOTS],
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the counters torn
        // (each update is a few plain adds), so a poisoned lock is used.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every route's recorder, plus the clock QPS is counted on (Go has no
/// standard equivalent; `prometheus/client_golang`'s `promhttp`
/// middleware records the same numbers).
#[derive(Debug)]
pub struct Metrics {
    start: Instant,
    routes: Vec<RouteMetrics>,
}

/// A request that has started on a route: counted in flight until
/// [`InFlight::finish`] records it (or it is dropped, unrecorded, if the
/// client went away).
#[derive(Debug)]
#[must_use = "finish the request to record it"]
pub struct InFlight<'a> {
    route: &'a RouteMetrics,
    metrics: &'a Metrics,
    start: Instant,
}

impl InFlight<'_> {
    /// When the request started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Records the answer: `status`, and the latency from the start to
    /// `done` (the moment the response is released).
    pub fn finish(self, status: u16, done: Instant) {
        let us = done.saturating_duration_since(self.start).as_micros() as u64;
        let slot = self.metrics.slot(done);
        let mut g = self.route.lock();
        g.requests += 1;
        g.errors += u64::from(status >= 500);
        g.limited += u64::from(status == 429);
        g.sum_us += us;
        g.hist.saturating_record(us.clamp(1, MAX_US));
        g.interval.saturating_record(us.clamp(1, MAX_US));
        let cell = &mut g.ring[(slot % SLOTS as u64) as usize];
        if cell.0 != slot {
            *cell = (slot, 0);
        }
        cell.1 += 1;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.route.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Recorders for `routes` (names as they appear in the `route` label).
    pub fn new(routes: &[&'static str]) -> Metrics {
        Metrics {
            start: Instant::now(),
            routes: routes.iter().map(|r| RouteMetrics::new(r)).collect(),
        }
    }

    fn slot(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.start).as_nanos() / SLOT.as_nanos()) as u64
    }

    fn route(&self, name: &str) -> Option<&RouteMetrics> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// Starts a request on route number `index` (in the order given to
    /// [`Metrics::new`]).
    ///
    /// ```
    /// let m = service::metrics::Metrics::new(&["/a"]);
    /// let req = m.begin(0);
    /// assert_eq!(m.snapshot("/a").unwrap().in_flight, 1);
    /// let t = req.started() + std::time::Duration::from_millis(2);
    /// req.finish(200, t);
    /// let s = m.snapshot("/a").unwrap();
    /// assert_eq!((s.requests, s.in_flight, s.errors), (1, 0, 0));
    /// assert!((1990..=2010).contains(&s.p50_us), "{}", s.p50_us);
    /// ```
    pub fn begin(&self, index: usize) -> InFlight<'_> {
        let route = &self.routes[index.min(self.routes.len() - 1)];
        route.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            route,
            metrics: self,
            start: Instant::now(),
        }
    }

    /// Requests in flight on route number `index` now.
    pub fn in_flight(&self, index: usize) -> i64 {
        self.routes[index.min(self.routes.len() - 1)]
            .in_flight
            .load(Ordering::Relaxed)
    }

    /// Requests answered, all routes together.
    pub fn requests(&self) -> u64 {
        self.routes.iter().map(|r| r.lock().requests).sum()
    }

    /// One route's numbers now, or `None` for a route it does not know.
    pub fn snapshot(&self, route: &str) -> Option<Snapshot> {
        self.route(route).map(|r| self.snap(r, Instant::now()))
    }

    fn snap(&self, r: &RouteMetrics, now: Instant) -> Snapshot {
        let g = r.lock();
        let current = self.slot(now);
        let first = current.saturating_sub(QPS_SLOTS);
        let recent: u64 = g
            .ring
            .iter()
            .filter(|(s, _)| *s != u64::MAX && *s >= first && *s < current)
            .map(|(_, c)| c)
            .sum();
        let window = (current - first).max(1) as f64 * SLOT.as_secs_f64();
        let q = |p: f64| {
            if g.requests == 0 {
                0
            } else {
                g.hist.value_at_quantile(p)
            }
        };
        Snapshot {
            route: r.name,
            requests: g.requests,
            errors: g.errors,
            limited: g.limited,
            in_flight: r.in_flight.load(Ordering::Relaxed),
            qps: recent as f64 / window,
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if g.requests == 0 { 0 } else { g.hist.max() },
            sum_us: g.sum_us,
        }
    }

    /// Requests answered on `route` since the last call, and their P99 in
    /// µs (0 with none); starts the next interval.
    ///
    /// ```
    /// let m = service::metrics::Metrics::new(&["/a"]);
    /// let r = m.begin(0);
    /// r.finish(200, std::time::Instant::now());
    /// assert_eq!(m.take_interval("/a").unwrap().0, 1);
    /// assert_eq!(m.take_interval("/a").unwrap(), (0, 0));
    /// ```
    pub fn take_interval(&self, route: &str) -> Option<(u64, u64)> {
        let r = self.route(route)?;
        let mut g = r.lock();
        let n = g.interval.len();
        let p99 = if n == 0 {
            0
        } else {
            g.interval.value_at_quantile(0.99)
        };
        g.interval.reset();
        Some((n, p99))
    }

    /// Every route's numbers now.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        let now = Instant::now();
        self.routes.iter().map(|r| self.snap(r, now)).collect()
    }

    /// The same numbers as [`Metrics::prometheus`], as a JSON array of
    /// objects (`route`, `requests`, `errors`, `in_flight`, `qps`,
    /// `p50_us`, `p99_us`, `p999_us`, `max_us`, `sum_us`).
    pub fn json(&self) -> String {
        let mut s = String::from("[");
        for (i, m) in self.snapshots().iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(
                s,
                "{{\"route\":{:?},\"requests\":{},\"errors\":{},\"limited\":{},\"in_flight\":{},\"qps\":{:.1},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"sum_us\":{}}}",
                m.route,
                m.requests,
                m.errors,
                m.limited,
                m.in_flight,
                m.qps,
                m.p50_us,
                m.p99_us,
                m.p999_us,
                m.max_us,
                m.sum_us
            );
        }
        s.push(']');
        s
    }

    /// Everything in Prometheus' text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let now = Instant::now();
        let mut out = String::new();
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        // One lock per route for the histogram parts, so buckets, sum and
        // count come from the same instant.
        let snaps: Vec<(Snapshot, Vec<u64>)> = self
            .routes
            .iter()
            .map(|r| {
                let snap = self.snap(r, now);
                let g = r.lock();
                let buckets = BUCKETS_S
                    .iter()
                    .map(|le| {
                        let us = (le * 1e6) as u64;
                        if g.requests == 0 {
                            0
                        } else {
                            g.hist.count_between(0, us)
                        }
                    })
                    .collect();
                (
                    Snapshot {
                        requests: g.requests,
                        sum_us: g.sum_us,
                        ..snap
                    },
                    buckets,
                )
            })
            .collect();
        family(
            &mut out,
            "service_requests_total",
            "counter",
            "Requests answered, by route.",
        );
        for (s, _) in &snaps {
            let _ = writeln!(
                out,
                "service_requests_total{{route=\"{}\"}} {}",
                s.route, s.requests
            );
        }
        family(
            &mut out,
            "service_request_errors_total",
            "counter",
            "Requests answered with a 5xx status, by route.",
        );
        for (s, _) in &snaps {
            let _ = writeln!(
                out,
                "service_request_errors_total{{route=\"{}\"}} {}",
                s.route, s.errors
            );
        }
        family(
            &mut out,
            "service_requests_limited_total",
            "counter",
            "Requests refused by the route's rate limiter or shedder (429), by route.",
        );
        for (s, _) in &snaps {
            let _ = writeln!(
                out,
                "service_requests_limited_total{{route=\"{}\"}} {}",
                s.route, s.limited
            );
        }
        family(
            &mut out,
            "service_requests_in_flight",
            "gauge",
            "Requests started and not yet answered, by route.",
        );
        for (s, _) in &snaps {
            let _ = writeln!(
                out,
                "service_requests_in_flight{{route=\"{}\"}} {}",
                s.route, s.in_flight
            );
        }
        family(
            &mut out,
            "service_request_qps",
            "gauge",
            "Requests answered per second over the last complete second, by route.",
        );
        for (s, _) in &snaps {
            let _ = writeln!(
                out,
                "service_request_qps{{route=\"{}\"}} {:.1}",
                s.route, s.qps
            );
        }
        family(
            &mut out,
            "service_request_duration_seconds",
            "histogram",
            "Time from request to response, by route.",
        );
        for (s, buckets) in &snaps {
            for (le, n) in BUCKETS_S.iter().zip(buckets) {
                let _ = writeln!(
                    out,
                    "service_request_duration_seconds_bucket{{route=\"{}\",le=\"{le}\"}} {n}",
                    s.route
                );
            }
            let _ = writeln!(
                out,
                "service_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}",
                s.route, s.requests
            );
            let _ = writeln!(
                out,
                "service_request_duration_seconds_sum{{route=\"{}\"}} {}",
                s.route,
                s.sum_us as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "service_request_duration_seconds_count{{route=\"{}\"}} {}",
                s.route, s.requests
            );
        }
        family(
            &mut out,
            "service_request_latency_seconds",
            "summary",
            "Latency percentiles from an HDR histogram, by route.",
        );
        for (s, _) in &snaps {
            for (q, us) in QUANTILES.iter().zip([s.p50_us, s.p99_us, s.p999_us]) {
                let _ = writeln!(
                    out,
                    "service_request_latency_seconds{{route=\"{}\",quantile=\"{q}\"}} {}",
                    s.route,
                    us as f64 / 1e6
                );
            }
            let _ = writeln!(
                out,
                "service_request_latency_seconds_sum{{route=\"{}\"}} {}",
                s.route,
                s.sum_us as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "service_request_latency_seconds_count{{route=\"{}\"}} {}",
                s.route, s.requests
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(m: &Metrics, route: usize, status: u16, us: u64) {
        let r = m.begin(route);
        let t = r.started() + Duration::from_micros(us);
        r.finish(status, t);
    }

    #[test]
    fn percentiles_errors_and_in_flight_per_route() {
        let m = Metrics::new(&["/a", "/b"]);
        for i in 1..=1000 {
            record(&m, 0, 200, i * 10); // 10 µs .. 10 ms, uniform
        }
        record(&m, 1, 503, 50);
        let held = m.begin(1);
        let a = m.snapshot("/a").unwrap();
        assert_eq!((a.requests, a.errors, a.in_flight), (1000, 0, 0));
        let near = |got: u64, want: u64| got.abs_diff(want) * 100 <= want;
        assert!(near(a.p50_us, 5000), "p50 {}", a.p50_us);
        assert!(near(a.p99_us, 9900), "p99 {}", a.p99_us);
        assert!(near(a.p999_us, 9990), "p99.9 {}", a.p999_us);
        assert_eq!(a.sum_us, (1..=1000u64).map(|i| i * 10).sum::<u64>());
        let b = m.snapshot("/b").unwrap();
        assert_eq!((b.requests, b.errors, b.in_flight), (1, 1, 1));
        drop(held);
        assert_eq!(m.snapshot("/b").unwrap().in_flight, 0);
        assert_eq!(m.requests(), 1001);
        assert!(m.snapshot("/nope").is_none());
    }

    #[test]
    fn prometheus_histogram_buckets_are_cumulative_and_end_at_count() {
        let m = Metrics::new(&["/a"]);
        for us in [50, 200, 200, 3000, 2_000_000] {
            record(&m, 0, 200, us);
        }
        let text = m.prometheus();
        let bucket = |le: &str| -> u64 {
            let key =
                format!("service_request_duration_seconds_bucket{{route=\"/a\",le=\"{le}\"}} ");
            let line = text
                .lines()
                .find(|l| l.starts_with(&key))
                .unwrap_or_else(|| panic!("no {key} in\n{text}"));
            line[key.len()..].parse().unwrap()
        };
        assert_eq!(bucket("0.0001"), 1);
        assert_eq!(bucket("0.00025"), 3);
        assert_eq!(bucket("0.005"), 4);
        assert_eq!(bucket("1"), 4);
        assert_eq!(bucket("5"), 5);
        assert_eq!(bucket("+Inf"), 5);
        assert!(
            text.contains("service_request_duration_seconds_count{route=\"/a\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("service_request_duration_seconds_sum{route=\"/a\"} 2.00345\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE service_request_duration_seconds histogram\n"));
        assert!(
            text.contains("service_request_latency_seconds{route=\"/a\",quantile=\"0.5\"} 0.0002"),
            "{text}"
        );
    }

    #[test]
    fn json_carries_the_same_numbers() {
        let m = Metrics::new(&["/a"]);
        record(&m, 0, 500, 100);
        let v: Vec<std::collections::HashMap<String, serde_json::Value>> =
            serde_json::from_str(&m.json()).unwrap();
        assert_eq!(v[0]["route"], "/a");
        assert_eq!(v[0]["requests"], 1);
        assert_eq!(v[0]["errors"], 1);
        assert_eq!(v[0]["p99_us"], 100);
    }

    #[test]
    fn qps_counts_the_last_complete_second_only() {
        let m = Metrics::new(&["/a"]);
        // 30 requests finishing in slot 3 (300..400 ms after start).
        for _ in 0..30 {
            let r = m.begin(0);
            r.finish(200, m.start + Duration::from_millis(350));
        }
        let at = |ms| {
            m.snap(&m.routes[0], m.start + Duration::from_millis(ms))
                .qps
        };
        assert_eq!(at(350), 0.0, "the slot is not complete yet");
        assert_eq!(at(1000), 30.0, "within the last ten slots, over one second");
        assert_eq!(at(1500), 0.0, "slot 3 has left the window");
    }
}
