//! # Exercise ex09: central lists, spans moving between caches and central
//!
//! In Go's allocator each size class has an `mcentral` (mcentral.go): the
//! spans of that class that no thread cache holds right now, kept in two
//! sets, spans with at least one free object (*partial*) and spans with none
//! (*full*). A per-P cache (`mcache`) allocates from one span per class with
//! no lock; when that span runs out, the cache goes to central:
//!
//! 1. **Returning** (`uncacheSpan`): the used-up span goes back to central,
//!    into *full* if every object is taken, else into *partial* (a span can
//!    come back with free objects when the cache is flushed early, as Go
//!    does for every cache at the start of a GC cycle).
//! 2. **Taking** (`cacheSpan`): central hands out a span from *partial*; if
//!    there is none, it grows: it asks the page heap (`mheap`) for a fresh
//!    span. Either way the span now belongs to the cache and is on neither
//!    list.
//! 3. **Sweeping** frees objects in spans that central holds: a span on
//!    *full* that gets free objects moves to *partial*; a span whose objects
//!    are all free goes back to the page heap, which can give its pages to
//!    another size class. Spans held by a cache are not swept: they are
//!    swept when the cache gives them back.
//!
//! This exercise is a *model* of that bookkeeping: a span is its counters
//! ([`SpanInfo`]), there is no memory behind it, and the page heap is a
//! counter of spans grown and released, so that scenarios are exact. The
//! real `allocator::Central` does the same with real spans behind a lock.
//! Write the methods that are left as todos: [`Central::cache_span`],
//! [`Central::uncache_span`], [`Central::free_objects`], [`Cache::alloc`]
//! and [`Cache::flush`]. Bad input (a span central does not know, a span
//! still in a cache, more frees than allocations) returns a
//! [`CentralError`] and changes nothing.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex09_central::{Cache, Central};
//!
//! let mut central = Central::for_class(5).unwrap(); // 48-byte objects, 170 per span
//! let mut cache = Cache::default();
//! for _ in 0..200 {
//!     cache.alloc(&mut central); // the first span fills up, a second is grown
//! }
//! assert_eq!((central.full.len(), central.grown), (1, 2));
//! ```

use std::fmt;

/// A span's id, unique within one [`Central`].
pub type SpanId = u32;

/// A span as central sees it: how many objects it has and how many are
/// allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanInfo {
    /// Which span.
    pub id: SpanId,
    /// Objects in the span (Go's `nelems`).
    pub nelems: u32,
    /// Objects allocated (Go's `allocCount`).
    pub allocated: u32,
}

impl SpanInfo {
    /// Objects still free.
    pub fn free(&self) -> u32 {
        self.nelems - self.allocated
    }

    /// True when no object is free.
    pub fn is_full(&self) -> bool {
        self.allocated == self.nelems
    }
}

/// What [`Central::free_objects`] did with the span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freed {
    /// The span was on *partial* and stays there.
    StillPartial,
    /// The span was on *full* and moved to *partial*.
    MovedToPartial,
    /// Every object is free: the span went back to the page heap.
    Released,
}

/// Bad input to a [`Central`]; the central is left unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CentralError {
    /// No span with this id is known to this central (never grown here, or
    /// already released).
    UnknownSpan(SpanId),
    /// The span is held by a cache: it cannot be swept, and only its cache
    /// may return it.
    InCache(SpanId),
    /// The span was not handed out by this central, or was already returned.
    NotCached(SpanId),
    /// A call that frees no object (sweeping found nothing to free in this
    /// span, so there is nothing to report).
    NothingFreed(SpanId),
    /// More objects freed than the span has allocated.
    TooManyFrees {
        /// Which span.
        span: SpanId,
        /// Objects allocated in it.
        allocated: u32,
        /// Objects the caller tried to free.
        freeing: u32,
    },
}

impl fmt::Display for CentralError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CentralError::UnknownSpan(id) => write!(f, "span {id} is not known to this central"),
            CentralError::InCache(id) => write!(f, "span {id} is held by a cache"),
            CentralError::NotCached(id) => write!(f, "span {id} was not handed out to a cache"),
            CentralError::NothingFreed(id) => {
                write!(f, "freeing 0 objects of span {id} is not a sweep result")
            }
            CentralError::TooManyFrees {
                span,
                allocated,
                freeing,
            } => {
                write!(
                    f,
                    "span {span} has {allocated} objects allocated; cannot free {freeing}"
                )
            }
        }
    }
}

impl std::error::Error for CentralError {}

/// One size class's central lists (Go's `mcentral`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Central {
    /// Objects per span in this class.
    pub objects_per_span: u32,
    /// Spans with at least one free object, held by no cache.
    pub partial: Vec<SpanInfo>,
    /// Spans with no free object, held by no cache.
    pub full: Vec<SpanInfo>,
    /// Ids of the spans currently held by caches.
    pub in_caches: Vec<SpanId>,
    /// Spans obtained from the page heap so far (Go's `mcentral.grow`).
    pub grown: u32,
    /// Spans given back to the page heap so far.
    pub released: u32,
}

