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
//! | `/metrics` | per-route metrics in Prometheus' text format (`?format=json`: the same as JSON) |
//! | `/trace` | the trace and tag labels this request's G and a G it spawned carry, as JSON |
//! | `/store?key=K` | PUT/POST: store the body under K; GET: read it (tagged traffic: the shadow store) |
//! | `/front?path=P` | two-tier mode: call the backend's `P` with this request's trace and tag |
//!
//! Every request runs inside [`runtime::with_labels`] with its span's
//! labels (see [`crate::traceparent`] and [`crate::tagging`]): its route,
//! the trace id, its own span id, the caller's span id, and the load-test
//! tag if it has one. The sync path ([`Routes::handle`], used by the fast
//! and thread engines) polls the route once inside those labels; the async
//! path ([`Routes::handle_async`], the hyper engine) awaits it, so `/front`
//! can call the backend and `/trace` can spawn. Both record the request in
//! [`crate::metrics`], from the moment the routes see it to the moment its
//! response may be sent (a `/sleep` or a stall counts).

use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::breaker::{Breaker, SharedClock, State};
use crate::limiter::RouteLimiter;
use crate::metrics::Metrics;
use crate::reqtrace;
use crate::store::Stores;
use crate::tagging;
use crate::tier::{self, CallOptions};
use crate::traceparent;

pub use crate::incoming::Incoming;

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
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Route names, in the order of the metrics.
pub const ROUTES: [&str; 10] = [
    "/", "/echo", "/work", "/sleep", "/alloc", "/metrics", "/trace", "/store", "/front", "other",
];

