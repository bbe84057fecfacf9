//! Starting and stopping a server: one engine on one runtime, in a thread of
//! its own, bound before `start` returns.
//!
//! The `service` binary, the tests, the lessons and the benchmark scripts
//! all go through [`Server::start`], so they run the same servers. The
//! server thread runs the engine's accept loop; [`Server::stop`] sets a flag
//! and connects once to its own port, so an accept loop parked on the
//! netpoller (or blocked in `accept`) wakes, sees the flag and returns. The
//! runtime is then dropped, which drops every connection's G and closes its
//! socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::breaker::{self, Breaker, SystemClock};
use crate::fast::{self, Handler, Limits, Request};
pub use crate::limiter::config::{Limit, default_breaker};
use crate::routes::{Incoming, Routes, Stall};
use crate::store::Stores;
use crate::threads;
use crate::tier::CallOptions;
#[cfg(feature = "full")]
use crate::{adapter, full, peer};

/// Which HTTP engine serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// hyper (the `net/http` of the course).
    Full,
    /// Ours on httparse (the course's fasthttp).
    Fast,
    /// Blocking std::net, a thread per connection (the baseline).
    Threads,
}

/// Which runtime runs the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// The course's G/M/P runtime.
    Ours,
    /// tokio's multi-threaded runtime (the peer).
    Tokio,
}

impl FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Engine::Full),
            "fast" => Ok(Engine::Fast),
            "threads" => Ok(Engine::Threads),
            _ => Err(format!(
                "unknown engine `{s}`: expected full, fast or threads"
            )),
        }
    }
}

impl FromStr for RuntimeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ours" => Ok(RuntimeKind::Ours),
            "tokio" => Ok(RuntimeKind::Tokio),
            _ => Err(format!("unknown runtime `{s}`: expected ours or tokio")),
        }
    }
}

/// How to run a server.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine.
    pub engine: Engine,
    /// The runtime (ignored by [`Engine::Threads`]).
    pub runtime: RuntimeKind,
    /// The address to listen on; 127.0.0.1 unless told otherwise.
    pub host: IpAddr,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Ps of our runtime, or tokio's worker threads.
    pub procs: usize,
    /// Connections served at once; more get 503.
    pub max_connections: usize,
    /// Request size limits.
    pub limits: Limits,
    /// An optional once-a-period stall (the coordinated-omission lesson).
    pub stall: Option<Stall>,
    /// Pin the server (its thread, and every thread it starts: Ms, tokio
    /// workers, connection threads) to this CPU, so a benchmark can keep
    /// the load generator off the server's core.
    pub cpu: Option<usize>,
    /// Two-tier mode: `/front` calls this backend (full engine, our runtime).
    pub backend: Option<SocketAddr>,
    /// Where `/store` keeps its real and shadow logs.
    pub store_dir: Option<std::path::PathBuf>,
    /// The breaker in front of the backend (two-tier mode); `None`: the
    /// service's default, [`default_breaker`].
    pub breaker: Option<breaker::Config>,
    /// The clock that breaker reads; `None`: the system's monotonic clock.
    /// A test passes a [`breaker::ManualClock`] to move time itself.
    pub breaker_clock: Option<breaker::SharedClock>,
    /// Limiters, by route (`("/work", Limit::Gcra { rate: 100.0, burst: 10 })`).
    pub limits_per_route: Vec<(String, Limit)>,
    /// The service's name in its requests' labels (`service=NAME`).
    pub name: Option<String>,
    /// Record the runtime's event trace (our runtime only); read it with
    /// [`Server::stop_with_trace`].
    pub trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            engine: Engine::Fast,
            runtime: RuntimeKind::Ours,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            procs: 2,
            max_connections: 10_000,
            limits: Limits::default(),
            stall: None,
            cpu: None,
            backend: None,
            store_dir: None,
            breaker: None,
            breaker_clock: None,
            limits_per_route: Vec::new(),
            name: None,
            trace: false,
        }
    }
}

