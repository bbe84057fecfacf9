//! The two loops.
//!
//! **Closed loop** (wrk, ab, most benchmarks): each of C connections sends
//! its next request when the previous answer arrives. When the server
//! stalls for 200 ms, each connection waits once, and records *one* slow
//! request; the requests a real user population would have sent during
//! those 200 ms were never sent, so they are never measured. The load
//! generator has coordinated with the server to omit exactly the bad
//! samples (Gil Tene's "coordinated omission").
//!
//! **Open loop** (wrk2, this tool's default): connection `i` of C owns the
//! requests due at `t0 + i/R + k·C/R`. It sleeps until a request is due and
//! sends it; if it is already late (the previous answer came back after
//! this one was due), it sends at once and counts from the *due* time
//! anyway. So a 200 ms stall shows up as every request due during the
//! stall being late by up to 200 ms, which is what users would have seen.
//! With `--pattern poisson` the gaps between due times are exponential
//! with the same mean (independent users arriving at random), instead of
//! constant; with `--burst NxW` requests come in bursts once a period
//! (the due times are [`crate::schedule`]'s, and a burst larger than the
//! connections queues in the load generator, counted from the due times). The time from the actual send is kept too (service time), and how far
//! behind schedule the sends fell, and how many due requests were never
//! sent before the run ended.
//!
//! Both loops stop at the duration, at the request budget, whichever comes
//! first; every exchange has a timeout, so a run always ends.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::{Conn, ErrorKind};
use crate::config::{Config, Mode};
use crate::schedule::Schedule;
use crate::stats::{Recorder, Report};

/// A finished run: the report and the merged measurements behind it.
#[derive(Debug)]
pub struct Run {
    /// What gets printed.
    pub report: Report,
    /// The histograms and series, for lessons that draw them.
    pub recorder: Recorder,
}

/// Runs the load described by `cfg` on a runtime of `cfg.procs` Ps.
pub fn run(cfg: &Config) -> io::Result<Run> {
    let rt = runtime::Runtime::builder()
        .procs(cfg.procs)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let cfg = Arc::new(cfg.clone());
    rt.block_on(drive(cfg))
}

struct Shared {
    cfg: Arc<Config>,
    t0: Instant,
    budget: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
    request: Vec<u8>,
}

async fn drive(cfg: Arc<Config>) -> io::Result<Run> {
    let request = request_bytes(&cfg);
    // Connect first (as wrk does), so the clock starts with every
    // connection open; a server that refuses is an error for the run.
    let mut conns = Vec::with_capacity(cfg.connections);
    for _ in 0..cfg.connections {
        match Conn::connect(cfg.addr, cfg.timeout).await {
            Ok(c) => conns.push(c),
            Err(kind) => {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("cannot connect to {} ({})", cfg.addr, kind.name()),
                ));
            }
        }
    }
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        t0: Instant::now(),
        budget: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        request,
    });
    let done = Arc::new(AtomicBool::new(false));
    let progress = cfg
        .progress
        .then(|| runtime::spawn(progress_line(shared.clone(), done.clone())));
    let mut handles = Vec::new();
    for (i, conn) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        handles.push(runtime::spawn(async move {
            match shared.cfg.mode {
                Mode::Open => open_loop(&shared, i, conn).await,
                Mode::Closed => closed_loop(&shared, conn).await,
            }
        }));
    }
    let mut total = Recorder::default();
    for h in handles {
        let rec = h
            .await
            .map_err(|e| io::Error::other(format!("a connection's task failed: {e:?}")))?;
        total.merge(&rec);
    }
    let elapsed = shared.t0.elapsed();
    done.store(true, Ordering::Release);
    if let Some(p) = progress {
        p.abort();
    }
    let report = Report::new(&cfg, &total, elapsed);
    Ok(Run {
        report,
        recorder: total,
    })
}

