//! Struct layout and cache lines: how field order decides a struct's size, and
//! how two counters that share a cache line slow each other down.
//!
//! Design. A field of alignment `A` must start at an offset that is a multiple
//! of `A`, and a struct's size is rounded up to a multiple of its largest
//! alignment, so that every element of an array of it is aligned too. The gaps
//! this creates are padding. C (and Go) lay fields out in the order they are
//! written, so the programmer decides the padding; `#[repr(C)]` asks Rust for
//! exactly that. Plain Rust structs (`repr(Rust)`) give the compiler freedom to
//! reorder fields, and today's rustc sorts them so that padding is minimal.
//!
//! The second half is about the hardware. Caches move memory in lines of 64
//! bytes (on x86-64 the adjacent-line prefetcher pairs them into 128). When two
//! threads write two different variables that sit in one line, each write
//! takes the line away from the other core: the variables are independent, the
//! line is not. That is false sharing. Padding each hot variable to its own
//! line (`crossbeam_utils::CachePadded`, 128 bytes on x86-64) removes it. The
//! [`hammer`] function runs that experiment on real threads; the criterion
//! bench `false_sharing` and lesson 11 call it.
//!
//! ```
//! use memsim::layout::{layout_table, ByteIntByteC, ByteIntByteRust};
//! assert_eq!(std::mem::size_of::<ByteIntByteC>(), 12);    // C order: pad, pad
//! assert_eq!(std::mem::size_of::<ByteIntByteRust>(), 8);  // reordered by rustc
//! let table = layout_table();
//! assert!(table.iter().any(|row| row.name == "ByteIntByteC" && row.size == 12));
//! ```

/// crossbeam's cache-line padding wrapper, re-exported for the exercises.
pub use crossbeam_utils::CachePadded;
use serde::Serialize;
use std::mem::{align_of, offset_of, size_of};
use std::sync::Barrier;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// ANCHOR: field_order
/// `u8, u32` in C order: 1 byte, 3 bytes of padding, 4 bytes = 8. Two
/// fields cannot reach 12; it takes a third field after the `u32`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ByteIntC {
    /// A flag byte.
    pub a: u8,
    /// A 4-byte integer, at offset 4.
    pub b: u32,
}

/// `u8, u32, u8` in C order (Go and C lay fields out as written):
/// 1 byte, 3 bytes of padding, 4 bytes, 1 byte, 3 bytes of tail padding = 12.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ByteIntByteC {
    /// A flag byte, first as written.
    pub a: u8,
    /// A 4-byte integer that must start at a multiple of 4.
    pub b: u32,
    /// A second byte.
    pub c: u8,
}

/// The same three fields under `repr(Rust)`: rustc may reorder them, and puts
/// the `u32` first, so the two bytes share one padding run: 8 bytes.
#[derive(Debug, Default, Clone, Copy)]
pub struct ByteIntByteRust {
    /// A flag byte.
    pub a: u8,
    /// A 4-byte integer.
    pub b: u32,
    /// A second byte.
    pub c: u8,
}

/// The fix a Go or C programmer writes by hand: largest alignment first.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct IntByteByteC {
    /// The 4-byte integer, first.
    pub b: u32,
    /// A flag byte.
    pub a: u8,
    /// A second byte.
    pub c: u8,
}
// ANCHOR_END: field_order

/// Two 4-byte fields then an 8-byte one, in C order: already tight (16 bytes),
/// since the `u64` lands on offset 8.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct TwoU32ThenU64 {
    /// First 4-byte field, offset 0.
    pub field1: u32,
    /// Second 4-byte field, offset 4.
    pub field2: u32,
    /// The 8-byte field, offset 8.
    pub field3: u64,
}

/// A mix that wastes a lot in C order (1 + 7 pad + 8 + 1 + 7 pad + 8 + 2 + 6 pad = 40 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MixedC {
    /// A byte.
    pub flag: u8,
    /// An 8-byte id.
    pub id: u64,
    /// Another byte.
    pub kind: u8,
    /// An 8-byte timestamp.
    pub stamp: u64,
    /// A 2-byte count.
    pub count: u16,
}

/// `MixedC`'s fields under `repr(Rust)`: reordered to 8 + 8 + 2 + 1 + 1 = 20, rounded to 24.
#[derive(Debug, Default, Clone, Copy)]
pub struct MixedRust {
    /// A byte.
    pub flag: u8,
    /// An 8-byte id.
    pub id: u64,
    /// Another byte.
    pub kind: u8,
    /// An 8-byte timestamp.
    pub stamp: u64,
    /// A 2-byte count.
    pub count: u16,
}

