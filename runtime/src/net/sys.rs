//! The system calls under the netpoller: epoll, an eventfd, and a
//! non-blocking `connect` (Go's `netpoll_epoll.go` and `sock_posix.go`).
//!
//! Everything `unsafe` in the network code lives in this file, each call a
//! thin wrapper that turns `-1` into the `std::io::Error` of `errno`:
//!
//! * [`Epoll`] owns an epoll instance and an eventfd registered in it. The
//!   eventfd is how another thread interrupts an M blocked in `epoll_wait`
//!   (Go's `netpollBreak`): writing 8 bytes makes it readable, so the wait
//!   returns.
//! * [`connect_nonblocking`] opens a non-blocking socket and starts a
//!   connect, which std cannot do (its `TcpStream::connect` blocks the
//!   thread until the handshake is done).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The events a socket is registered for, once, for its whole life: read,
/// write and peer close, edge-triggered (Go's `netpollopen`).
pub(crate) const SOCKET_EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;

/// The `data` word of the eventfd's registration; sockets use slot/seq words,
/// which never reach it (slots are below 2^32 - 1).
pub(crate) const WAKE_TOKEN: u64 = u64::MAX;

/// Events `epoll_wait` returns at most per call (Go's netpoll uses 128).
pub(crate) const MAX_EVENTS: usize = 128;

/// One event as `epoll_wait` reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    /// The registration's `data` word.
    pub(crate) token: u64,
    /// `EPOLLIN`, `EPOLLOUT`, ... bits.
    pub(crate) bits: u32,
}

impl Event {
    /// Readers should look: data, a peer that closed, or an error (Go's
    /// `mode += 'r'` test).
    pub(crate) fn readable(&self) -> bool {
        self.bits & (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0
    }

    /// Writers should look: buffer space, or an error (Go's `mode += 'w'`).
    pub(crate) fn writable(&self) -> bool {
        self.bits & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0
    }
}

/// `-1` means "look at errno".
fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// An epoll instance with an eventfd in it (Go's `epfd` and
/// `netpollEventFd`).
#[derive(Debug)]
pub(crate) struct Epoll {
    epfd: OwnedFd,
    eventfd: OwnedFd,
}

impl Epoll {
    /// `epoll_create1` + `eventfd`, the eventfd registered level-triggered
    /// for reading (Go's `netpollinit`).
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a valid fd is owned below.
        let epfd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `epfd` was just returned to us and nothing else owns it.
        let epfd = unsafe { OwnedFd::from_raw_fd(epfd) };
        // SAFETY: eventfd takes no pointers.
        let efd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: as for `epfd`.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let ep = Epoll { epfd, eventfd };
        ep.ctl(
            libc::EPOLL_CTL_ADD,
            ep.eventfd.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE_TOKEN,
        )?;
        Ok(ep)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: token };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call;
        // the kernel copies it.
        cvt(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }

