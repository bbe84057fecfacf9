//! The canary's routes, its controller G, and what it reports.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /canary/work?us=N` | routed to v1 or v2 ([`super::router`]); both spin N µs, v2 maybe longer ([`super::work`]); the body names the version |
//! | `POST /canary/start?...` | starts a rollout and its controller G (parameters below) |
//! | `GET /canary` | the rollout as JSON: weight, plan, requests per version, decision log |
//!
//! `/canary/start` takes `steps=5,25,50` (weights, percent), `min=N`
//! (samples per version before judging), `tolerance=5` and
//! `confidence=99` (percent), `tick_ms=N`, `patience=N` (ticks without
//! enough data before rolling back), `prove=1` (step up only when v2 is
//! shown within the tolerance, see [`super::controller`]), `undecided=N`
//! (with `prove=1`, inconclusive ticks at one step before rolling back),
//! and v2's injected regression:
//! `regress_pct=10&regress_us=1000` (10% of v2's requests spin 1000 µs
//! more). Unknown or malformed parameters are a 400 that names them.
//!
//! **The controller is a G on the service's runtime**: `/canary/start`
//! spawns it, and it loops on `runtime::sleep(tick)`, judging on each wake
//! ([`super::Canary::tick`]) until the rollout is promoted or rolled back;
//! it ends with the runtime if the server stops first. The thread engine and
//! tokio have no runtime of ours to spawn on: there `/canary/start`
//! answers 501.
//!
//! The latency a version is judged on is the handler's, from the moment
//! the route starts to the moment the reply is ready, as in
//! [`crate::metrics`].

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::controller::{Entry, Plan};
use super::router::{self, Version};
use super::work::{self, Regression};
use super::{Canary, Rollout};
use crate::Incoming;
use crate::routes::{Body, MAX_WORK_US, Reply};
use crate::traceparent::TraceParent;

/// The longest controller tick accepted.
pub const MAX_TICK_MS: u64 = 60_000;

/// Answers `/canary` and everything under it.
pub fn respond(canary: &Arc<Canary>, req: &Incoming<'_>, path: &str, query: &str) -> Reply {
    match (req.method, path) {
        ("GET", "/canary/work") => serve_work(canary, req, query),
        ("POST", "/canary/start") => start(canary, query),
        ("GET", "/canary") => json_reply(200, &canary.json()),
        (_, "/canary/work" | "/canary") => Reply::text(405, "GET /canary or /canary/work\n"),
        (_, "/canary/start") => Reply::text(405, "POST /canary/start\n"),
        _ => Reply::text(404, "not found\n"),
    }
}

fn serve_work(canary: &Canary, req: &Incoming<'_>, query: &str) -> Reply {
    let start = Instant::now();
    let us = match param(query, "us").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(us)) if us <= MAX_WORK_US => us,
        Some(_) => return Reply::text(400, "/canary/work needs ?us=N (0 to 1000000)\n"),
    };
    let key = req
        .traceparent
        .and_then(|v| TraceParent::parse_bytes(v).ok())
        .map(|tp| router::key_of(&tp.trace_id));
    let ticket = canary.route(key, router::pinned(req.canary, req.tracestate));
    work::run(
        &canary.regression(),
        ticket.version,
        ticket.key,
        Duration::from_micros(us),
    );
    canary.record(ticket, start.elapsed());
    Reply::text(
        200,
        match ticket.version {
            Version::V1 => "v1\n",
            Version::V2 => "v2\n",
        },
    )
}

fn start(canary: &Arc<Canary>, query: &str) -> Reply {
    let (rollout, tick) = match parse_start(query) {
        Ok(v) => v,
        Err(e) => return Reply::text_owned(400, format!("/canary/start: {e}\n")),
    };
    if runtime::current_g_id().is_none() {
        return Reply::text(
            501,
            "the canary controller is a G on our runtime: use the fast or full engine on ours\n",
        );
    }
    if let Err(e) = canary.start(rollout.plan, rollout.regression) {
        return Reply::text_owned(409, format!("/canary/start: {e}\n"));
    }
    spawn_controller(canary.clone(), tick);
    json_reply(200, &canary.json())
}

// ANCHOR: controller_g
/// The controller's G: wake every `tick`, judge, stop once decided.
fn spawn_controller(canary: Arc<Canary>, tick: Duration) {
    drop(runtime::spawn(async move {
        let t0 = Instant::now();
        loop {
            runtime::sleep(tick).await;
            match canary.tick(t0.elapsed()) {
                Some(entry) if !entry.decision.is_final() => {}
                _ => return,
            }
        }
    }));
}
// ANCHOR_END: controller_g

