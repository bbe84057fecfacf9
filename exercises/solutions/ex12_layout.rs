//! # Exercise ex12: struct layout and false sharing (reference solution)
//!
//! Field order: largest alignment first, then the small fields packed
//! together at the end, where they share one run of tail padding.
//! False sharing: `Counter` is aligned (and so sized) to 128 bytes, the
//! adjacent-line prefetcher's pair of lines on x86-64; `Shard.hits` is
//! wrapped in `CachePadded`, which aligns it to its own 128-byte block.

pub use memsim::layout::CachePadded;
use std::sync::atomic::AtomicU64;

// --- your code: Header ---
/// A message header: 8 + 4 + 1 + 1 = 14 bytes of fields, 16 with padding.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Header {
    /// Payload length.
    pub len: u64,
    /// Sender id.
    pub id: u32,
    /// Flags.
    pub flag: u8,
    /// Message kind.
    pub kind: u8,
}
// --- end of your code ---

// --- your code: Record ---
/// A record: 8 + 8 + 2 + 1 + 1 = 20 bytes of fields, 24 with padding.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Record {
    /// A score.
    pub score: f64,
    /// A timestamp.
    pub at: u64,
    /// A tag.
    pub tag: u16,
    /// Whether the record is live.
    pub active: bool,
    /// A level.
    pub level: u8,
}
// --- end of your code ---

// --- your code: Counter ---
/// One worker's counter, alone in a 128-byte block.
#[repr(align(128))]
#[derive(Debug, Default)]
pub struct Counter {
    /// The count.
    pub value: AtomicU64,
}
// --- end of your code ---

// --- your code: Counters ---
/// One counter per worker, each in its own block.
#[derive(Debug, Default)]
pub struct Counters {
    /// Worker `i` writes `per_worker[i]` only.
    pub per_worker: [Counter; 4],
}
// --- end of your code ---

// --- your code: Shard ---
/// A shard whose hot counter has a cache line (pair) to itself.
#[derive(Debug, Default)]
pub struct Shard {
    /// Read-mostly configuration.
    pub limits: [u32; 4],
    /// The hot counter.
    pub hits: CachePadded<AtomicU64>,
}
// --- end of your code ---
