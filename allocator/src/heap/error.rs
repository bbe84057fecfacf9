//! What a [`Heap`](super::Heap) call can get wrong: the mistakes a program
//! makes with a `SpanAlloc` (which abort in checked mode, see `checked.rs`)
//! come back from the lessons' heap as values, and change nothing.

use serde::Serialize;

/// Why a [`Heap`](super::Heap) call failed. Nothing in the heap changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum HeapError {
    /// The arena size was zero, or the OS refused to map it.
    BadArena {
        /// Bytes asked for.
        bytes: usize,
    },
    /// The arena has no room for the request.
    OutOfMemory {
        /// Bytes asked for.
        requested: usize,
    },
    /// The offset is outside the arena.
    OutOfArena {
        /// The offset given.
        offset: usize,
    },
    /// Nothing is allocated at this offset (free pages, or not an object's
    /// start in a large object).
    NotAllocated {
        /// The offset given.
        offset: usize,
    },
    /// The offset is inside an object of `class` but not at its start.
    InteriorPointer {
        /// The offset given.
        offset: usize,
        /// Size class of the span.
        class: usize,
    },
    /// The object at this offset is already free.
    DoubleFree {
        /// The offset given.
        offset: usize,
        /// Size class of the object.
        class: usize,
    },
    /// [`Heap::sweep_span`](super::Heap::sweep_span) was given an offset inside a span, not its start.
    NotSpanStart {
        /// The offset given.
        offset: usize,
        /// Offset of the span holding it.
        span: usize,
    },
    /// [`Heap::sweep_span`](super::Heap::sweep_span) was given a large object's span: it has no
    /// object bitmap to swap (free the object instead).
    NotSmallSpan {
        /// Offset of the span.
        span: usize,
    },
    /// [`Heap::sweep_span`](super::Heap::sweep_span) was given the span the heap's cache allocates
    /// from. Go flushes every `mcache` before sweeping (`prepareForSweep`);
    /// call [`Heap::flush_cache`](super::Heap::flush_cache) first.
    SpanCached {
        /// Offset of the span.
        span: usize,
        /// Its size class.
        class: usize,
    },
    /// A mark bitmap of the wrong length: one bit per object, 64 to a word.
    MarkBitsLength {
        /// Offset of the span.
        span: usize,
        /// Words wanted (`objects.div_ceil(64)`).
        expected: usize,
        /// Words given.
        got: usize,
    },
    /// A mark bit at or past the span's object count.
    MarkBeyondObjects {
        /// Offset of the span.
        span: usize,
        /// Index of the first such bit.
        index: usize,
        /// Objects in the span.
        objects: usize,
    },
    /// A mark bit on an object that is free: the collector reached an
    /// object nobody allocated, so its marking is broken. Go's sweeper
    /// throws here ("found pointer to free object", `reportZombies`).
    MarkedFreeObject {
        /// Offset of the free object.
        offset: usize,
        /// Size class of the span.
        class: usize,
    },
}

impl core::fmt::Display for HeapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            HeapError::BadArena { bytes } => write!(f, "cannot make an arena of {bytes} bytes"),
            HeapError::OutOfMemory { requested } => {
                write!(
                    f,
                    "out of memory: no room for {requested} bytes in the arena"
                )
            }
            HeapError::OutOfArena { offset } => {
                write!(f, "offset {offset:#x} is outside the arena")
            }
            HeapError::NotAllocated { offset } => {
                write!(f, "nothing is allocated at offset {offset:#x}")
            }
            HeapError::InteriorPointer { offset, class } => write!(
                f,
                "offset {offset:#x} points inside an object of size class {class}, not at its start"
            ),
            HeapError::DoubleFree { offset, class } => {
                write!(f, "double free of offset {offset:#x} (size class {class})")
            }
            HeapError::NotSpanStart { offset, span } => write!(
                f,
                "offset {offset:#x} is inside the span at {span:#x}, not its start"
            ),
            HeapError::NotSmallSpan { span } => write!(
                f,
                "the span at {span:#x} holds one large object and has no bitmap to sweep; free the object instead"
            ),
            HeapError::SpanCached { span, class } => write!(
                f,
                "the span at {span:#x} (size class {class}) is held by the heap's cache; call flush_cache before sweeping (Go flushes every mcache first)"
            ),
            HeapError::MarkBitsLength {
                span,
                expected,
                got,
            } => write!(
                f,
                "mark bits for the span at {span:#x} need {expected} words (one bit per object), got {got}"
            ),
            HeapError::MarkBeyondObjects {
                span,
                index,
                objects,
            } => write!(
                f,
                "mark bit {index} is set but the span at {span:#x} has only {objects} objects"
            ),
            HeapError::MarkedFreeObject { offset, class } => write!(
                f,
                "the free object at {offset:#x} (size class {class}) is marked: the collector found a pointer to a free object"
            ),
        }
    }
}

impl std::error::Error for HeapError {}