/// `/canary/start`'s parameters: the rollout and the tick.
fn parse_start(query: &str) -> Result<(Rollout, Duration), String> {
    let mut plan = Plan::default();
    let (mut tick_ms, mut pct, mut extra_us) = (250u64, 0.0f64, 0u64);
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let bad = || format!("bad value `{v}` for `{k}`");
        let int = |max: u64| v.parse::<u64>().ok().filter(|n| *n <= max).ok_or_else(bad);
        let pct_of = || {
            v.parse::<f64>()
                .ok()
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or_else(bad)
        };
        match k {
            "steps" => {
                plan.steps = v
                    .split(',')
                    .map(|w| w.parse::<u32>().map_err(|_| bad()))
                    .collect::<Result<_, _>>()?;
            }
            "min" => plan.test.min_samples = int(10_000_000)?,
            "tolerance" => plan.test.tolerance = pct_of()? / 100.0,
            "confidence" => plan.test.confidence = pct_of()? / 100.0,
            "tick_ms" => tick_ms = int(MAX_TICK_MS)?.max(1),
            "patience" => plan.patience = int(1_000_000)? as u32,
            "undecided" => plan.max_inconclusive = int(1_000_000)? as u32,
            "prove" => plan.require_proof = int(1)? == 1,
            "regress_pct" => pct = pct_of()?,
            "regress_us" => extra_us = int(MAX_WORK_US)?,
            _ => {
                return Err(format!(
                    "unknown parameter `{k}` (steps, min, tolerance, confidence, tick_ms, patience, undecided, prove, regress_pct, regress_us)"
                ));
            }
        }
    }
    plan.validate()?;
    let regression = Regression::percent(pct, Duration::from_micros(extra_us));
    Ok((Rollout { plan, regression }, Duration::from_millis(tick_ms)))
}

fn param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn json_reply(status: u16, v: &Value) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: Body::Owned(v.to_string().into_bytes()),
        not_before: None,
    }
}

/// One log entry as JSON (the lesson prints and saves these).
///
/// ```
/// use std::time::Duration;
/// use service::canary::{Canary, controller::Plan, work::Regression, http::entry_json};
/// let c = Canary::default();
/// c.start(Plan::default(), Regression::default()).unwrap();
/// let e = c.tick(Duration::from_millis(250)).unwrap();
/// let v = entry_json(&e);
/// assert_eq!((v["decision"].as_str(), v["verdict"].as_str()), (Some("wait"), Some("not enough data")));
/// assert_eq!(v["at_ms"], 250);
/// ```
pub fn entry_json(e: &Entry) -> Value {
    let c = &e.comparison;
    json!({
        "at_ms": e.at.as_millis() as u64,
        "weight": e.weight,
        "samples": { "v1": c.samples[0], "v2": c.samples[1] },
        "p50_us": { "v1": c.p50_us[0], "v2": c.p50_us[1] },
        "p99_us": { "v1": c.p99_us[0], "v2": c.p99_us[1] },
        "ratio": c.ratio,
        "lower": c.bounds.map(|b| b.0),
        "upper": c.bounds.map(|b| b.1),
        "verdict": c.verdict.as_str(),
        "decision": e.decision.as_str(),
        "next_weight": e.next_weight,
        "reason": e.reason,
    })
}

impl Canary {
    /// The rollout as `GET /canary` serves it.
    pub fn json(&self) -> Value {
        let live = self.lock();
        let rollout = live.rollout.as_ref().map(|r| {
            json!({
                "steps": r.plan.steps,
                "min_samples": r.plan.test.min_samples,
                "tolerance": r.plan.test.tolerance,
                "confidence": r.plan.test.confidence,
                "patience": r.plan.patience,
                "undecided": r.plan.max_inconclusive,
                "require_proof": r.plan.require_proof,
                "regression": {
                    "percent": f64::from(r.regression.per_10k) / 100.0,
                    "extra_us": r.regression.extra.as_micros() as u64,
                },
            })
        });
        let phase = match &live.controller {
            None => "idle",
            Some(c) => match c.phase() {
                super::controller::Phase::Analysing(_) => "analysing",
                super::controller::Phase::Promoted => "promoted",
                super::controller::Phase::RolledBack => "rolled back",
            },
        };
        json!({
            "phase": phase,
            "weight": self.weight(),
            "served": { "v1": live.served[0], "v2": live.served[1] },
            "rollout": rollout,
            "log": live.log.iter().map(entry_json).collect::<Vec<_>>(),
        })
    }

