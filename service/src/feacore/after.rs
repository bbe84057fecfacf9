//! "After": the Go design on the course runtime: a G per connection, the
//! store calls fanned out on a channel, buffers reused, a rate limit.
//!
//! What changed from [`super::before`], one item per cause of its queue:
//!
//! - **no pool to wait for.** A connection is a G, not a worker slot: a
//!   request starts as soon as its bytes arrive, and while it waits for the
//!   stores its G is parked on the netpoller, holding no thread. There is
//!   no `--concurrency` to size; the limit is the CPU and the stores.
//! - **the calls overlap.** For each request the connection G spawns one G
//!   per store. Each takes the connection's socket to that store and its
//!   line buffer (a [`Leg`]) with it, writes the entity, parks until the
//!   answer arrives, and sends the leg back on the connection's channel with
//!   the answer (Go's `results <- r`). The connection G receives one message
//!   per store, so the request costs about one store call instead of the sum
//!   of four. The channel is made once per connection, with room for one
//!   message per store, so a sender never waits.
//! - **a deadline.** The receiving is wrapped in `runtime::timeout`: past
//!   it the request is answered 504 and its legs still out are given up on
//!   (their Gs finish on their own and their messages, tagged with the
//!   request's number, are recognised as stale by the next request and
//!   their legs reused). Go would pass a `context.WithTimeout`.
//! - **buffers reused.** The read and write buffers, the scratch buffer of
//!   [`super::compute`], the body and each leg's line buffer belong to the
//!   connection and are cleared, not freed, between requests: after the
//!   first request the only allocations are the call Gs themselves (Go
//!   allocates its goroutines too).
//! - **a rate limit.** Before any store is called, a GCRA limiter
//!   ([`crate::limiter::Gcra`], the service's own) admits the request or
//!   answers 429 at once. The stores are sized for a rate; past it, shedding
//!   the excess in microseconds keeps the admitted requests' latency at one
//!   store call, where a queue would make every request wait.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use runtime::net::TcpStream;
use runtime::sync::{Receiver, Sender, channel};

use super::background::Background;
use super::compute::{self, ROW, Settings};
use super::http::{self, Parsed};
use crate::limiter::Gcra;

/// How the task version is sized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AfterConfig {
    /// Ps of its runtime.
    pub procs: usize,
    /// Requests per second the limiter admits.
    pub rate: f64,
    /// Requests the limiter admits at once above the rate.
    pub burst: u32,
    /// The fan-out's deadline (504 past it).
    pub deadline: Duration,
    /// The per-request work.
    pub settings: Settings,
}

impl Default for AfterConfig {
    fn default() -> Self {
        AfterConfig {
            procs: 2,
            rate: 50_000.0,
            burst: 500,
            deadline: Duration::from_millis(200),
            settings: Settings::default(),
        }
    }
}

/// Counters of the task version.
#[derive(Debug, Default)]
struct Counters {
    shed: AtomicU64,
    timed_out: AtomicU64,
    answered: AtomicU64,
}

/// What the task version did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AfterStats {
    /// Requests answered 200.
    pub answered: u64,
    /// Requests refused by the limiter (429).
    pub shed: u64,
    /// Requests whose fan-out missed the deadline (504).
    pub timed_out: u64,
}

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    stores: Vec<SocketAddr>,
    limiter: Gcra,
    deadline: Duration,
    settings: Settings,
    counters: Counters,
}

/// The task-based feature service, running (see the module comment).
#[derive(Debug)]
pub struct After {
    server: Background,
    shared: Arc<Shared>,
}

