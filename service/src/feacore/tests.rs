//! The two versions side by side: same answers, and the fan-out seen by the
//! stores' counters.

use std::io::{Read, Write};
use std::time::Duration;

use super::after::AfterConfig;
use super::before::BeforeConfig;
use super::*;

/// One `GET` on a fresh connection; the whole response.
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    write!(c, "GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").expect("send");
    let mut reply = String::new();
    c.read_to_string(&mut reply).expect("read");
    reply
}

fn body(reply: &str) -> &str {
    reply.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn both_versions_answer_the_same_bytes_from_the_same_stores() {
    let stores = Stores::start(4, Duration::from_millis(1)).unwrap();
    let before = Before::start(stores.addrs(), BeforeConfig::default()).unwrap();
    let after = After::start(stores.addrs(), AfterConfig::default()).unwrap();
    for entity in [0u64, 7, 123_456_789] {
        let path = format!("/features/{entity}");
        let (b, a) = (get(before.addr(), &path), get(after.addr(), &path));
        assert!(b.starts_with("HTTP/1.1 200 OK"), "before: {b}");
        assert!(a.starts_with("HTTP/1.1 200 OK"), "after: {a}");
        assert_eq!(body(&b), body(&a), "entity {entity}: the same features");
        // And the body is what the stores' rows give.
        let rows: Vec<_> = (0..4).map(|i| store::row(i, entity)).collect();
        let (mut scratch, mut expect) = (Vec::new(), Vec::new());
        compute::features(
            entity,
            &rows,
            Settings::default(),
            &mut scratch,
            &mut expect,
        );
        assert_eq!(body(&a).as_bytes(), &expect[..], "entity {entity}");
    }
    assert_eq!(
        stores.total().calls,
        24,
        "3 entities x 2 versions x 4 stores"
    );
    assert_eq!(after.stats().answered, 3);
    for (what, path, status) in [
        ("no entity", "/nope", "404"),
        ("a bad entity", "/features/x", "404"),
    ] {
        assert!(
            get(after.addr(), path).starts_with(&format!("HTTP/1.1 {status}")),
            "after, {what}"
        );
        assert!(
            get(before.addr(), path).starts_with(&format!("HTTP/1.1 {status}")),
            "before, {what}"
        );
    }
    before.stop();
    after.stop();
    stores.stop();
}

/// A slow store (250 ms) makes the overlap certain: the task version has
/// all four calls of one request in flight together, the pool one.
#[test]
fn only_the_task_version_fans_out() {
    let stores = Stores::start(4, Duration::from_millis(250)).unwrap();
    let before = Before::start(stores.addrs(), BeforeConfig::default()).unwrap();
    assert!(get(before.addr(), "/features/1").starts_with("HTTP/1.1 200"));
    let seq = stores.total();
    before.stop();
    stores.reset();
    let cfg = AfterConfig {
        deadline: Duration::from_secs(30),
        ..AfterConfig::default()
    };
    let after = After::start(stores.addrs(), cfg).unwrap();
    assert!(get(after.addr(), "/features/1").starts_with("HTTP/1.1 200"));
    let fan = stores.total();
    after.stop();
    stores.stop();
    assert_eq!(
        seq,
        StoreStats {
            calls: 4,
            max_in_flight: 1
        },
        "the pool calls one store at a time"
    );
    assert_eq!(
        fan,
        StoreStats {
            calls: 4,
            max_in_flight: 4
        },
        "the task version calls all four at once"
    );
}

#[test]
fn the_limiter_answers_429_past_its_burst_without_calling_a_store() {
    let stores = Stores::start(2, Duration::from_millis(1)).unwrap();
    let cfg = AfterConfig {
        rate: 0.001, // one request per 1000 s: only the burst gets in
        burst: 2,
        ..AfterConfig::default()
    };
    let after = After::start(stores.addrs(), cfg).unwrap();
    let statuses: Vec<String> = (0..4)
        .map(|_| get(after.addr(), "/features/5")[9..12].to_string())
        .collect();
    assert_eq!(
        statuses,
        ["200", "200", "429", "429"],
        "a burst of 2, then shed"
    );
    assert_eq!(
        stores.total().calls,
        4,
        "two admitted requests x two stores; the shed ones call none"
    );
    let s = after.stats();
    assert_eq!((s.answered, s.shed), (2, 2));
    after.stop();
    stores.stop();
}

#[test]
fn the_deadline_answers_504_and_the_connection_recovers() {
    let stores = Stores::start(2, Duration::from_millis(300)).unwrap();
    let cfg = AfterConfig {
        deadline: Duration::from_millis(1),
        ..AfterConfig::default()
    };
    let after = After::start(stores.addrs(), cfg).unwrap();
    // Two requests on one kept-alive connection: both miss the deadline,
    // and the second is still answered (stale answers are skipped).
    let mut c = std::net::TcpStream::connect(after.addr()).unwrap();
    c.write_all(
        b"GET /features/1 HTTP/1.1\r\n\r\nGET /features/2 HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert_eq!(
        reply.matches("HTTP/1.1 504 Gateway Timeout").count(),
        2,
        "{reply}"
    );
    assert_eq!(after.stats().timed_out, 2);
    after.stop();
    stores.stop();
}

#[test]
fn a_malformed_request_gets_400_and_a_close() {
    let stores = Stores::start(1, Duration::from_millis(1)).unwrap();
    let after = After::start(stores.addrs(), AfterConfig::default()).unwrap();
    let mut c = std::net::TcpStream::connect(after.addr()).unwrap();
    c.write_all(b"GET\0 /features/1 HTTP/1.1\r\n\r\n").unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap(); // ends: the server closed
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(reply.contains("Connection: close"), "{reply}");
    after.stop();
    stores.stop();
}