impl Central {
    /// An empty central for spans of `objects_per_span` objects.
    pub fn new(objects_per_span: u32) -> Central {
        assert!(objects_per_span > 0, "a span holds at least one object");
        Central {
            objects_per_span,
            partial: Vec::new(),
            full: Vec::new(),
            in_caches: Vec::new(),
            grown: 0,
            released: 0,
        }
    }

    /// An empty central for size class `class` (1..=67) of the allocator's
    /// table, or `None` for a class that does not exist.
    ///
    /// ```
    /// use exercises::ex09_central::Central;
    /// assert_eq!(Central::for_class(5).unwrap().objects_per_span, 170); // 48-byte objects
    /// assert!(Central::for_class(68).is_none());
    /// ```
    pub fn for_class(class: usize) -> Option<Central> {
        let row = allocator::size_classes()
            .iter()
            .find(|row| row.class == class)?;
        Some(Central::new(u32::try_from(row.objects).ok()?))
    }

    /// A brand-new span from the page heap: all objects free. Its id is the
    /// number of spans grown before it.
    pub fn grow(&mut self) -> SpanInfo {
        let span = SpanInfo {
            id: self.grown,
            nelems: self.objects_per_span,
            allocated: 0,
        };
        self.grown += 1;
        span
    }

    /// Go's `mcentral.cacheSpan`: a span with free objects for a cache:
    /// from *partial* if there is one, else a fresh one from [`grow`](Self::grow).
    /// The span is recorded in `in_caches`.
    pub fn cache_span(&mut self) -> SpanInfo {
        // --- your code: cache_span ---
        let span = match self.partial.pop() {
            Some(span) => span,
            None => self.grow(),
        };
        self.in_caches.push(span.id);
        span
        // --- end of your code ---
    }

    /// Go's `mcentral.uncacheSpan`: a cache gives `span` back, with its
    /// current counters; it goes to *full* or *partial*.
    pub fn uncache_span(&mut self, span: SpanInfo) -> Result<(), CentralError> {
        // --- your code: uncache_span ---
        let slot = self
            .in_caches
            .iter()
            .position(|&id| id == span.id)
            .ok_or(CentralError::NotCached(span.id))?;
        self.in_caches.swap_remove(slot);
        if span.is_full() {
            self.full.push(span);
        } else {
            self.partial.push(span);
        }
        Ok(())
        // --- end of your code ---
    }

    /// Sweeping found `count` objects of span `id` free: update its
    /// counters and move it (full → partial, or back to the page heap when
    /// it is entirely free). `count` is at least 1.
    pub fn free_objects(&mut self, id: SpanId, count: u32) -> Result<Freed, CentralError> {
        // --- your code: free_objects ---
        if self.in_caches.contains(&id) {
            return Err(CentralError::InCache(id));
        }
        let (list_is_full, index) = if let Some(i) = self.full.iter().position(|s| s.id == id) {
            (true, i)
        } else if let Some(i) = self.partial.iter().position(|s| s.id == id) {
            (false, i)
        } else {
            return Err(CentralError::UnknownSpan(id));
        };
        let list = if list_is_full {
            &mut self.full
        } else {
            &mut self.partial
        };
        let span = list[index];
        if count == 0 {
            return Err(CentralError::NothingFreed(id));
        }
        if count > span.allocated {
            return Err(CentralError::TooManyFrees {
                span: id,
                allocated: span.allocated,
                freeing: count,
            });
        }

        // Validated: from here on every path changes the state.
        let mut span = list.swap_remove(index);
        span.allocated -= count;
        if span.allocated == 0 {
            self.released += 1;
            return Ok(Freed::Released);
        }
        self.partial.push(span);
        Ok(if list_is_full {
            Freed::MovedToPartial
        } else {
            Freed::StillPartial
        })
        // --- end of your code ---
    }
}

/// A thread cache's slot for this size class (one entry of Go's
/// `mcache.alloc`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cache {
    /// The span objects are allocated from, if the cache has one.
    pub span: Option<SpanInfo>,
}

impl Cache {
    /// Allocates one object (Go's `mcache.nextFree` + `refill`): from the
    /// cache's span if it has a free object; otherwise the used-up span (if
    /// any) goes back to `central` and a new one is taken. Returns the id of
    /// the span the object came from.
    pub fn alloc(&mut self, central: &mut Central) -> SpanId {
        // --- your code: alloc ---
        let span = match self.span.take() {
            Some(span) if !span.is_full() => span,
            used_up => {
                if let Some(old) = used_up {
                    central
                        .uncache_span(old)
                        .expect("a cache only holds spans its central handed out");
                }
                central.cache_span()
            }
        };
        let span = self.span.insert(span);
        span.allocated += 1;
        span.id
        // --- end of your code ---
    }

    /// Gives the cache's span back to `central`, if it has one (Go flushes
    /// every mcache this way at the start of a GC cycle).
    pub fn flush(&mut self, central: &mut Central) -> Result<(), CentralError> {
        // --- your code: flush ---
        match self.span.take() {
            Some(span) => central
                .uncache_span(span)
                .inspect_err(|_| self.span = Some(span)),
            None => Ok(()),
        }
        // --- end of your code ---
    }
}