impl Options {
    /// Rejects combinations that do not exist (the fast engine is written on
    /// `runtime::net`, so it runs on our runtime only).
    pub fn validate(&self) -> Result<(), String> {
        if self.engine == Engine::Fast && self.runtime == RuntimeKind::Tokio {
            return Err(
                "the fast engine runs on our runtime only (use --engine full with --runtime tokio)"
                    .into(),
            );
        }
        if self.procs == 0 || self.procs > runtime::MAX_PROCS {
            return Err(format!("--procs must be 1 to {}", runtime::MAX_PROCS));
        }
        if self.backend.is_some()
            && (self.engine != Engine::Full || self.runtime != RuntimeKind::Ours)
        {
            return Err(
                "--backend (two-tier mode) needs --engine full --runtime ours: the call is made on our runtime's TcpStream"
                    .into(),
            );
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        Ok(())
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    routes: Arc<Routes>,
    thread: Option<JoinHandle<io::Result<Option<runtime::Trace>>>>,
}

impl Server {
    /// Binds and starts serving in a background thread.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let server = service::Server::start(service::Options::default()).unwrap();
    /// let mut c = std::net::TcpStream::connect(server.addr()).unwrap();
    /// c.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut reply = String::new();
    /// c.read_to_string(&mut reply).unwrap();
    /// assert!(reply.starts_with("HTTP/1.1 200 OK"));
    /// assert_eq!(server.stop().unwrap(), 1);
    /// ```
    pub fn start(opts: Options) -> io::Result<Server> {
        opts.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut routes = Routes::new(opts.stall);
        if let Some(addr) = opts.backend {
            let breaker = Breaker::new(
                opts.breaker.unwrap_or_else(default_breaker),
                opts.breaker_clock
                    .clone()
                    .unwrap_or_else(|| Arc::new(SystemClock::default())),
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            routes = routes
                .with_backend(addr, CallOptions::default())
                .with_breaker(breaker);
        }
        for (route, limit) in &opts.limits_per_route {
            routes = routes
                .with_limiter(
                    route,
                    limit
                        .build()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        if let Some(dir) = &opts.store_dir {
            routes = routes.with_stores(Arc::new(Stores::open(dir)?));
        }
        if let Some(name) = &opts.name {
            routes = routes.with_name(name);
        }
        let routes = Arc::new(routes);
        let (bound_tx, bound_rx) = mpsc::channel();
        let thread = {
            let (stop, routes) = (stop.clone(), routes.clone());
            std::thread::Builder::new()
                .name("server".into())
                .spawn(move || {
                    if let Some(cpu) = opts.cpu {
                        pin_to_cpu(cpu)?;
                    }
                    run(opts, routes, stop, bound_tx)
                })?
        };
        let addr = match bound_rx.recv() {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let r = thread.join();
                return Err(match r {
                    Ok(Err(e)) => e,
                    _ => io::Error::other("the server thread ended before binding"),
                });
            }
        };
        Ok(Server {
            addr,
            stop,
            routes,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The routes, their metrics and stores.
    pub fn routes(&self) -> &Arc<Routes> {
        &self.routes
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.routes.requests()
    }

    /// Stops accepting, drops every connection, and returns how many
    /// requests were answered.
    pub fn stop(mut self) -> io::Result<u64> {
        self.shutdown()?;
        Ok(self.routes.requests())
    }

    /// Stops like [`Server::stop`] and returns the runtime's event trace
    /// (`Some` when started with `trace: true` on our runtime).
    pub fn stop_with_trace(mut self) -> io::Result<(u64, Option<runtime::Trace>)> {
        let trace = self.shutdown()?;
        Ok((self.routes.requests(), trace))
    }

    fn shutdown(&mut self) -> io::Result<Option<runtime::Trace>> {
        let Some(thread) = self.thread.take() else {
            return Ok(None);
        };
        self.stop.store(true, Ordering::Release);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        let _ = std::net::TcpStream::connect(wake);
        thread
            .join()
            .map_err(|_| io::Error::other("the server thread panicked"))?
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn fast_handler(routes: Arc<Routes>) -> Arc<dyn Handler> {
    Arc::new(move |req: &Request<'_>| {
        routes.handle(&Incoming::from_headers(
            req.method(),
            req.target(),
            req.body(),
            |name| req.header(name),
        ))
    })
}

/// Tells `start` where the server listens (or why it could not bind).
type Bound = mpsc::Sender<io::Result<SocketAddr>>;

/// Binds (inside the runtime for ours: a listener registers with the
/// runtime's netpoller) and reports the address, or the error, to `start`.
fn bind_std(host: IpAddr, port: u16, bound: &Bound) -> Option<std::net::TcpListener> {
    match std::net::TcpListener::bind((host, port)).and_then(|l| Ok((l.local_addr()?, l))) {
        Ok((addr, l)) => {
            let _ = bound.send(Ok(addr));
            Some(l)
        }
        Err(e) => {
            let _ = bound.send(Err(e));
            None
        }
    }
}

fn bind_ours(host: IpAddr, port: u16, bound: &Bound) -> Option<runtime::net::TcpListener> {
    match runtime::net::TcpListener::bind((host, port)).and_then(|l| Ok((l.local_addr()?, l))) {
        Ok((addr, l)) => {
            let _ = bound.send(Ok(addr));
            Some(l)
        }
        Err(e) => {
            let _ = bound.send(Err(e));
            None
        }
    }
}

fn run(
    opts: Options,
    routes: Arc<Routes>,
    stop: Arc<AtomicBool>,
    bound: Bound,
) -> io::Result<Option<runtime::Trace>> {
    let (limits, max, host, port) = (opts.limits, opts.max_connections, opts.host, opts.port);
    match (opts.engine, opts.runtime) {
        (Engine::Threads, _) => {
            let Some(l) = bind_std(host, port, &bound) else {
                return Ok(None);
            };
            threads::serve(l, fast_handler(routes), limits, max, stop).map(|()| None)
        }
        (Engine::Fast, _) => {
            let rt = ours(opts.procs, opts.trace)?;
            let served = rt.block_on(async move {
                let Some(l) = bind_ours(host, port, &bound) else {
                    return Ok(());
                };
                fast::serve(l, fast_handler(routes), limits, max, stop).await
            });
            served.map(|()| rt.trace())
        }
        #[cfg(not(feature = "full"))]
        (Engine::Full, _) => {
            let _ = bound.send(Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the full (hyper) engine is behind the `service/full` cargo feature",
            )));
            Ok(None)
        }
        #[cfg(feature = "full")]
        (Engine::Full, RuntimeKind::Ours) => {
            let rt = ours(opts.procs, opts.trace)?;
            let served = rt.block_on(async move {
                let Some(l) = bind_ours(host, port, &bound) else {
                    return Ok(());
                };
                let limit = Arc::new(fast::ConnLimit::new(max));
                loop {
                    let (s, _) = match l.accept().await {
                        Ok(s) => s,
                        Err(e) if fast::is_transient(&e) => continue,
                        Err(e) => return Err(e),
                    };
                    if stop.load(Ordering::Acquire) {
                        return Ok(());
                    }
                    let Some(slot) = limit.try_acquire() else {
                        continue;
                    };
                    s.set_nodelay(true)?;
                    let routes = routes.clone();
                    runtime::spawn(async move {
                        let _slot = slot;
                        let io = adapter::HyperIo(s);
                        let _ = full::serve_connection(io, routes, adapter::OurTimer, limits).await;
                    });
                }
            });
            served.map(|()| rt.trace())
        }
        #[cfg(feature = "full")]
        (Engine::Full, RuntimeKind::Tokio) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(opts.procs)
                .enable_all()
                .build()?;
            let Some(listener) = bind_std(host, port, &bound) else {
                return Ok(None);
            };
            let served: io::Result<()> = rt.block_on(async move {
                listener.set_nonblocking(true)?;
                let l = tokio::net::TcpListener::from_std(listener)?;
                let limit = Arc::new(fast::ConnLimit::new(max));
                loop {
                    let (s, _) = match l.accept().await {
                        Ok(s) => s,
                        Err(e) if fast::is_transient(&e) => continue,
                        Err(e) => return Err(e),
                    };
                    if stop.load(Ordering::Acquire) {
                        return Ok(());
                    }
                    let Some(slot) = limit.try_acquire() else {
                        continue;
                    };
                    s.set_nodelay(true)?;
                    let routes = routes.clone();
                    tokio::spawn(async move {
                        let _slot = slot;
                        let io = peer::TokioIo(s);
                        let _ = full::serve_connection(io, routes, peer::TokioTimer, limits).await;
                    });
                }
            });
            served.map(|()| None)
        }
    }
}

/// Pins the calling thread to `cpu` (threads it starts later inherit it).
///
/// ```no_run
/// // Keep this thread, and the runtime it is about to start, on core 1.
/// service::server::pin_to_cpu(1).unwrap();
/// ```
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data, zeroed then set with CPU_SET;
    // sched_setaffinity(0, ..) only changes this thread's affinity.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn ours(procs: usize, trace: bool) -> io::Result<runtime::Runtime> {
    runtime::Runtime::builder()
        .procs(procs)
        .trace(trace)
        .build()
        .map_err(|e| io::Error::other(e.to_string()))
}
