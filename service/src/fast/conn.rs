//! One connection's buffers and the parse-handle-serialise step, without I/O.
//!
//! fasthttp's speed comes from reuse: a connection keeps one read buffer and
//! one write buffer for its whole life, and a request is a view into the read
//! buffer, not a copy. fasthttp pays for that with a rule written in its docs
//! only: a handler must not keep a reference to the request after it
//! returns, because the next request overwrites the bytes (fasthttp#1257 is
//! one of the bugs that came from breaking it). Here the rule is a type:
//! [`Request<'buf>`] borrows the connection's buffer for `'buf`, and a
//! handler gets `&Request<'_>` for a lifetime it cannot name, so storing
//! the request, a header or the body anywhere that outlives the call does
//! not compile:
//!
//! ```compile_fail
//! use std::sync::Mutex;
//! use service::fast::Request;
//! static KEPT: Mutex<Vec<&'static [u8]>> = Mutex::new(Vec::new());
//! fn keep_the_body(req: &Request<'_>) -> service::Reply {
//!     KEPT.lock().unwrap().push(req.body()); // error: borrowed data escapes
//!     service::Reply::text(200, "ok\n")
//! }
//! ```
//!
//! A handler that needs the bytes later copies them (`req.body().to_vec()`),
//! which is what fasthttp's docs ask for too; the compiler now checks it.
//!
//! [`ConnBuf::process`] answers every complete request already in the read
//! buffer (pipelining: a client may send several before reading), appending
//! the responses to the write buffer, so the engine writes them with one
//! syscall. Parsing is httparse's; this file only frames the body
//! (`Content-Length`) and enforces the limits: a head over `max_head` bytes
//! or with too many headers is 431, a body over `max_body` is 413, anything
//! httparse rejects is 400, a chunked body is 501; each of those answers
//! with `Connection: close`, and the engine closes after sending it.
//!
//! A handler answers with anything that turns into a [`Response`]: a route's
//! [`Reply`], or a `Response` with headers of its own (the static-file
//! handler in [`crate::files`] adds `Location`, `ETag`, `Allow`). The engine
//! frames it: a response to `HEAD` gets the headers of the `GET` it stands
//! for (the same `Content-Length`) and no body, and a `304` or `204` has
//! neither a body nor a length, as RFC 9110 says; getting either wrong would
//! desynchronise a kept-alive connection.

use std::io::Write as _;
use std::time::Instant;

use crate::routes::{Reply, reason};

/// A reply plus the extra headers a handler wants sent (Go's
/// `http.ResponseWriter` with `Header().Set` calls before the write).
///
/// ```
/// use service::fast::Response;
/// let r = Response::from(service::Reply::text(301, "moved\n")).header("Location", "/ch/");
/// assert_eq!(r.headers, vec![("Location", "/ch/".to_string())]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status, content type, body and an optional send-not-before time.
    pub reply: Reply,
    /// Headers sent after `Content-Type` and `Content-Length`, in order.
    /// The engine writes `Content-Length` and `Connection` itself.
    pub headers: Vec<(&'static str, String)>,
}

impl Response {
    /// Adds one header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<Reply> for Response {
    fn from(reply: Reply) -> Response {
        Response {
            reply,
            headers: Vec::new(),
        }
    }
}

/// The most headers a request may have (fasthttp and hyper allow about 100).
pub const MAX_HEADERS: usize = 64;

/// Size limits of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The longest request head (request line and headers), in bytes.
    pub max_head: usize,
    /// The longest request body, in bytes.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 8 * 1024,
            max_body: 1024 * 1024,
        }
    }
}

// ANCHOR: request
/// An HTTP/1.x request that borrows its connection's read buffer (fasthttp's
/// `RequestCtx`, with the "do not keep it" rule enforced by `'buf`).
#[derive(Debug)]
pub struct Request<'buf> {
    method: &'buf str,
    target: &'buf str,
    minor_version: u8,
    headers: &'buf [httparse::Header<'buf>],
    body: &'buf [u8],
    on_connection: u64,
}

// ANCHOR_END: request

