//! Every engine on 127.0.0.1, driven by a plain std client: the routes,
//! keep-alive, pipelining, malformed and oversize requests, the connection
//! limit. Each test starts its own server on a free port and stops it; reads
//! have a timeout, so a broken engine fails the test instead of hanging it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use service::fast::Limits;
use service::{Engine, Options, RuntimeKind, Server};

const ENGINES: [(Engine, RuntimeKind); 4] = [
    (Engine::Fast, RuntimeKind::Ours),
    (Engine::Full, RuntimeKind::Ours),
    (Engine::Full, RuntimeKind::Tokio),
    (Engine::Threads, RuntimeKind::Ours),
];

fn start(engine: Engine, runtime: RuntimeKind) -> Server {
    Server::start(Options {
        engine,
        runtime,
        procs: 2,
        limits: Limits {
            max_head: 4096,
            max_body: 64 * 1024,
        },
        ..Options::default()
    })
    .expect("start a server on 127.0.0.1")
}

fn connect(server: &Server) -> TcpStream {
    let c = TcpStream::connect(server.addr()).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// Reads until `n` complete responses (by Content-Length) have arrived, or
/// the server closes. Returns (status, body) pairs.
fn read_responses(c: &mut TcpStream, n: usize) -> Vec<(u16, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // parse what we have
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            let Ok(httparse::Status::Complete(head)) = resp.parse(&buf) else {
                break;
            };
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            if buf.len() < head + len {
                break;
            }
            out.push((resp.code.unwrap(), buf[head..head + len].to_vec()));
            buf.drain(..head + len);
        }
        if out.len() >= n {
            return out;
        }
        match c.read(&mut chunk) {
            Ok(0) | Err(_) => return out,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
}

fn closed_by_server(c: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    matches!(c.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn every_engine_serves_every_route_over_one_kept_alive_connection() {
    for (engine, rt) in ENGINES {
        let server = start(engine, rt);
        let mut c = connect(&server);
        let requests: [(&str, u16, &[u8]); 6] = [
            (
                "GET / HTTP/1.1\r\nHost: t\r\n\r\n",
                200,
                b"hello from the course runtime\n",
            ),
            (
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping",
                200,
                b"ping",
            ),
            (
                "GET /work?us=200 HTTP/1.1\r\nHost: t\r\n\r\n",
                200,
                b"worked\n",
            ),
            (
                "GET /sleep?ms=20 HTTP/1.1\r\nHost: t\r\n\r\n",
                200,
                b"slept\n",
            ),
            (
                "GET /alloc?kb=8 HTTP/1.1\r\nHost: t\r\n\r\n",
                200,
                b"allocated 8 KiB, touched 2 pages\n",
            ),
            (
                "GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
                404,
                b"not found\n",
            ),
        ];
        for (req, status, body) in requests {
            c.write_all(req.as_bytes()).unwrap();
            let got = read_responses(&mut c, 1);
            assert_eq!(
                got.first().map(|(s, b)| (*s, b.as_slice())),
                Some((status, body)),
                "{engine:?} on {rt:?}: {req:?} should get {status} on the same connection"
            );
        }
        drop(c);
        assert_eq!(
            server.stop().unwrap(),
            6,
            "{engine:?} on {rt:?} counted its requests"
        );
    }
}

#[test]
fn pipelined_requests_come_back_in_order() {
    for (engine, rt) in ENGINES {
        let server = start(engine, rt);
        let mut c = connect(&server);
        let mut batch = String::new();
        for i in 0..20 {
            batch += &format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\nreq-{i}",
                format!("req-{i}").len()
            );
        }
        c.write_all(batch.as_bytes()).unwrap();
        let got = read_responses(&mut c, 20);
        let bodies: Vec<String> = got
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect();
        let want: Vec<String> = (0..20).map(|i| format!("req-{i}")).collect();
        assert_eq!(
            bodies, want,
            "{engine:?} on {rt:?} answers 20 pipelined requests in order"
        );
    }
}

#[test]
fn malformed_requests_get_400_and_the_connection_closes() {
    for (engine, rt) in ENGINES {
        let server = start(engine, rt);
        let mut c = connect(&server);
        c.write_all(b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n")
            .unwrap();
        let got = read_responses(&mut c, 1);
        assert_eq!(
            got.first().map(|r| r.0),
            Some(400),
            "{engine:?} on {rt:?}: malformed head is 400"
        );
        assert!(
            closed_by_server(&mut c),
            "{engine:?} on {rt:?} closes after a malformed head"
        );
        assert_eq!(
            server.stop().unwrap(),
            0,
            "{engine:?} on {rt:?}: nothing reached a route"
        );
    }
}

#[test]
fn oversize_heads_get_431_and_oversize_bodies_413() {
    for (engine, rt) in ENGINES {
        let server = start(engine, rt);
        let mut c = connect(&server);
        // 40 KiB of headers: over our 4 KiB limit and hyper's smallest
        // buffer (8 KiB + its slack), small enough to sit in the server's
        // socket buffer so the answer is not lost to a reset.
        let head = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000));
        c.write_all(head.as_bytes()).unwrap();
        let got = read_responses(&mut c, 1);
        assert_eq!(
            got.first().map(|r| r.0),
            Some(431),
            "{engine:?} on {rt:?}: oversize head is 431"
        );

        let mut c = connect(&server);
        c.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
            .unwrap();
        let got = read_responses(&mut c, 1);
        assert_eq!(
            got.first().map(|r| r.0),
            Some(413),
            "{engine:?} on {rt:?}: a 100 KB body over a 64 KiB limit is 413"
        );
    }
}

#[test]
fn connections_past_the_limit_are_refused_with_503() {
    let server = Server::start(Options {
        max_connections: 2,
        ..Options::default()
    })
    .unwrap();
    let mut a = connect(&server);
    let mut b = connect(&server);
    for c in [&mut a, &mut b] {
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(read_responses(c, 1)[0].0, 200);
    }
    let mut third = connect(&server);
    assert_eq!(
        read_responses(&mut third, 1).first().map(|r| r.0),
        Some(503),
        "the third of two allowed"
    );
    drop(a);
    // The slot comes back once the server sees the close; retry until then.
    let mut ok = false;
    for _ in 0..100 {
        let mut c = connect(&server);
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        if read_responses(&mut c, 1).first().map(|r| r.0) == Some(200) {
            ok = true;
            break;
        }
    }
    assert!(ok, "a closed connection frees its slot");
}
