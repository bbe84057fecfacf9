//! Reference solution of exercise ex18 (see `exercises/src/ex18_leak.rs`).

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
/// A cache of rendered thumbnails, at most [`CAP`], oldest evicted first.
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
        if !self.cache.contains_key(&id) {
            if self.order.len() == CAP {
                let old = self.order.pop_front().expect("CAP > 0");
                self.cache.remove(&old);
            }
            self.order.push_back(id);
            self.cache.insert(id, render(id));
        }
        &self.cache[&id]
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
