//! The runtime's list of live tasks (Go's `allgs`).
//!
//! Go keeps every G ever created in `allgs` so the GC and tracebacks can find
//! them. The runtime needs the same for shutdown: a task parked on a waker
//! that nobody will ever call is referenced only by that waker, yet dropping
//! the runtime must drop its future. So each task is linked into this list
//! when spawned (the list holds one reference) and unlinked when it
//! completes. The list is sharded by task id so Ms spawning and completing
//! tasks on different Ps rarely meet on a lock.

use std::ptr::NonNull;

use super::Notified;
use super::cell::Header;
use crate::loom::Mutex;

const SHARDS: usize = if cfg!(loom) { 1 } else { 32 };

pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
}

struct Shard {
    head: Option<NonNull<Header>>,
    len: usize,
    closed: bool,
}

// SAFETY: the raw pointers are only followed under the shard's lock, and the
// list holds a reference on each task, so they stay valid.
unsafe impl Send for Shard {}

impl OwnedTasks {
    pub(crate) fn new() -> Self {
        OwnedTasks {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        head: None,
                        len: 0,
                        closed: false,
                    })
                })
                .collect(),
        }
    }

    fn shard(&self, id: u64) -> &Mutex<Shard> {
        // SHARDS is a power of two (1 under loom).
        &self.shards[(id as usize) & (SHARDS - 1)]
    }

    /// Links a new task (taking over its "owned list" reference). Returns
    /// false if the runtime is shutting down; the caller must then cancel it.
    pub(crate) fn bind(&self, task: NonNull<Header>) -> bool {
        // SAFETY: the caller holds references on the new task.
        let id = unsafe { task.as_ref() }.id;
        let mut shard = self.shard(id).lock();
        if shard.closed {
            return false;
        }
        let old_head = shard.head;
        // SAFETY: we hold the shard lock, which guards every task's links.
        unsafe {
            task.as_ref().owned.with_mut(|l| {
                *l = super::cell::Links {
                    prev: None,
                    next: old_head,
                    linked: true,
                };
            });
            if let Some(h) = old_head {
                h.as_ref().owned.with_mut(|l| (*l).prev = Some(task));
            }
        }
        shard.head = Some(task);
        shard.len += 1;
        true
    }

    /// Unlinks a completed task and drops the list's reference.
    pub(crate) fn remove(&self, task: &Notified) {
        let ptr = task.raw();
        // SAFETY: the Notified holds a reference.
        let id = unsafe { ptr.as_ref() }.id;
        let mut shard = self.shard(id).lock();
        // SAFETY: links are only touched under the shard lock, held here.
        let unlinked = unsafe { Self::unlink(&mut shard, ptr) };
        drop(shard);
        if unlinked {
            // SAFETY: the list's reference, given back exactly once.
            drop(unsafe { Notified::from_raw(ptr) });
        }
    }

    /// # Safety
    /// The caller holds `shard`'s lock and `ptr` is a live task.
    unsafe fn unlink(shard: &mut Shard, ptr: NonNull<Header>) -> bool {
        // SAFETY: per the function's contract.
        unsafe {
            let links = ptr.as_ref().owned.with_mut(|l| std::mem::take(&mut *l));
            if !links.linked {
                return false;
            }
            match links.prev {
                Some(p) => p.as_ref().owned.with_mut(|l| (*l).next = links.next),
                None => shard.head = links.next,
            }
            if let Some(n) = links.next {
                n.as_ref().owned.with_mut(|l| (*l).prev = links.prev);
            }
        }
        shard.len -= 1;
        true
    }

    /// Number of live tasks.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len).sum()
    }

    /// Calls `f` on every live task, one shard's lock at a time (the
    /// goroutine dump). `f` runs under the lock: it must be short and must
    /// not spawn.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        for shard in self.shards.iter() {
            let shard = shard.lock();
            let mut at = shard.head;
            while let Some(t) = at {
                // SAFETY: under the shard lock, every linked task is alive
                // (the list holds a reference) and its links are stable.
                let h = unsafe { t.as_ref() };
                f(h);
                // SAFETY: as above.
                at = unsafe { h.owned.with(|l| (*l).next) };
            }
        }
    }

    /// Closes the list to new tasks and returns every live task, each with
    /// the list's reference.
    pub(crate) fn close_and_take_all(&self) -> Vec<Notified> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.closed = true;
            while let Some(head) = shard.head {
                // SAFETY: under the shard lock; head is linked and alive.
                unsafe { Self::unlink(&mut shard, head) };
                // SAFETY: the list's reference moves into the Notified.
                all.push(unsafe { Notified::from_raw(head) });
            }
        }
        all
    }
}