    /// The canary's lines for `/metrics` (empty until it has been used).
    ///
    /// ```
    /// let c = service::canary::Canary::default();
    /// assert_eq!(c.prometheus(), "");
    /// let t = c.route(None, None);
    /// c.record(t, std::time::Duration::from_micros(100));
    /// assert!(c.prometheus().contains("service_canary_requests_total{version=\"v1\"} 1"));
    /// ```
    pub fn prometheus(&self) -> String {
        let live = self.lock();
        if live.rollout.is_none() && live.served == [0, 0] {
            return String::new();
        }
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP service_canary_weight_percent v2's share of unpinned canary traffic.\n\
             # TYPE service_canary_weight_percent gauge\n\
             service_canary_weight_percent {}",
            self.weight()
        );
        let _ = writeln!(
            s,
            "# HELP service_canary_requests_total Canary requests answered, by version.\n\
             # TYPE service_canary_requests_total counter"
        );
        for v in Version::BOTH {
            let _ = writeln!(
                s,
                "service_canary_requests_total{{version=\"{}\"}} {}",
                v.as_str(),
                live.served[v.index()]
            );
        }
        let _ = writeln!(
            s,
            "# HELP service_canary_decisions_total Weight changes the canary controller made.\n\
             # TYPE service_canary_decisions_total counter"
        );
        for (i, d) in ["step_up", "promote", "rollback"].iter().enumerate() {
            let _ = writeln!(
                s,
                "service_canary_decisions_total{{decision=\"{d}\"}} {}",
                live.decisions[i]
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_parameters_are_parsed_and_bad_ones_named() {
        let (r, tick) =
            parse_start("steps=10,50&min=300&tick_ms=50&regress_pct=10&regress_us=800").unwrap();
        assert_eq!(r.plan.steps, [10, 50]);
        assert_eq!(r.plan.test.min_samples, 300);
        assert_eq!(tick, Duration::from_millis(50));
        assert_eq!(
            r.regression,
            Regression::percent(10.0, Duration::from_micros(800))
        );
        for (q, needle) in [
            ("steps=50,10", "increase"),
            ("min=lots", "`min`"),
            ("regress_pct=150", "`regress_pct`"),
            ("colour=blue", "unknown parameter `colour`"),
        ] {
            let e = parse_start(q).unwrap_err();
            assert!(e.contains(needle), "{q}: expected {needle:?} in {e:?}");
        }
    }

    #[test]
    fn start_outside_our_runtime_is_501_and_changes_nothing() {
        let c = Arc::new(Canary::default());
        let req = Incoming {
            method: "POST",
            target: "/canary/start",
            ..Incoming::default()
        };
        let r = respond(&c, &req, "/canary/start", "");
        assert_eq!(r.status, 501);
        assert!(!c.running());
    }

    #[test]
    fn the_x_canary_header_pins_and_wins_over_tracestate() {
        let c = Arc::new(Canary::default());
        let get = |canary: Option<&'static [u8]>, tracestate: Option<&'static [u8]>| {
            let req = Incoming {
                method: "GET",
                target: "/canary/work?us=1",
                canary,
                tracestate,
                ..Incoming::default()
            };
            String::from_utf8(
                respond(&c, &req, "/canary/work", "us=1")
                    .body
                    .as_bytes()
                    .to_vec(),
            )
            .unwrap()
        };
        assert_eq!(get(Some(b"v2"), None), "v2\n", "x-canary: v2 at weight 0");
        assert_eq!(
            get(Some(b"v1"), Some(b"canary=v2")),
            "v1\n",
            "the header wins over tracestate"
        );
        assert_eq!(
            get(Some(b"bogus"), Some(b"canary=v2")),
            "v2\n",
            "a header naming no version pins nothing; tracestate still does"
        );
    }

    #[test]
    fn work_is_routed_pinned_and_counted() {
        let c = Arc::new(Canary::default());
        let get = |tracestate: Option<&'static [u8]>| {
            let req = Incoming {
                method: "GET",
                target: "/canary/work?us=1",
                tracestate,
                ..Incoming::default()
            };
            respond(&c, &req, "/canary/work", "us=1")
        };
        assert_eq!(get(None).body.as_bytes(), b"v1\n", "weight 0: v1");
        assert_eq!(
            get(Some(b"canary=v2")).body.as_bytes(),
            b"v2\n",
            "pinned: v2"
        );
        let v = c.json();
        assert_eq!(
            (v["served"]["v1"].as_u64(), v["served"]["v2"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(v["phase"], "idle");
        let bad = Incoming {
            method: "GET",
            ..Incoming::default()
        };
        assert_eq!(respond(&c, &bad, "/canary/work", "us=x").status, 400);
        assert_eq!(respond(&c, &bad, "/canary/start", "").status, 405);
    }
}