    /// Registers a socket once, for read, write and peer close, edge
    /// triggered, with `token` as its data word.
    pub(crate) fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, SOCKET_EVENTS, token)
    }

    /// Removes a socket (Go's `netpollclose`).
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// `epoll_wait`: `None` blocks until an event; `Some(0)` only looks.
    /// Interrupted waits (EINTR) return no events.
    pub(crate) fn wait(&self, timeout: Option<Duration>, out: &mut Vec<Event>) -> io::Result<()> {
        let ms: libc::c_int = match timeout {
            None => -1,
            // Round up, so a wait for 0.3 ms does not spin with timeout 0.
            Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
        };
        // SAFETY: epoll_event is plain data, all-zero is a valid value.
        let mut events: [libc::epoll_event; MAX_EVENTS] = unsafe { zeroed() };
        // SAFETY: the buffer holds MAX_EVENTS events and outlives the call.
        let n = unsafe {
            libc::epoll_wait(
                self.epfd.as_raw_fd(),
                events.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        out.extend(events[..n as usize].iter().map(|e| Event {
            token: e.u64,
            bits: e.events,
        }));
        Ok(())
    }

    /// Makes the eventfd readable, so a blocked `wait` returns (Go's
    /// `netpollBreak`).
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. EAGAIN (counter full) still
        // leaves the fd readable, which is all we need, so errors are ignored.
        let _ = unsafe {
            libc::write(
                self.eventfd.as_raw_fd(),
                (&one as *const u64).cast(),
                size_of::<u64>(),
            )
        };
    }

    /// Empties the eventfd after a wake-up was seen.
    pub(crate) fn drain_wake(&self) {
        let mut buf: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64. EAGAIN (already
        // empty) is fine.
        let _ = unsafe {
            libc::read(
                self.eventfd.as_raw_fd(),
                (&mut buf as *mut u64).cast(),
                size_of::<u64>(),
            )
        };
    }
}

/// The accept queue Go asks for (`maxListenerBacklog` reads
/// `/proc/sys/net/core/somaxconn`; the kernel caps whatever we ask at that).
const BACKLOG: libc::c_int = 4096;

/// std listens with a backlog of 128. A G that connects in a loop on
/// loopback, where each connect completes inside the call, fills that
/// before the accepting G gets a turn, and the kernel then drops SYNs: the
/// 129th connect waits a whole second for its retransmission. Calling
/// `listen` again on a listening socket only changes its backlog.
pub(crate) fn raise_backlog(l: &std::net::TcpListener) -> io::Result<()> {
    // SAFETY: `listen` on a socket fd we own; no pointers.
    cvt(unsafe { libc::listen(l.as_raw_fd(), BACKLOG) })?;
    Ok(())
}

/// A `sockaddr_storage` holding `addr`, and its length.
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for any
            // sockaddr, sockaddr_in included.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for any
            // sockaddr, sockaddr_in6 included.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Opens a non-blocking TCP socket and starts connecting it to `addr`.
/// Returns the socket and whether the connect already completed; if not,
/// wait for it to become writable and read `SO_ERROR` (std's `take_error`)
/// for the outcome (Go's `netFD.connect`).
pub(crate) fn connect_nonblocking(addr: &SocketAddr) -> io::Result<(TcpStream, bool)> {
    let domain = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket takes no pointers.
    let fd = cvt(unsafe {
        libc::socket(
            domain,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    })?;
    // SAFETY: `fd` is a new socket nobody else owns; the stream closes it.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for the call.
    let r = unsafe { libc::connect(fd, (&storage as *const libc::sockaddr_storage).cast(), len) };
    if r == 0 {
        return Ok((stream, true));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINPROGRESS) | Some(libc::EINTR) => Ok((stream, false)),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wake_makes_a_blocked_wait_return_with_the_wake_token() {
        let ep = Epoll::new().unwrap();
        ep.wake();
        let mut out = Vec::new();
        ep.wait(None, &mut out).unwrap();
        assert_eq!(out.len(), 1, "one event, the eventfd's: {out:?}");
        assert_eq!(out[0].token, WAKE_TOKEN);
        ep.drain_wake();
        out.clear();
        ep.wait(Some(Duration::ZERO), &mut out).unwrap();
        assert!(out.is_empty(), "drained: no event left, got {out:?}");
    }

    #[test]
    fn a_registered_socket_reports_writable_once_edge_triggered() {
        let ep = Epoll::new().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        ep.add(s.as_raw_fd(), 7).unwrap();
        let mut out = Vec::new();
        ep.wait(Some(Duration::from_secs(5)), &mut out).unwrap();
        assert!(out.iter().any(|e| e.token == 7 && e.writable()), "{out:?}");
        out.clear();
        ep.wait(Some(Duration::ZERO), &mut out).unwrap();
        assert!(
            out.is_empty(),
            "edge-triggered: no second event, got {out:?}"
        );
        ep.delete(s.as_raw_fd()).unwrap();
    }

    #[test]
    fn connecting_to_a_closed_port_reports_connection_refused() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        }; // closed again
        let r = connect_nonblocking(&port).and_then(|(s, done)| {
            if done {
                return Ok(None);
            }
            let ep = Epoll::new()?;
            ep.add(s.as_raw_fd(), 1)?;
            let mut out = Vec::new();
            ep.wait(Some(Duration::from_secs(5)), &mut out)?;
            s.take_error()
        });
        let e = match r {
            Err(e) => e,
            Ok(Some(e)) => e,
            Ok(None) => panic!("connect to a closed port succeeded"),
        };
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
    }
}
