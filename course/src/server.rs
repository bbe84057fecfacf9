//! Serving the built book, loopback only, with chapter 3's fast engine on
//! the course runtime: the book about the runtime is served by it.
//!
//! The HTTP work is `service::fast`'s (httparse, keep-alive, pipelining,
//! `HEAD`, size limits), one G per connection on a runtime of
//! [`PROCS`] Ps; which file a URL names, and the refusal of anything
//! outside the book, is `service::files`'s (403 for `..` in any spelling,
//! 404 for what is missing or leads out through a symlink). This module
//! adds what only the front door needs:
//!
//! - binding early, so a taken port fails with a message naming a free
//!   choice before the book is built;
//! - `GET /__course/stats`: the server's counters as JSON (connections
//!   accepted, requests answered, requests that reused a connection), which
//!   is how `.ci/browser.sh` shows that Chromium keeps its connections
//!   alive;
//! - [`Serving`]: a server in a thread of its own, for tests, that stops.
//!
//! Keep-alive matters here: a book page loads some twenty scripts, styles
//! and fonts, and a browser fetches them over about six connections. The
//! `tiny_http` server used before had to close every connection after one
//! response (its thread pool could lose a wake-up with several kept-alive
//! connections open, and a page hung half-loaded); a G per connection on
//! the netpoller has no pool to run out of.
//!
//! ```
//! use course::server::StaticServer;
//! let server = StaticServer::bind(std::env::temp_dir(), 0).unwrap();
//! assert!(server.addr().ip().is_loopback());
//! ```

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use runtime::net::TcpListener;
use service::fast::{self, Handler, Limits, Request, Response};
use service::files::{FileStats, Files};
use service::routes::{Body, Reply};

pub use service::files::{Resolved, content_type, resolve};

/// Ps of the runtime serving the book (a browser opens about six
/// connections; two Ps keep one big file from delaying the rest).
pub const PROCS: usize = 2;
/// Connections served at once; a browser needs six per host.
pub const MAX_CONNECTIONS: usize = 256;
/// The URL of the counters.
pub const STATS_PATH: &str = "/__course/stats";

/// Why the server could not start.
#[derive(Debug)]
pub enum BindError {
    /// Someone else is listening on the port.
    PortTaken(u16),
    /// Any other failure to listen.
    Other(u16, io::Error),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::PortTaken(p) => {
                write!(
                    f,
                    "port {p} is taken; try --port {}",
                    p.wrapping_add(1).max(1)
                )
            }
            BindError::Other(p, e) => write!(f, "cannot listen on 127.0.0.1:{p}: {e}"),
        }
    }
}

impl std::error::Error for BindError {}

/// A bound, not yet serving, static server for one directory.
pub struct StaticServer {
    // Dropped before the runtime: the listener leaves its poller first.
    listener: TcpListener,
    rt: runtime::Runtime,
    root: PathBuf,
    addr: SocketAddr,
}

