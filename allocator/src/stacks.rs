//! Call stacks for the heap profile's samples (Go's `mProf_Malloc`, which
//! records `callers()` into a bucket per stack).
//!
//! When the sampler picks an allocation (`profile.rs`, on the slow path
//! only, about once per 512 KiB), `Captured::here` walks the frame
//! pointers of the allocating thread into a fixed array on the stack: no
//! allocation (we *are* the allocator), no unwind tables, no lock. The walk
//! is [`crate::frames`]' (which the CPU profiler uses too): follow saved
//! `rbp`s while they climb the stack, and prove each new page readable with
//! `process_vm_readv` before loading from it, so a frame without a frame
//! pointer ends the stack instead of the process.
//!
//! Under the profile's lock the stack is interned in a fixed, open-addressed
//! table of buckets (mmapped at the first sample, never freed, like Go's
//! `buckhash`): one bucket per distinct stack, with the raw sample counts
//! of pprof's four heap sample types. A tracked sample remembers its
//! bucket (`Slot::stack` in `profile.rs`), so its free takes it out of the
//! bucket's in-use counts. Scaling to estimated objects and bytes happens
//! when the profile is read, as for the per-class buckets.
//!
//! Only the process-wide heap (`SpanAlloc`) records stacks; the inspectable
//! `Heap`s of the lessons keep their per-class buckets only.

/// Frames kept per heap sample.
pub const HEAP_STACK_DEPTH: usize = 32;

/// One bucket of the stack heap profile (pprof's heap sample for a stack).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StackRecord {
    /// Return addresses, leaf first (the allocator's own frames included;
    /// the profiler trims them by name).
    pub frames: Vec<usize>,
    /// Estimated objects allocated here (`alloc_objects`).
    pub alloc_objects: u64,
    /// Estimated bytes allocated here (`alloc_space`).
    pub alloc_bytes: u64,
    /// Estimated objects from here still live (`inuse_objects`).
    pub inuse_objects: u64,
    /// Estimated bytes from here still live (`inuse_space`).
    pub inuse_bytes: u64,
    /// Raw samples behind the estimates.
    pub sampled_allocs: u64,
}

#[cfg(not(loom))]
pub(crate) use imp::*;

#[cfg(not(loom))]
mod imp {
    use super::*;
    use crate::os;
    use crate::profile::Profiler;
    use crate::sync::Mutex;

    /// Distinct stacks kept; samples from further stacks go to bucket "none".
    const BUCKETS: usize = 1 << 12;

    #[derive(Clone, Copy)]
    struct Bucket {
        hash: u64,
        depth: usize,
        frames: [usize; HEAP_STACK_DEPTH],
        allocs: u64,
        alloc_bytes: u64,
        inuse: u64,
        inuse_bytes: u64,
    }

    struct Table {
        /// BUCKETS buckets, mmapped at the first sample; hash 0 = empty.
        b: *mut Bucket,
        len: usize,
    }

    // SAFETY: the bucket memory is private and used only under the mutex.
    unsafe impl Send for Table {}

    static TABLE: Mutex<Table> = Mutex::new(Table {
        b: core::ptr::null_mut(),
        len: 0,
    });

    /// A stack walked but not yet interned.
    pub(crate) struct Captured {
        frames: [usize; HEAP_STACK_DEPTH],
        depth: usize,
    }

    impl Captured {
        /// Walks the calling thread's frame pointers, if `p` is the
        /// process-wide profile (otherwise an empty stack).
        #[inline(never)]
        pub(crate) fn here(p: &Profiler) -> Captured {
            let mut c = Captured {
                frames: [0; HEAP_STACK_DEPTH],
                depth: 0,
            };
            if !core::ptr::eq(p, &crate::global::BACKEND.profile) {
                return c;
            }
            let (mut fp, sp): (usize, usize);
            // SAFETY: reads two registers, touches no memory.
            unsafe {
                core::arch::asm!("mov {}, rbp", "mov {}, rsp", out(reg) fp, out(reg) sp, options(nomem, nostack));
            }
            let mut frames = [0u64; HEAP_STACK_DEPTH];
            c.depth = crate::frames::callers(fp as u64, sp as u64, &mut frames);
            for (slot, ret) in c.frames.iter_mut().zip(frames) {
                *slot = ret as usize;
            }
            c
        }

