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
//! | `/canary/...` | a canary rollout between two versions of `/work` ([`crate::canary`]) |
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
//!
//! This file is the routing table: the [`Routes`] themselves, the two
//! request paths, and the dispatch from (method, path) to a handler
//! ([`Routes::respond`]'s `reply`). The rest, one concept each:
//! `reply.rs` ([`Reply`], [`Body`], [`reason`]), `handlers.rs` (`/front`,
//! `/store`, `/trace`, the work of `/work` and `/alloc`), `query.rs`
//! (reading query parameters), `tests.rs`.

use std::future::Future;
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
use crate::tier::CallOptions;

pub use crate::incoming::Incoming;
pub use reply::{Body, Reply, reason};

mod handlers;
mod query;
mod reply;

pub(crate) use handlers::spin;
use handlers::{alloc_and_free, span_json, trace_reply};
use query::number;

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
    canary: Arc<crate::canary::Canary>,
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
            canary: Arc::default(),
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
                p if p.starts_with("/canary") => {
                    crate::canary::http::respond(&self.canary, req, p, query)
                }
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
                p if p.starts_with("/canary") => {
                    crate::canary::http::respond(&self.canary, req, p, query)
                }
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
        s += &self.canary.prometheus();
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

#[cfg(test)]
mod tests;
