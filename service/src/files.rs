//! Static files for the fast engine: how `cargo run --bin course` serves the
//! built book (Go's `http.FileServer`).
//!
//! [`Files`] is a [`Handler`]: the fast engine parses each request, keeps the
//! connection alive between them (a browser loads a page and its two dozen
//! scripts, styles and fonts over a handful of connections), and calls
//! [`Files::handle`] with the borrowed request. The handler only decides
//! what a URL names and reads it.
//!
//! Which file a URL names ([`resolve`]): the path part of the target is
//! percent-decoded first and then split on `/`, so `%2e%2e%2f` is caught as
//! the `..` it really is. Any `..` segment, a backslash or a NUL byte is
//! refused with 403 before the file system is touched; a malformed escape
//! or a path that is not UTF-8 once decoded is a 400. What remains is joined
//! under the root and canonicalised, and a result outside the root (a
//! symlink pointing away) is treated as absent: 404. No byte outside the
//! root is ever read. A directory serves its `index.html`; a directory asked
//! for without its trailing slash is redirected (301) to it, so the page's
//! relative links resolve. Anything else that is missing gets the root's
//! `404.html` (mdBook writes one) with status 404.
//!
//! Reading a file blocks its M in the kernel, so it goes through
//! [`runtime::syscall`]: the P is handed to another M meanwhile, as Go's
//! `entersyscall` does for a file read, and other connections keep being
//! served. Every file is read whole, per request: the book's largest file
//! is its search index, a few hundred KiB, and there is no cache to go stale
//! while `course watch` rebuilds the book.
//!
//! Conditional requests, nothing fancy: every file gets an `ETag` made of
//! its length and modification time, and `Cache-Control: no-cache`, so a
//! browser revalidates each time with `If-None-Match` and gets an empty 304
//! while the file is unchanged.
//!
//! ```
//! use service::files::{resolve, Resolved};
//! let root = std::env::temp_dir();
//! assert_eq!(resolve(&root, "/../etc/passwd"), Resolved::Forbidden);
//! assert_eq!(resolve(&root, "/%2e%2e/etc/passwd"), Resolved::Forbidden);
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use crate::fast::{Handler, Request, Response};
use crate::routes::{Body, Reply};

/// What a request URL maps to under the served root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Serve this file (already checked to lie under the root).
    File(PathBuf),
    /// A directory asked for without a trailing slash: redirect here.
    Redirect(String),
    /// Nothing under the root by that name (or only a symlink leading out).
    NotFound,
    /// A path that tries to leave the root: `..`, a backslash, a NUL.
    Forbidden,
    /// Not a path: no leading `/`, a malformed escape, or not UTF-8.
    BadRequest,
}

/// Maps the target of a request (path and query) to a file under `root`.
///
/// The query string and fragment are ignored. Touches the file system only
/// for paths that stay under the root.
pub fn resolve(root: &Path, target: &str) -> Resolved {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Resolved::BadRequest;
    }
    let Ok(decoded) = percent_encoding::percent_decode_str(path).decode_utf8() else {
        return Resolved::BadRequest;
    };
    if !well_formed_escapes(path) {
        return Resolved::BadRequest;
    }
    if decoded.contains('\\') || decoded.contains('\0') {
        return Resolved::Forbidden;
    }
    let mut relative = PathBuf::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Resolved::Forbidden,
            s => relative.push(s),
        }
    }
    let Ok(canonical_root) = root.canonicalize() else {
        return Resolved::NotFound;
    };
    let Ok(found) = canonical_root.join(&relative).canonicalize() else {
        return Resolved::NotFound;
    };
    if !found.starts_with(&canonical_root) {
        return Resolved::NotFound;
    }
    if found.is_dir() {
        if !decoded.ends_with('/') {
            return Resolved::Redirect(format!("{path}/"));
        }
        let index = found.join("index.html");
        return if index.is_file() {
            Resolved::File(index)
        } else {
            Resolved::NotFound
        };
    }
    if found.is_file() {
        Resolved::File(found)
    } else {
        Resolved::NotFound
    }
}

/// Whether every `%` starts a two-hex-digit escape (`percent_decode` passes
/// a stray `%` through unchanged; a stray one in a URL is a client bug).
fn well_formed_escapes(path: &str) -> bool {
    let b = path.as_bytes();
    (0..b.len()).filter(|&i| b[i] == b'%').all(|i| {
        b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
    })
}

/// The `Content-Type` for a file, from its extension.
///
/// ```
/// let t = service::files::content_type(std::path::Path::new("book.js"));
/// assert_eq!(t, "text/javascript; charset=utf-8");
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

