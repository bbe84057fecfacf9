//! Network I/O on the netpoller: [`TcpListener`] and [`TcpStream`] (Go's
//! `net` package over `runtime/netpoll.go`).
//!
//! A G that reads a socket with no data does not block its thread. The
//! socket is non-blocking, so the read returns `EAGAIN`; the G then records
//! its waker in the socket's poll descriptor and returns `Pending`, and its
//! M runs other Gs. Every socket was registered once with the runtime's
//! epoll instance (edge-triggered, for read, write and peer close). Ms poll
//! epoll at the right moments (see `scheduler/find.rs`):
//!
//! * `findRunnable` polls without blocking, after timers and before
//!   stealing, when some G waits on the network;
//! * the last M to go idle blocks in `epoll_wait` instead of on its condition
//!   variable, until the next timer; whoever needs it (a P for it to run, an
//!   earlier timer, shutdown) writes to an eventfd to wake it (Go's
//!   `netpollBreak`);
//! * sysmon polls if nobody has for 10 ms.
//!
//! The Gs a poll readies go back to the run queues in one batch (Go's
//! `injectglist`). So 10,000 idle connections are 10,000 parked Gs and one
//! epoll set, not 10,000 threads.
//!
//! The pieces, one file each:
//!
//! * `sys.rs`: the system calls (epoll, eventfd, non-blocking connect);
//! * `pd.rs`: the poll descriptor and its wait protocol (Go's `pollDesc`,
//!   `netpollblock`, `netpollunblock`);
//! * `poller.rs`: the epoll instance, the registration table with sequence
//!   numbers, `netpoll` (Go's `netpoll_epoll.go`);
//! * `registration.rs`: the syscall / park loop every operation runs;
//! * `tcp.rs`: the public types.
//!
//! One G reads and one G writes a stream at a time (as Go, where two
//! goroutines waiting to read one fd is a fatal error): a second reader
//! parked on the same stream would take the first one's place.

mod pd;
pub(crate) mod poller;
mod registration;
mod sys;
mod tcp;

#[cfg(all(test, loom))]
mod loom_models;

pub use tcp::{TcpListener, TcpStream};
