//! Two services on 127.0.0.1, a frontend calling a backend over loopback:
//! the trace context crosses a spawn and a hop, tagged traffic reaches only
//! the shadow store, and both services count what they served. A plain std
//! client with read timeouts drives them, so a broken server fails a test
//! instead of hanging it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use service::{Engine, Options, RuntimeKind, Server};

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn full(backend: Option<SocketAddr>, store: Option<PathBuf>) -> Server {
    Server::start(Options {
        engine: Engine::Full,
        runtime: RuntimeKind::Ours,
        procs: 2,
        backend,
        store_dir: store,
        ..Options::default()
    })
    .expect("start a server on 127.0.0.1")
}

/// One request on its own connection; (status, body).
fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out)
        .expect("a response before the read timeout");
    let mut hs = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut hs);
    let n = match r.parse(&out) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "bad response {other:?}: {:?}",
            String::from_utf8_lossy(&out)
        ),
    };
    (
        r.code.unwrap(),
        String::from_utf8_lossy(&out[n..]).into_owned(),
    )
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn the_trace_crosses_a_spawn_and_a_hop() {
    let backend = full(None, None);
    let front = full(Some(backend.addr()), None);
    let (status, body) = request(
        front.addr(),
        "GET",
        "/front?path=/trace",
        &[("traceparent", TP)],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    let f = &v["frontend"];
    assert_eq!(
        f["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "frontend keeps the trace: {v}"
    );
    assert_eq!(
        f["parent_id"], "00f067aa0ba902b7",
        "frontend's parent is the caller: {v}"
    );
    assert_ne!(f["span_id"], "00f067aa0ba902b7");
    let b = json(v["backend"].as_str().expect("backend body"));
    assert_eq!(
        b["trace_id"], f["trace_id"],
        "same trace on the backend: {b}"
    );
    assert_eq!(
        b["parent_id"], f["span_id"],
        "the backend's parent is the frontend's span: {b}"
    );
    assert_ne!(
        b["span_id"], f["span_id"],
        "the backend made a span of its own"
    );
    assert_eq!(
        b["spawned"]["trace_id"], f["trace_id"],
        "a G the backend spawned inherits it: {b}"
    );
    assert_eq!(b["spawned"]["span_id"], b["span_id"]);
    assert_eq!(b["route"], "/trace");
    assert_eq!(front.stop().unwrap(), 1);
    assert_eq!(backend.stop().unwrap(), 1);
}

#[test]
fn a_malformed_traceparent_is_ignored_and_a_new_trace_starts() {
    let backend = full(None, None);
    for bad in [
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        &TP.to_uppercase(),
        &"9".repeat(4000),
    ] {
        let (status, body) = request(
            backend.addr(),
            "GET",
            "/trace",
            &[("traceparent", bad)],
            b"",
        );
        assert_eq!(status, 200, "{bad:?}: {body}");
        let v = json(&body);
        let id = v["trace_id"].as_str().expect("a fresh trace id");
        assert_eq!(id.len(), 32);
        assert_ne!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(v["parent_id"].is_null(), "a root span has no parent: {v}");
    }
    backend.stop().unwrap();
}

#[test]
fn tagged_writes_reach_only_the_shadow_store_across_two_hops() {
    let dir = std::env::temp_dir().join(format!("two-tier-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let backend = full(None, Some(dir.clone()));
    let front = full(Some(backend.addr()), None);
    // 60 requests: every third tagged by header, every third by tracestate,
    // the rest real. Keys say which they are.
    let (mut tagged, mut real) = (0, 0);
    for i in 0..60 {
        let (key, headers): (String, Vec<(&str, &str)>) = match i % 3 {
            0 => (format!("t{i}"), vec![("x-load-test", "run-1")]),
            1 => (
                format!("s{i}"),
                vec![("tracestate", "vendor=a,loadtest=run-2")],
            ),
            _ => (format!("r{i}"), vec![]),
        };
        if i % 3 == 2 {
            real += 1
        } else {
            tagged += 1
        }
        let target = format!("/front?path=/store?key={key}");
        let (status, body) = request(front.addr(), "PUT", &target, &headers, key.as_bytes());
        assert_eq!(status, 200, "{key}: {body}");
    }
    // A tagged read sees its own write; a real read does not see it.
    let (s, _) = request(
        front.addr(),
        "GET",
        "/front?path=/store?key=t0",
        &[("x-load-test", "run-1")],
        b"",
    );
    assert_eq!(s, 200);
    let (s, _) = request(backend.addr(), "GET", "/store?key=t0", &[], b"");
    assert_eq!(s, 404, "real traffic must not read shadow data");
    let stores = backend.routes().stores().expect("stores");
    let real_recs = stores.real.records().unwrap();
    let shadow_recs = stores.shadow.records().unwrap();
    println!(
        "real store: {} records, shadow store: {} records",
        real_recs.len(),
        shadow_recs.len()
    );
    assert_eq!((real_recs.len(), shadow_recs.len()), (real, tagged));
    assert!(
        real_recs
            .iter()
            .all(|(k, v, tag)| k.starts_with('r') && tag.is_empty() && v == k.as_bytes()),
        "{real_recs:?}"
    );
    assert!(
        shadow_recs
            .iter()
            .all(|(k, _, tag)| (k.starts_with('t') && tag == "run-1")
                || (k.starts_with('s') && tag == "run-2")),
        "{shadow_recs:?}"
    );
    let m = backend.routes().metrics().snapshot("/store").unwrap();
    assert_eq!((m.requests, m.errors), (62, 0));
    front.stop().unwrap();
    backend.stop().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_dead_backend_is_a_502_and_counted_as_an_error() {
    let backend = full(None, None);
    let addr = backend.addr();
    backend.stop().unwrap();
    let front = full(Some(addr), None);
    let (s, body) = request(front.addr(), "GET", "/front?path=/", &[], b"");
    assert_eq!(s, 502, "{body}");
    let (s, text) = request(front.addr(), "GET", "/metrics", &[], b"");
    assert_eq!(s, 200);
    assert!(
        text.contains("service_request_errors_total{route=\"/front\"} 1\n"),
        "{text}"
    );
    let (_, j) = request(front.addr(), "GET", "/metrics?format=json", &[], b"");
    let v = json(&j);
    let front_row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/front")
        .unwrap()
        .clone();
    assert_eq!(
        (front_row["requests"].as_u64(), front_row["errors"].as_u64()),
        (Some(1), Some(1))
    );
    front.stop().unwrap();
}

#[test]
fn two_tier_mode_needs_the_full_engine_on_our_runtime() {
    let e = Server::start(Options {
        engine: Engine::Fast,
        backend: Some("127.0.0.1:1".parse().unwrap()),
        ..Options::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("--engine full"), "{e}");
}

#[test]
fn the_breaker_opens_on_an_injected_backend_fault_fails_fast_and_recovers() {
    use service::breaker::{ManualClock, State};
    use std::sync::Arc;
    // The breaker reads a clock the test moves: its open period passes when
    // the test says so, not after a wall-clock wait (the calls themselves
    // are real requests through both services).
    let clock = Arc::new(ManualClock::default());
    let backend = full(None, None);
    let front = Server::start(Options {
        engine: Engine::Full,
        runtime: RuntimeKind::Ours,
        backend: Some(backend.addr()),
        breaker: Some(service::breaker::Config {
            wait_in_open: Duration::from_millis(50),
            max_wait_in_open: Duration::from_millis(400),
            ..service::server::default_breaker()
        }),
        breaker_clock: Some(clock.clone()),
        ..Options::default()
    })
    .unwrap();
    let state = || front.routes().breaker_state().unwrap();
    let call = || request(front.addr(), "GET", "/front?path=/", &[], b"");
    for _ in 0..10 {
        assert_eq!(call().0, 200);
    }
    backend.routes().set_fault(true);
    for i in 0..10 {
        let (s, body) = call();
        assert_eq!(s, 500, "call {i} reaches the faulty backend: {body}");
    }
    assert_eq!(
        state(),
        State::Open,
        "10 failures in the last 20 calls = 50 %: {:?}",
        front.routes().breaker().unwrap().transitions()
    );
    let before = backend.requests();
    let (s, body) = call();
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("circuit breaker is open"), "{body}");
    clock.advance(Duration::from_millis(49));
    assert_eq!(call().0, 503, "still open 1 ms before its period ends");
    assert_eq!(
        backend.requests(),
        before,
        "an open breaker does not call the backend"
    );
    backend.routes().set_fault(false);
    clock.advance(Duration::from_millis(1));
    // The open period is over: the next 3 calls are the trials, and they
    // reach the repaired backend.
    for i in 0..3 {
        let (s, body) = call();
        assert_eq!(s, 200, "trial {i}: {body}");
    }
    assert_eq!(backend.requests(), before + 3, "exactly 3 trial calls");
    assert_eq!(state(), State::Closed, "3 good trials close it");
    let b = front.routes().breaker().unwrap();
    assert_eq!(
        (
            b.transitions_to(State::Open),
            b.transitions_to(State::HalfOpen),
            b.transitions_to(State::Closed)
        ),
        (1, 1, 1)
    );
    let (_, text) = request(front.addr(), "GET", "/metrics", &[], b"");
    assert!(
        text.contains("service_breaker_transitions_total{breaker=\"backend\",to=\"open\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("service_breaker_state{breaker=\"backend\",state=\"closed\"} 1\n"),
        "{text}"
    );
    front.stop().unwrap();
    backend.stop().unwrap();
}

#[test]
fn a_route_limiter_answers_429_past_its_burst_and_bad_limits_fail_at_start() {
    for engine in [Engine::Fast, Engine::Full] {
        let s = Server::start(Options {
            engine,
            limits_per_route: vec![(
                "/work".into(),
                service::Limit::Gcra {
                    rate: 0.01,
                    burst: 5,
                },
            )],
            ..Options::default()
        })
        .unwrap();
        let codes: Vec<u16> = (0..10)
            .map(|_| request(s.addr(), "GET", "/work?us=1", &[], b"").0)
            .collect();
        assert_eq!(
            codes,
            [200, 200, 200, 200, 200, 429, 429, 429, 429, 429],
            "{engine:?}"
        );
        assert_eq!(
            request(s.addr(), "GET", "/", &[], b"").0,
            200,
            "other routes are not limited"
        );
        s.stop().unwrap();
    }
    for bad in [
        service::Limit::Gcra {
            rate: 0.0,
            burst: 5,
        },
        service::Limit::TokenBucket {
            rate: -3.0,
            burst: 1,
        },
    ] {
        let e = Server::start(Options {
            limits_per_route: vec![("/work".into(), bad)],
            ..Options::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("above 0"), "{e}");
    }
}

#[test]
fn the_fast_engine_runs_each_request_inside_its_span_labels_too() {
    let s = Server::start(Options {
        engine: Engine::Fast,
        ..Options::default()
    })
    .unwrap();
    let (status, body) = request(
        s.addr(),
        "GET",
        "/trace",
        &[("traceparent", TP), ("x-load-test", "fast-1")],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736", "{v}");
    assert_eq!(v["parent_id"], "00f067aa0ba902b7", "{v}");
    assert_eq!(v["load_test"], "fast-1", "{v}");
    assert!(v["spawned"].is_null(), "the sync path does not spawn: {v}");
    s.stop().unwrap();
}
