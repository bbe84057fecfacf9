//! A small static file server for the built book, loopback only.
//!
//! The HTTP protocol itself is tiny_http's job; this module decides which
//! file a URL names, and refuses anything outside the book. A URL path is
//! percent-decoded first and then split on `/`, so `%2e%2e%2f` is caught as
//! the `..` it really is. Any `..` segment, backslash or NUL byte is refused
//! with 400 before the file system is touched; what remains is joined under
//! the root and canonicalised, and a result outside the root (a symlink
//! pointing away) is treated as absent. Directories serve their
//! `index.html`; a directory asked for without its trailing slash is
//! redirected to it, so that the page's relative links resolve. Anything
//! else that is missing gets mdBook's `404.html` with status 404.
//!
//! ```
//! use course::server::{resolve, Resolved};
//! let root = std::env::temp_dir();
//! assert_eq!(resolve(&root, "/../etc/passwd"), Resolved::BadRequest);
//! ```

use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread;

use tiny_http::{HTTPVersion, Header, Method, Response, Server};

/// What a request URL maps to under the served root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Serve this file (already checked to lie under the root).
    File(PathBuf),
    /// A directory asked for without a trailing slash: redirect here.
    Redirect(String),
    /// Nothing under the root by that name.
    NotFound,
    /// A path that tries to leave the root, or is not valid UTF-8 once decoded.
    BadRequest,
}