impl<'buf> Request<'buf> {
    /// The method, e.g. `GET`.
    pub fn method(&self) -> &'buf str {
        self.method
    }
    /// The request target: path and query, e.g. `/work?us=10`.
    pub fn target(&self) -> &'buf str {
        self.target
    }
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'buf [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
    /// The body (empty without `Content-Length`).
    pub fn body(&self) -> &'buf [u8] {
        self.body
    }
    /// How many requests this connection carried before this one (0 for a
    /// fresh connection): keep-alive at work, visible to a handler.
    pub fn on_connection(&self) -> u64 {
        self.on_connection
    }
    /// Whether the client wants the connection kept open after this request
    /// (HTTP/1.1's default unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`).
    pub fn keep_alive(&self) -> bool {
        let conn = self.header("connection").unwrap_or(b"");
        let has = |word: &str| {
            conn.split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(word.as_bytes()))
        };
        if self.minor_version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }
}

// ANCHOR: handler
/// What a fast-engine handler is: a function of a borrowed request (Go's
/// `fasthttp.RequestHandler`).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn handle(&self, req: &Request<'_>) -> Response;

    /// Called once per accepted connection, before its first read (for
    /// statistics: connections against requests shows keep-alive at work).
    fn connection_opened(&self) {}
}

// ANCHOR_END: handler

impl<F, R> Handler for F
where
    F: Fn(&Request<'_>) -> R + Send + Sync + 'static,
    R: Into<Response>,
{
    fn handle(&self, req: &Request<'_>) -> Response {
        self(req).into()
    }
}

/// What [`ConnBuf::process`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Requests answered in this step.
    pub served: usize,
    /// Send the responses no earlier than this.
    pub not_before: Option<Instant>,
    /// Close the connection once the responses are written.
    pub close: bool,
}

/// A connection's read and write buffers, kept for the connection's life.
#[derive(Debug)]
pub struct ConnBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Responses waiting to be written.
    pub out: Vec<u8>,
    limits: Limits,
    served: u64,
}

impl ConnBuf {
    /// Empty buffers (4 KiB to start; the read buffer grows to fit one
    /// request up to the limits, and is then reused).
    pub fn new(limits: Limits) -> ConnBuf {
        ConnBuf {
            buf: vec![0; 4096],
            start: 0,
            end: 0,
            out: Vec::with_capacity(4096),
            limits,
            served: 0,
        }
    }

    /// Where the next read goes: the free tail of the read buffer, after
    /// moving unparsed bytes to the front or growing it if needed.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.end == self.buf.len() {
            let cap = self.limits.max_head + self.limits.max_body + 1;
            let grown = (self.buf.len() * 2).min(cap).max(self.buf.len() + 1);
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }

    /// Records that the last read put `n` bytes into [`ConnBuf::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
    }

    /// Whether unparsed bytes are waiting (a request cut short at close).
    pub fn has_partial(&self) -> bool {
        self.start < self.end
    }

    /// Answers every complete request in the read buffer, appending the
    /// responses to `out`. Stops at the first request that needs more bytes,
    /// or after a response that closes the connection.
    pub fn process(&mut self, handler: &dyn Handler) -> Outcome {
        let mut outcome = Outcome::default();
        while !outcome.close && self.start < self.end {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let input = &self.buf[self.start..self.end];
            let (response, keep, head, consumed) =
                match frame(input, &mut headers, self.limits, self.served) {
                    Framed::Partial => break,
                    Framed::Reject(status, why) => {
                        (Reply::text(status, why).into(), false, false, 0)
                    }
                    Framed::Complete(req, used) => (
                        handler.handle(&req),
                        req.keep_alive(),
                        req.method() == "HEAD",
                        used,
                    ),
                };
            self.start += consumed;
            self.served += 1;
            outcome.served += 1;
            outcome.close = !keep;
            if let Some(t) = response.reply.not_before {
                outcome.not_before = Some(outcome.not_before.map_or(t, |o| o.max(t)));
            }
            write_response(&mut self.out, &response, keep, head);
        }
        outcome
    }

    /// Gives back the write buffer's memory after a large response (a big
    /// file), so an idle kept-alive connection holds 64 KiB at most.
    pub fn trim(&mut self) {
        if self.out.is_empty() && self.out.capacity() > 64 * 1024 {
            self.out = Vec::with_capacity(4096);
        }
    }
}