impl After {
    /// Starts the service on 127.0.0.1, calling `stores`.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use service::feacore::{After, Stores, after::AfterConfig};
    /// let stores = Stores::start(3, Duration::from_millis(1)).unwrap();
    /// let svc = After::start(stores.addrs(), AfterConfig::default()).unwrap();
    /// let mut c = std::net::TcpStream::connect(svc.addr()).unwrap();
    /// c.write_all(b"GET /features/7 HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut reply = String::new();
    /// c.read_to_string(&mut reply).unwrap();
    /// assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    /// assert_eq!(svc.stats().answered, 1);
    /// svc.stop();
    /// ```
    pub fn start(stores: &[SocketAddr], cfg: AfterConfig) -> io::Result<After> {
        let limiter = Gcra::new(cfg.rate, cfg.burst)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let shared = Arc::new(Shared {
            stores: stores.to_vec(),
            limiter,
            deadline: cfg.deadline,
            settings: cfg.settings,
            counters: Counters::default(),
        });
        let s = shared.clone();
        let server = Background::start("feacore-after", cfg.procs, 1, move |_, stream| {
            serve_connection(stream, s.clone())
        })?;
        Ok(After { server, shared })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addrs()[0]
    }

    /// What it did so far.
    pub fn stats(&self) -> AfterStats {
        let c = &self.shared.counters;
        AfterStats {
            answered: c.answered.load(Ordering::Acquire),
            shed: c.shed.load(Ordering::Acquire),
            timed_out: c.timed_out.load(Ordering::Acquire),
        }
    }

    /// Stops the service and drops its connections.
    pub fn stop(mut self) {
        self.server.stop();
    }
}

/// A connection's socket to one store and its line buffer: moved into the
/// call's G and back through the channel.
#[derive(Debug)]
pub struct Leg {
    stream: TcpStream,
    line: Vec<u8>,
}

/// A call's message: the request's number, the store, the leg (if the call
/// left it usable) and the answer.
type Done = (u64, usize, Option<Leg>, io::Result<[u32; ROW]>);

/// Everything a connection keeps between requests.
struct Conn {
    inbuf: Vec<u8>,
    have: usize,
    out: Vec<u8>,
    scratch: Vec<u8>,
    body: Vec<u8>,
    legs: Vec<Option<Leg>>,
    rows: Vec<[u32; ROW]>,
    seq: u64,
    tx: Sender<Done>,
    rx: Receiver<Done>,
}

/// Serves one client connection until it closes.
async fn serve_connection(mut s: TcpStream, shared: Arc<Shared>) {
    let n = shared.stores.len();
    let (tx, rx) = channel(n.max(1));
    let mut c = Conn {
        inbuf: vec![0; 8 * 1024],
        have: 0,
        out: Vec::with_capacity(4 * 1024),
        scratch: Vec::with_capacity(shared.settings.work_bytes),
        body: Vec::with_capacity(512),
        legs: (0..n).map(|_| None).collect(),
        rows: vec![[0; ROW]; n],
        seq: 0,
        tx,
        rx,
    };
    loop {
        let mut close = false;
        while !close {
            match http::parse(&c.inbuf[..c.have]) {
                Parsed::Partial => break,
                Parsed::Bad(status) => {
                    http::respond(&mut c.out, status, "text/plain", b"bad request\n", false);
                    close = true;
                }
                Parsed::Request {
                    get,
                    entity,
                    keep_alive,
                    len,
                } => {
                    c.inbuf.copy_within(len..c.have, 0);
                    c.have -= len;
                    answer(&mut c, &shared, get, entity, keep_alive).await;
                    close = !keep_alive;
                }
            }
        }
        if !c.out.is_empty() {
            if s.write_all(&c.out).await.is_err() {
                return;
            }
            c.out.clear();
        }
        if close {
            let _ = s.shutdown(std::net::Shutdown::Write);
            return;
        }
        if c.have == c.inbuf.len() {
            http::respond(&mut c.out, 431, "text/plain", b"head too long\n", false);
            let _ = s.write_all(&c.out).await;
            return;
        }
        match s.read(&mut c.inbuf[c.have..]).await {
            Ok(0) | Err(_) => return,
            Ok(k) => c.have += k,
        }
    }
}

