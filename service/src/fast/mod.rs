//! The fast engine: our own HTTP/1.1 server on `runtime::net` and `httparse`
//! (the course's fasthttp).
//!
//! One G per connection, as Go's servers have one goroutine per connection.
//! The G owns a [`ConnBuf`] for the connection's whole life and loops:
//! answer every complete request already buffered (several, if the client
//! pipelines), hold the responses if a reply asked to (`/sleep`, a stall)
//! on `runtime::sleep_until`, write them all with one `write_all`, read
//! more. A read that finds no data parks the G on the netpoller; its M runs
//! other connections meanwhile.
//!
//! Closing cleanly: after a response that ends the connection (an error, or
//! `Connection: close`), the G shuts down its write side and reads what the
//! client still sends, for a short while, before dropping the socket.
//! Closing with unread bytes would make the kernel send a reset, which can
//! destroy the response before the client reads it.
//!
//! The accept loop enforces a connection limit the way a load balancer
//! would: past it, a new connection gets `503` and is closed at once,
//! instead of queueing without bound.

mod conn;

pub use conn::{ConnBuf, Handler, Limits, MAX_HEADERS, Outcome, Request, Response};

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use runtime::net::{TcpListener, TcpStream};

/// How long a closing connection waits for the client's remaining bytes.
const LINGER: Duration = Duration::from_millis(500);

/// Serves one connection until the client closes it or a response ends it
/// (Go's `conn.serve`).
pub async fn serve_connection(
    mut stream: TcpStream,
    handler: Arc<dyn Handler>,
    limits: Limits,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    handler.connection_opened();
    let mut conn = ConnBuf::new(limits);
    loop {
        let outcome = conn.process(&*handler);
        if let Some(t) = outcome.not_before {
            runtime::sleep_until(t).await;
        }
        if !conn.out.is_empty() {
            stream.write_all(&conn.out).await?;
            conn.out.clear();
            conn.trim();
        }
        if outcome.close {
            return linger_close(stream).await;
        }
        let n = stream.read(conn.spare()).await?;
        if n == 0 {
            return Ok(()); // the client closed; a half-sent request is dropped
        }
        conn.filled(n);
    }
}

/// Shuts the write side, then drains the client for up to [`LINGER`].
async fn linger_close(mut stream: TcpStream) -> io::Result<()> {
    stream.shutdown(Shutdown::Write)?;
    let mut sink = [0u8; 4096];
    let _ = runtime::timeout(LINGER, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    Ok(())
}

/// Counts open connections; a slot is given back when its guard drops.
#[derive(Debug)]
pub struct ConnLimit {
    open: AtomicUsize,
    max: usize,
}

impl ConnLimit {
    /// A limit of `max` open connections.
    pub fn new(max: usize) -> ConnLimit {
        ConnLimit {
            open: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes a slot, or `None` when `max` connections are open.
    pub fn try_acquire(self: &Arc<Self>) -> Option<ConnSlot> {
        let prev = self.open.fetch_add(1, Ordering::AcqRel);
        if prev >= self.max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ConnSlot(self.clone()))
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

/// One open connection's slot in a [`ConnLimit`].
#[derive(Debug)]
pub struct ConnSlot(Arc<ConnLimit>);

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts connections until `stop` is set (checked after each accept: the
/// stopper connects once to wake the loop), one G per connection.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    limits: Limits,
    max_connections: usize,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    let limit = Arc::new(ConnLimit::new(max_connections));
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(s) => s,
            // Out of fds or a connection reset before accept: keep serving.
            Err(e) if is_transient(&e) => {
                runtime::sleep(Duration::from_millis(5)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let handler = handler.clone();
        match limit.try_acquire() {
            Some(slot) => {
                runtime::spawn(async move {
                    let _slot = slot;
                    let _ = serve_connection(stream, handler, limits).await;
                });
            }
            None => {
                runtime::spawn(async move {
                    let _ = stream
                        .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n")
                        .await;
                    let _ = linger_close(stream).await;
                });
            }
        }
    }
}

pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
