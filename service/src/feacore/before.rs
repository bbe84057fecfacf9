//! "Before": the Celery design, a bounded pool of blocking workers.
//!
//! The Python service had two halves: a web front that turned each HTTP
//! request into a task on a broker queue and waited for its result, and a
//! fixed number of worker processes (Celery's `--concurrency`) that took
//! tasks one at a time and did them start to finish, blocking on every
//! call. Here:
//!
//! - the front is the course's thread-per-connection engine
//!   ([`crate::threads`], blocking `std::net`), with a handler that puts a
//!   job on a bounded `std::sync::mpsc::sync_channel` (the broker: when
//!   it is full, the front blocks, as a full broker pushes back) and waits
//!   on the job's own reply channel;
//! - `workers` OS threads share the queue's receiver behind a mutex, the
//!   classic pool; each keeps one blocking connection to each store and,
//!   for a job, calls the stores **one after another**: write the entity,
//!   block in `read` until the answer comes, next store. A request so costs
//!   the sum of the stores' service times, and the pool serves at most
//!   `workers` requests at once, whatever the CPU is doing: with 4 stores of
//!   1 ms and 8 workers, about 2,000 requests a second, with the CPU idle;
//! - every request gets fresh buffers: a `String` per store answer, a new
//!   scratch buffer and a new body, freed when the request ends (Python
//!   allocates all of that as new objects).
//!
//! Past the pool's rate, requests wait in the broker queue and in the front's
//! threads, and the latency is that queue: the 340 ms P99 of the story.
//! [`Before::stop`] stops the front (as [`crate::Server`] does), then puts
//! one `Stop` job per worker behind any queued work and joins them.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::compute::{self, ROW, Settings};
use crate::fast::{Limits, Request};
use crate::routes::{Body, Reply};

/// How the thread-pool version is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeforeConfig {
    /// Worker threads (Celery's `--concurrency`).
    pub workers: usize,
    /// Jobs the broker queue holds before the front blocks.
    pub queue: usize,
    /// The per-request work.
    pub settings: Settings,
}

impl Default for BeforeConfig {
    fn default() -> Self {
        BeforeConfig {
            workers: 8,
            queue: 1024,
            settings: Settings::default(),
        }
    }
}

/// A task on the broker queue.
#[derive(Debug)]
enum Job {
    /// Compute `entity`'s features and send the reply back.
    Compute {
        entity: u64,
        reply: mpsc::Sender<Reply>,
    },
    /// The pool is stopping: the worker ends.
    Stop,
}

/// The thread-pool feature service, running (see the module comment).
#[derive(Debug)]
pub struct Before {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    front: Option<JoinHandle<io::Result<()>>>,
    jobs: SyncSender<Job>,
    workers: Vec<JoinHandle<()>>,
}

impl Before {
    /// Starts the front on 127.0.0.1 and the worker pool, calling `stores`.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::time::Duration;
    /// use service::feacore::{Before, Stores, before::BeforeConfig};
    /// let stores = Stores::start(3, Duration::from_millis(1)).unwrap();
    /// let svc = Before::start(stores.addrs(), BeforeConfig::default()).unwrap();
    /// let mut c = std::net::TcpStream::connect(svc.addr()).unwrap();
    /// c.write_all(b"GET /features/7 HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut reply = String::new();
    /// c.read_to_string(&mut reply).unwrap();
    /// assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    /// assert!(reply.contains("{\"entity\":7,\"features\":["), "{reply}");
    /// svc.stop();
    /// ```
    pub fn start(stores: &[SocketAddr], cfg: BeforeConfig) -> io::Result<Before> {
        if cfg.workers == 0 || cfg.queue == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the pool needs at least one worker and a queue of at least one job",
            ));
        }
        let (jobs, rx) = mpsc::sync_channel::<Job>(cfg.queue);
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..cfg.workers {
            let (rx, stores) = (rx.clone(), stores.to_vec());
            workers.push(
                std::thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker(&rx, &stores, cfg.settings))?,
            );
        }
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let front_jobs = jobs.clone();
        let handler = Arc::new(move |req: &Request<'_>| front(req, &front_jobs));
        let flag = stop.clone();
        let front = std::thread::Builder::new()
            .name("front".into())
            .spawn(move || {
                crate::threads::serve(listener, handler, Limits::default(), 10_000, flag)
            })?;
        Ok(Before {
            addr,
            stop,
            front: Some(front),
            jobs,
            workers,
        })
    }

    /// Where the front listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the front, then the workers once the queued jobs are done.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(front) = self.front.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
        let _ = front.join();
        for _ in &self.workers {
            let _ = self.jobs.send(Job::Stop);
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Before {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The front's handler: queue the job, wait for its reply.
fn front(req: &Request<'_>, jobs: &SyncSender<Job>) -> Reply {
    if req.method() != "GET" {
        return Reply::text(405, "GET only\n");
    }
    let Some(entity) = super::entity_of(req.target()) else {
        return Reply::text(404, "try /features/<entity>\n");
    };
    let (reply, rx) = mpsc::channel();
    if jobs.send(Job::Compute { entity, reply }).is_err() {
        return Reply::text(503, "the pool is stopping\n");
    }
    rx.recv()
        .unwrap_or_else(|_| Reply::text(503, "the pool is stopping\n"))
}

/// One worker: take a job, call every store in turn, compute, reply.
fn worker(rx: &Mutex<Receiver<Job>>, stores: &[SocketAddr], settings: Settings) {
    let mut conns: Vec<Option<BufReader<TcpStream>>> = stores.iter().map(|_| None).collect();
    loop {
        // The lock is held only while taking a job, not while doing it.
        let job = rx.lock().map(|r| r.recv());
        let Ok(Ok(Job::Compute { entity, reply })) = job else {
            return; // Stop, or the pool is gone
        };
        let _ = reply.send(compute_one(entity, stores, &mut conns, settings));
    }
}

// ANCHOR: sequential
/// One request, start to finish, blocking on each store in turn.
#[inline(never)]
fn compute_one(
    entity: u64,
    stores: &[SocketAddr],
    conns: &mut [Option<BufReader<TcpStream>>],
    settings: Settings,
) -> Reply {
    let mut rows = Vec::new();
    for (addr, conn) in stores.iter().zip(conns.iter_mut()) {
        match call_store(*addr, conn, entity) {
            Ok(row) => rows.push(row),
            Err(_) => {
                *conn = None; // reconnect on the next job
                return Reply::text(502, "a feature store failed\n");
            }
        }
    }
    // Fresh buffers for every request.
    let (mut scratch, mut body) = (Vec::new(), Vec::new());
    compute::features(entity, &rows, settings, &mut scratch, &mut body);
    Reply {
        status: 200,
        content_type: "application/json",
        body: Body::Owned(body),
        not_before: None,
    }
}
// ANCHOR_END: sequential

/// A blocking call: write the entity, wait for the answer line.
#[inline(never)]
fn call_store(
    addr: SocketAddr,
    conn: &mut Option<BufReader<TcpStream>>,
    entity: u64,
) -> io::Result<[u32; ROW]> {
    if conn.is_none() {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        *conn = Some(BufReader::new(s));
    }
    let c = conn.as_mut().expect("connected above");
    c.get_mut().write_all(format!("{entity}\n").as_bytes())?;
    let mut line = String::new();
    if c.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the store closed",
        ));
    }
    let mut row = [0u32; ROW];
    if !compute::parse_row(line.trim_end().as_bytes(), &mut row) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a bad store answer",
        ));
    }
    Ok(row)
}
