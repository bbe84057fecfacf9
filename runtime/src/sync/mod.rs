//! Channels and locks that park Gs: Go's `chan.go` and `sync` package.
//!
//! Every primitive here follows one pattern, Go's `gopark`/`goready`:
//!
//! 1. try the operation under the primitive's lock (or with one CAS);
//! 2. if it must wait, leave a *sudog* (`sudog.rs`) in the primitive's wait
//!    queue, holding the G's waker, and return `Pending`: the G parks, its
//!    M runs other Gs (nothing blocks a thread);
//! 3. whoever makes progress possible (a send for a parked receiver, an
//!    unlock for a parked locker) takes the sudog off the queue, completes
//!    it, and calls the waker after dropping the lock, which readies the G
//!    through the scheduler (Go's `goready`: onto the waker's P).
//!
//! | here | Go | file |
//! |---|---|---|
//! | [`channel`], [`Sender`], [`Receiver`] | `make(chan T, n)`, `hchan`, `chansend`, `chanrecv` | `channel.rs`, `buf.rs`, `chan_error.rs` |
//! | [`Mutex`] | `sync.Mutex` (normal and starvation modes) | `mutex.rs` |
//! | [`RwLock`] | `sync.RWMutex` | `rwlock.rs` |
//! | [`WaitGroup`] | `sync.WaitGroup` | `waitgroup.rs` |
//! | [`ErrGroup`] | `golang.org/x/sync/errgroup` (with `context` cancellation) | `errgroup.rs` |
//! | [`Pool`], [`pool_cleanup`] | `sync.Pool` (per-P locals, victim cache, `poolCleanup`) | `pool.rs` |
//! | [`wait_records`] | the block and mutex profiles' buckets | `profile.rs` |
//!
//! A parked G's stop reason in the trace is `chan` or `sync`; every wait
//! also counts in [`Metrics`](crate::Metrics) (`chan_waits`, `sync_waits`,
//! `wait_ns`, `mutex_starvations`, `mutex_handoffs`) and in
//! [`wait_records`].
//!
//! Every future here is cancel-safe: dropping it while it waits (under
//! [`timeout`](crate::timeout)) leaves the queues as if it had never
//! waited, and never loses or duplicates a value.

mod buf;
mod chan_error;
mod channel;
mod errgroup;
mod mutex;
mod pool;
mod profile;
mod rwlock;
mod sudog;
mod waitgroup;

#[cfg(all(test, loom))]
mod loom_models;
#[cfg(all(test, loom))]
mod pool_loom;

pub use chan_error::{CapacityError, SendError, TryRecvError, TrySendError};
pub use channel::{ChanStats, Receiver, RecvFuture, SendFuture, Sender, channel, try_channel};
pub use errgroup::{ErrGroup, GroupError, GroupStats, LimitError};
pub use mutex::{Lock, Mutex, MutexGuard, STARVATION_THRESHOLD};
pub use pool::{Pool, pool_cleanup};
pub use profile::{Profile, WaitKind, WaitRecord, wait_records};
pub use rwlock::{Acquire, FromLock, ReadGuard, RwLock, WriteGuard};
pub use waitgroup::{Wait, WaitGroup};
