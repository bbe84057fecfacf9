//! Reference solution of exercise ex19 (see `exercises/src/ex19_shard_lock.rs`).
#![cfg(not(loom))] // uses the task runtime, which loom builds leave out
// --- your code: allow ---
// --- end of your code ---

use std::collections::HashMap;

use runtime::sync::Mutex;

/// Counters by key, split into shards that each have their own lock.
pub struct ShardedCounter {
    shards: Vec<Mutex<HashMap<u64, u64>>>,
}

impl ShardedCounter {
    /// `shards` empty maps (at least one), each behind its own lock.
    pub fn new(shards: usize) -> Self {
        // --- your code: new ---
        ShardedCounter {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
        // --- end of your code ---
    }

    /// The shard `key` lives in.
    pub fn shard_of(&self, key: u64) -> usize {
        // --- your code: shard_of ---
        (key % self.shards.len() as u64) as usize
        // --- end of your code ---
    }

    /// Adds `n` to `key`'s count, holding the shard's lock across a yield.
    pub async fn add(&self, key: u64, n: u64) {
        // --- your code: add ---
        let mut m = self.shards[self.shard_of(key)].lock().await;
        runtime::yield_now().await;
        *m.entry(key).or_insert(0) += n;
        // --- end of your code ---
    }

    /// `key`'s count, 0 if never added.
    pub async fn get(&self, key: u64) -> u64 {
        // --- your code: get ---
        let m = self.shards[self.shard_of(key)].lock().await;
        m.get(&key).copied().unwrap_or(0)
        // --- end of your code ---
    }
}
