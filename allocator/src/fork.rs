//! Fork safety: every allocator lock is taken before `fork()` and released
//! after it, in the parent and in the child (`pthread_atfork`).
//!
//! `fork()` copies the whole address space but only the calling thread. A
//! lock that another thread held at that instant is copied *locked*, and no
//! thread in the child will ever release it: the child's first allocation
//! that needs the page heap or a central list then waits forever. (Before
//! this file, about 47 of 300 children forked under load hung so, in
//! `PageHeap::lock` from `Backend::take_pages` or in a central lock; see
//! `tests/fork.rs`.) glibc's malloc, jemalloc and mimalloc all do what is
//! done here:
//!
//! * *prepare* (in the parent, just before the fork): take every lock the
//!   allocator has, in the allocator's lock order (each central list's,
//!   then the page heap's, then the heap profile's), so that no other thread
//!   is inside any of them when the address space is copied;
//! * *parent* (after the fork, in the parent): release them all;
//! * *child* (after the fork, in the child): release them all too. The child
//!   has exactly one thread, the one that took them, and every structure
//!   they protect is consistent, since no other thread was inside. (Our
//!   locks are futex words with no owner recorded, so the thread that
//!   locked them can unlock them in the child; glibc re-initialises its
//!   arena locks instead, which comes to the same.)
//!
//! What the child loses: the thread caches of the parent's other threads.
//! Their spans stay owned by caches that no longer run, so their free
//! objects are not reused in the child (frees into them still work: they go
//! onto the spans' remote lists). A child usually `exec`s or exits soon;
//! Go's runtime has the same view (`syscall.forkExec` only lets the child
//! call async-signal-safe code before `exec`).
//!
//! Go's runtime has no equivalent: Go programs never `fork()` without
//! `exec`, and the runtime blocks signals and holds `ForkLock` around it.
//!
//! The handlers are registered once per process, the first time any thread
//! reaches the allocator's slow path with no lock held (a thread cache
//! coming to life, or a cache-less allocation). `pthread_atfork` may itself
//! allocate, which re-enters the allocator safely at that point. A handler
//! that another library registered *before* ours runs after our prepare
//! handler; if it allocates, it blocks, as it would under jemalloc: being
//! registered at the first allocation makes that as unlikely as it can be.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};

use crate::central::Lists;
use crate::global::BACKEND;
use crate::page_heap::Inner as PageInner;
use crate::profile::ProfilerInner;
use crate::size_class::NUM_CLASSES;
use crate::sync::MutexGuard;

const UNREGISTERED: u8 = 0;
const REGISTERING: u8 = 1;
const REGISTERED: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNREGISTERED);

/// The guards taken by `prepare`, held across `fork()` by the forking thread.
struct Held {
    central: [Option<MutexGuard<'static, Lists>>; NUM_CLASSES + 1],
    pages: Option<MutexGuard<'static, PageInner>>,
    profile: Option<MutexGuard<'static, ProfilerInner>>,
}

struct HeldCell(UnsafeCell<Held>);

// SAFETY: only the atfork handlers touch the cell, and libc runs them in the
// one thread calling fork(), one fork at a time (glibc serialises fork's
// handlers under its atfork lock), prepare before parent / child.
unsafe impl Sync for HeldCell {}

static HELD: HeldCell = HeldCell(UnsafeCell::new(Held {
    central: [const { None }; NUM_CLASSES + 1],
    pages: None,
    profile: None,
}));

/// Registers the fork handlers if no thread has yet. Call only with no
/// allocator lock held (registration may allocate).
#[inline(always)]
pub(crate) fn ensure_handlers() {
    if STATE.load(Ordering::Acquire) != REGISTERED {
        register();
    }
}

#[cold]
#[inline(never)]
fn register() {
    if STATE
        .compare_exchange(
            UNREGISTERED,
            REGISTERING,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_err()
    {
        return; // registered, or another thread is registering right now
    }
    // SAFETY: the three handlers are `extern "C" fn()` that live as long as
    // the process; pthread_atfork only records them.
    let r = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    // On failure (ENOMEM) stay unregistered so that a later call retries.
    STATE.store(
        if r == 0 { REGISTERED } else { UNREGISTERED },
        Ordering::Release,
    );
}

/// Whether the handlers are registered (for tests).
#[cfg(test)]
pub(crate) fn registered() -> bool {
    STATE.load(Ordering::Acquire) == REGISTERED
}

extern "C" fn prepare() {
    // SAFETY: see HeldCell: only this thread touches HELD now.
    let held = unsafe { &mut *HELD.0.get() };
    // The allocator's lock order: a central list's lock before the page
    // heap's, the page heap's before the profile's (free_large records a
    // profile free under the heap lock). No code holds two central locks at
    // once, so taking them in class order cannot deadlock with any thread.
    for class in 1..=NUM_CLASSES {
        held.central[class] = Some(BACKEND.central[class].lock_lists());
    }
    held.pages = Some(BACKEND.pages.lock());
    held.profile = Some(BACKEND.profile.lock_inner());
}

/// Releases everything `prepare` took, in the reverse order.
fn release_all() {
    // SAFETY: see HeldCell.
    let held = unsafe { &mut *HELD.0.get() };
    held.profile = None;
    held.pages = None;
    for class in (1..=NUM_CLASSES).rev() {
        held.central[class] = None;
    }
}

extern "C" fn parent() {
    release_all();
}

extern "C" fn child() {
    // The child's only thread is the one that took the locks in prepare:
    // it releases them, and the structures behind them are consistent.
    release_all();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn handlers_are_registered_by_the_first_allocation() {
        let v = vec![1u8; 100_000];
        let b = std::thread::spawn(|| {
            // A cache comes to life in this thread; the global allocator of
            // the test binary is the system's, so allocate through SpanAlloc.
            use core::alloc::{GlobalAlloc, Layout};
            static A: crate::SpanAlloc = crate::SpanAlloc::new();
            let l = Layout::from_size_align(64, 8).unwrap();
            // SAFETY: allocated and freed with the same layout.
            unsafe { A.dealloc(A.alloc(l), l) };
            registered()
        })
        .join()
        .unwrap();
        assert!(b, "no fork handlers after a thread cache came to life");
        assert_eq!(v.len(), 100_000);
    }

    #[test]
    fn prepare_then_parent_leaves_every_lock_free() {
        ensure_handlers();
        prepare();
        // SAFETY: only this test's thread reads HELD between the calls.
        let all_held = unsafe {
            let h = &*HELD.0.get();
            h.central[1..].iter().all(Option::is_some) && h.pages.is_some() && h.profile.is_some()
        };
        parent();
        assert!(all_held, "prepare should hold every allocator lock");
        // Every lock can be taken again.
        for class in 1..=NUM_CLASSES {
            drop(BACKEND.central[class].lock_lists());
        }
        drop(BACKEND.pages.lock());
        drop(BACKEND.profile.lock_inner());
    }
}
