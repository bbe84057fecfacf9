//! A server on a runtime of its own, in a thread of its own: how the feature
//! stores and the task version of the service run next to the load
//! generator in one process.
//!
//! [`Background::start`] builds a runtime with `procs` Ps in a new thread,
//! binds the listeners inside it (a `runtime::net::TcpListener` registers
//! with the runtime's netpoller, so it must be made there), reports their
//! addresses, and runs one accept loop per listener, a G per connection.
//! [`Background::stop`] sets a flag and connects once to each listener, so
//! each accept loop parked on the netpoller wakes, sees the flag and ends;
//! the runtime is then dropped with the thread, which drops the connections'
//! Gs and closes their sockets (as [`crate::Server`] does).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use runtime::net::{TcpListener, TcpStream};

/// A running background server (see the module comment).
#[derive(Debug)]
pub(crate) struct Background {
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts `listeners` listeners on 127.0.0.1 in a runtime of `procs` Ps;
    /// `conn(i, stream)` is the G serving a connection to listener `i`.
    pub(crate) fn start<C, F>(
        name: &str,
        procs: usize,
        listeners: usize,
        conn: C,
    ) -> io::Result<Background>
    where
        C: Fn(usize, TcpStream) -> F + Send + Sync + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let rt = runtime::Runtime::builder()
            .procs(procs)
            .build()
            .map_err(|e| io::Error::other(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<io::Result<Vec<SocketAddr>>>();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                rt.block_on(async move {
                    let mut bound = Vec::new();
                    for _ in 0..listeners {
                        match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) {
                            Ok(l) => bound.push(l),
                            Err(e) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        }
                    }
                    let addrs = bound.iter().map(|l| l.local_addr()).collect();
                    let _ = tx.send(addrs);
                    let conn = Arc::new(conn);
                    let loops: Vec<_> = bound
                        .into_iter()
                        .enumerate()
                        .map(|(i, l)| {
                            let (conn, flag) = (conn.clone(), flag.clone());
                            runtime::spawn(accept_loop(l, flag, move |s| conn(i, s)))
                        })
                        .collect();
                    for h in loops {
                        let _ = h.await;
                    }
                });
            })?;
        let addrs = match rx.recv() {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::other("the server thread ended before binding")),
        };
        Ok(Background {
            addrs,
            stop,
            thread: Some(thread),
        })
    }

    /// The listeners' addresses, in order.
    pub(crate) fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting and drops every connection.
    pub(crate) fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        for a in &self.addrs {
            let _ = std::net::TcpStream::connect(a);
        }
        let _ = thread.join();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts until `stop` is set, a G per connection.
async fn accept_loop<C, F>(listener: TcpListener, stop: Arc<AtomicBool>, conn: C)
where
    C: Fn(TcpStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) if crate::fast::is_transient(&e) => continue,
            Err(_) => return,
        };
        if stop.load(Ordering::Acquire) {
            return;
        }
        let _ = stream.set_nodelay(true);
        runtime::spawn(conn(stream));
    }
}