/// Counters of a [`Files`] server: accepted connections against requests
/// shows whether clients keep their connections alive.
#[derive(Debug, Default)]
pub struct FileStats {
    connections: AtomicU64,
    requests: AtomicU64,
    reused: AtomicU64,
}

impl FileStats {
    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Requests that arrived on a connection that had already carried one.
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }
    /// The three counters as one JSON object.
    ///
    /// ```
    /// let s = service::files::FileStats::default();
    /// assert_eq!(s.json(), r#"{"connections":0,"requests":0,"reused":0}"#);
    /// ```
    pub fn json(&self) -> String {
        format!(
            r#"{{"connections":{},"requests":{},"reused":{}}}"#,
            self.connections(),
            self.requests(),
            self.reused()
        )
    }
}

/// Serves the files under one directory (Go's `http.FileServer(http.Dir(root))`).
#[derive(Debug)]
pub struct Files {
    root: PathBuf,
    stats: FileStats,
    log: bool,
}

impl Files {
    /// Serves `root`. With `log`, prints one line per request on stderr.
    pub fn new(root: impl Into<PathBuf>, log: bool) -> Files {
        Files {
            root: root.into(),
            stats: FileStats::default(),
            log,
        }
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The counters.
    pub fn stats(&self) -> &FileStats {
        &self.stats
    }

    /// Answers one request by method and target, with the request's
    /// `If-None-Match` header if it had one. No network involved, so the
    /// engine's tests and this module's share it.
    pub fn respond(&self, method: &str, target: &str, if_none_match: Option<&[u8]>) -> Response {
        if method != "GET" && method != "HEAD" {
            return Response::from(Reply::text(405, "only GET and HEAD\n"))
                .header("Allow", "GET, HEAD");
        }
        match resolve(&self.root, target) {
            Resolved::File(path) => match runtime::syscall(|| read(&path)) {
                Ok((bytes, etag)) => {
                    if if_none_match.is_some_and(|v| etag_matches(v, &etag)) {
                        let mut r = Reply::text(304, "");
                        r.content_type = content_type(&path);
                        return Response::from(r)
                            .header("ETag", etag)
                            .header("Cache-Control", "no-cache");
                    }
                    Response::from(owned(200, content_type(&path), bytes))
                        .header("ETag", etag)
                        .header("Cache-Control", "no-cache")
                }
                // Deleted between resolve and read (a rebuild), or unreadable.
                Err(_) => self.not_found(),
            },
            Resolved::Redirect(to) => {
                Response::from(Reply::text(301, "moved\n")).header("Location", to)
            }
            Resolved::NotFound => self.not_found(),
            Resolved::Forbidden => Reply::text(403, "forbidden: the path leaves the book\n").into(),
            Resolved::BadRequest => Reply::text(400, "bad request: not a path\n").into(),
        }
    }

    fn not_found(&self) -> Response {
        let page = self.root.join("404.html");
        match runtime::syscall(|| fs::read(&page)) {
            Ok(bytes) => owned(404, "text/html; charset=utf-8", bytes).into(),
            Err(_) => Reply::text(404, "not found\n").into(),
        }
    }
}

impl Handler for Files {
    fn handle(&self, req: &Request<'_>) -> Response {
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if req.on_connection() > 0 {
            self.stats.reused.fetch_add(1, Ordering::Relaxed);
        }
        let r = self.respond(req.method(), req.target(), req.header("if-none-match"));
        if self.log {
            eprintln!(
                "{} {} -> {} (request {} on its connection)",
                req.method(),
                req.target(),
                r.reply.status,
                req.on_connection() + 1
            );
        }
        r
    }

