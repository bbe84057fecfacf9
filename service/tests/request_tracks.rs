//! A request followed through two services and their schedulers: the
//! frontend and the backend run with the runtime's trace on, three requests
//! with known trace ids cross both, and each service's Chrome trace gets
//! one track per request with its polls, its waits and their reasons.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use service::reqtrace;
use service::{Engine, Options, RuntimeKind, Server};

fn start(name: &str, backend: Option<std::net::SocketAddr>) -> Server {
    Server::start(Options {
        engine: Engine::Full,
        runtime: RuntimeKind::Ours,
        procs: 2,
        backend,
        name: Some(name.into()),
        trace: true,
        ..Options::default()
    })
    .expect("start on 127.0.0.1")
}

fn get(addr: std::net::SocketAddr, target: &str, traceparent: &str) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\ntraceparent: {traceparent}\r\n\r\n").unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).expect("a response in time");
    out
}

#[test]
fn each_request_gets_a_track_with_its_polls_and_waits_in_both_services() {
    reqtrace::enable(true);
    let backend = start("backend", None);
    let front = start("frontend", Some(backend.addr()));
    let ids = [
        "11111111111111111111111111111111",
        "22222222222222222222222222222222",
        "33333333333333333333333333333333",
    ];
    for id in ids {
        let r = get(
            front.addr(),
            "/front?path=/sleep?ms=5",
            &format!("00-{id}-00f067aa0ba902b7-01"),
        );
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    let (_, ftrace) = front.stop_with_trace().unwrap();
    let (_, btrace) = backend.stop_with_trace().unwrap();
    let (ftrace, btrace) = (
        ftrace.expect("frontend trace"),
        btrace.expect("backend trace"),
    );
    let notes = reqtrace::notes();
    for (service, trace) in [("frontend", &ftrace), ("backend", &btrace)] {
        let evs = reqtrace::request_events(trace, &notes, service, 3);
        for id in ids {
            let name = format!("req {}", &id[..8]);
            let tid = evs
                .iter()
                .find(|e| e["name"] == "thread_name" && e["args"]["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{service}: no track {name}"))["tid"]
                .clone();
            let bars: Vec<&serde_json::Value> = evs
                .iter()
                .filter(|e| e["ph"] == "X" && e["tid"] == tid)
                .collect();
            let polls = bars.iter().filter(|b| b["cat"] == "g").count();
            let waits: Vec<&str> = bars
                .iter()
                .filter_map(|b| b["name"].as_str().filter(|n| n.starts_with("wait: ")))
                .collect();
            assert!(polls >= 2, "{service} {name}: polls {polls}, bars {bars:?}");
            assert!(
                bars.iter()
                    .filter(|b| b["cat"] == "g")
                    .all(|b| b["args"]["p"].is_u64() && b["args"]["m"].is_u64()),
                "{service}: each poll names its P and M"
            );
            assert!(!waits.is_empty(), "{service} {name}: no waits in {bars:?}");
            println!("{service} {name}: {polls} polls, waits {waits:?}");
        }
        // The frontend's request waits on the backend's socket (io).
        if service == "frontend" {
            assert!(
                evs.iter().any(|e| e["name"] == "wait: io"),
                "the frontend waits on the backend's socket"
            );
        }
        let json = reqtrace::chrome_json_with_requests(trace, &notes, service);
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(
            doc["traceEvents"].as_array().unwrap().len() > evs.len(),
            "the runtime's own tracks are kept"
        );
    }
}
