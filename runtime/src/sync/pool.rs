//! A per-P object pool: Go's `sync.Pool` (src/sync/pool.go).
//!
//! A pool keeps objects that are expensive to make (a 64 KiB buffer, a
//! parser's scratch space) so that the next `get` can reuse one instead of
//! allocating. It is a cache, not a container: any object in it may be
//! dropped at the next cleanup cycle, so nothing a program needs to keep
//! may live only in a pool.
//!
//! # Where the objects sit
//!
//! Go gives each P a `poolLocal`, and so do we: one [`Local`] per P of the
//! runtime the pool was made in, plus one more for threads that hold no P
//! (outside any runtime, or a `block_on` thread between Ps). A G finds its
//! P's local through the thread's context (`MachineCtx::pid`, which Go
//! reads from `getg().m.p` after `runtime_procPin`). Each local has:
//!
//! * `private`: one object, used only by the P's own G. Go needs no
//!   atomics here because `procPin` keeps anything else off the P; we have
//!   no stop-the-world, so the cleanup sweep must be able to reach it too.
//!   It sits under its own small lock, which only the owner and the sweep
//!   take: the owner only *tries* it (one uncontended compare-and-swap)
//!   and, if the sweep has it, skips the slot rather than wait. The lock's
//!   cache line is written by the owner alone between sweeps, so it costs
//!   no cache-line traffic. (A one-bit spin flag over an `UnsafeCell`
//!   would save the unlock's CAS, but the sweep would then have to spin,
//!   which loom cannot model under its preemption bound.)
//! * `shared`: a list the owner pushes and pops at its back (the newest
//!   object, still warm in cache) and other Ps steal from at its front
//!   (Go's `poolChain`, `pushHead`/`popHead` by the owner, `popTail` by
//!   thieves). Go's is a lock-free chain of rings; ours is a `VecDeque`
//!   under its own P's mutex: uncontended unless a thief is at it, and a
//!   short, easy-to-check critical section.
//! * `victim`: last cycle's objects (Go's `victim`/`victimSize`).
//!
//! `get` looks in order: own private, own shared (back), the other Ps'
//! shared (front), the victim caches (own first), then calls `new`.
//! `put` fills the private slot if it is empty, else pushes on its shared
//! list. Nothing else is ever done to an object: it moves between these
//! containers under their lock, so none is lost and none handed out twice
//! (the loom model in `pool_loom.rs` checks exactly that).
//!
//! # What stands in for Go's GC
//!
//! Go runs `poolCleanup` at the start of every garbage collection (with the
//! world stopped): each pool's victim cache is dropped and its primary
//! cache becomes the victim. An object untouched for two GCs is gone, and
//! one reused within a cycle survives. Our runtime has no garbage
//! collector, and no other signal of memory pressure (the course allocator
//! is a separate crate the runtime does not depend on). So a cycle is an
//! explicit call: [`pool_cleanup`] sweeps every live pool (Go's `allPools`,
//! kept here as weak references), [`Pool::cleanup`] sweeps one. A program
//! drives the cycle at the rate it wants its idle objects freed, for
//! example from a G that sleeps a second between sweeps; tests drive it
//! step by step, so "dropped after two cycles" is checked with counts and
//! no clock. The sweep takes each lock for a moment and needs no
//! stop-the-world: a `put` racing it lands either before (and becomes a
//! victim) or after (and stays primary).
//!
//! # Sizing
//!
//! The number of locals is fixed when the pool is made: the current
//! runtime's P count inside a runtime, else the machine's parallelism (Go
//! resizes at GOMAXPROCS changes, dropping the old locals to the GC). A P
//! whose number is past the end shares a local (`pid % n`): still correct,
//! since every slot has its lock, only less private.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Weak};

use crossbeam_utils::CachePadded;

use crate::context::with_current;
use crate::loom::Mutex;

/// One P's share of a pool: Go's `poolLocal`.
struct Local<T> {
    /// Go's `poolLocalInternal.private`, under a lock that only its owner
    /// and the sweep ever take (see `with_private`).
    private: Mutex<Option<T>>,
    /// Go's `poolLocalInternal.shared` (a `poolChain`).
    shared: Mutex<VecDeque<T>>,
    /// Go's `Pool.victim`, this P's part: last cycle's objects.
    victim: Mutex<Vec<T>>,
}