        /// Adds one sample of `size` bytes to this stack's bucket and
        /// returns the bucket (0: none). Called under the profile's lock.
        pub(crate) fn intern(&self, size: usize) -> u32 {
            if self.depth == 0 {
                return 0;
            }
            let frames = &self.frames[..self.depth];
            let hash = frames.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &f| {
                (h ^ f as u64).wrapping_mul(0x100_0000_01b3)
            }) | 1;
            let mut t = TABLE.lock();
            if t.b.is_null() {
                t.b = os::reserve(BUCKETS * size_of::<Bucket>()).cast();
                if t.b.is_null() {
                    return 0;
                }
            }
            let mut i = (hash as usize) & (BUCKETS - 1);
            // SAFETY: b has BUCKETS entries (zeroed by mmap: hash 0 = empty),
            // i is masked below that, and the table is never more than 3/4
            // full, so probing ends.
            unsafe {
                loop {
                    let e = &mut *t.b.add(i);
                    if e.hash == 0 {
                        if t.len >= BUCKETS * 3 / 4 {
                            return 0;
                        }
                        e.hash = hash;
                        e.depth = self.depth;
                        e.frames[..self.depth].copy_from_slice(frames);
                        t.len += 1;
                    }
                    if e.hash == hash && &e.frames[..e.depth] == frames {
                        e.allocs += 1;
                        e.alloc_bytes += size as u64;
                        e.inuse += 1;
                        e.inuse_bytes += size as u64;
                        return i as u32 + 1;
                    }
                    i = (i + 1) & (BUCKETS - 1);
                }
            }
        }
    }

    /// A sample of `size` bytes interned as `stack` left the in-use counts
    /// (freed, or not tracked because the address table was full).
    pub(crate) fn freed(stack: u32, size: usize) {
        if stack == 0 {
            return;
        }
        let t = TABLE.lock();
        // SAFETY: a non-zero id was returned by intern, so the table
        // exists and the bucket is in range.
        unsafe {
            let e = &mut *t.b.add(stack as usize - 1);
            e.inuse = e.inuse.saturating_sub(1);
            e.inuse_bytes = e.inuse_bytes.saturating_sub(size as u64);
        }
    }

    impl crate::SpanAlloc {
        /// The sampling heap profile by allocation stack (Go's
        /// `runtime.MemProfile` records): one record per distinct stack,
        /// with estimated allocated and in-use objects and bytes.
        pub fn stack_profile(&self) -> Vec<StackRecord> {
            // The buckets are copied out under the locks into room made
            // before taking them, and turned into records after: an
            // allocation under the profile's lock may be sampled, and the
            // sample's `record` would wait on that same lock (the heap test
            // hung there, a Vec's growth sampled mid-snapshot).
            let mut used: Vec<Bucket> = Vec::with_capacity(BUCKETS);
            let rate = {
                // The profile's lock first, as `record` takes them.
                let _order = crate::global::BACKEND.profile.lock_inner();
                let t = TABLE.lock();
                if !t.b.is_null() {
                    for i in 0..BUCKETS {
                        // SAFETY: the table exists and i < BUCKETS.
                        let e = unsafe { *t.b.add(i) };
                        if e.hash != 0 && e.allocs != 0 {
                            used.push(e); // within capacity: no allocation
                        }
                    }
                }
                crate::global::BACKEND.profile.rate()
            };
            used.iter()
                .map(|e| {
                    let (alloc_objects, alloc_bytes) =
                        crate::profile::scale(e.allocs, e.alloc_bytes, rate);
                    let (inuse_objects, inuse_bytes) =
                        crate::profile::scale(e.inuse, e.inuse_bytes, rate);
                    StackRecord {
                        frames: e.frames[..e.depth].to_vec(),
                        alloc_objects,
                        alloc_bytes,
                        inuse_objects,
                        inuse_bytes,
                        sampled_allocs: e.allocs,
                    }
                })
                .collect()
        }
    }
}

/// Under loom there is no process-wide heap and no stacks.
#[cfg(loom)]
pub(crate) use loom_imp::*;

#[cfg(loom)]
mod loom_imp {
    pub(crate) struct Captured;
    impl Captured {
        pub(crate) fn here(_: &crate::profile::Profiler) -> Captured {
            Captured
        }
        pub(crate) fn intern(&self, _: usize) -> u32 {
            0
        }
    }
    pub(crate) fn freed(_: u32, _: usize) {}
}
