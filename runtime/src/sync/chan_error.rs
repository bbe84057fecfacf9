//! The errors of channel operations, each giving back what was not sent.
//!
//! Go reports these by panicking (`makechan: size out of range`, `send on
//! closed channel`) or through `select` with a `default` case; Rust callers
//! expect values, shaped like `std::sync::mpsc`'s.

use std::fmt;

/// The error of [`try_channel`](super::try_channel): a capacity whose ring cannot be allocated
/// (Go's `makechan: size out of range` panic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityError {
    /// The capacity that was asked for.
    pub cap: usize,
    /// The size of one element in bytes.
    pub elem_size: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "channel capacity out of range: {} slots of {} bytes cannot be allocated",
            self.cap, self.elem_size
        )
    }
}

impl std::error::Error for CapacityError {}

/// The error of [`Sender::send`](super::Sender::send): every receiver is gone; the value comes
/// back (mirrors `std::sync::mpsc::SendError`).
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sending on a channel whose receivers are gone")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// The error of [`Sender::try_send`](super::Sender::try_send), with the value back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The ring is full, or the channel is unbuffered and no receiver waits
    /// (Go's `select` with a `default` case would take the default).
    Full(T),
    /// Every receiver is gone.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full: no receiver waiting and no room"),
            TrySendError::Closed(_) => f.write_str("sending on a channel whose receivers are gone"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// The error of [`Receiver::try_recv`](super::Receiver::try_recv).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing buffered and no sender waiting.
    Empty,
    /// Nothing buffered and every Sender is gone.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Closed => f.write_str("channel closed and drained"),
        }
    }
}

impl std::error::Error for TryRecvError {}