/// The routes, their metrics, and what the optional routes need: the
/// backend of the two-tier mode and the stores. Shared by every connection.
#[derive(Debug)]
pub struct Routes {
    start: Instant,
    stall: Option<Stall>,
    metrics: Metrics,
    backend: Option<SocketAddr>,
    call: CallOptions,
    stores: Option<Arc<Stores>>,
    breaker: Option<Breaker<SharedClock>>,
    limiters: Vec<Option<RouteLimiter>>,
    fault: AtomicBool,
    name: Option<String>,
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
            metrics: Metrics::new(&ROUTES),
            backend: None,
            call: CallOptions::default(),
            stores: None,
            breaker: None,
            limiters: ROUTES.iter().map(|_| None).collect(),
            fault: AtomicBool::new(false),
            name: None,
        }
    }

    /// The same routes naming their service `name` in every request's
    /// labels (the `service` label, which [`crate::reqtrace`] uses to tell
    /// two runtimes' Gs apart).
    pub fn with_name(mut self, name: &str) -> Routes {
        self.name = Some(name.to_string());
        self
    }

    /// The same routes with `/front`'s backend calls behind `breaker`.
    pub fn with_breaker(mut self, breaker: Breaker<SharedClock>) -> Routes {
        self.breaker = Some(breaker);
        self
    }

    /// The breaker in front of the backend, if any.
    pub fn breaker(&self) -> Option<&Breaker<SharedClock>> {
        self.breaker.as_ref()
    }

    /// The same routes with `limiter` in front of `route` (one of
    /// [`ROUTES`]; an unknown route is an error, at configuration time).
    /// A request it refuses is answered 429 and never runs.
    pub fn with_limiter(mut self, route: &str, limiter: RouteLimiter) -> Result<Routes, String> {
        let i = ROUTES
            .iter()
            .position(|r| *r == route)
            .ok_or_else(|| format!("no route `{route}` to limit (routes: {})", ROUTES.join(" ")))?;
        self.limiters[i] = Some(limiter);
        Ok(self)
    }

    /// Injects a fault: while on, every route but `/metrics` answers 500
    /// (a backend that has broken, for the breaker lessons and tests).
    pub fn set_fault(&self, on: bool) {
        self.fault.store(on, Ordering::Relaxed);
    }

    /// The same routes with `/front` calling the backend at `addr`.
    pub fn with_backend(mut self, addr: SocketAddr, call: CallOptions) -> Routes {
        self.backend = Some(addr);
        self.call = call;
        self
    }

    /// The same routes with `/store` writing to `stores`.
    pub fn with_stores(mut self, stores: Arc<Stores>) -> Routes {
        self.stores = Some(stores);
        self
    }

    /// The stores `/store` writes to, if any.
    pub fn stores(&self) -> Option<&Arc<Stores>> {
        self.stores.as_ref()
    }

    /// The per-route metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Requests answered so far, all routes together.
    pub fn requests(&self) -> u64 {
        self.metrics.requests()
    }

    fn route_of(path: &str) -> (usize, &'static str) {
        let i = ROUTES
            .iter()
            .position(|r| *r == path)
            .unwrap_or(ROUTES.len() - 1);
        (i, ROUTES[i])
    }

    /// The labels a request's G runs under: its span, and this service's
    /// name when it has one.
    fn labels_of(&self, req: &Incoming<'_>, route: &'static str) -> Vec<(&'static str, String)> {
        let mut labels = req.span_labels(route);
        if let Some(service) = &self.name {
            labels.push((reqtrace::SERVICE, service.clone()));
        }
        labels
    }

    /// Answers one request on the sync path (the fast and thread engines):
    /// the route runs inside the request's span labels, and is recorded.
    pub fn handle(&self, req: &Incoming<'_>) -> Reply {
        let (path, query) = req.target.split_once('?').unwrap_or((req.target, ""));
        let (index, name) = Self::route_of(path);
        let in_flight = self.metrics.begin(index);
        let labels = self.labels_of(req, name);
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(refused) = self.admit(index, path) {
            return self.finish(refused, in_flight, index);
        }
        let reply = poll_once(runtime::with_labels(&pairs, async {
            reqtrace::note();
            match path {
                "/front" => Reply::text(501, "/front needs the full engine (an async handler)\n"),
                _ => self.reply(req.method, path, query, req.body),
            }
        }));
        self.finish(reply, in_flight, index)
    }

    /// Answers one request on the async path (the hyper engine): like
    /// [`Routes::handle`], and `/front` calls the backend, `/trace` spawns.
    pub async fn handle_async(&self, req: &Incoming<'_>) -> Reply {
        let (path, query) = req.target.split_once('?').unwrap_or((req.target, ""));
        let (index, name) = Self::route_of(path);
        let in_flight = self.metrics.begin(index);
        let labels = self.labels_of(req, name);
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(refused) = self.admit(index, path) {
            return self.finish(refused, in_flight, index);
        }
        let reply = runtime::with_labels(&pairs, async {
            reqtrace::note();
            match path {
                "/front" => self.front(req.method, query, req.body).await,
                "/trace" => {
                    // A G the request spawns inherits the span's labels.
                    let spawned = runtime::spawn(async {
                        reqtrace::note();
                        span_json()
                    })
                    .await
                    .ok();
                    trace_reply(spawned)
                }
                _ => self.reply(req.method, path, query, req.body),
            }
        })
        .await;
        self.finish(reply, in_flight, index)
    }

    /// The route's limiter and the injected fault, before the route runs:
    /// `Some(reply)` answers instead of the route.
    fn admit(&self, index: usize, path: &str) -> Option<Reply> {
        if let Some(l) = &self.limiters[index]
            && !l.admit(self.metrics.in_flight(index) - 1)
        {
            return Some(Reply::text(429, "rate limited\n"));
        }
        (path != "/metrics" && self.fault.load(Ordering::Relaxed))
            .then(|| Reply::text(500, "injected fault\n"))
    }

    fn finish(
        &self,
        mut reply: Reply,
        in_flight: crate::metrics::InFlight<'_>,
        index: usize,
    ) -> Reply {
        let now = Instant::now();
        if let Some(until) = self.stalled_until(now) {
            reply.not_before = Some(reply.not_before.map_or(until, |t| t.max(until)));
        }
        let done = reply.not_before.map_or(now, |t| t.max(now));
        if reply.status != 429
            && let Some(l) = &self.limiters[index]
        {
            l.done(done.saturating_duration_since(in_flight.started()));
        }
        in_flight.finish(reply.status, done);
        reply
    }

    /// `/front?path=P`: the backend's `P`, called from a G this request
    /// spawns (so the trace crosses a spawn and a hop).
    async fn front(&self, method: &str, query: &str, body: &[u8]) -> Reply {
        let Some(addr) = self.backend else {
            return Reply::text(503, "no backend configured (start with --backend ADDR)\n");
        };
        let Some(target) = query.strip_prefix("path=").filter(|p| p.starts_with('/')) else {
            return Reply::text(400, "/front needs ?path=/backend/target\n");
        };
        let (method, target, body, opts) = (
            method.to_string(),
            target.to_string(),
            body.to_vec(),
            self.call,
        );
        let frontend = span_json();
        let permit = match self.breaker.as_ref().map(Breaker::try_acquire) {
            Some(Err(rejected)) => {
                return Reply::owned(
                    503,
                    "text/plain; charset=utf-8",
                    format!("{rejected}\n").into_bytes(),
                );
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let call = runtime::spawn(async move {
            reqtrace::note();
            tier::call(addr, &method, &target, &body, opts).await
        });
        let result = call.await;
        if let (Some(b), Some(p)) = (&self.breaker, permit) {
            b.record(p, matches!(&result, Ok(Ok(r)) if r.status < 500));
        }
        match result {
            Ok(Ok(r)) => {
                let body = serde_json::json!({
                    "frontend": frontend,
                    "status": r.status,
                    "backend": String::from_utf8_lossy(&r.body),
                });
                Reply::owned(r.status, "application/json", body.to_string().into_bytes())
            }
            Ok(Err(e)) => Reply::owned(
                502,
                "text/plain; charset=utf-8",
                format!("backend call failed: {e}\n").into_bytes(),
            ),
            Err(_) => Reply::text(500, "the backend call's G failed\n"),
        }
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
        self.handle(&Incoming {
            method,
            target,
            body,
            ..Incoming::default()
        })
    }

    /// The route itself, without recording or labels.
    fn reply(&self, method: &str, path: &str, query: &str, body: &[u8]) -> Reply {
        match (method, path) {
            #[cfg(feature = "pprof")]
            ("GET", p) if p.starts_with("/debug/pprof") => {
                crate::pprof::respond(p, query).expect("the guard checked the prefix")
            }
            #[cfg(not(feature = "pprof"))]
            ("GET", p) if p.starts_with("/debug/pprof") => Reply::text(
                501,
                "built without /debug/pprof: cargo build -p service --features pprof\n",
            ),
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
            ("GET", "/metrics") if query == "format=json" => {
                Reply::owned(200, "application/json", self.metrics.json().into_bytes())
            }
            ("GET", "/metrics") => Reply::owned(
                200,
                "text/plain; version=0.0.4",
                self.metrics_text().into_bytes(),
            ),
            ("GET", "/trace") => trace_reply(None),
            (m, "/store") => self.store(m, query, body),
            (_, "/" | "/work" | "/sleep" | "/alloc" | "/metrics" | "/trace") => {
                Reply::text(405, "method not allowed\n")
            }
            _ => Reply::text(404, "not found\n"),
        }
    }

    /// `/store?key=K`: the running G's store (the shadow for tagged traffic).
    fn store(&self, method: &str, query: &str, body: &[u8]) -> Reply {
        let Some(stores) = &self.stores else {
            return Reply::text(503, "no store configured (start with --store DIR)\n");
        };
        let Some(key) = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("key="))
            .filter(|k| !k.is_empty() && k.len() <= 256)
        else {
            return Reply::text(400, "/store needs ?key=K (1 to 256 bytes)\n");
        };
        match method {
            "PUT" | "POST" => match stores.put(key, body) {
                Ok(()) => Reply::text(200, "stored\n"),
                Err(e) => Reply::owned(
                    500,
                    "text/plain; charset=utf-8",
                    format!("store failed: {e}\n").into_bytes(),
                ),
            },
            "GET" => match stores.get(key) {
                Ok(Some(v)) => Reply::owned(200, "application/octet-stream", v),
                Ok(None) => Reply::text(404, "no such key\n"),
                Err(e) => Reply::owned(
                    500,
                    "text/plain; charset=utf-8",
                    format!("store failed: {e}\n").into_bytes(),
                ),
            },
            _ => Reply::text(405, "GET, PUT or POST /store\n"),
        }
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

    /// The metrics in Prometheus' text exposition format.
    pub fn metrics_text(&self) -> String {
        let mut s = self.metrics.prometheus();
        if let Some(b) = &self.breaker {
            s += &b.prometheus("backend");
        }
        s
    }

    /// The breaker's state, if there is one.
    pub fn breaker_state(&self) -> Option<State> {
        self.breaker.as_ref().map(Breaker::state)
    }
}

/// The trace and tag labels of the running G, as a JSON object.
fn span_json() -> serde_json::Value {
    let labels = runtime::current_labels();
    let get = |k: &str| labels.get(k).map(str::to_string);
    serde_json::json!({
        "trace_id": get(traceparent::TRACE_ID),
        "span_id": get(traceparent::SPAN_ID),
        "parent_id": get(traceparent::PARENT_ID),
        "load_test": get(tagging::LABEL),
        "route": get("route"),
    })
}

fn trace_reply(spawned: Option<serde_json::Value>) -> Reply {
    let mut v = span_json();
    v["spawned"] = spawned.unwrap_or(serde_json::Value::Null);
    Reply::owned(200, "application/json", v.to_string().into_bytes())
}

/// Polls a future that cannot wait (an `async` block with no `.await`
/// inside) to its result: how the sync path runs a route inside
/// [`runtime::with_labels`].
fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("a route on the sync path never waits"),
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