/// Answers one parsed request into `c.out`.
async fn answer(c: &mut Conn, shared: &Shared, get: bool, entity: Option<u64>, keep_alive: bool) {
    let Some(entity) = entity.filter(|_| get) else {
        let (status, msg): (u16, &[u8]) = if get {
            (404, b"try /features/<entity>\n")
        } else {
            (405, b"GET only\n")
        };
        http::respond(&mut c.out, status, "text/plain", msg, keep_alive);
        return;
    };
    if !shared.limiter.try_acquire() {
        shared.counters.shed.fetch_add(1, Ordering::Relaxed);
        http::respond(
            &mut c.out,
            429,
            "text/plain",
            b"over the rate limit\n",
            keep_alive,
        );
        return;
    }
    match runtime::timeout(shared.deadline, fan_out(c, shared, entity)).await {
        Ok(true) => {
            c.body.clear();
            compute::features(
                entity,
                &c.rows,
                shared.settings,
                &mut c.scratch,
                &mut c.body,
            );
            http::respond(&mut c.out, 200, "application/json", &c.body, keep_alive);
            shared.counters.answered.fetch_add(1, Ordering::Relaxed);
        }
        Ok(false) => {
            http::respond(
                &mut c.out,
                502,
                "text/plain",
                b"a feature store failed\n",
                keep_alive,
            );
        }
        Err(_) => {
            shared.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            http::respond(
                &mut c.out,
                504,
                "text/plain",
                b"the stores were too slow\n",
                keep_alive,
            );
        }
    }
}

// ANCHOR: fan_out
/// Calls every store at once and collects the answers into `c.rows`; false
/// if a store failed.
#[inline(never)]
async fn fan_out(c: &mut Conn, shared: &Shared, entity: u64) -> bool {
    c.seq += 1;
    let seq = c.seq;
    for (i, addr) in shared.stores.iter().enumerate() {
        let (leg, tx, addr) = (c.legs[i].take(), c.tx.clone(), *addr);
        runtime::spawn(async move {
            let (leg, row) = call_store(addr, leg, entity).await;
            let _ = tx.send((seq, i, leg, row)).await;
        });
    }
    let mut missing = shared.stores.len();
    let mut ok = true;
    while missing > 0 {
        let Some((from, i, leg, row)) = c.rx.recv().await else {
            return false; // cannot happen: `c.tx` keeps the channel open
        };
        if c.legs[i].is_none() {
            c.legs[i] = leg; // a stale call's leg is as good as any
        }
        if from != seq {
            continue; // the answer to a request that timed out
        }
        missing -= 1;
        match row {
            Ok(r) => c.rows[i] = r,
            Err(_) => ok = false,
        }
    }
    ok
}
// ANCHOR_END: fan_out

/// One call on its own G: connect if the leg is new, write the entity, wait
/// for the answer line. Gives the leg back unless the call broke it.
#[inline(never)]
async fn call_store(
    addr: SocketAddr,
    leg: Option<Leg>,
    entity: u64,
) -> (Option<Leg>, io::Result<[u32; ROW]>) {
    let mut leg = match leg {
        Some(l) => l,
        None => match TcpStream::connect(addr).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                Leg {
                    stream,
                    line: Vec::with_capacity(256),
                }
            }
            Err(e) => return (None, Err(e)),
        },
    };
    match exchange(&mut leg, entity).await {
        Ok(row) => (Some(leg), Ok(row)),
        Err(e) => (None, Err(e)),
    }
}

/// Writes the request line and reads the answer line into the leg's buffer.
async fn exchange(leg: &mut Leg, entity: u64) -> io::Result<[u32; ROW]> {
    leg.line.clear();
    let _ = writeln!(leg.line, "{entity}");
    leg.stream.write_all(&leg.line).await?;
    leg.line.clear();
    let mut chunk = [0u8; 256];
    loop {
        let n = leg.stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the store closed",
            ));
        }
        leg.line.extend_from_slice(&chunk[..n]);
        if leg.line.last() == Some(&b'\n') {
            break;
        }
        if leg.line.len() > 4096 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a store answer too long",
            ));
        }
    }
    let mut row = [0u32; ROW];
    if compute::parse_row(&leg.line[..leg.line.len() - 1], &mut row) {
        Ok(row)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a bad store answer",
        ))
    }
}
