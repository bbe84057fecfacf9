//! # Exercise ex18: find and fix a leak
//!
//! [`Thumbnails`] renders a 2 KiB thumbnail per image id and caches it, so
//! that a popular image is rendered once. It works, every answer is right,
//! and the process grows without bound: the cache never forgets. This is
//! the leak of lesson 19, and the heap profile is how it is found: the
//! in-use bytes (`inuse_space`) allocated under `Thumbnails::get` grow
//! between two snapshots while everything else stays flat. The graded test
//! takes those snapshots on the course allocator (`SpanAlloc::profile()`,
//! this exercise's test binary runs on it) and prints the growth.
//!
//! Fix it without changing the API: keep at most [`CAP`] thumbnails, and
//! when a new one would make `CAP + 1`, drop the one inserted longest ago
//! (FIFO; the `order` queue is there for that). Every answer must stay
//! right: an evicted id is simply rendered again.
//!
//! ```no_run
//! use exercises::ex18_leak::{Thumbnails, render};
//! let mut t = Thumbnails::new();
//! assert_eq!(t.get(7), &render(7)[..]);
//! assert_eq!(t.len(), 1);
//! ```

use std::collections::{HashMap, VecDeque};

/// Thumbnails kept at most.
pub const CAP: usize = 1024;

/// The thumbnail of image `id`: 2 KiB derived from the id.
pub fn render(id: u64) -> Vec<u8> {
    (0..2048u64)
        .map(|i| (id.wrapping_mul(31).wrapping_add(i) % 251) as u8)
        .collect()
}

// --- your code: the cache ---
/// A cache of rendered thumbnails.
#[allow(dead_code)] // `order` is for the fix
// --- end of your code ---
#[derive(Default)]
pub struct Thumbnails {
    cache: HashMap<u64, Vec<u8>>,
    order: VecDeque<u64>,
}

impl Thumbnails {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The thumbnail of `id`, rendered on a miss.
    pub fn get(&mut self, id: u64) -> &[u8] {
        // --- your code: get ---
        // The leak: every id ever asked for stays here forever.
        self.cache.entry(id).or_insert_with(|| render(id))
        // --- end of your code ---
    }

    /// Thumbnails cached now.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True if nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }
}
