//! The task version's HTTP/1.1: just enough of it, on `httparse`.
//!
//! The course's fast engine ([`crate::fast`]) calls a *synchronous* handler:
//! its connection G parses, calls the handler, writes. A handler that must
//! wait for four stores needs to `.await`, so the task version runs its own
//! small connection loop ([`super::after`]) over the same parser, with the
//! same reuse rules: one read buffer and one write buffer per connection,
//! requests parsed in place and answered in order (pipelined requests
//! too). This file is the parsing and the response framing, without I/O.
//!
//! It serves `GET` without a body. A head that httparse rejects is 400, a
//! request with a body 400 (nothing here takes one), a head longer than the
//! read buffer 431; each of those answers with `Connection: close`.

use std::io::Write as _;

use crate::fast::MAX_HEADERS;

/// One parse attempt over the bytes read so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A complete request head of `len` bytes.
    Request {
        /// The method was `GET`.
        get: bool,
        /// The entity its path names ([`super::entity_of`]).
        entity: Option<u64>,
        /// The client wants the connection kept open.
        keep_alive: bool,
        /// Bytes the head took.
        len: usize,
    },
    /// Not a whole head yet: read more.
    Partial,
    /// A request this server refuses with `status`, then closes.
    Bad(u16),
}

/// Parses the request at the start of `buf`.
///
/// ```
/// use service::feacore::http::{Parsed, parse};
/// let r = parse(b"GET /features/3 HTTP/1.1\r\nHost: x\r\n\r\n");
/// assert_eq!(r, Parsed::Request { get: true, entity: Some(3), keep_alive: true, len: 37 });
/// assert_eq!(parse(b"GET /features/3 HTTP/1.1\r\n"), Parsed::Partial);
/// assert_eq!(parse(b"GET\0 / HTTP/1.1\r\n\r\n"), Parsed::Bad(400));
/// ```
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Bad(431),
        Err(_) => return Parsed::Bad(400),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let has_body = header("transfer-encoding").is_some()
        || header("content-length").is_some_and(|v| v.trim_ascii() != b"0");
    if has_body {
        return Parsed::Bad(400);
    }
    let connection = header("connection").unwrap_or(b"");
    let keep_alive = if req.version == Some(0) {
        connection.eq_ignore_ascii_case(b"keep-alive")
    } else {
        !connection.eq_ignore_ascii_case(b"close")
    };
    Parsed::Request {
        get: req.method == Some("GET"),
        entity: req.path.and_then(super::entity_of),
        keep_alive,
        len,
    }
}

/// Appends a response to `out` (no allocation once `out` has grown).
///
/// ```
/// let mut out = Vec::new();
/// service::feacore::http::respond(&mut out, 429, "text/plain", b"slow down\n", true);
/// assert!(out.starts_with(b"HTTP/1.1 429 Too Many Requests\r\n"));
/// assert!(out.ends_with(b"Content-Length: 10\r\n\r\nslow down\n"));
/// ```
pub fn respond(out: &mut Vec<u8>, status: u16, content_type: &str, body: &[u8], keep_alive: bool) {
    let reason = match status {
        504 => "Gateway Timeout",
        s => crate::routes::reason(s),
    };
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
    );
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_follows_the_version_and_the_connection_header() {
        let ka = |req: &[u8]| match parse(req) {
            Parsed::Request { keep_alive, .. } => keep_alive,
            other => panic!("expected a request, got {other:?}"),
        };
        assert!(ka(b"GET / HTTP/1.1\r\n\r\n"), "1.1 keeps alive by default");
        assert!(!ka(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"), "1.0 closes by default");
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn bodies_and_other_methods_are_refused_or_flagged() {
        assert_eq!(
            parse(b"POST /features/1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
            Parsed::Bad(400),
            "a body is refused"
        );
        assert!(matches!(
            parse(b"DELETE /features/1 HTTP/1.1\r\n\r\n"),
            Parsed::Request {
                get: false,
                entity: Some(1),
                ..
            }
        ));
        assert!(matches!(
            parse(b"GET /nope HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            Parsed::Request {
                get: true,
                entity: None,
                ..
            }
        ));
    }
}
