//! The routes both engines serve, written once.
//!
//! A route is a plain function from (method, target, body) to a [`Reply`]:
//! no I/O and no timer, so the fast engine, the hyper engine on our runtime,
//! the hyper engine on tokio and the thread-per-connection server all run the
//! same code, and a benchmark compares engines, not handlers.
//!
//! Waiting is the one thing a route cannot do itself, because each engine
//! has its own timer (`runtime::sleep`, tokio's, `thread::sleep`). So a
//! reply may carry `not_before`: the engine holds the response until then.
//! `/sleep?ms=N` uses it, and so does the optional *stall*: a server that
//! freezes for `pause` once every `every` (a stop-the-world pause, a full
//! GC, a noisy neighbour), which is what the coordinated-omission lesson
//! needs a load generator to notice.
//!
//! | route | what it does |
//! |---|---|
//! | `/` | a short plain-text greeting |
//! | `/echo` | POST: the request body back |
//! | `/work?us=N` | N µs of CPU (a busy loop), then a reply |
//! | `/sleep?ms=N` | a reply after N ms on the engine's timer |
//! | `/alloc?kb=N` | allocates N KiB, touches every page, frees it |
//! | `/metrics` | request counters in Prometheus' text format |

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The largest `/work?us=N` accepted (one second of CPU).
pub const MAX_WORK_US: u64 = 1_000_000;
/// The largest `/sleep?ms=N` accepted.
pub const MAX_SLEEP_MS: u64 = 60_000;
/// The largest `/alloc?kb=N` accepted (64 MiB).
pub const MAX_ALLOC_KB: u64 = 64 * 1024;

/// A server that freezes for `pause` once every `every`, measured from the
/// moment the routes were created: requests arriving during the pause are
/// answered when it ends (like a stop-the-world pause in Go's GC, but long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// How often the server stalls.
    pub every: Duration,
    /// How long each stall lasts (shorter than `every`).
    pub pause: Duration,
}

/// A response body: a constant or bytes made for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A body known at compile time.
    Static(&'static [u8]),
    /// A body made for this request.
    Owned(Vec<u8>),
}

impl Body {
    /// The body's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Static(b) => b,
            Body::Owned(v) => v,
        }
    }
}

/// What a route answers (Go's `http.ResponseWriter`, written all at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: Body,
    /// Hold the response until this instant (a sleep or a stall).
    pub not_before: Option<Instant>,
}

impl Reply {
    /// A plain-text reply with a constant body.
    ///
    /// ```
    /// let r = service::Reply::text(404, "not found\n");
    /// assert_eq!((r.status, r.body.as_bytes()), (404, &b"not found\n"[..]));
    /// ```
    pub fn text(status: u16, body: &'static str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Body::Static(body.as_bytes()),
            not_before: None,
        }
    }

    fn owned(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type,
            body: Body::Owned(body),
            not_before: None,
        }
    }
}

/// The reason phrase of the status codes the engines send.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Route names, in the order of the request counters.
const ROUTES: [&str; 7] = [
    "/", "/echo", "/work", "/sleep", "/alloc", "/metrics", "other",
];

/// The routes and their counters, shared by every connection of a server.
#[derive(Debug)]
pub struct Routes {
    start: Instant,
    stall: Option<Stall>,
    counts: [AtomicU64; ROUTES.len()],
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new(None)
    }
}

impl Routes {
    /// Routes with an optional stall.
    pub fn new(stall: Option<Stall>) -> Routes {
        Routes {
            start: Instant::now(),
            stall,
            counts: Default::default(),
        }
    }