impl StaticServer {
    /// Starts the runtime and listens on 127.0.0.1:`port` (0 picks a free
    /// port) for files under `root`.
    pub fn bind(root: impl Into<PathBuf>, port: u16) -> Result<StaticServer, BindError> {
        let rt = runtime::Runtime::builder()
            .procs(PROCS)
            .build()
            .map_err(|e| BindError::Other(port, io::Error::other(e.to_string())))?;
        // Inside the runtime: the listener registers with its netpoller.
        let listener = rt
            .block_on(async { TcpListener::bind((Ipv4Addr::LOCALHOST, port)) })
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AddrInUse {
                    BindError::PortTaken(port)
                } else {
                    BindError::Other(port, e)
                }
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| BindError::Other(port, e))?;
        Ok(StaticServer {
            listener,
            rt,
            root: root.into(),
            addr,
        })
    }

    /// Serves `root` instead of the directory given to [`StaticServer::bind`].
    pub fn with_root(self, root: impl Into<PathBuf>) -> StaticServer {
        StaticServer {
            root: root.into(),
            ..self
        }
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process ends. `COURSE_LOG=1` prints each request.
    pub fn run(self) -> io::Result<()> {
        let book = Arc::new(Book::new(self.root.clone()));
        self.serve(book, Arc::new(AtomicBool::new(false)))
    }

    /// Serves in a thread of its own until [`Serving::stop`].
    pub fn spawn(self) -> io::Result<Serving> {
        let book = Arc::new(Book::new(self.root.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let addr = self.addr;
        let thread = {
            let (book, stop) = (book.clone(), stop.clone());
            std::thread::Builder::new()
                .name("course-server".into())
                .spawn(move || self.serve(book, stop))?
        };
        Ok(Serving {
            addr,
            book,
            stop,
            thread: Some(thread),
        })
    }

    fn serve(self, book: Arc<Book>, stop: Arc<AtomicBool>) -> io::Result<()> {
        let StaticServer { listener, rt, .. } = self;
        let handler: Arc<dyn Handler> = book;
        rt.block_on(fast::serve(
            listener,
            handler,
            Limits::default(),
            MAX_CONNECTIONS,
            stop,
        ))
    }
}

/// A server running in its own thread (see [`StaticServer::spawn`]).
pub struct Serving {
    addr: SocketAddr,
    book: Arc<Book>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Serving {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters so far.
    pub fn stats(&self) -> &FileStats {
        self.book.files.stats()
    }

    /// Stops accepting and waits for the server thread; open connections
    /// are dropped with the runtime.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        self.stop.store(true, Ordering::Release);
        // The accept loop checks the flag after each accept: wake it.
        let _ = std::net::TcpStream::connect(self.addr);
        thread
            .join()
            .map_err(|_| io::Error::other("the course server thread panicked"))?
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The book's files plus the counters URL.
struct Book {
    files: Files,
}

impl Book {
    fn new(root: PathBuf) -> Book {
        Book {
            files: Files::new(root, std::env::var_os("COURSE_LOG").is_some()),
        }
    }
}

impl Handler for Book {
    fn handle(&self, req: &Request<'_>) -> Response {
        if req.target() == STATS_PATH {
            return Reply {
                status: 200,
                content_type: "application/json",
                body: Body::Owned(self.files.stats().json().into_bytes()),
                not_before: None,
            }
            .into();
        }
        self.files.handle(req)
    }

    fn connection_opened(&self) {
        self.files.connection_opened();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener as StdListener, TcpStream};
    use std::path::Path;
    use std::time::Duration;

    /// A throwaway tree: base/book/{index.html, style.css, ch/index.html,
    /// 404.html}, with base/Cargo.toml and base/secret.txt outside the root.
    fn fixture(name: &str) -> (PathBuf, PathBuf) {
        let base =
            std::env::temp_dir().join(format!("course-server-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("book");
        std::fs::create_dir_all(root.join("ch")).unwrap();
        std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
        std::fs::write(root.join("style.css"), "body{}").unwrap();
        std::fs::write(root.join("ch/index.html"), "<h1>chapter</h1>").unwrap();
        std::fs::write(root.join("404.html"), "<h1>lost</h1>").unwrap();
        std::fs::write(base.join("Cargo.toml"), "[package] # do not serve").unwrap();
        std::fs::write(base.join("secret.txt"), "do not serve").unwrap();
        (base, root)
    }

    fn start(root: &Path) -> Serving {
        let s = StaticServer::bind(root, 0).unwrap().spawn().unwrap();
        assert!(s.addr().ip().is_loopback(), "must bind loopback only");
        s
    }

    fn connect(s: &Serving) -> TcpStream {
        let c = TcpStream::connect(s.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c
    }

    /// One response read off a kept-alive connection.
    #[derive(Debug)]
    struct Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// Reads one response (by Content-Length; none for HEAD or 304) from
    /// `pending` plus the socket, leaving what follows in `pending`.
    fn read_answer(c: &mut TcpStream, pending: &mut Vec<u8>, head_request: bool) -> Answer {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(n)) = resp.parse(pending) {
                let status = resp.code.unwrap();
                let headers: Vec<(String, String)> = resp
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let len = if head_request || status == 304 {
                    0
                } else {
                    len
                };
                if pending.len() >= n + len {
                    let body = pending[n..n + len].to_vec();
                    pending.drain(..n + len);
                    return Answer {
                        status,
                        headers,
                        body,
                    };
                }
            }
            let mut chunk = [0u8; 8192];
            let got = c.read(&mut chunk).expect("read a response");
            assert!(
                got > 0,
                "the server closed before a whole response: {pending:?}"
            );
            pending.extend_from_slice(&chunk[..got]);
        }
    }

    fn get(c: &mut TcpStream, pending: &mut Vec<u8>, target: &str) -> Answer {
        write!(c, "GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        read_answer(c, pending, false)
    }

    #[test]
    fn one_kept_alive_connection_serves_files_types_and_errors() {
        let (_base, root) = fixture("http");
        let server = start(&root);
        let mut c = connect(&server);
        let mut pending = Vec::new();

        let a = get(&mut c, &mut pending, "/style.css");
        assert_eq!((a.status, a.body.as_slice()), (200, &b"body{}"[..]));
        assert_eq!(a.header("content-type"), Some("text/css; charset=utf-8"));
        assert_eq!(a.header("connection"), None, "HTTP/1.1 stays open: {a:?}");

        let a = get(&mut c, &mut pending, "/");
        assert_eq!((a.status, a.body.as_slice()), (200, &b"<h1>home</h1>"[..]));
        assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));

        let a = get(&mut c, &mut pending, "/missing.html");
        assert_eq!(a.status, 404);
        assert_eq!(a.body, b"<h1>lost</h1>", "404 is the book's 404.html");

        let a = get(&mut c, &mut pending, "/ch");
        assert_eq!((a.status, a.header("location")), (301, Some("/ch/")));

        write!(c, "HEAD /style.css HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let a = read_answer(&mut c, &mut pending, true);
        assert_eq!((a.status, a.header("content-length")), (200, Some("6")));

        let etag = get(&mut c, &mut pending, "/style.css")
            .header("etag")
            .expect("an ETag")
            .to_string();
        write!(
            c,
            "GET /style.css HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\n\r\n"
        )
        .unwrap();
        let a = read_answer(&mut c, &mut pending, false);
        assert_eq!((a.status, a.body.len()), (304, 0));

        // And the connection still works after all of that.
        let a = get(&mut c, &mut pending, "/ch/");
        assert_eq!(a.body, b"<h1>chapter</h1>");
        assert!(pending.is_empty(), "no stray bytes: {pending:?}");

        let stats = get(&mut c, &mut pending, STATS_PATH);
        let stats = String::from_utf8(stats.body).unwrap();
        assert_eq!(
            stats, r#"{"connections":1,"requests":8,"reused":7}"#,
            "one connection carried all eight file requests"
        );
        server.stop().unwrap();
    }

    /// Raw requests, as a hostile client would send them: nothing outside
    /// the root comes back, whatever the spelling.
    #[test]
    fn raw_traversal_requests_are_refused_and_leak_nothing() {
        let (base, root) = fixture("traversal");
        #[cfg(unix)]
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt")).unwrap();
        let server = start(&root);
        for (target, want) in [
            ("/../Cargo.toml", 403),
            ("/../secret.txt", 403),
            ("/ch/../../Cargo.toml", 403),
            ("/%2e%2e/Cargo.toml", 403),
            ("/%2E%2E%2FCargo.toml", 403),
            ("/ch/%2e%2e/%2e%2e/secret.txt", 403),
            ("/..%5cCargo.toml", 403),
            ("/%00", 403),
            ("/%zz", 400),
            ("/link.txt", 404),
        ] {
            let mut c = connect(&server);
            write!(
                c,
                "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut raw = Vec::new();
            c.read_to_end(&mut raw).unwrap();
            let raw = String::from_utf8_lossy(&raw);
            assert!(
                raw.starts_with(&format!("HTTP/1.1 {want} ")),
                "{target}: expected {want}, got {raw}"
            );
            assert!(
                !raw.contains("do not serve"),
                "{target} leaked a file: {raw}"
            );
        }
        server.stop().unwrap();
    }

    #[test]
    fn a_taken_port_gives_the_promised_message() {
        let (_base, root) = fixture("taken");
        let holder = StdListener::bind("127.0.0.1:0").unwrap();
        let port = holder.local_addr().unwrap().port();
        let err = StaticServer::bind(&root, port)
            .err()
            .expect("bind must fail");
        assert_eq!(
            err.to_string(),
            format!("port {port} is taken; try --port {}", port + 1)
        );
    }
}