    fn connection_opened(&self) {
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
    }
}

fn owned(status: u16, content_type: &'static str, bytes: Vec<u8>) -> Reply {
    Reply {
        status,
        content_type,
        body: Body::Owned(bytes),
        not_before: None,
    }
}

/// The file's bytes and an ETag from its length and modification time.
fn read(path: &Path) -> io::Result<(Vec<u8>, String)> {
    let meta = fs::metadata(path)?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let bytes = fs::read(path)?;
    Ok((bytes, format!("\"{:x}-{:x}\"", meta.len(), mtime)))
}

/// Whether an `If-None-Match` value names `etag` (a list, `W/` prefixes, `*`).
fn etag_matches(header: &[u8], etag: &str) -> bool {
    let Ok(header) = std::str::from_utf8(header) else {
        return false;
    };
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fast::{ConnBuf, Limits};

    /// A throwaway tree: root/{index.html, style.css, ch/index.html,
    /// ch/p.json, 404.html} next to a secret file outside the root.
    fn fixture(name: &str) -> (PathBuf, PathBuf) {
        let base =
            std::env::temp_dir().join(format!("service-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("book");
        fs::create_dir_all(root.join("ch")).unwrap();
        fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
        fs::write(root.join("style.css"), "body{}").unwrap();
        fs::write(root.join("ch/index.html"), "<h1>chapter</h1>").unwrap();
        fs::write(root.join("ch/p.json"), "{}").unwrap();
        fs::write(root.join("404.html"), "<h1>lost</h1>").unwrap();
        fs::write(base.join("secret.txt"), "do not serve").unwrap();
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
    fn traversal_is_forbidden_in_every_spelling() {
        let (_base, root) = fixture("traversal");
        for url in [
            "/../secret.txt",
            "/ch/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2e%2Fsecret.txt",
            "/ch/%2E%2E%2F%2E%2E%2Fsecret.txt",
            "/..%5csecret.txt",
            "/ch/%00",
        ] {
            assert_eq!(
                resolve(&root, url),
                Resolved::Forbidden,
                "{url} must be refused"
            );
        }
        for url in ["/%zz", "/%2", "/%ff%fe", "secret.txt", "*"] {
            assert_eq!(
                resolve(&root, url),
                Resolved::BadRequest,
                "{url} is not a path"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_out_of_the_root_is_not_served() {
        let (base, root) = fixture("symlink");
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt")).unwrap();
        assert_eq!(resolve(&root, "/link.txt"), Resolved::NotFound);
        let files = Files::new(&root, false);
        let r = files.respond("GET", "/link.txt", None);
        assert_eq!(r.reply.status, 404);
        assert_eq!(r.reply.body.as_bytes(), b"<h1>lost</h1>");
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

    #[test]
    fn an_unchanged_file_revalidates_with_304() {
        let (_base, root) = fixture("etag");
        let files = Files::new(&root, false);
        let first = files.respond("GET", "/style.css", None);
        assert_eq!(first.reply.status, 200);
        let etag = first
            .headers
            .iter()
            .find(|(n, _)| *n == "ETag")
            .map(|(_, v)| v.clone())
            .expect("an ETag");
        let again = files.respond("GET", "/style.css", Some(etag.as_bytes()));
        assert_eq!(again.reply.status, 304);
        assert!(again.reply.body.as_bytes().is_empty());
        let other = files.respond("GET", "/style.css", Some(b"\"0-0\", W/\"1-1\""));
        assert_eq!(other.reply.status, 200, "a different tag gets the file");
        let weak = format!("W/{etag}");
        assert_eq!(
            files
                .respond("GET", "/style.css", Some(weak.as_bytes()))
                .reply
                .status,
            304
        );
    }

    /// The handler inside the fast engine's connection logic, bytes in and
    /// bytes out: keep-alive, HEAD, 301, 403, 404, 405 on one connection.
    #[test]
    fn one_kept_alive_connection_answers_everything_in_order() {
        let (_base, root) = fixture("conn");
        let files = Files::new(&root, false);
        let mut c = ConnBuf::new(Limits::default());
        let input = b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n\
HEAD /style.css HTTP/1.1\r\nHost: x\r\n\r\n\
GET /ch HTTP/1.1\r\nHost: x\r\n\r\n\
GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n\
POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n\
GET /gone HTTP/1.1\r\nHost: x\r\n\r\n";
        c.spare()[..input.len()].copy_from_slice(input);
        c.filled(input.len());
        let o = c.process(&files);
        assert_eq!(o.served, 6);
        assert!(!o.close, "an HTTP/1.1 connection stays open");
        let out = String::from_utf8(c.out.clone()).unwrap();
        let answers: Vec<&str> = out.split("HTTP/1.1 ").skip(1).collect();
        assert_eq!(answers.len(), 6, "{out}");
        assert!(
            answers[0].starts_with("200 OK\r\nContent-Type: text/css"),
            "{}",
            answers[0]
        );
        assert!(answers[0].contains("Content-Length: 6\r\n") && answers[0].ends_with("body{}"));
        assert!(
            answers[1].contains("Content-Length: 6\r\n") && answers[1].ends_with("\r\n\r\n"),
            "HEAD announces the length and sends no body: {}",
            answers[1]
        );
        assert!(answers[2].starts_with("301 ") && answers[2].contains("Location: /ch/\r\n"));
        assert!(answers[3].starts_with("403 Forbidden") && !out.contains("do not serve"));
        assert!(answers[4].starts_with("405 ") && answers[4].contains("Allow: GET, HEAD\r\n"));
        assert!(answers[5].starts_with("404 ") && answers[5].ends_with("<h1>lost</h1>"));
        assert_eq!(files.stats().requests(), 6);
        assert_eq!(
            files.stats().reused(),
            5,
            "five requests rode the first one's connection"
        );
    }
}
