//! The thread-per-connection baseline: blocking `std::net`, one OS thread
//! per connection, the same [`ConnBuf`] and routes as the fast engine.
//!
//! This is how servers were written before event loops (and what Go's
//! goroutine-per-connection style looks like when each goroutine is a real
//! thread): simple, and fine until the connections outnumber the cores by a
//! lot, when the kernel's scheduler and the threads' stacks become the cost.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::fast::{ConnBuf, ConnLimit, Handler, Limits};

/// Serves one connection on the calling thread.
pub fn serve_connection(
    mut stream: TcpStream,
    handler: &dyn Handler,
    limits: Limits,
) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = ConnBuf::new(limits);
    loop {
        let outcome = conn.process(handler);
        if let Some(t) = outcome.not_before {
            std::thread::sleep(t.saturating_duration_since(Instant::now()));
        }
        if !conn.out.is_empty() {
            stream.write_all(&conn.out)?;
            conn.out.clear();
        }
        if outcome.close {
            stream.shutdown(Shutdown::Write)?;
            stream.set_read_timeout(Some(Duration::from_millis(500)))?;
            let mut sink = [0u8; 4096];
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            return Ok(());
        }
        let n = stream.read(conn.spare())?;
        if n == 0 {
            return Ok(());
        }
        conn.filled(n);
    }
}

/// Accepts until `stop` is set, one thread per connection.
pub fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    limits: Limits,
    max_connections: usize,
    stop: Arc<AtomicBool>,
) -> io::Result<()> {
    let limit = Arc::new(ConnLimit::new(max_connections));
    loop {
        let (mut stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if crate::fast::is_transient(&e) => continue,
            Err(e) => return Err(e),
        };
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(slot) = limit.try_acquire() else {
            let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n");
            continue;
        };
        let handler = handler.clone();
        std::thread::Builder::new()
            .name("conn".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _slot = slot;
                let _ = serve_connection(stream, &*handler, limits);
            })?;
    }
}
