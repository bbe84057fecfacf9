//! ex15's routers under the load generator: the learner's router (or, with
//! `--features solutions`, the reference one) and `matchit` each route the
//! requests of a real HTTP server (the service's fast engine on our
//! runtime, one P), and `loadgen` drives both with the same closed-loop
//! load, path by path, alternating which router goes first, so the two see
//! the same machine. The figure is the ratio of their QPS and P99; the
//! target is at most 15% slower than matchit.
//!
//! What it teaches next to the criterion bench (`ex15_router`): there the
//! router's own cost is measured, a fraction of a microsecond; here it is
//! one part of a request that also parses, writes and crosses the loopback
//! twice, so a router twice as slow would still move QPS by a few percent.
//! Measure the part, and then measure the whole.
//!
//! `cargo bench -p exercises --features solutions --bench ex15_router_http`
//! (about 25 s; `-- --quick` for one round of a few paths).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::Duration;

use runtime::net::TcpListener;
use service::Reply;
use service::fast::{Limits, Request};

#[path = "../tests/routes/mod.rs"]
mod table;

/// Paths measured: a static route, parameters, a deep one, a catch-all, a
/// miss (a 404 still walks the tree).
const PATHS: [&str; 6] = [
    "/users/me/settings",
    "/users/42/repos/course/issues/7",
    "/repos/tokio-rs/tokio/pulls/1",
    "/repos/tokio-rs/tokio/contents/src/lib.rs",
    "/orgs/rust-lang/teams/libs",
    "/nope",
];

/// One server routing every request's path with `route` (true: a route
/// matched).
fn start(name: &'static str, route: Arc<dyn Fn(&str) -> bool + Send + Sync>) -> Server {
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("{name}-server"))
        .spawn(move || {
            let rt = runtime::Runtime::builder()
                .procs(1)
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
                tx.send(listener.local_addr().expect("an address"))
                    .expect("the bench waits");
                let handler = move |req: &Request<'_>| {
                    let path = req.target().split('?').next().unwrap_or("/");
                    // A miss is answered 200 too: loadgen counts a 4xx as a
                    // failed request and leaves it out of QPS, and here the
                    // miss is a measured case (it walks the tree as well).
                    if route(path) {
                        Reply::text(200, "routed\n")
                    } else {
                        Reply::text(200, "no route\n")
                    }
                };
                service::fast::serve(listener, Arc::new(handler), Limits::default(), 64, flag)
                    .await
                    .expect("serve");
            });
        })
        .expect("spawn the server thread");
    let addr = rx.recv().expect("the server's address");
    Server {
        addr,
        stop,
        thread: Some(thread),
    }
}

struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        // The accept loop checks the flag after each accept: wake it.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One closed-loop run of `d` against `addr` with `path`: (QPS, P99 µs).
fn load(addr: SocketAddr, path: &str, d: Duration) -> (f64, u64) {
    let mut cfg = loadgen::Config::new(addr);
    cfg.path = path.to_string();
    cfg.mode = loadgen::Mode::Closed;
    cfg.connections = 8;
    cfg.duration = d;
    cfg.max_requests = u64::MAX;
    let run = loadgen::run(&cfg).expect("a loadgen run");
    assert_eq!(run.report.errors, 0, "{path}: errors under load");
    (run.report.qps, run.report.p99_us)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, paths, d) = if quick {
        (1, &PATHS[..2], Duration::from_millis(300))
    } else {
        (3, &PATHS[..], Duration::from_millis(600))
    };

    let mut ours = exercises::ex15_router::Router::new();
    let mut theirs = matchit::Router::new();
    for (i, route) in table::ROUTES.iter().enumerate() {
        ours.insert(route, i).expect("our router takes the table");
        theirs.insert(*route, i).expect("matchit takes the table");
    }
    for p in table::PATHS {
        assert_eq!(
            ours.at(p).map(|m| *m.value),
            theirs.at(p).ok().map(|m| *m.value),
            "the two routers disagree on {p}"
        );
    }
    let ours = start("ours", Arc::new(move |p: &str| ours.at(p).is_some()));
    let theirs = start("matchit", Arc::new(move |p: &str| theirs.at(p).is_ok()));

    println!(
        "{:<44} {:>10} {:>10} {:>8} {:>10} {:>10}",
        "path (closed loop, 8 connections)",
        "matchit/s",
        "ours/s",
        "ratio",
        "matchit P99",
        "ours P99"
    );
    let (mut sum_m, mut sum_o) = (0.0, 0.0);
    for path in paths {
        let (mut qm, mut qo, mut pm, mut po) = (0.0, 0.0, 0, 0);
        for round in 0..rounds {
            // Alternate who goes first, so neither always meets the same
            // moment of the machine's load.
            let (m, o) = if round % 2 == 0 {
                let m = load(theirs.addr, path, d);
                (m, load(ours.addr, path, d))
            } else {
                let o = load(ours.addr, path, d);
                (load(theirs.addr, path, d), o)
            };
            qm += m.0;
            qo += o.0;
            pm = pm.max(m.1);
            po = po.max(o.1);
        }
        qm /= rounds as f64;
        qo /= rounds as f64;
        sum_m += qm;
        sum_o += qo;
        println!(
            "{path:<44} {qm:>10.0} {qo:>10.0} {:>8.3} {:>8} µs {:>8} µs",
            qo / qm,
            pm,
            po
        );
    }
    let ratio = sum_o / sum_m;
    println!(
        "ours / matchit, QPS over every path: {ratio:.3} (target: at least 0.87, at most 15% slower): {}",
        if ratio >= 1.0 / 1.15 {
            "met"
        } else {
            "NOT met"
        }
    );
    drop(ours);
    drop(theirs);
}
