//! Two tiers: the frontend's HTTP client for calling the backend over
//! loopback, on our runtime's `TcpStream`.
//!
//! A request to the frontend's `/front?path=P` becomes a call to the
//! backend's `P`, made from the request's G (or any G it spawned): the call
//! reads the trace and the load-test tag from the running G's labels and
//! sends them on as `traceparent`, `tracestate` and `x-load-test` headers,
//! so the backend's span is a child of the frontend's and its writes go to
//! the same store the frontend's would. One connection per call with
//! `Connection: close` keeps the client small and its cost honest (a
//! connect per call, as a service without a pool pays); the response is
//! parsed with httparse, like the fast engine's requests.
//!
//! The connect and the whole exchange run under [`CallOptions::timeout`]
//! on the runtime's timer: a backend that hangs is a failed call, which is
//! what the circuit breaker counts.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use runtime::net::TcpStream;

use crate::tagging;
use crate::traceparent::TraceParent;

/// The largest backend response read.
pub const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// How a call is made.
#[derive(Debug, Clone, Copy)]
pub struct CallOptions {
    /// Deadline for connect, send and the whole response.
    pub timeout: Duration,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            timeout: Duration::from_secs(2),
        }
    }
}

/// A backend's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// The headers a downstream call carries from the running G's labels:
/// `traceparent` (this span as the parent), and the load-test tag as
/// `x-load-test` and a `tracestate` entry.
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let h = rt.block_on(runtime::with_labels(&[("load_test", "run1")], async {
///     service::tier::propagation_headers()
/// }));
/// assert!(h.contains(&("x-load-test".to_string(), "run1".to_string())));
/// assert!(h.contains(&("tracestate".to_string(), "loadtest=run1".to_string())));
/// ```
// ANCHOR: propagation
pub fn propagation_headers() -> Vec<(String, String)> {
    let mut h = Vec::new();
    if let Some(tp) = TraceParent::current() {
        h.push(("traceparent".to_string(), tp.to_string()));
    }
    if let Some(tag) = tagging::current_tag() {
        h.push((tagging::HEADER.to_string(), tag.clone()));
        h.push((
            "tracestate".to_string(),
            format!("{}={tag}", tagging::TRACESTATE_KEY),
        ));
    }
    h
}
// ANCHOR_END: propagation

/// Calls `method target` on the backend at `addr` with the running G's
/// trace and tag (Go's `http.Client.Do` with an instrumented transport).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
    opts: CallOptions,
) -> io::Result<Response> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in propagation_headers() {
        head += &format!("{k}: {v}\r\n");
    }
    head += &format!("Content-Length: {}\r\n\r\n", body.len());
    match runtime::timeout(opts.timeout, exchange(addr, head.into_bytes(), body)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("backend {addr} did not answer within {:?}", opts.timeout),
        )),
    }
}

async fn exchange(addr: SocketAddr, head: Vec<u8>, body: &[u8]) -> io::Result<Response> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(&head).await?;
    s.write_all(body).await?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_RESPONSE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "backend response too large",
            ));
        }
        if let Some(r) = parse(&buf)? {
            return Ok(r);
        }
    }
    parse(&buf)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "backend closed before a full response",
        )
    })
}

/// A complete response at the front of `buf`, if there is one.
fn parse(buf: &[u8]) -> io::Result<Option<Response>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let head = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    let status = r.code.unwrap_or(0);
    let len = r
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| {
            std::str::from_utf8(h.value)
                .ok()?
                .trim()
                .parse::<usize>()
                .ok()
        });
    match len {
        Some(len) if buf.len() >= head + len => Ok(Some(Response {
            status,
            body: buf[head..head + len].to_vec(),
        })),
        Some(_) => Ok(None),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "backend response without Content-Length",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_framed_by_content_length() {
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel").unwrap(),
            None
        );
        assert_eq!(
            parse(b"HTTP/1.1 503 X\r\nContent-Length: 2\r\n\r\nno").unwrap(),
            Some(Response {
                status: 503,
                body: b"no".to_vec()
            })
        );
        assert!(parse(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn a_dead_backend_is_an_error_not_a_hang() {
        let rt = runtime::Runtime::builder().procs(1).build().unwrap();
        // Bind then drop: nothing listens on this port now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let r = rt.block_on(call(addr, "GET", "/", b"", CallOptions::default()));
        assert!(r.is_err(), "{r:?}");
    }
}