impl<T> Local<T> {
    fn new() -> Self {
        Local {
            private: Mutex::new(None),
            shared: Mutex::new(VecDeque::new()),
            victim: Mutex::new(Vec::new()),
        }
    }

    // ANCHOR: private
    /// Runs `f` on the private slot. The owner (`wait` false) only tries
    /// the lock: one uncontended compare-and-swap, on a line no other P
    /// writes between sweeps; if the sweep has the slot, the owner skips
    /// it (returns `None`) rather than wait. The sweep (`wait` true) blocks
    /// for the owner's few instructions. `f` only moves an `Option`.
    fn with_private<R>(&self, wait: bool, f: impl FnOnce(&mut Option<T>) -> R) -> Option<R> {
        let mut slot = if wait {
            self.private.lock()
        } else {
            self.private.try_lock()?
        };
        Some(f(&mut slot))
    }
    // ANCHOR_END: private
}

/// Type-erased sweep, for the registry of all pools.
trait Sweep: Send + Sync {
    fn sweep(&self) -> usize;
}

/// The pool's state, shared between the [`Pool`] and the registry.
pub(crate) struct Inner<T> {
    /// One per P, plus one (the last) for threads without a P.
    locals: Box<[CachePadded<Local<T>>]>,
    /// Go's `Pool.New`.
    new: Option<Box<dyn Fn() -> T + Send + Sync>>,
}

impl<T: Send> Inner<T> {
    /// A pool with `ps` per-P locals (and the one for no P).
    pub(crate) fn new(ps: usize, new: Option<Box<dyn Fn() -> T + Send + Sync>>) -> Self {
        let locals = (0..ps.max(1) + 1)
            .map(|_| CachePadded::new(Local::new()))
            .collect();
        Inner { locals, new }
    }

    /// Which local the current thread uses: its P's, or the last one.
    fn here(&self) -> usize {
        let ps = self.locals.len() - 1;
        with_current(|c| c.and_then(|c| c.pid())).map_or(ps, |p| p % ps)
    }

    // ANCHOR: put
    /// Go's `Pool.Put` on local `i`.
    pub(crate) fn put_at(&self, i: usize, x: T) {
        let me = &self.locals[i];
        let mut x = Some(x);
        me.with_private(false, |p| {
            if p.is_none() {
                *p = x.take();
            }
        });
        if let Some(x) = x {
            me.shared.lock().push_back(x);
        }
    }
    // ANCHOR_END: put

    // ANCHOR: get
    /// Go's `Pool.Get` on local `i`, without calling `new`.
    pub(crate) fn get_at(&self, i: usize) -> Option<T> {
        let me = &self.locals[i];
        if let Some(Some(x)) = me.with_private(false, Option::take) {
            return Some(x);
        }
        if let Some(x) = me.shared.lock().pop_back() {
            return Some(x);
        }
        self.get_slow(i)
    }

    /// Go's `getSlow`: steal the oldest object of another P's shared list,
    /// then try the victim caches, this P's first.
    fn get_slow(&self, i: usize) -> Option<T> {
        let n = self.locals.len();
        let others = (1..n).map(|k| &self.locals[(i + k) % n]);
        for l in others {
            if let Some(x) = l.shared.lock().pop_front() {
                return Some(x);
            }
        }
        (0..n).find_map(|k| self.locals[(i + k) % n].victim.lock().pop())
    }
    // ANCHOR_END: get

    // ANCHOR: cleanup
    /// Go's `poolCleanup` for this pool: drops each local's victims and
    /// makes its primary objects (private and shared) the new victims.
    /// Returns how many objects it dropped.
    pub(crate) fn cleanup(&self) -> usize {
        let mut dropped = 0;
        for l in self.locals.iter() {
            let private = l.with_private(true, Option::take).flatten();
            let mut primary = Vec::from(std::mem::take(&mut *l.shared.lock()));
            primary.extend(private);
            let old = std::mem::replace(&mut *l.victim.lock(), primary);
            dropped += old.len();
            // Dropped here, outside every lock: a `T`'s `Drop` may be slow.
            drop(old);
        }
        dropped
    }
    // ANCHOR_END: cleanup