/// Why alignment exists: with `packed` a `u64` may start at offset 60, so if
/// the struct starts on a cache line the `u64` straddles two lines and one load
/// touches both. Rust only lets you copy such a field out, never borrow it.
#[repr(C, packed)]
#[derive(Debug, Clone, Copy)]
pub struct StraddlingPacked {
    /// 60 bytes of anything.
    pub head: [u8; 60],
    /// An 8-byte value at offset 60: bytes 60..68 cross the line at 64.
    pub value: u64,
}

/// One field of a [`LayoutRow`]: its name, offset and size in bytes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldRow {
    /// Field name as written in the source.
    pub name: &'static str,
    /// Byte offset, from `std::mem::offset_of!`.
    pub offset: usize,
    /// Size of the field's type.
    pub size: usize,
}

/// The measured layout of one struct: what the compiler really did.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutRow {
    /// Type name.
    pub name: &'static str,
    /// `"C"`, `"Rust"` or `"C, packed"`.
    pub repr: &'static str,
    /// `size_of`.
    pub size: usize,
    /// `align_of`.
    pub align: usize,
    /// Fields sorted by offset (that is, in memory order).
    pub fields: Vec<FieldRow>,
    /// Bytes that are neither field: `size - sum(field sizes)`.
    pub padding: usize,
}

/// Builds a [`LayoutRow`] from real `size_of`/`align_of`/`offset_of!` values.
macro_rules! row {
    ($ty:ident, $repr:literal, $($field:ident : $fty:ty),+) => {{
        let mut fields = vec![$(FieldRow {
            name: stringify!($field),
            offset: offset_of!($ty, $field),
            size: size_of::<$fty>(),
        }),+];
        fields.sort_by_key(|f| f.offset);
        let used: usize = fields.iter().map(|f| f.size).sum();
        LayoutRow {
            name: stringify!($ty),
            repr: $repr,
            size: size_of::<$ty>(),
            align: align_of::<$ty>(),
            padding: size_of::<$ty>() - used,
            fields,
        }
    }};
}

/// The layout of every example struct in this module, measured, not typed in.
pub fn layout_table() -> Vec<LayoutRow> {
    vec![
        row!(ByteIntC, "C", a: u8, b: u32),
        row!(ByteIntByteC, "C", a: u8, b: u32, c: u8),
        row!(ByteIntByteRust, "Rust", a: u8, b: u32, c: u8),
        row!(IntByteByteC, "C", b: u32, a: u8, c: u8),
        row!(TwoU32ThenU64, "C", field1: u32, field2: u32, field3: u64),
        row!(MixedC, "C", flag: u8, id: u64, kind: u8, stamp: u64, count: u16),
        row!(MixedRust, "Rust", flag: u8, id: u64, kind: u8, stamp: u64, count: u16),
        row!(StraddlingPacked, "C, packed", head: [u8; 60], value: u64),
    ]
}

/// Formats a layout row as one line, fields in memory order with `..pad..`
/// where the compiler inserted padding.
pub fn describe(row: &LayoutRow) -> String {
    let mut out = String::new();
    let mut at = 0;
    for f in &row.fields {
        if f.offset > at {
            out.push_str(&format!(" [pad {}]", f.offset - at));
        }
        out.push_str(&format!(" {}@{}:{}", f.name, f.offset, f.size));
        at = f.offset + f.size;
    }
    if row.size > at {
        out.push_str(&format!(" [pad {}]", row.size - at));
    }
    format!(
        "{:<18} {:<16} size {:>3} align {:>2} padding {:>2} |{}",
        row.name,
        format!("repr({})", row.repr),
        row.size,
        row.align,
        row.padding,
        out
    )
}

// ANCHOR: counters
/// Two counters written by two threads. What matters is whether they share a
/// cache line.
pub trait CounterPair: Sync {
    /// The counter thread 0 increments.
    fn first(&self) -> &AtomicU64;
    /// The counter thread 1 increments.
    fn second(&self) -> &AtomicU64;
}

/// Two counters side by side: 16 bytes, one cache line. False sharing.
/// (Aligned to 16 so that the pair can never straddle two lines.)
#[repr(C, align(16))]
#[derive(Debug, Default)]
pub struct AdjacentCounters {
    /// Thread 0's counter.
    pub a: AtomicU64,
    /// Thread 1's counter, 8 bytes later.
    pub b: AtomicU64,
}

