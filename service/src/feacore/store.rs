//! The feature stores: real loopback servers that the feature service calls.
//!
//! A store is what Redis or a feature-store RPC is to the real service: a
//! server on the other end of a socket that answers after a while. The
//! protocol is one line each way: the client sends the entity as decimal
//! digits and `\n`; the store waits its service time (`runtime::sleep`, the
//! store's own work and its network, during which it holds no thread) and
//! answers [`ROW`] comma-separated numbers and `\n`, derived from its index
//! and the entity, so every answer can be checked. A connection carries any
//! number of calls, one after another. A line that is not a number gets
//! `ERR` and the connection is closed.
//!
//! All the stores share one runtime of one P (they are cheap: they sleep),
//! in a thread of their own (`feacore::background`). Each counts its calls
//! and how many it is serving at once; [`StoreStats::max_in_flight`] is how
//! a test tells a client that fans out from one that calls one store at a
//! time: a client calling sequentially never has more than one call in
//! flight per request it is serving.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use runtime::net::TcpStream;

use super::background::Background;
use super::compute::ROW;

/// One store's counters, or all the stores' together.
#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

impl Counters {
    fn enter(&self) {
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.max_in_flight.fetch_max(now, Ordering::AcqRel);
    }

    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.calls.fetch_add(1, Ordering::AcqRel);
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            calls: self.calls.load(Ordering::Acquire),
            max_in_flight: self.max_in_flight.load(Ordering::Acquire),
        }
    }

    fn reset(&self) {
        self.calls.store(0, Ordering::Release);
        self.max_in_flight.store(0, Ordering::Release);
    }
}

/// Every store's counters, and one set for all of them together.
#[derive(Debug)]
struct Shared {
    each: Vec<Counters>,
    all: Counters,
}

/// What one store saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Calls answered.
    pub calls: u64,
    /// The most calls it was serving at once.
    pub max_in_flight: u64,
}

/// The stores' answer for `entity` from store `store`: what a client must
/// get back (tests use it to check answers).
///
/// ```
/// let row = service::feacore::store::row(0, 42);
/// assert_eq!(row, service::feacore::store::row(0, 42));
/// assert_ne!(row, service::feacore::store::row(1, 42));
/// ```
pub fn row(store: usize, entity: u64) -> [u32; ROW] {
    let mut out = [0u32; ROW];
    let mut x = (entity ^ ((store as u64 + 1) << 48)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for v in &mut out {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        *v = (x >> 40) as u32 % 100_000;
    }
    out
}

/// Running feature stores on 127.0.0.1.
#[derive(Debug)]
pub struct Stores {
    server: Background,
    counters: Arc<Shared>,
}

impl Stores {
    /// Starts `n` stores, each answering after `service_time`.
    ///
    /// ```
    /// use std::io::{BufRead, BufReader, Write};
    /// use std::time::Duration;
    /// let stores = service::feacore::Stores::start(2, Duration::from_millis(1)).unwrap();
    /// let mut c = std::net::TcpStream::connect(stores.addrs()[1]).unwrap();
    /// c.write_all(b"42\n").unwrap();
    /// let mut line = String::new();
    /// BufReader::new(c).read_line(&mut line).unwrap();
    /// assert_eq!(line.trim_end().split(',').count(), 16);
    /// assert_eq!(stores.stats()[1].calls, 1);
    /// ```
    pub fn start(n: usize, service_time: Duration) -> io::Result<Stores> {
        let counters = Arc::new(Shared {
            each: (0..n).map(|_| Counters::default()).collect(),
            all: Counters::default(),
        });
        let c = counters.clone();
        let server = Background::start("feature-stores", 1, n, move |i, s| {
            serve(i, s, service_time, c.clone())
        })?;
        Ok(Stores { server, counters })
    }

    /// The stores' addresses, store 0 first.
    pub fn addrs(&self) -> &[SocketAddr] {
        self.server.addrs()
    }

    /// What each store saw so far.
    pub fn stats(&self) -> Vec<StoreStats> {
        self.counters.each.iter().map(Counters::stats).collect()
    }

    /// What the stores saw together: every call, and the most calls in
    /// flight at once over all of them. A client that calls one store at a
    /// time per request never has more in flight than requests it is
    /// serving at once.
    pub fn total(&self) -> StoreStats {
        self.counters.all.stats()
    }

    /// Forgets the counts (between two experiments on the same stores).
    pub fn reset(&self) {
        for c in self.counters.each.iter().chain([&self.counters.all]) {
            c.reset();
        }
    }

    /// Stops the stores.
    pub fn stop(mut self) {
        self.server.stop();
    }
}

/// Serves one client connection of store `store`.
async fn serve(store: usize, mut s: TcpStream, service_time: Duration, counters: Arc<Shared>) {
    let (c, all) = (&counters.each[store], &counters.all);
    let mut buf = vec![0u8; 512];
    let mut have = 0;
    let mut out = Vec::with_capacity(256);
    loop {
        while let Some(nl) = buf[..have].iter().position(|&b| b == b'\n') {
            let entity = std::str::from_utf8(&buf[..nl])
                .ok()
                .and_then(|l| l.trim().parse::<u64>().ok());
            buf.copy_within(nl + 1..have, 0);
            have -= nl + 1;
            let Some(entity) = entity else {
                let _ = s.write_all(b"ERR\n").await;
                return;
            };
            c.enter();
            all.enter();
            runtime::sleep(service_time).await;
            c.leave();
            all.leave();
            out.clear();
            for (i, v) in row(store, entity).iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(v.to_string().as_bytes());
            }
            out.push(b'\n');
            if s.write_all(&out).await.is_err() {
                return;
            }
        }
        if have == buf.len() {
            let _ = s.write_all(b"ERR\n").await; // a line longer than the buffer
            return;
        }
        match s.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
    }
}