    /// Objects held, primary and victim.
    pub(crate) fn cached(&self) -> usize {
        self.locals
            .iter()
            .map(|l| {
                let private = l.with_private(true, |p| usize::from(p.is_some()));
                private.unwrap_or(0) + l.shared.lock().len() + l.victim.lock().len()
            })
            .sum()
    }
}

impl<T: Send> Sweep for Inner<T> {
    fn sweep(&self) -> usize {
        self.cleanup()
    }
}

/// Go's `allPools`: every live pool, so that one [`pool_cleanup`] reaches
/// them all. A plain `std` mutex, not the loom facade's: it only decides
/// which pools a sweep visits and is no part of the protocol the model
/// checks (the model calls `Inner::cleanup` directly).
static ALL_POOLS: std::sync::Mutex<Vec<Weak<dyn Sweep>>> = std::sync::Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<Weak<dyn Sweep>>> {
    // A panic while holding it leaves only a list of weak pointers: usable.
    ALL_POOLS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A per-P cache of reusable objects: Go's `sync.Pool`.
///
/// [`get`](Pool::get) takes an object the current P (or, failing that,
/// another P) put back earlier, or makes one; [`put`](Pool::put) offers
/// one back. Objects not reused within two cleanup cycles
/// ([`pool_cleanup`]) are dropped. See the module comment for where the
/// objects sit and why a cycle is an explicit call here.
///
/// ```
/// use runtime::sync::Pool;
///
/// let buffers = Pool::new(|| Vec::<u8>::with_capacity(64 * 1024));
/// let mut buf = buffers.get();
/// buf.extend_from_slice(b"a response");
/// let first = buf.as_ptr();
/// buf.clear(); // the pool hands objects back as they were put
/// buffers.put(buf);
/// assert_eq!(buffers.get().as_ptr(), first, "the same buffer, reused");
/// ```
pub struct Pool<T: Send + 'static> {
    inner: Arc<Inner<T>>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool whose [`get`](Pool::get) calls `new` when it has nothing
    /// cached: Go's `sync.Pool{New: new}`. It has one local per P of the
    /// runtime it is made in (the machine's parallelism outside one).
    ///
    /// ```
    /// let pool = runtime::sync::Pool::new(|| String::with_capacity(256));
    /// assert!(pool.get().capacity() >= 256, "made by `new`");
    /// ```
    pub fn new(new: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self::build(Some(Box::new(new)))
    }

    /// A pool with no `new` function (Go's `sync.Pool{}` with `New` nil):
    /// only [`try_get`](Pool::try_get) makes sense on it, and `get` panics
    /// when it is empty.
    ///
    /// ```
    /// let pool = runtime::sync::Pool::<u32>::empty();
    /// assert_eq!(pool.try_get(), None);
    /// pool.put(7);
    /// assert_eq!(pool.try_get(), Some(7));
    /// ```
    pub fn empty() -> Self {
        Self::build(None)
    }

    fn build(new: Option<Box<dyn Fn() -> T + Send + Sync>>) -> Self {
        let ps = with_current(|c| c.map(|c| c.shared.procs()))
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let inner = Arc::new(Inner::new(ps, new));
        let weak: Weak<dyn Sweep> = Arc::downgrade(&inner) as Weak<dyn Sweep>;
        let mut all = registry();
        all.retain(|w| w.strong_count() > 0);
        all.push(weak);
        Pool { inner }
    }

    /// Takes a cached object, or makes one with `new`: Go's `Pool.Get`.
    /// Panics if the pool is empty and was made by [`Pool::empty`].
    ///
    /// ```
    /// let rt = runtime::Runtime::builder().procs(2).build().unwrap();
    /// let pool = std::sync::Arc::new(runtime::sync::Pool::new(|| vec![0u8; 1024]));
    /// let p = pool.clone();
    /// let len = rt.block_on(async move {
    ///     runtime::spawn(async move {
    ///         let buf = p.get(); // from this G's P, or stolen, or new
    ///         let len = buf.len();
    ///         p.put(buf);
    ///         len
    ///     })
    ///     .await
    ///     .unwrap()
    /// });
    /// assert_eq!(len, 1024);
    /// assert_eq!(pool.cached(), 1, "the buffer went back");
    /// ```
    pub fn get(&self) -> T {
        match self.try_get() {
            Some(x) => x,
            None => match &self.inner.new {
                Some(new) => new(),
                None => panic!("Pool::get on an empty pool made without a `new` function"),
            },
        }
    }

    /// Takes a cached object if there is one, never calling `new` (Go's
    /// `Pool.Get` on a pool whose `New` is nil, which returns nil).
    ///
    /// ```
    /// let pool = runtime::sync::Pool::new(|| 0u64);
    /// assert_eq!(pool.try_get(), None, "nothing cached yet");
    /// pool.put(42);
    /// assert_eq!(pool.try_get(), Some(42));
    /// ```
    pub fn try_get(&self) -> Option<T> {
        self.inner.get_at(self.inner.here())
    }

    /// Offers `x` for reuse: Go's `Pool.Put`. It goes to the current P's
    /// private slot, or its shared list if that is taken.
    ///
    /// ```
    /// let pool = runtime::sync::Pool::empty();
    /// pool.put(String::from("kept"));
    /// assert_eq!(pool.cached(), 1);
    /// ```
    pub fn put(&self, x: T) {
        self.inner.put_at(self.inner.here(), x);
    }

    /// One cleanup cycle for this pool only (Go's `poolCleanup`, which
    /// always runs over every pool): drops the objects of the previous
    /// cycle and keeps the current ones for one more. Returns how many it
    /// dropped.
    ///
    /// ```
    /// let pool = runtime::sync::Pool::empty();
    /// pool.put(1u8);
    /// assert_eq!(pool.cleanup(), 0, "first cycle: the object becomes a victim");
    /// assert_eq!(pool.cleanup(), 1, "second cycle: it is dropped");
    /// assert_eq!(pool.cached(), 0);
    /// ```
    pub fn cleanup(&self) -> usize {
        self.inner.cleanup()
    }

    /// How many objects the pool holds, current and victim (Go has no
    /// equivalent; for tests and lessons). It takes every lock in turn, so
    /// it is a snapshot, exact only while nobody else uses the pool.
    ///
    /// ```
    /// let pool = runtime::sync::Pool::empty();
    /// pool.put(1);
    /// pool.put(2);
    /// assert_eq!(pool.cached(), 2);
    /// ```
    pub fn cached(&self) -> usize {
        self.inner.cached()
    }
}

