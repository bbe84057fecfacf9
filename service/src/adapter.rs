//! hyper on our runtime: the three traits hyper asks of a runtime.
//!
//! hyper 1.x owns no runtime. It asks for I/O (`hyper::rt::Read` and
//! `Write`), a way to spawn background work (`Executor`, used by HTTP/2 and
//! by clients) and timers (`Timer`, for header-read timeouts and keep-alive).
//! Each is a small wrapper here:
//!
//! * [`HyperIo`] turns any `futures_io::AsyncRead + AsyncWrite` into hyper's
//!   I/O traits; `runtime::net::TcpStream` is one, so hyper reads and writes
//!   through our netpoller;
//! * [`OurExecutor`] spawns a G with `runtime::spawn`;
//! * [`OurTimer`] gives hyper `runtime::sleep_until` timers.
//!
//! hyper reads into a buffer it has not initialised (`ReadBufCursor`), while
//! `futures_io::AsyncRead` wants an initialised `&mut [u8]`; the adapter
//! zeroes at most 16 KiB of it per read first, a memset that costs far less
//! than the syscall behind it and keeps the read free of undefined behaviour.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};

/// The most bytes one read hands hyper (and zeroes first).
const READ_CHUNK: usize = 16 * 1024;

/// hyper's I/O traits over a `futures_io` stream (hyper-util's `TokioIo`,
/// for our runtime).
#[derive(Debug)]
pub struct HyperIo<T>(pub T);

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: we only write into the cursor's spare bytes (zeroing them),
        // never de-initialise anything, and advance below by exactly what
        // the read filled.
        let spare: &mut [MaybeUninit<u8>] = unsafe { buf.as_mut() };
        let len = spare.len().min(READ_CHUNK);
        let spare = &mut spare[..len];
        for b in spare.iter_mut() {
            b.write(0);
        }
        // SAFETY: every byte of `spare` was just initialised, and
        // MaybeUninit<u8> has u8's layout.
        let init: &mut [u8] = unsafe { &mut *(spare as *mut [MaybeUninit<u8>] as *mut [u8]) };
        match Pin::new(&mut self.0).poll_read(cx, init) {
            Poll::Ready(Ok(n)) => {
                // SAFETY: the read initialised (filled) the first `n` bytes.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// hyper's `Executor` over `runtime::spawn` (each future becomes a G, like
/// `go f()`).
///
/// ```
/// use hyper::rt::Executor;
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel();
/// rt.block_on(async move { service::adapter::OurExecutor.execute(async move { tx.send(7).unwrap() }) });
/// assert_eq!(rx.recv().unwrap(), 7);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OurExecutor;

impl<F> hyper::rt::Executor<F> for OurExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        drop(runtime::spawn(fut)); // detached, as hyper expects
    }
}

/// hyper's `Timer` over our runtime's timers (Go's `time.AfterFunc` heap,
/// per P).
#[derive(Debug, Clone, Copy, Default)]
pub struct OurTimer;

/// A `runtime::Sleep` as hyper's `Sleep`.
#[derive(Debug)]
pub struct OurSleep(runtime::Sleep);

impl Future for OurSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for OurSleep {}

impl hyper::rt::Timer for OurTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(OurSleep(runtime::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(OurSleep(runtime::sleep_until(deadline)))
    }
}