    /// Requests answered so far, all routes together.
    pub fn requests(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Answers one request (Go's `ServeMux.ServeHTTP` plus the handlers).
    /// `target` is the request line's target, path and query.
    ///
    /// ```
    /// let routes = service::Routes::default();
    /// let r = routes.respond("POST", "/echo", b"hi");
    /// assert_eq!((r.status, r.body.as_bytes()), (200, &b"hi"[..]));
    /// assert_eq!(routes.respond("GET", "/work?us=oops", b"").status, 400);
    /// ```
    pub fn respond(&self, method: &str, target: &str, body: &[u8]) -> Reply {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let index = ROUTES
            .iter()
            .position(|r| *r == path)
            .unwrap_or(ROUTES.len() - 1);
        self.counts[index].fetch_add(1, Ordering::Relaxed);
        let mut reply = match (method, path) {
            ("GET", p) if p.starts_with("/debug/pprof") => crate::pprof::respond(p, query).unwrap(),
            ("GET" | "HEAD", "/") => Reply::text(200, "hello from the course runtime\n"),
            ("POST" | "PUT", "/echo") => {
                Reply::owned(200, "application/octet-stream", body.to_vec())
            }
            (_, "/echo") => Reply::text(405, "POST a body to /echo\n"),
            ("GET", "/work") => match number(query, "us", MAX_WORK_US) {
                Some(us) => {
                    spin(Duration::from_micros(us));
                    Reply::text(200, "worked\n")
                }
                None => Reply::text(400, "/work needs ?us=N (0 to 1000000)\n"),
            },
            ("GET", "/sleep") => match number(query, "ms", MAX_SLEEP_MS) {
                Some(ms) => {
                    let mut r = Reply::text(200, "slept\n");
                    r.not_before = Some(Instant::now() + Duration::from_millis(ms));
                    r
                }
                None => Reply::text(400, "/sleep needs ?ms=N (0 to 60000)\n"),
            },
            ("GET", "/alloc") => match number(query, "kb", MAX_ALLOC_KB) {
                Some(kb) => {
                    let touched = alloc_and_free(kb as usize * 1024);
                    Reply::owned(
                        200,
                        "text/plain; charset=utf-8",
                        format!("allocated {kb} KiB, touched {touched} pages\n").into_bytes(),
                    )
                }
                None => Reply::text(400, "/alloc needs ?kb=N (0 to 65536)\n"),
            },
            ("GET", "/metrics") => Reply::owned(
                200,
                "text/plain; version=0.0.4",
                self.metrics_text().into_bytes(),
            ),
            (_, "/" | "/work" | "/sleep" | "/alloc" | "/metrics") => {
                Reply::text(405, "method not allowed\n")
            }
            _ => Reply::text(404, "not found\n"),
        };
        if let Some(until) = self.stalled_until(Instant::now()) {
            reply.not_before = Some(reply.not_before.map_or(until, |t| t.max(until)));
        }
        reply
    }

    /// If `now` falls in a stall, when the stall ends. Each period of
    /// `every` ends with its pause, so the first period starts clean.
    pub fn stalled_until(&self, now: Instant) -> Option<Instant> {
        let stall = self.stall?;
        let every = stall.every.as_nanos().max(1);
        let phase = now.saturating_duration_since(self.start).as_nanos() % every;
        let pause_from = every.saturating_sub(stall.pause.as_nanos());
        (phase >= pause_from).then(|| now + Duration::from_nanos((every - phase) as u64))
    }

    /// The counters in Prometheus' text exposition format.
    pub fn metrics_text(&self) -> String {
        let mut s = String::from(
            "# HELP service_requests_total Requests answered, by route.\n# TYPE service_requests_total counter\n",
        );
        for (name, c) in ROUTES.iter().zip(&self.counts) {
            s += &format!(
                "service_requests_total{{route=\"{name}\"}} {}\n",
                c.load(Ordering::Relaxed)
            );
        }
        s
    }
}

/// `key=N` from a query string, if present, a number, and at most `max`.
fn number(query: &str, key: &str, max: u64) -> Option<u64> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .filter(|n| *n <= max)
}

/// Burns CPU for `d` (what a handler doing real work looks like to the
/// scheduler: no await, no syscall).
fn spin(d: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        for _ in 0..64 {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// Allocates `bytes`, writes one byte per 4 KiB page so the memory is real,
/// frees it, and returns how many pages were touched.
fn alloc_and_free(bytes: usize) -> usize {
    let mut v = vec![0u8; bytes];
    let mut pages = 0;
    for i in (0..v.len()).step_by(4096) {
        v[i] = 1;
        pages += 1;
    }
    black_box(&v);
    pages
}

#[cfg(test)]
mod tests {
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
}