/// The one request every exchange sends: `--header`s after the defaults; a
/// `--header 'Host: ...'` or `'User-Agent: ...'` replaces the default.
fn request_bytes(cfg: &Config) -> Vec<u8> {
    let mut head = format!("GET {} HTTP/1.1\r\n", cfg.path);
    let given = |name: &str| {
        cfg.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if !given("host") {
        head += &format!("Host: {}\r\n", cfg.host);
    }
    if !given("user-agent") {
        head += "User-Agent: loadgen\r\n";
    }
    for (name, value) in &cfg.headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    head.into_bytes()
}

fn take_budget(s: &Shared) -> bool {
    s.budget.fetch_add(1, Ordering::Relaxed) < s.cfg.max_requests
}

/// One exchange, recorded; reconnects after an error or a `close`.
async fn exchange(
    s: &Shared,
    conn: &mut Option<Conn>,
    rec: &mut Recorder,
    due: Duration,
    sent: Instant,
) {
    let cfg = &s.cfg;
    if conn.is_none() {
        match Conn::connect(cfg.addr, cfg.timeout).await {
            Ok(c) => *conn = Some(c),
            Err(kind) => {
                rec.failed(kind);
                s.failed.fetch_add(1, Ordering::Relaxed);
                runtime::sleep(Duration::from_millis(10)).await;
                return;
            }
        }
    }
    let c = conn.as_mut().expect("connected above");
    match c.exchange(&s.request, cfg.timeout).await {
        Ok(answer) => {
            let now = Instant::now();
            if answer.close {
                *conn = None;
            }
            let kind = match answer.status {
                500.. => Some(ErrorKind::Status5xx),
                400.. => Some(ErrorKind::Status4xx),
                _ => None,
            };
            match kind {
                Some(k) => {
                    rec.failed(k);
                    s.failed.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    rec.answered(
                        due,
                        now.duration_since(s.t0 + due),
                        now.duration_since(sent),
                    );
                    s.answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Err(kind) => {
            *conn = None;
            rec.failed(kind);
            s.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ANCHOR: open_loop
async fn open_loop(s: &Shared, i: usize, conn: Conn) -> Recorder {
    let cfg = &s.cfg;
    let mut rec = Recorder::default();
    let mut conn = Some(conn);
    let mut schedule = Schedule::new(cfg.arrivals, cfg.rate, cfg.connections, i);
    let mut due = schedule.next().expect("a schedule never ends");
    loop {
        if due >= cfg.duration {
            break;
        }
        let now = s.t0.elapsed();
        if now >= cfg.duration {
            // Due before the end, never sent: the server kept us too long.
            let left = schedule.take_while(|d| *d < cfg.duration).count();
            rec.not_sent += 1 + left as u64;
            break;
        }
        if !take_budget(s) {
            break;
        }
        if now < due {
            runtime::sleep_until(s.t0 + due).await;
        } else {
            rec.behind(now - due);
        }
        exchange(s, &mut conn, &mut rec, due, Instant::now()).await;
        due = schedule.next().expect("a schedule never ends");
    }
    rec
}

// ANCHOR_END: open_loop

async fn closed_loop(s: &Shared, conn: Conn) -> Recorder {
    let mut rec = Recorder::default();
    let mut conn = Some(conn);
    while s.t0.elapsed() < s.cfg.duration && take_budget(s) {
        let sent = Instant::now();
        exchange(s, &mut conn, &mut rec, sent.duration_since(s.t0), sent).await;
    }
    rec
}

async fn progress_line(s: Arc<Shared>, done: Arc<AtomicBool>) {
    let mut last = 0;
    let mut tick = 1u32;
    while !done.load(Ordering::Acquire) {
        runtime::sleep_until(s.t0 + Duration::from_secs(1) * tick).await;
        if done.load(Ordering::Acquire) {
            break;
        }
        let n = s.answered.load(Ordering::Relaxed);
        eprintln!(
            "loadgen: {:>4}s  {:>9} answered  {:>8}/s  {} errors",
            tick,
            n,
            n - last,
            s.failed.load(Ordering::Relaxed)
        );
        last = n;
        tick += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_defaults_or_replace_them() {
        let mut cfg = Config::new("127.0.0.1:9".parse().unwrap());
        cfg.path = "/work?us=1".into();
        cfg.headers = vec![("x-tag".into(), "canary".into())];
        assert_eq!(
            String::from_utf8(request_bytes(&cfg)).unwrap(),
            "GET /work?us=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nUser-Agent: loadgen\r\nx-tag: canary\r\n\r\n"
        );
        cfg.headers = vec![("host".into(), "api.local".into())];
        assert_eq!(
            String::from_utf8(request_bytes(&cfg)).unwrap(),
            "GET /work?us=1 HTTP/1.1\r\nUser-Agent: loadgen\r\nhost: api.local\r\n\r\n"
        );
    }
}