/// Maps the path part of a request URL to a file under `root`.
///
/// The query string and fragment are ignored.
pub fn resolve(root: &Path, url: &str) -> Resolved {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let Some(decoded) = percent_decode(path) else {
        return Resolved::BadRequest;
    };
    if decoded.contains('\\') || decoded.contains('\0') {
        return Resolved::BadRequest;
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Resolved::BadRequest,
            s => relative.push(s),
        }
    }
    let Ok(canonical_root) = root.canonicalize() else {
        return Resolved::NotFound;
    };
    let Ok(target) = canonical_root.join(&relative).canonicalize() else {
        return Resolved::NotFound;
    };
    if !target.starts_with(&canonical_root) {
        return Resolved::NotFound;
    }
    if target.is_dir() {
        if !decoded.is_empty() && !decoded.ends_with('/') {
            return Resolved::Redirect(format!("{path}/"));
        }
        let index = target.join("index.html");
        return if index.is_file() {
            Resolved::File(index)
        } else {
            Resolved::NotFound
        };
    }
    if target.is_file() {
        Resolved::File(target)
    } else {
        Resolved::NotFound
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `Content-Type` for a file, from its extension.
///
/// ```
/// assert_eq!(course::server::content_type(std::path::Path::new("book.js")), "text/javascript; charset=utf-8");
/// ```
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "eot" => "application/vnd.ms-fontobject",
        "txt" | "md" | "rs" | "toml" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

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

/// A bound, not yet running, static server for one directory.
pub struct StaticServer {
    server: Server,
    root: PathBuf,
    addr: SocketAddr,
}

impl StaticServer {
    /// Listens on 127.0.0.1:`port` (0 picks a free port) for files under `root`.
    pub fn bind(root: impl Into<PathBuf>, port: u16) -> Result<StaticServer, BindError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                BindError::PortTaken(port)
            } else {
                BindError::Other(port, e)
            }
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| BindError::Other(port, e))?;
        let server = Server::from_listener(listener, None)
            .map_err(|e| BindError::Other(port, io::Error::other(e.to_string())))?;
        Ok(StaticServer {
            server,
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

    /// Serves requests until the process ends, each on a thread of its own.
    ///
    /// A thread per request rather than a fixed pool: a browser opens
    /// several keep-alive connections at once, and tiny_http writes the
    /// responses of one connection in order, so a fixed pool can end up with
    /// every worker waiting behind a response that no worker is free to send.
    pub fn run(self) {
        for request in self.server.incoming_requests() {
            let root = self.root.clone();
            thread::spawn(move || {
                // A client that hangs up mid-response is not our problem.
                let _ = handle(&root, request);
            });
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header is valid ASCII")
}

/// Sends `response` as HTTP/1.0, which tells the browser to close the
/// connection afterwards.
///
/// Why not keep-alive: tiny_http 0.12 runs each connection on a thread of
/// its pool, and its pool can lose a wake-up when several connections open
/// at once (a browser opens six). The connection that lost it waits until
/// another connection ends; with keep-alive that can be never, and the page
/// hangs half-loaded (seen with Chromium on the first page after start).
/// Closing every connection after its response frees a pool thread at once,
/// which is cheap on loopback.
fn respond_and_close<R: io::Read>(
    request: tiny_http::Request,
    response: Response<R>,
) -> io::Result<()> {
    let head_only = *request.method() == Method::Head;
    let request_headers = request.headers().to_vec();
    let mut writer = request.into_writer();
    let result = response
        .raw_print(
            &mut writer,
            HTTPVersion(1, 0),
            &request_headers,
            head_only,
            None,
        )
        .and_then(|()| writer.flush());
    match result {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn handle(root: &Path, request: tiny_http::Request) -> io::Result<()> {
    if std::env::var_os("COURSE_LOG").is_some() {
        eprintln!("{} {}", request.method(), request.url());
    }
    if !matches!(request.method(), Method::Get | Method::Head) {
        let r = Response::from_string("method not allowed\n").with_status_code(405);
        return respond_and_close(request, r.with_header(header("Allow", "GET, HEAD")));
    }
    match resolve(root, request.url()) {
        Resolved::File(path) => {
            let file = File::open(&path)?;
            let response = Response::from_file(file)
                .with_header(header("Content-Type", content_type(&path)))
                .with_header(header("Cache-Control", "no-cache"));
            respond_and_close(request, response)
        }
        Resolved::Redirect(location) => {
            let r = Response::empty(301).with_header(header("Location", &location));
            respond_and_close(request, r)
        }
        Resolved::BadRequest => respond_and_close(
            request,
            Response::from_string("bad request: path leaves the book\n").with_status_code(400),
        ),
        Resolved::NotFound => {
            let page = root.join("404.html");
            match File::open(&page) {
                Ok(f) => respond_and_close(
                    request,
                    Response::from_file(f)
                        .with_status_code(404)
                        .with_header(header("Content-Type", content_type(&page))),
                ),
                Err(_) => respond_and_close(
                    request,
                    Response::from_string("not found\n").with_status_code(404),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpStream;

    /// A throwaway directory tree: root/{index.html, style.css, ch/index.html, ch/p.json}
    /// next to a secret file outside the root.
    fn fixture(name: &str) -> (PathBuf, PathBuf) {
        let base =
            std::env::temp_dir().join(format!("course-server-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("book");
        std::fs::create_dir_all(root.join("ch")).unwrap();
        std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
        std::fs::write(root.join("style.css"), "body{}").unwrap();
        std::fs::write(root.join("ch/index.html"), "<h1>chapter</h1>").unwrap();
        std::fs::write(root.join("ch/p.json"), "{}").unwrap();
        std::fs::write(root.join("404.html"), "<h1>lost</h1>").unwrap();
        std::fs::write(base.join("secret.txt"), "do not serve").unwrap();
        (base, root)
    }

    #[test]
    fn files_and_directories_resolve() {
        let (_base, root) = fixture("resolve");
        let canon = root.canonicalize().unwrap();
        assert_eq!(
            resolve(&root, "/"),
            Resolved::File(canon.join("index.html"))
        );
        assert_eq!(
            resolve(&root, "/style.css?v=1"),
            Resolved::File(canon.join("style.css"))
        );
        assert_eq!(
            resolve(&root, "/ch/"),
            Resolved::File(canon.join("ch/index.html"))
        );
        assert_eq!(resolve(&root, "/ch"), Resolved::Redirect("/ch/".into()));
        assert_eq!(
            resolve(&root, "/ch/p%2Ejson"),
            Resolved::File(canon.join("ch/p.json"))
        );
        assert_eq!(resolve(&root, "/nope.html"), Resolved::NotFound);
    }

    #[test]
    fn traversal_is_rejected_in_every_spelling() {
        let (_base, root) = fixture("traversal");
        for url in [
            "/../secret.txt",
            "/ch/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/ch/%2E%2E%2F%2E%2E%2Fsecret.txt",
            "/..%5csecret.txt",
            "/ch/%00",
            "/%zz",
        ] {
            assert_eq!(
                resolve(&root, url),
                Resolved::BadRequest,
                "{url} must be refused"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlink_out_of_the_root_is_not_served() {
        let (base, root) = fixture("symlink");
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt")).unwrap();
        assert_eq!(resolve(&root, "/link.txt"), Resolved::NotFound);
    }

    #[test]
    fn content_types_follow_extensions() {
        for (name, want) in [
            ("a.html", "text/html; charset=utf-8"),
            ("a.css", "text/css; charset=utf-8"),
            ("a.js", "text/javascript; charset=utf-8"),
            ("a.json", "application/json"),
            ("a.svg", "image/svg+xml"),
            ("a.PNG", "image/png"),
            ("a.woff2", "font/woff2"),
            ("a", "application/octet-stream"),
        ] {
            assert_eq!(
                content_type(Path::new(name)),
                want,
                "content type of {name}"
            );
        }
    }

    /// One raw HTTP/1.0 exchange; returns (status line, headers+body).
    fn get(addr: SocketAddr, path: &str) -> (String, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.lines().next().unwrap_or("").to_string();
        (status, out)
    }

    #[test]
    fn real_server_answers_with_status_and_type() {
        let (_base, root) = fixture("http");
        let server = StaticServer::bind(&root, 0).unwrap();
        let addr = server.addr();
        assert!(
            addr.ip().is_loopback(),
            "must bind loopback only, got {addr}"
        );
        thread::spawn(move || server.run());

        let (status, body) = get(addr, "/style.css");
        assert!(status.contains("200"), "{status}");
        assert!(
            body.to_ascii_lowercase().contains("content-type: text/css"),
            "{body}"
        );

        let (status, body) = get(addr, "/missing.html");
        assert!(status.contains("404"), "{status}");
        assert!(
            body.contains("lost"),
            "404 page should be mdBook's 404.html: {body}"
        );

        let (status, body) = get(addr, "/../secret.txt");
        assert!(status.contains("400"), "{status}");
        assert!(!body.contains("do not serve"));

        let (status, body) = get(addr, "/ch");
        assert!(status.contains("301"), "{status}");
        assert!(body.contains("Location: /ch/"), "{body}");
    }

    #[test]
    fn keep_alive_requests_get_a_closing_http_1_0_answer() {
        use std::io::BufRead;
        let (_base, root) = fixture("close");
        let server = StaticServer::bind(&root, 0).unwrap();
        let addr = server.addr();
        thread::spawn(move || server.run());
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
        )
        .unwrap();
        let mut reader = std::io::BufReader::new(s);
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            head.push(line.trim().to_string());
        }
        assert_eq!(head[0], "HTTP/1.0 200 OK", "headers: {head:?}");
        assert!(
            !head
                .iter()
                .any(|h| h.to_ascii_lowercase().starts_with("connection: keep-alive")),
            "the browser must not be invited to keep the connection: {head:?}"
        );
        let len: usize = head
            .iter()
            .find_map(|h| h.strip_prefix("Content-Length: "))
            .expect("a Content-Length")
            .parse()
            .unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        assert_eq!(body, b"body{}");
    }

    #[test]
    fn a_taken_port_gives_the_promised_message() {
        let (_base, root) = fixture("taken");
        let holder = TcpListener::bind("127.0.0.1:0").unwrap();
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
