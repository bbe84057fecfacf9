//! One kept-alive HTTP/1.1 client connection on `runtime::net`: write a
//! request, read one response (framed by `Content-Length`, parsed by
//! `httparse`), reuse the buffer for the next.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use runtime::net::TcpStream;

/// Why a request failed (the report counts them by kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The connection could not be made.
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// A read or write failed, or the server closed mid-answer.
    Io,
    /// The answer was not HTTP we understand.
    Parse,
    /// A 4xx status.
    Status4xx,
    /// A 5xx status.
    Status5xx,
}

impl ErrorKind {
    /// The name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Parse => "parse",
            ErrorKind::Status4xx => "status_4xx",
            ErrorKind::Status5xx => "status_5xx",
        }
    }
}

/// A connection and its read buffer.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    len: usize,
}

/// What one exchange gave back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Whether the server will close the connection (`Connection: close`).
    pub close: bool,
}

impl Conn {
    /// Connects (within `timeout`).
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Conn, ErrorKind> {
        let stream = match runtime::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return Err(ErrorKind::Connect),
            Err(_) => return Err(ErrorKind::Timeout),
        };
        stream.set_nodelay(true).map_err(|_| ErrorKind::Connect)?;
        Ok(Conn {
            stream,
            buf: vec![0; 16 * 1024],
            len: 0,
        })
    }

    /// Sends `request` and reads its answer, within `timeout`.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Answer, ErrorKind> {
        match runtime::timeout(timeout, self.exchange_inner(request)).await {
            Ok(r) => r,
            Err(_) => Err(ErrorKind::Timeout),
        }
    }

    async fn exchange_inner(&mut self, request: &[u8]) -> Result<Answer, ErrorKind> {
        self.stream
            .write_all(request)
            .await
            .map_err(|_| ErrorKind::Io)?;
        loop {
            if let Some((answer, used)) = self.parse()? {
                self.buf.copy_within(used..self.len, 0);
                self.len -= used;
                return Ok(answer);
            }
            if self.len == self.buf.len() {
                let grown = self.buf.len() * 2;
                if grown > 16 * 1024 * 1024 {
                    return Err(ErrorKind::Parse);
                }
                self.buf.resize(grown, 0);
            }
            match self.stream.read(&mut self.buf[self.len..]).await {
                Ok(0) => return Err(ErrorKind::Io),
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(ErrorKind::Io),
            }
        }
    }

    /// A complete response at the front of the buffer, and its length.
    fn parse(&self) -> Result<Option<(Answer, usize)>, ErrorKind> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let head = match resp.parse(&self.buf[..self.len]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(ErrorKind::Parse),
        };
        let mut length = 0usize;
        let mut close = false;
        for h in resp.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                length = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or(ErrorKind::Parse)?;
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(ErrorKind::Parse); // chunked answers are not supported
            } else if h.name.eq_ignore_ascii_case("connection") {
                close = h.value.eq_ignore_ascii_case(b"close");
            }
        }
        if self.len < head + length {
            return Ok(None);
        }
        let status = resp.code.ok_or(ErrorKind::Parse)?;
        Ok(Some((Answer { status, close }, head + length)))
    }
}
