//! Serving a [`Registry`] on 127.0.0.1 with the course's fast engine, and
//! remembering every request, so a lesson can show what cargo fetched.
//!
//! The HTTP is `service::fast`'s (the engine that serves the book) and the
//! files are `service::files`'s (`..` refused in any spelling, ETags, 304s:
//! cargo revalidates a sparse index file it has cached with
//! `If-None-Match`, exactly as a browser revalidates a page). This module
//! adds only:
//!
//! - binding first, then writing `config.json` with the port actually
//!   bound, so cargo's downloads come back to this server;
//! - a request log ([`Seen`]): method, path and status of every request,
//!   which is the evidence that cargo resolved from here and nowhere else;
//! - [`RegistryServer::stop`]: a flag and one connection to wake the accept
//!   loop, like `service::Server::stop`.
//!
//! The log is a `Mutex<Vec<_>>`: one short push per request, read once at
//! the end. Nothing waits on it, so there is no ordering to model.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use runtime::net::TcpListener;
use service::fast::{self, Handler, Limits, Request, Response};
use service::files::Files;

use super::store::Registry;

/// One request the registry answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `GET` or `HEAD` (anything else got 405).
    pub method: String,
    /// The request target, e.g. `/co/ur/course-greet`.
    pub path: String,
    /// The status sent.
    pub status: u16,
}

/// The registry's files, with a log of who asked for what.
struct Logged {
    files: Files,
    log: Mutex<Vec<Seen>>,
}

impl Handler for Logged {
    fn handle(&self, req: &Request<'_>) -> Response {
        let r = self.files.handle(req);
        self.log.lock().expect("the log's lock").push(Seen {
            method: req.method().to_string(),
            path: req.target().to_string(),
            status: r.reply.status,
        });
        r
    }

    fn connection_opened(&self) {
        self.files.connection_opened();
    }
}

/// A sparse registry served on loopback (Go's `GOPROXY=http://127.0.0.1:PORT`).
pub struct RegistryServer {
    addr: SocketAddr,
    handler: Arc<Logged>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl RegistryServer {
    /// Binds 127.0.0.1 on a free port, writes the registry's `config.json`
    /// for it, and serves in a thread of its own.
    ///
    /// ```
    /// use lessons::registry::{serve::RegistryServer, store::Registry};
    /// let dir = std::env::temp_dir().join(format!("registry-serve-doc-{}", std::process::id()));
    /// let server = RegistryServer::start(&Registry::create(&dir).unwrap()).unwrap();
    /// assert!(server.sparse_url().starts_with("sparse+http://127.0.0.1:"));
    /// assert!(server.stop().unwrap().is_empty(), "nobody asked for anything");
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn start(registry: &Registry) -> io::Result<RegistryServer> {
        let rt = runtime::Runtime::builder()
            .procs(2)
            .build()
            .map_err(|e| io::Error::other(e.to_string()))?;
        // Inside the runtime: the listener registers with its netpoller.
        let listener = rt.block_on(async { TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) })?;
        let addr = listener.local_addr()?;
        registry.write_config(&format!("http://{addr}"))?;
        let handler = Arc::new(Logged {
            files: Files::new(registry.root(), false),
            log: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (handler, stop) = (handler.clone(), stop.clone());
            std::thread::Builder::new()
                .name("registry".into())
                .spawn(move || {
                    let handler: Arc<dyn Handler> = handler;
                    let served =
                        rt.block_on(fast::serve(listener, handler, Limits::default(), 64, stop));
                    drop(rt);
                    served
                })?
        };
        Ok(RegistryServer {
            addr,
            handler,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The index URL cargo is given: `sparse+http://127.0.0.1:PORT/`.
    pub fn sparse_url(&self) -> String {
        format!("sparse+http://{}/", self.addr)
    }

    /// The requests answered so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.handler.log.lock().expect("the log's lock").clone()
    }

    /// Stops serving and returns every request it answered.
    pub fn stop(mut self) -> io::Result<Vec<Seen>> {
        self.shutdown()?;
        Ok(self.seen())
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
            .map_err(|_| io::Error::other("the registry thread panicked"))?
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// How many requests each path got, in path order (`(path, count, last status)`).
///
/// ```
/// use lessons::registry::serve::{Seen, per_path};
/// let seen = |p: &str, s| Seen { method: "GET".into(), path: p.into(), status: s };
/// let counts = per_path(&[seen("/config.json", 200), seen("/3/a/abc", 404), seen("/config.json", 200)]);
/// assert_eq!(counts, [("/3/a/abc".to_string(), 1, 404), ("/config.json".to_string(), 2, 200)]);
/// ```
pub fn per_path(seen: &[Seen]) -> Vec<(String, usize, u16)> {
    let mut counts: std::collections::BTreeMap<&str, (usize, u16)> = Default::default();
    for s in seen {
        let e = counts.entry(&s.path).or_default();
        e.0 += 1;
        e.1 = s.status;
    }
    counts
        .into_iter()
        .map(|(p, (n, status))| (p.to_string(), n, status))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, target: &str) -> String {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        write!(
            c,
            "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn config_index_and_refusals_are_served_and_logged() {
        let dir = std::env::temp_dir().join(format!("registry-serve-{}", std::process::id()));
        let registry = Registry::create(&dir).unwrap();
        let server = RegistryServer::start(&registry).unwrap();
        let config = get(server.addr(), "/config.json");
        assert!(config.starts_with("HTTP/1.1 200 "), "{config}");
        assert!(
            config.contains(&format!("\"dl\":\"http://{}/crates/", server.addr())),
            "config.json names this server's port: {config}"
        );
        assert!(get(server.addr(), "/co/ur/course-greet").starts_with("HTTP/1.1 404 "));
        assert!(get(server.addr(), "/%2e%2e/etc/passwd").starts_with("HTTP/1.1 403 "));
        let seen = server.stop().unwrap();
        let statuses: Vec<(&str, u16)> = seen.iter().map(|s| (s.path.as_str(), s.status)).collect();
        assert_eq!(
            statuses,
            [
                ("/config.json", 200),
                ("/co/ur/course-greet", 404),
                ("/%2e%2e/etc/passwd", 403)
            ],
            "every request logged, in order"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
