#![cfg(not(loom))] // uses the task runtime, which loom builds leave out

//! # Exercise ex01: a fetch with a deadline
//!
//! Go code gives every request a deadline: `ctx, cancel :=
//! context.WithTimeout(ctx, 2*time.Second)`, and whoever waits selects on
//! `ctx.Done()` as well as on the answer. When the deadline passes, the
//! caller gets `context.DeadlineExceeded`, an error it can tell apart from
//! "connection refused" and act on (retry, shed load, report a timeout).
//!
//! In the course's runtime, [`runtime::timeout`] plays `context.WithTimeout`:
//! `timeout(d, fut).await` is `Err(Elapsed)` if `fut` is not done after `d`,
//! and `fut` is dropped. But dropping a future cancels only what the future
//! was *waiting* for. A blocking `read` on a socket, run inside
//! [`runtime::syscall`], is not waiting at an `.await`: it holds an OS thread
//! (an M) until the kernel returns, and no future can interrupt it. If the
//! server never answers, that thread is stuck forever: a leak, like a Go
//! goroutine blocked on a channel nobody will send to. Go's net package
//! solves it by giving the connection itself a deadline
//! (`conn.SetDeadline`), which `net/http` derives from the context.
//!
//! So [`fetch`] needs both halves:
//!
//! 1. the caller stops waiting at the deadline: run the blocking exchange as
//!    its own task (`runtime::spawn`) and wait for its `JoinHandle` under
//!    `runtime::timeout`;
//! 2. the blocking exchange stops too: give the socket the same deadline
//!    (`TcpStream::connect_timeout`, `set_read_timeout`,
//!    `set_write_timeout`), so that the blocked `read` returns an error
//!    (`WouldBlock` or `TimedOut`) and the task ends, closing the connection.
//!
//! Either way the deadline is reported as [`FetchError::DeadlineExceeded`],
//! and every other failure as [`FetchError::Io`].
//!
//! The protocol is one line: the client sends the request and a newline;
//! the server answers with some text and closes the connection. The answer
//! is everything read until then.
//!
//! ## Example
//!
//! ```no_run
//! use std::time::Duration;
//! use exercises::ex01_timeouts::{fetch, FetchError};
//!
//! let rt = runtime::Runtime::builder().procs(2).build().unwrap();
//! let addr = "127.0.0.1:7878".parse().unwrap();
//! match rt.block_on(fetch(addr, "hello", Duration::from_millis(300))) {
//!     Ok(answer) => println!("{answer}"),
//!     Err(FetchError::DeadlineExceeded { deadline }) => println!("gave up after {deadline:?}"),
//!     Err(e) => println!("failed: {e}"),
//! }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a fetch failed.
#[derive(Debug)]
pub enum FetchError {
    /// The deadline passed before the answer was complete (Go's
    /// `context.DeadlineExceeded`).
    DeadlineExceeded {
        /// The deadline the fetch was given.
        deadline: Duration,
    },
    /// The exchange failed for another reason: refused, reset, ...
    Io(io::Error),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::DeadlineExceeded { deadline } => {
                write!(f, "deadline of {deadline:?} exceeded")
            }
            FetchError::Io(e) => write!(f, "fetch failed: {e}"),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::DeadlineExceeded { .. } => None,
            FetchError::Io(e) => Some(e),
        }
    }
}

// --- your code: source ---
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

// --- end of your code ---
/// Sends `request` to the server at `addr` and returns its answer, or
/// [`FetchError::DeadlineExceeded`] if that takes longer than `deadline`.
/// Must be awaited inside the course's runtime.
pub async fn fetch(
    addr: SocketAddr,
    request: &str,
    deadline: Duration,
) -> Result<String, FetchError> {
    // --- your code: fetch ---
    let line = format!("{request}\n");
    let exchange =
        runtime::spawn(async move { runtime::syscall(|| exchange(addr, &line, deadline)) });

    match runtime::timeout(deadline, exchange).await {
        Ok(Ok(Ok(answer))) => Ok(answer),
        Ok(Ok(Err(e))) if is_deadline(&e) => Err(FetchError::DeadlineExceeded { deadline }),
        Ok(Ok(Err(e))) => Err(FetchError::Io(e)),
        Ok(Err(join_error)) => Err(FetchError::Io(io::Error::other(join_error.to_string()))),
        // We stop waiting; the socket's own deadline ends the exchange.
        Err(_elapsed) => Err(FetchError::DeadlineExceeded { deadline }),
    }
    // --- end of your code ---
}

// --- your code: helpers ---
/// The blocking half: connect, send, read to the end, every step bounded by
/// what is left of `deadline`.
fn exchange(addr: SocketAddr, line: &str, deadline: Duration) -> io::Result<String> {
    let started = Instant::now();
    let left = || {
        deadline
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
    };
    let mut stream = TcpStream::connect_timeout(&addr, left()?)?;
    stream.set_write_timeout(Some(left()?))?;
    stream.write_all(line.as_bytes())?;

    let mut answer = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        // Re-arm the read deadline with what is left, so a server that
        // trickles bytes cannot stretch the exchange past the deadline.
        stream.set_read_timeout(Some(left()?))?;
        match stream.read(&mut chunk)? {
            0 => break,
            n => answer.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8(answer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// How a socket deadline shows up: `WouldBlock` on Unix, `TimedOut` on
/// Windows and from `connect_timeout`.
fn is_deadline(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
// --- end of your code ---
