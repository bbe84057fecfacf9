//! # Exercise ex12: struct layout and false sharing
//!
//! Two parts, both graded with `size_of`, `align_of` and `offset_of!`.
//!
//! **Field order.** A field starts at a multiple of its alignment, and a
//! struct's size is rounded up to a multiple of its largest alignment. C and
//! Go keep fields in the order written, and so does `#[repr(C)]`, so the
//! order decides how much padding there is. Reorder the fields of
//! [`Header`] and [`Record`] (keep `#[repr(C)]`, keep every field and its
//! type) to reach the sizes their docs ask for.
//!
//! **False sharing.** Caches move memory in 64-byte lines (x86-64 pairs
//! them: 128). Two threads writing two variables in the same line slow each
//! other down although they share nothing. Fix [`Counters`] so that each
//! worker's counter sits on its own line, and [`Shard`] so that its hot
//! `hits` counter does not share a line with its read-mostly `limits`.
//! `#[repr(align(64))]` on a type, or `crossbeam_utils::CachePadded` around
//! a field (re-exported here as [`CachePadded`]), are the tools. Keep the
//! field names: the tests still call `.fetch_add` on them.

pub use memsim::layout::CachePadded;
use std::sync::atomic::AtomicU64;

// --- your code: Header ---
/// A message header: 24 bytes in this order. Make it 16.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Header {
    /// Flags.
    pub flag: u8,
    /// Payload length.
    pub len: u64,
    /// Message kind.
    pub kind: u8,
    /// Sender id.
    pub id: u32,
}
// --- end of your code ---

// --- your code: Record ---
/// A record: 40 bytes in this order. Make it 24.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Record {
    /// Whether the record is live.
    pub active: bool,
    /// A score.
    pub score: f64,
    /// A tag.
    pub tag: u16,
    /// A timestamp.
    pub at: u64,
    /// A level.
    pub level: u8,
}
// --- end of your code ---

// --- your code: Counter ---
/// One worker's counter. Each worker thread increments only its own.
#[derive(Debug, Default)]
pub struct Counter {
    /// The count.
    pub value: AtomicU64,
}
// --- end of your code ---

// --- your code: Counters ---
/// One counter per worker: make sure no two share a cache line.
#[derive(Debug, Default)]
pub struct Counters {
    /// Worker `i` writes `per_worker[i]` only.
    pub per_worker: [Counter; 4],
}
// --- end of your code ---

// --- your code: Shard ---
/// A shard: `limits` is read by every thread all the time, `hits` is written
/// by the shard's owner on every request. Keep `hits` off the line(s) that
/// hold `limits`.
#[derive(Debug, Default)]
pub struct Shard {
    /// Read-mostly configuration.
    pub limits: [u32; 4],
    /// The hot counter.
    pub hits: AtomicU64,
}
// --- end of your code ---