impl<T: Send + 'static> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("locals", &(self.inner.locals.len() - 1))
            .finish_non_exhaustive()
    }
}

/// One cleanup cycle over every live pool: what Go's GC does at the start
/// of each cycle (`poolCleanup`). Each pool drops last cycle's objects and
/// keeps this cycle's as victims; an object put and never taken again is
/// dropped by the second call. Returns how many objects were dropped.
///
/// Our runtime has no GC, so the program decides when a cycle happens
/// (see the module comment), for instance from a G:
///
/// ```no_run
/// # let rt = runtime::Runtime::builder().build().unwrap();
/// rt.block_on(async {
///     runtime::spawn(async {
///         loop {
///             runtime::sleep(std::time::Duration::from_secs(1)).await;
///             runtime::sync::pool_cleanup();
///         }
///     });
///     // ... the program ...
/// });
/// ```
///
/// ```
/// let buffers = runtime::sync::Pool::empty();
/// let names = runtime::sync::Pool::empty();
/// buffers.put(vec![0u8; 16]);
/// names.put(String::from("a"));
/// drop(runtime::sync::Pool::<u8>::empty()); // a dead pool is skipped
/// runtime::sync::pool_cleanup(); // both are victims now
/// assert_eq!((buffers.cached(), names.cached()), (1, 1));
/// runtime::sync::pool_cleanup(); // and now both are gone
/// assert_eq!((buffers.cached(), names.cached()), (0, 0));
/// ```
pub fn pool_cleanup() -> usize {
    // Upgrade under the lock, sweep outside it: a `Drop` that makes or
    // drops a pool must not deadlock on the registry.
    let live: Vec<Arc<dyn Sweep>> = {
        let mut all = registry();
        all.retain(|w| w.strong_count() > 0);
        all.iter().filter_map(Weak::upgrade).collect()
    };
    live.iter().map(|p| p.sweep()).sum()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    /// Counts how many were made and dropped.
    struct Counted(Arc<(AtomicUsize, AtomicUsize)>);

    impl Counted {
        fn new(c: &Arc<(AtomicUsize, AtomicUsize)>) -> Self {
            c.0.fetch_add(1, SeqCst);
            Counted(c.clone())
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.1.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn owner_reuses_private_then_shared_newest_first() {
        let inner = Inner::<u32>::new(2, None);
        inner.put_at(0, 1); // private
        inner.put_at(0, 2); // shared
        inner.put_at(0, 3); // shared, newest
        assert_eq!(inner.get_at(0), Some(1), "private first");
        assert_eq!(inner.get_at(0), Some(3), "then the newest of shared");
        assert_eq!(inner.get_at(0), Some(2));
        assert_eq!(inner.get_at(0), None, "then nothing");
    }

    #[test]
    fn thief_takes_oldest_shared_never_private() {
        let inner = Inner::<u32>::new(2, None);
        inner.put_at(0, 1); // private of P0
        inner.put_at(0, 2); // shared, oldest
        inner.put_at(0, 3);
        assert_eq!(inner.get_at(1), Some(2), "P1 steals P0's oldest");
        assert_eq!(inner.get_at(1), Some(3));
        assert_eq!(inner.get_at(1), None, "P0's private is P0's alone");
        assert_eq!(inner.cleanup(), 0);
        assert_eq!(inner.get_at(1), Some(1), "after a cycle, from P0's victims");
    }

    #[test]
    fn unused_objects_are_dropped_after_two_cycles_reused_ones_kept() {
        let c = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        // `Inner`, not `Pool`: an unregistered pool, so that no sweep but
        // ours reaches it. (No unit test calls `pool_cleanup`: it would
        // sweep the other tests' pools; its doc example runs on its own.)
        let pool = Inner::new(2, None);
        for _ in 0..3 {
            pool.put_at(2, Counted::new(&c));
        }
        assert_eq!(pool.cleanup(), 0, "cycle 1: all three become victims");
        assert_eq!(c.1.load(SeqCst), 0, "none dropped yet");
        // One is reused during the cycle: taken from the victims, put back.
        let reused = pool.get_at(0).expect("a victim is still there");
        pool.put_at(0, reused);
        assert_eq!(pool.cleanup(), 2, "cycle 2: the two untouched ones go");
        assert_eq!(c.1.load(SeqCst), 2);
        assert_eq!(pool.cached(), 1, "the reused one is a victim now");
        assert_eq!(pool.cleanup(), 1, "cycle 3: and then it goes too");
        assert_eq!(c.1.load(SeqCst), 3, "every object made was dropped");
    }

    #[test]
    fn threads_outside_a_runtime_share_the_no_p_local() {
        let c = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let pool = {
            let c = c.clone();
            Arc::new(Pool::new(move || Counted::new(&c)))
        };
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    for _ in 0..200 {
                        let x = pool.get();
                        pool.put(x);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let made = c.0.load(SeqCst);
        assert!(
            (1..=5).contains(&made),
            "no P: one local; at most one object per thread, plus one in the \
             private slot while another thread has it locked, made {made}"
        );
        assert_eq!(pool.cached(), made, "all back in the pool");
    }

    #[test]
    fn many_gs_on_four_ps_lose_nothing() {
        let c = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let rt = crate::Runtime::builder().procs(4).build().unwrap();
        let pool = {
            let c = c.clone();
            // Made inside the runtime, so it has one local per P.
            rt.block_on(async move { Arc::new(Pool::new(move || Counted::new(&c))) })
        };
        assert_eq!(pool.inner.locals.len(), 5, "four Ps and the no-P local");
        let p = pool.clone();
        rt.block_on(async move {
            let hs: Vec<_> = (0..32)
                .map(|_| {
                    let p = p.clone();
                    crate::spawn(async move {
                        for _ in 0..50 {
                            let x = p.get();
                            crate::yield_now().await; // held across a switch
                            p.put(x);
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        });
        let made = c.0.load(SeqCst);
        assert!(
            (1..=32 + 5).contains(&made),
            "at most one object per G plus one stranded in each private slot, made {made}"
        );
        assert_eq!(pool.cached(), made, "every object made is back in the pool");
        pool.cleanup();
        pool.cleanup();
        assert_eq!(c.1.load(SeqCst), made, "two cycles drop them all");
    }
}
