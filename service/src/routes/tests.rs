//! Tests of the routing table: every route answers and is counted, the
//! sleep and the stall set deadlines instead of blocking.

use super::*;

#[test]
fn each_route_answers_and_is_counted() {
    let r = Routes::default();
    assert_eq!(r.respond("GET", "/", b"").status, 200);
    assert_eq!(r.respond("GET", "/work?us=10", b"").status, 200);
    assert_eq!(
        r.respond("GET", "/alloc?kb=64", b"").body.as_bytes(),
        b"allocated 64 KiB, touched 16 pages\n"
    );
    assert_eq!(r.respond("GET", "/echo", b"").status, 405);
    assert_eq!(r.respond("GET", "/nope", b"").status, 404);
    assert_eq!(r.respond("GET", "/work?us=2000000", b"").status, 400);
    assert_eq!(r.requests(), 6);
    let m = r.metrics_text();
    assert!(
        m.contains("service_requests_total{route=\"/work\"} 2"),
        "{m}"
    );
}

#[test]
fn sleep_sets_a_deadline_instead_of_blocking() {
    let r = Routes::default();
    let before = Instant::now();
    let reply = r.respond("GET", "/sleep?ms=50", b"");
    assert!(
        before.elapsed() < Duration::from_millis(50),
        "the route itself must not sleep"
    );
    let t = reply.not_before.expect("a deadline");
    assert!(t >= before + Duration::from_millis(50));
}

#[test]
fn a_stall_holds_replies_until_its_window_ends() {
    let r = Routes::new(Some(Stall {
        every: Duration::from_millis(1000),
        pause: Duration::from_millis(200),
    }));
    let t0 = r.start;
    assert_eq!(r.stalled_until(t0 + Duration::from_millis(500)), None);
    assert_eq!(
        r.stalled_until(t0 + Duration::from_millis(850)),
        Some(t0 + Duration::from_millis(1000))
    );
    assert_eq!(
        r.stalled_until(t0 + Duration::from_millis(1999)),
        Some(t0 + Duration::from_millis(2000))
    );
}
