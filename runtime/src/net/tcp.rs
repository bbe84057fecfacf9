//! `TcpListener` and `TcpStream` on the netpoller (Go's `net.TCPListener`
//! and `net.TCPConn`).
//!
//! Both wrap the std socket, set non-blocking and registered once with the
//! runtime's poller. Every operation is the loop in `registration.rs`: try
//! the syscall; on `EAGAIN` park the G on the socket (it holds no P while it
//! waits, so other Gs run); the poller readies it when epoll says the
//! socket is ready. Errors are std's `io::Error`s, as a Rust user expects:
//! a taken port is `AddrInUse`, a closed one `ConnectionRefused`, a peer
//! that reset `ConnectionReset`.
//!
//! `connect` is Go's `netFD.connect`: a non-blocking `connect`, which
//! returns `EINPROGRESS`; then wait until the socket is writable and read
//! `SO_ERROR` for the outcome.

use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::pd::Dir;
use super::registration::Registration;
use super::sys;

/// Where a socket operation was called, for the goroutine dump (`None`
/// from the `futures_io` traits, whose callers are adapters).
type Site = Option<&'static Location<'static>>;

/// A TCP socket listening for connections (Go's `net.TCPListener`).
///
/// ```
/// use runtime::net::{TcpListener, TcpStream};
///
/// let rt = runtime::Runtime::builder().procs(2).build()?;
/// rt.block_on(async {
///     let l = TcpListener::bind("127.0.0.1:0")?;
///     let addr = l.local_addr()?;
///     let client = runtime::spawn(async move {
///         let mut c = TcpStream::connect(addr).await?;
///         c.write_all(b"ping").await?;
///         let mut buf = [0; 4];
///         c.read_exact(&mut buf).await?;
///         Ok::<_, std::io::Error>(buf)
///     });
///     let (mut s, _peer) = l.accept().await?;
///     let mut buf = [0; 4];
///     s.read_exact(&mut buf).await?;
///     s.write_all(b"pong").await?;
///     assert_eq!(&client.await.unwrap()?, b"pong");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    // Dropped first: out of epoll before the fd closes.
    reg: Registration,
    inner: std::net::TcpListener,
}