enum Framed<'b> {
    Partial,
    Reject(u16, &'static str),
    Complete(Request<'b>, usize),
}

/// Parses one request at the front of `input` and frames its body.
fn frame<'b>(
    input: &'b [u8],
    headers: &'b mut [httparse::Header<'b>],
    limits: Limits,
    on_connection: u64,
) -> Framed<'b> {
    let mut req = httparse::Request::new(headers);
    let head_len = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n > limits.max_head => {
            return Framed::Reject(431, "request head too large\n");
        }
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > limits.max_head => {
            return Framed::Reject(431, "request head too large\n");
        }
        Ok(httparse::Status::Partial) => return Framed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Framed::Reject(431, "too many request headers\n");
        }
        Err(_) => return Framed::Reject(400, "malformed request\n"),
    };
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Framed::Reject(400, "malformed request\n");
    };
    let headers: &'b [httparse::Header<'b>] = req.headers;
    let mut length = 0usize;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Framed::Reject(501, "chunked request bodies are not supported\n");
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) => length = n,
                None => return Framed::Reject(400, "bad Content-Length\n"),
            }
        }
    }
    if length > limits.max_body {
        return Framed::Reject(413, "request body too large\n");
    }
    if input.len() < head_len + length {
        return Framed::Partial;
    }
    let req = Request {
        method,
        target,
        minor_version,
        headers,
        body: &input[head_len..head_len + length],
        on_connection,
    };
    Framed::Complete(req, head_len + length)
}

/// Serialises a response: status line, headers, body. `head`: the request
/// was `HEAD`, so the body is left out but its length is still announced.
fn write_response(out: &mut Vec<u8>, response: &Response, keep_alive: bool, head: bool) {
    let reply = &response.reply;
    let body = reply.body.as_bytes();
    // 1xx, 204 and 304 never carry a body, so they announce no length.
    let bodiless = matches!(reply.status, 100..=199 | 204 | 304);
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\n",
        reply.status,
        reason_phrase(reply.status),
        reply.content_type,
    );
    if !bodiless {
        let _ = write!(out, "Content-Length: {}\r\n", body.len());
    }
    for (name, value) in &response.headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head && !bodiless {
        out.extend_from_slice(body);
    }
}

/// The reason phrase: the routes' own, plus the few only files need.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        301 => "Moved Permanently",
        304 => "Not Modified",
        403 => "Forbidden",
        _ => reason(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Routes;

    fn run(input: &[u8], limits: Limits) -> (Outcome, String) {
        let routes = Routes::default();
        let handler =
            move |req: &Request<'_>| routes.respond(req.method(), req.target(), req.body());
        let mut c = ConnBuf::new(limits);
        let mut rest = input;
        let mut total = Outcome::default();
        while !rest.is_empty() && !total.close {
            let spare = c.spare();
            let n = spare.len().min(rest.len());
            spare[..n].copy_from_slice(&rest[..n]);
            c.filled(n);
            rest = &rest[n..];
            let o = c.process(&handler);
            total.served += o.served;
            total.close |= o.close;
        }
        (total, String::from_utf8_lossy(&c.out).into_owned())
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let (o, out) = run(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /nope HTTP/1.1\r\n\r\n",
            Limits::default(),
        );
        assert_eq!(o.served, 3);
        assert!(!o.close);
        let hello = out.find("hello from").unwrap();
        let echo = out
            .find("\r\n\r\nhello\r\n")
            .or(out.find("\r\n\r\nhelloHTTP"))
            .unwrap();
        let nf = out.find("404 Not Found").unwrap();
        assert!(hello < echo && echo < nf, "{out}");
    }

    #[test]
    fn a_body_split_across_reads_waits_for_the_rest() {
        let mut input = b"POST /echo HTTP/1.1\r\nContent-Length: 10000\r\n\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10000));
        let (o, out) = run(&input, Limits::default());
        assert_eq!(o.served, 1);
        assert!(out.contains("Content-Length: 10000\r\n"), "{}", &out[..100]);
    }

    #[test]
    fn limits_give_431_413_400_and_close() {
        let small = Limits {
            max_head: 64,
            max_body: 16,
        };
        let long = format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "a".repeat(100));
        let (o, out) = run(long.as_bytes(), small);
        assert!(o.close && out.starts_with("HTTP/1.1 431 "), "{out}");
        let (o, out) = run(b"POST /echo HTTP/1.1\r\nContent-Length: 17\r\n\r\n", small);
        assert!(o.close && out.starts_with("HTTP/1.1 413 "), "{out}");
        let (o, out) = run(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", small);
        assert!(o.close && out.starts_with("HTTP/1.1 400 "), "{out}");
        assert!(out.contains("Connection: close\r\n"), "{out}");
    }

    #[test]
    fn http10_closes_and_connection_close_is_honoured() {
        let (o, _) = run(b"GET / HTTP/1.0\r\n\r\n", Limits::default());
        assert!(o.close);
        let (o, _) = run(
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            Limits::default(),
        );
        assert!(o.close);
        let (o, _) = run(
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            Limits::default(),
        );
        assert!(!o.close);
    }
}