/// The same two counters, each padded and aligned to its own line(s) by
/// `CachePadded` (128 bytes on x86-64, 64 or 128 elsewhere).
#[derive(Debug, Default)]
pub struct PaddedCounters {
    /// Thread 0's counter.
    pub a: CachePadded<AtomicU64>,
    /// Thread 1's counter, a full padded block later.
    pub b: CachePadded<AtomicU64>,
}
// ANCHOR_END: counters

impl CounterPair for AdjacentCounters {
    fn first(&self) -> &AtomicU64 {
        &self.a
    }
    fn second(&self) -> &AtomicU64 {
        &self.b
    }
}

impl CounterPair for PaddedCounters {
    fn first(&self) -> &AtomicU64 {
        &self.a
    }
    fn second(&self) -> &AtomicU64 {
        &self.b
    }
}

// ANCHOR: hammer
/// Runs two real OS threads, each incrementing its own counter `iters` times,
/// and returns the wall time from a common start until both are done.
///
/// The threads start together on a barrier, so the time measured is the time
/// the two of them ran at once, which is when false sharing bites.
///
/// ```
/// use memsim::layout::{hammer, PaddedCounters};
/// let pair = PaddedCounters::default();
/// hammer(&pair, 1000);
/// assert_eq!(pair.a.load(std::sync::atomic::Ordering::Relaxed), 1000);
/// ```
pub fn hammer<C: CounterPair>(pair: &C, iters: u64) -> Duration {
    let start = Barrier::new(3);
    std::thread::scope(|s| {
        let start = &start;
        let work = move |counter: &AtomicU64| {
            start.wait();
            for _ in 0..iters {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        };
        let t0 = s.spawn(move || work(pair.first()));
        let t1 = s.spawn(move || work(pair.second()));
        start.wait();
        let began = Instant::now();
        t0.join().expect("counter thread 0 panicked");
        t1.join().expect("counter thread 1 panicked");
        began.elapsed()
    })
}
// ANCHOR_END: hammer

/// The distance in bytes between the two counters of a pair, and whether they
/// fall in the same 64-byte line (given the pair's own address).
pub fn counter_distance<C: CounterPair>(pair: &C) -> (usize, bool) {
    let a = pair.first() as *const AtomicU64 as usize;
    let b = pair.second() as *const AtomicU64 as usize;
    (b.abs_diff(a), a / 64 == b / 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_order_example_matches_the_c_rules() {
        assert_eq!(
            size_of::<ByteIntByteC>(),
            12,
            "u8,u32,u8 in C order should be 12 bytes"
        );
        assert_eq!(offset_of!(ByteIntByteC, b), 4, "u32 after a u8 starts at 4");
        assert_eq!(offset_of!(ByteIntByteC, c), 8);
        assert_eq!(size_of::<IntByteByteC>(), 8, "u32,u8,u8 should be 8 bytes");
        assert_eq!(
            size_of::<ByteIntByteRust>(),
            8,
            "rustc should reorder to 8 bytes"
        );
        assert_eq!(size_of::<MixedC>(), 40);
        assert_eq!(size_of::<MixedRust>(), 24);
        assert_eq!(offset_of!(StraddlingPacked, value), 60);
        assert_eq!(align_of::<StraddlingPacked>(), 1);
    }

    #[test]
    fn table_rows_account_for_every_byte() {
        for row in layout_table() {
            let fields: usize = row.fields.iter().map(|f| f.size).sum();
            assert_eq!(fields + row.padding, row.size, "{}", row.name);
            assert!(
                row.fields
                    .windows(2)
                    .all(|w| w[0].offset + w[0].size <= w[1].offset),
                "{} overlaps",
                row.name
            );
        }
    }

    #[test]
    fn padded_counters_sit_on_different_lines_and_adjacent_ones_do_not() {
        let adjacent = AdjacentCounters::default();
        let padded = PaddedCounters::default();
        assert_eq!(counter_distance(&adjacent).0, 8);
        assert!(counter_distance(&padded).0 >= 64);
        assert!(!counter_distance(&padded).1);
    }

    #[test]
    fn hammer_counts_every_increment_on_both_threads() {
        let pair = AdjacentCounters::default();
        hammer(&pair, 5000);
        assert_eq!(pair.a.load(Ordering::Relaxed), 5000);
        assert_eq!(pair.b.load(Ordering::Relaxed), 5000);
    }
}
