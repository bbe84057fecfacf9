//! The three buffer sources that runtime/benches/pool.rs times and
//! runtime/tests/pool_allocs.rs counts, written once: a fresh allocation
//! per request, one `Mutex<Vec<_>>` shared by every P, and the per-P
//! `runtime::sync::Pool`. Both include this file with `#[path]`.

use std::sync::Mutex;

use runtime::sync::Pool;

/// Each buffer's capacity: over 32 KiB, so a large object for the allocator.
pub const CAP: usize = 64 * 1024;
/// The bytes a request writes into its buffer.
pub const RESPONSE: usize = 16 * 1024;

/// Where a request gets its buffer from.
pub trait Buffers: Send + Sync + 'static {
    fn get(&self) -> Vec<u8>;
    fn put(&self, buf: Vec<u8>);
}

/// A fresh buffer per request, freed after it.
pub struct NoPool;

impl Buffers for NoPool {
    fn get(&self) -> Vec<u8> {
        Vec::with_capacity(CAP)
    }
    fn put(&self, _buf: Vec<u8>) {}
}

/// One `Mutex<Vec<_>>` shared by every P: the pool people write first.
pub struct Locked(pub Mutex<Vec<Vec<u8>>>);

impl Buffers for Locked {
    fn get(&self) -> Vec<u8> {
        let cached = self.0.lock().unwrap().pop();
        cached.unwrap_or_else(|| Vec::with_capacity(CAP))
    }
    fn put(&self, mut buf: Vec<u8>) {
        buf.clear();
        self.0.lock().unwrap().push(buf);
    }
}

/// The per-P `runtime::sync::Pool`.
pub struct PerP(pub Pool<Vec<u8>>);

impl Buffers for PerP {
    fn get(&self) -> Vec<u8> {
        self.0.get()
    }
    fn put(&self, mut buf: Vec<u8>) {
        buf.clear();
        self.0.put(buf);
    }
}