impl TcpListener {
    /// Binds a listening socket and registers it with the current
    /// runtime's poller (Go's `net.Listen("tcp", addr)`). Fails with
    /// `AddrInUse` for a taken port, and outside a runtime.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let inner = std::net::TcpListener::bind(addr)?;
        sys::raise_backlog(&inner)?;
        inner.set_nonblocking(true)?;
        let reg = Registration::new(inner.as_raw_fd())?;
        Ok(TcpListener { reg, inner })
    }

    /// Waits for a connection (Go's `Accept`): the G parks, holding no P,
    /// until one arrives. (Not an `async fn`, so that `#[track_caller]`
    /// can name the caller's line as the G's wait site in the goroutine
    /// dump; the same holds for the other waiting methods below.)
    #[track_caller]
    pub fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + '_ {
        let at = Location::caller();
        self.accept_at(at)
    }

    async fn accept_at(
        &self,
        at: &'static Location<'static>,
    ) -> io::Result<(TcpStream, SocketAddr)> {
        let _cancel = self.reg.cancel_on_drop(Dir::Read);
        let (s, peer) = poll_fn(|cx| {
            self.reg.poll_io(Dir::Read, cx, Some(at), || {
                loop {
                    match self.inner.accept() {
                        // The peer gave up before we accepted: take the next.
                        Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                        r => return r,
                    }
                }
            })
        })
        .await?;
        Ok((TcpStream::from_std(s)?, peer))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A TCP connection (Go's `net.TCPConn`).
///
/// `read`, `read_exact`, `write` and `write_all` are async methods; the
/// stream also implements `futures_io::AsyncRead` and `AsyncWrite` (and so
/// does `&TcpStream`, to read and write from two Gs). Wrapped in
/// `runtime::timeout`, an operation that times out leaves the stream
/// usable. See [`TcpListener`] for an example.
#[derive(Debug)]
pub struct TcpStream {
    reg: Registration,
    inner: std::net::TcpStream,
}

impl TcpStream {
    fn from_std(inner: std::net::TcpStream) -> io::Result<TcpStream> {
        inner.set_nonblocking(true)?;
        let reg = Registration::new(inner.as_raw_fd())?;
        Ok(TcpStream { reg, inner })
    }

    /// Connects to `addr` (Go's `net.Dial("tcp", addr)`), trying each
    /// address it resolves to in turn. The G parks while the handshake is
    /// under way. A closed port fails with `ConnectionRefused`.
    #[track_caller]
    pub fn connect(addr: impl ToSocketAddrs) -> impl Future<Output = io::Result<TcpStream>> {
        let at = Location::caller();
        // Resolved now, so the future does not hold `addr`.
        let addrs = addr.to_socket_addrs();
        async move { Self::connect_at(addrs?, at).await }
    }

    async fn connect_at(
        addrs: impl Iterator<Item = SocketAddr>,
        at: &'static Location<'static>,
    ) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addrs {
            match Self::connect_one(a, at).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any address",
            )
        }))
    }

    // ANCHOR: connect
    async fn connect_one(
        addr: SocketAddr,
        at: &'static Location<'static>,
    ) -> io::Result<TcpStream> {
        let (inner, done) = sys::connect_nonblocking(&addr)?;
        let reg = Registration::new(inner.as_raw_fd())?;
        if !done {
            poll_fn(|cx| {
                reg.poll_io(Dir::Write, cx, Some(at), || match inner.take_error()? {
                    Some(e) => Err(e),
                    // Writable and no error: connected, unless still going.
                    None => match inner.peer_addr() {
                        Ok(_) => Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        Err(e) => Err(e),
                    },
                })
            })
            .await?;
        }
        Ok(TcpStream { reg, inner })
    }
    // ANCHOR_END: connect

    /// Reads into `buf`; `Ok(0)` once the peer shut down its side.
    #[track_caller]
    pub fn read<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + 'a {
        let at = Some(Location::caller());
        async move {
            let _cancel = self.reg.cancel_on_drop(Dir::Read);
            poll_fn(|cx| self.poll_read_buf(cx, buf, at)).await
        }
    }

    /// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the peer closes
    /// first.
    #[track_caller]
    pub fn read_exact<'a>(
        &'a mut self,
        mut buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a {
        let at = Some(Location::caller());
        async move {
            let _cancel = self.reg.cancel_on_drop(Dir::Read);
            while !buf.is_empty() {
                match poll_fn(|cx| self.poll_read_buf(cx, buf, at)).await? {
                    0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                    n => buf = &mut buf[n..],
                }
            }
            Ok(())
        }
    }

    /// Writes some of `buf`, returning how much.
    #[track_caller]
    pub fn write<'a>(&'a mut self, buf: &'a [u8]) -> impl Future<Output = io::Result<usize>> + 'a {
        let at = Some(Location::caller());
        async move {
            let _cancel = self.reg.cancel_on_drop(Dir::Write);
            poll_fn(|cx| self.poll_write_buf(cx, buf, at)).await
        }
    }

    /// Writes all of `buf`.
    #[track_caller]
    pub fn write_all<'a>(
        &'a mut self,
        mut buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a {
        let at = Some(Location::caller());
        async move {
            let _cancel = self.reg.cancel_on_drop(Dir::Write);
            while !buf.is_empty() {
                match poll_fn(|cx| self.poll_write_buf(cx, buf, at)).await? {
                    0 => return Err(io::ErrorKind::WriteZero.into()),
                    n => buf = &buf[n..],
                }
            }
            Ok(())
        }
    }

    /// Shuts down the read side, the write side or both (the peer's reads
    /// then return `Ok(0)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Sets `TCP_NODELAY` (Go sets it by default on every TCP connection).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    fn poll_read_buf(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        at: Site,
    ) -> Poll<io::Result<usize>> {
        self.reg
            .poll_io(Dir::Read, cx, at, || (&self.inner).read(buf))
    }

    fn poll_write_buf(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        at: Site,
    ) -> Poll<io::Result<usize>> {
        self.reg
            .poll_io(Dir::Write, cx, at, || (&self.inner).write(buf))
    }

    fn poll_write_vectored_bufs(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.reg
            .poll_io(Dir::Write, cx, None, || (&self.inner).write_vectored(bufs))
    }
}

impl futures_io::AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_buf(cx, buf, None)
    }
}

impl futures_io::AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf, None)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_bufs(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // a socket has no user-space buffer to flush
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.shutdown(Shutdown::Write))
    }
}

impl futures_io::AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_buf(cx, buf, None)
    }
}

impl futures_io::AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf, None)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.shutdown(Shutdown::Write))
    }
}

impl AsRawFd for TcpStream {
    /// The socket's fd, for socket options std does not wrap. Do not close
    /// it or make it blocking: the stream owns it.
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsRawFd for TcpListener {
    /// The listening socket's fd (see [`TcpStream`]'s).
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.as_raw_fd()
    }
}
