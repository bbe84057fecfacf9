//! One HTTP/1.1 request on its own connection, blocking, for lessons and
//! tests that poke a running service (a rollout's state, a trace id's
//! echo) and want its status and body, nothing more.
//!
//! This is not the load generator (`loadgen` keeps connections open, sends
//! on a schedule and measures); it is the `curl` of the course's own code.
//! It sends `Connection: close` and reads to end of stream, so the body is
//! whatever the server wrote after the blank line, with no parsing of
//! `Content-Length` or chunking (the course's engines answer these routes
//! with a plain body).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A reply's status and body, as [`request`] returns them.
pub type StatusAndBody = (u16, String);

/// Sends `method target` with the extra header lines in `headers` (each
/// `name: value`, without line endings) to `addr`, and returns the status
/// and body of the reply. Gives up after 10 s without data.
///
/// ```
/// let s = service::Server::start(service::Options::default()).unwrap();
/// let (status, body) = service::probe::request(s.addr(), "POST", "/echo", &[]).unwrap();
/// assert_eq!((status, body.as_str()), (200, ""));
/// let (status, _) = service::probe::request(s.addr(), "GET", "/nope", &["x-canary: v2"]).unwrap();
/// assert_eq!(status, 404);
/// ```
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[&str],
) -> io::Result<StatusAndBody> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: course\r\nContent-Length: 0\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    c.write_all(head.as_bytes())?;
    let mut out = Vec::new();
    c.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out);
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_string()))
}
