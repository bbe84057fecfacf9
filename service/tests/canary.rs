//! The canary routes on real servers on 127.0.0.1: pinned and weighted
//! routing through each engine, the controller G running inside the
//! service, and the Flagger#1098 case end to end (a canary that gets no
//! traffic is rolled back, never promoted). Every request has a read
//! timeout and every wait is a bounded number of requests, so a broken
//! engine fails the test instead of hanging it.

use std::net::SocketAddr;

use serde_json::Value;
use service::{Engine, Options, RuntimeKind, Server};

fn start(engine: Engine, runtime: RuntimeKind) -> Server {
    Server::start(Options {
        engine,
        runtime,
        procs: 2,
        ..Options::default()
    })
    .expect("start a server on 127.0.0.1")
}

/// One request on its own connection, with optional `tracestate`:
/// (status, body).
fn http(addr: SocketAddr, method: &str, target: &str, tracestate: Option<&str>) -> (u16, String) {
    let ts = tracestate.map(|t| format!("tracestate: {t}"));
    let headers: Vec<&str> = ts.iter().map(String::as_str).collect();
    service::probe::request(addr, method, target, &headers).expect("a request")
}

fn canary(addr: SocketAddr) -> Value {
    let (status, body) = http(addr, "GET", "/canary", None);
    assert_eq!(status, 200, "GET /canary: {body}");
    serde_json::from_str(&body).expect("/canary answers JSON")
}

#[test]
fn pins_and_weights_route_on_every_engine() {
    for (engine, rt) in [
        (Engine::Fast, RuntimeKind::Ours),
        (Engine::Full, RuntimeKind::Ours),
        (Engine::Full, RuntimeKind::Tokio),
        (Engine::Threads, RuntimeKind::Ours),
    ] {
        let server = start(engine, rt);
        let addr = server.addr();
        // No rollout: the weight is 0, everything unpinned is v1.
        for _ in 0..5 {
            let (s, b) = http(addr, "GET", "/canary/work?us=10", None);
            assert_eq!((s, b.as_str()), (200, "v1\n"), "{engine:?}/{rt:?}");
        }
        let (s, b) = http(addr, "GET", "/canary/work?us=10", Some("x=y,canary=v2"));
        assert_eq!((s, b.as_str()), (200, "v2\n"), "{engine:?}/{rt:?}: the pin");
        let (s, _) = http(addr, "GET", "/canary/work?us=lots", None);
        assert_eq!(s, 400, "{engine:?}/{rt:?}: a bad ?us=");
        let v = canary(addr);
        assert_eq!(
            (v["served"]["v1"].as_u64(), v["served"]["v2"].as_u64()),
            (Some(5), Some(1)),
            "{engine:?}/{rt:?}: {v}"
        );
        let (_, metrics) = http(addr, "GET", "/metrics", None);
        assert!(
            metrics.contains("service_canary_requests_total{version=\"v2\"} 1"),
            "{engine:?}/{rt:?}: {metrics}"
        );
        server.stop().unwrap();
    }
}

#[test]
fn the_controller_needs_our_runtime() {
    for (engine, rt) in [
        (Engine::Full, RuntimeKind::Tokio),
        (Engine::Threads, RuntimeKind::Ours),
    ] {
        let server = start(engine, rt);
        let (s, b) = http(server.addr(), "POST", "/canary/start", None);
        assert_eq!(s, 501, "{engine:?}/{rt:?}: {b}");
        assert_eq!(canary(server.addr())["phase"], "idle");
        server.stop().unwrap();
    }
}

#[test]
fn bad_start_parameters_are_a_400_naming_them() {
    let server = start(Engine::Fast, RuntimeKind::Ours);
    let (s, b) = http(server.addr(), "POST", "/canary/start?steps=50,5", None);
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("increase"), "{b}");
    let (s, b) = http(server.addr(), "POST", "/canary/start?speed=max", None);
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("`speed`"), "{b}");
    assert_eq!(canary(server.addr())["phase"], "idle");
    server.stop().unwrap();
}

/// Flagger#1098, end to end: the rollout starts, nobody calls
/// `/canary/work`, and the controller G (ticking every 5 ms inside the
/// service) must end it rolled back, after waiting, never promoted.
#[test]
fn a_canary_without_traffic_is_rolled_back_by_the_service_itself() {
    for engine in [Engine::Fast, Engine::Full] {
        let server = start(engine, RuntimeKind::Ours);
        let addr = server.addr();
        let (s, b) = http(addr, "POST", "/canary/start?tick_ms=5&patience=3", None);
        assert_eq!(s, 200, "{engine:?}: {b}");
        let (s, b) = http(addr, "POST", "/canary/start", None);
        assert_eq!(s, 409, "{engine:?}: a second rollout while one runs: {b}");
        // Each GET is a round trip to the service; the controller G runs
        // between them. Bounded: a controller that never decides fails.
        let v = (0..100_000)
            .map(|_| canary(addr))
            .find(|v| v["phase"] != "analysing")
            .expect("the controller G decided within 100 000 requests");
        assert_eq!(v["phase"], "rolled back", "{engine:?}: {v}");
        assert_eq!(v["weight"], 0, "{engine:?}: {v}");
        let log = v["log"].as_array().unwrap();
        let decisions: Vec<&str> = log
            .iter()
            .map(|e| e["decision"].as_str().unwrap())
            .collect();
        assert_eq!(
            decisions,
            ["wait", "wait", "wait", "rollback"],
            "{engine:?}: {v}"
        );
        assert!(
            log.iter().all(|e| e["verdict"] == "not enough data"),
            "{engine:?}: {v}"
        );
        let (_, metrics) = http(addr, "GET", "/metrics", None);
        assert!(
            metrics.contains("service_canary_decisions_total{decision=\"rollback\"} 1"),
            "{metrics}"
        );
        // A rollout that has ended can be followed by a new one.
        let (s, b) = http(addr, "POST", "/canary/start?tick_ms=60000", None);
        assert_eq!(
            s, 200,
            "{engine:?}: a new rollout after the first ended: {b}"
        );
        assert_eq!(canary(addr)["weight"], 5);
        server.stop().unwrap();
    }
}
