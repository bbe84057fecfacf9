//! # Exercise ex19: shard a contended lock
//!
//! A table of counters behind one `runtime::sync::Mutex` is a queue: every
//! G that updates it waits for every other. Lesson 20 shows the queue in
//! the block and mutex profiles (`runtime::sync::wait_records()`): the
//! delay is charged to the lock's site. The fix is as old as databases:
//! split the table into *shards*, each behind its own lock, and pick the
//! shard from the key, so that updates of different keys rarely meet.
//!
//! Write [`ShardedCounter`]:
//!
//! * `new(shards)`: `shards` maps (at least 1), each in its own
//!   `runtime::sync::Mutex<HashMap<u64, u64>>`;
//! * `add(key, n)`: lock the shard `key % shards`, then **hold the lock
//!   across `runtime::yield_now().await`** (the stand-in for work done
//!   under the lock, which is what makes a lock contended), then add `n`
//!   to the key's count;
//! * `get(key)`: the key's count (0 if never added);
//! * `shard_of(key)`: which shard a key lives in.
//!
//! The graded tests run 8 Gs on 2 Ps, G `i` adding to keys `i + 16 k`, and
//! read the mutex profile at this file's lock sites: with 16 shards its
//! delay must be a tenth of what one shard (`new(1)`) gives, for the same
//! totals.
//!
//! ```no_run
//! use exercises::ex19_shard_lock::ShardedCounter;
//! let rt = runtime::Runtime::builder().procs(2).build().unwrap();
//! let c = ShardedCounter::new(16);
//! rt.block_on(async {
//!     c.add(3, 2).await;
//!     assert_eq!(c.get(3).await, 2);
//! });
//! assert_eq!(c.shard_of(35), 3);
//! ```
#![cfg(not(loom))] // uses the task runtime, which loom builds leave out
// --- your code: allow ---
#![allow(dead_code)] // the field is for the methods you write
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
        let _ = shards;
        todo!("new: (0..shards.max(1)).map(|_| Mutex::new(HashMap::new())).collect()")
        // --- end of your code ---
    }

    /// The shard `key` lives in.
    pub fn shard_of(&self, key: u64) -> usize {
        // --- your code: shard_of ---
        let _ = key;
        todo!("shard_of: key modulo the number of shards")
        // --- end of your code ---
    }

    /// Adds `n` to `key`'s count, holding the shard's lock across a yield.
    pub async fn add(&self, key: u64, n: u64) {
        // --- your code: add ---
        let _ = (key, n);
        todo!("add: lock shard_of(key), yield_now().await while holding it, then add")
        // --- end of your code ---
    }

    /// `key`'s count, 0 if never added.
    pub async fn get(&self, key: u64) -> u64 {
        // --- your code: get ---
        let _ = key;
        todo!("get: lock the key's shard and read")
        // --- end of your code ---
    }
}
