//! # Exercise ex07: size classes from Go's rules
//!
//! Go rounds every small allocation (up to 32 KiB) up to one of 67 object
//! sizes, its *size classes*. Every span of a class holds objects of one
//! size, so an object needs no header and its index is its offset divided
//! by the size. Go does not type the table in: `mksizeclasses.go` generates
//! `sizeclasses.go` from a few rules, which trade two kinds of waste: the
//! rounding up of a request to its class, and the *tail* of a span that is
//! too short for one more object.
//!
//! Generate the table ([`make_classes`]) by walking sizes upward from 8:
//!
//! 1. **Step.** Sizes go up in steps of an *alignment*. Whenever the size
//!    reaches a power of two, the alignment changes: from 2048 bytes on it
//!    is 256; from 128 bytes on it is `size / 8` (so a request is rounded up
//!    by at most 1/8); from 32 bytes on it is 16 (objects of 32 bytes and
//!    more are 16-byte aligned). It starts at 8.
//! 2. **Span.** For each size, [`span_pages`]: the smallest number of 8 KiB
//!    pages whose leftover (`span_bytes % size`) is at most 1/8 of the span.
//! 3. **Merge.** If a size gets the same number of pages *and* the same
//!    number of objects per span as the previous class, it replaces the
//!    previous class's size instead of adding a class: bigger objects at no
//!    cost.
//! 4. **Widen.** When the walk is done, widen each class to the largest
//!    object that still fits as many objects in its span:
//!    `span_bytes / objects`, rounded *down* to a multiple of 128 (Go's
//!    `largeSizeDiv`, so that the lookup table by 128-byte steps still
//!    works); keep the old size if that is not larger.
//!
//! The result must be exactly Go's 67 classes. Then write [`size_to_class`]:
//! the smallest class whose objects hold a request.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex07_size_classes::{make_classes, size_to_class};
//!
//! let table = make_classes();
//! assert_eq!(table.len(), 67);
//! assert_eq!(size_to_class(&table, 17), Some(3)); // 24-byte objects
//! ```

/// Go's page size, 8 KiB (`_PageSize`).
pub const PAGE_SIZE: usize = 8192;
/// The largest small object, 32 KiB (`_MaxSmallSize`).
pub const MAX_SMALL_SIZE: usize = 32 * 1024;
/// Widened sizes stay multiples of this (Go's `largeSizeDiv`).
pub const LARGE_SIZE_DIV: usize = 128;

/// One size class (a row of the table in Go's `sizeclasses.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassRow {
    /// Class number, 1 for the smallest (Go reserves 0 for large objects).
    pub class: usize,
    /// Bytes per object (`bytes/obj`).
    pub size: usize,
    /// Pages per span.
    pub pages: usize,
    /// Objects per span (`objects`).
    pub objects: usize,
    /// Bytes left at the end of a span (`tail waste`).
    pub tail_waste: usize,
}

impl ClassRow {
    /// Bytes in one span of this class (`bytes/span`).
    pub fn span_bytes(&self) -> usize {
        self.pages * PAGE_SIZE
    }
}

/// Rule 2: the fewest pages whose tail waste for objects of `size` bytes is
/// at most 1/8 of the span.
pub fn span_pages(size: usize) -> usize {
    // --- your code: span_pages ---
    let mut span = PAGE_SIZE;
    while span % size > span / 8 {
        span += PAGE_SIZE;
    }
    span / PAGE_SIZE
    // --- end of your code ---
}

/// The size-class table by Go's rules: 67 rows, class 1 (8 bytes) to class
/// 67 (32 KiB), in order.
pub fn make_classes() -> Vec<ClassRow> {
    // --- your code: make_classes ---
    // (size, pages) pairs, before widening.
    let mut classes: Vec<(usize, usize)> = Vec::new();
    let mut align = 8;
    let mut size = align;
    while size <= MAX_SMALL_SIZE {
        if size.is_power_of_two() {
            if size >= 2048 {
                align = 256;
            } else if size >= 128 {
                align = size / 8;
            } else if size >= 32 {
                align = 16;
            }
        }
        let pages = span_pages(size);
        let span = pages * PAGE_SIZE;
        match classes.last_mut() {
            // Same span, same object count: the larger size is free.
            Some((last_size, last_pages))
                if *last_pages == pages && span / *last_size == span / size =>
            {
                *last_size = size;
            }
            _ => classes.push((size, pages)),
        }
        size += align;
    }

    classes
        .into_iter()
        .enumerate()
        .map(|(i, (size, pages))| {
            let span = pages * PAGE_SIZE;
            let widened = (span / (span / size)) & !(LARGE_SIZE_DIV - 1);
            let size = size.max(widened);
            ClassRow {
                class: i + 1,
                size,
                pages,
                objects: span / size,
                tail_waste: span % size,
            }
        })
        .collect()
    // --- end of your code ---
}

/// The smallest class in `table` whose objects hold `bytes` (a request of 0
/// bytes gets class 1), or `None` above [`MAX_SMALL_SIZE`]: a large object.
pub fn size_to_class(table: &[ClassRow], bytes: usize) -> Option<usize> {
    // --- your code: size_to_class ---
    if bytes > MAX_SMALL_SIZE {
        return None;
    }
    // The table is sorted by size: binary search for the first that fits.
    let index = table.partition_point(|row| row.size < bytes);
    table.get(index).map(|row| row.class)
    // --- end of your code ---
}
