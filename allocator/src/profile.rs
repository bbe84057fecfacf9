//! The sampling heap profile (Go's `runtime.MemProfile` behind
//! `runtime.MemProfileRate`, what `pprof` reads as allocs and inuse).
//!
//! Recording every allocation would cost more than the allocation itself, so
//! the profile samples: on average one sample per `rate` bytes allocated
//! (512 KiB by default, Go's `MemProfileRate`). The gap to the next sample is
//! drawn from an exponential distribution with that mean, so that every byte
//! has the same chance of being sampled whatever the allocation pattern (a
//! fixed stride would always hit, or always miss, a periodic pattern).
//!
//! Keeping the cost off the fast path: each thread cache holds a countdown of
//! bytes until its next sample (`Cache::next_sample`); the fast path only
//! subtracts the object's size and tests the sign. When it goes negative the
//! slow path records the sample and draws a new gap.
//!
//! A sample of an object of `size` bytes stands for `1 / (1 - e^(-size/rate))`
//! objects, the inverse of its chance to be sampled; the profile reports
//! those scaled estimates beside the raw sample counts. As in Go, the raw
//! counts are what is recorded, and the scaling happens when the profile is
//! read (pprof's `scaleHeapSample`, by the bucket's average object size), so
//! recording a sample costs no floating point.
//!
//! Alloc and in-use are kept apart, as pprof's `alloc_space` and
//! `inuse_space`: a sampled object adds to both when allocated, and leaves
//! in-use when freed. To know on free that an object was sampled, the
//! profile keeps a table of sampled addresses, and each span counts its
//! sampled objects (`Span::sampled`), so frees of unsampled objects (almost
//! all) never look at the table. Go attaches a "special" record to the span
//! for the same reason.
//!
//! Buckets are per size class (pprof's are per stack; capturing stacks inside
//! an allocator needs an unwinder that does not allocate, which this crate
//! does not have).

use core::ptr;
use core::sync::atomic::{AtomicIsize, AtomicU8, AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use crate::os;
use crate::size_class::NUM_CLASSES;
use crate::span::Span;
use crate::sync::Mutex;
use crate::sync::const_unless_loom;

/// Go's default `MemProfileRate`: one sample per 512 KiB on average.
pub const DEFAULT_PROFILE_RATE: usize = 512 * 1024;

/// Sampled addresses the profile tracks for in-use figures at once; beyond
/// that, samples still count as allocated but not as in use (`untracked`).
const TABLE_SLOTS: usize = 1 << 15;
/// Counters of the filter that lets a free skip the profile without looking
/// at the object's span (see `may_be_sampled`).
const FILTER_SLOTS: usize = 1 << 15;

/// One bucket of the profile (pprof's sample for one stack; here one class).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProfileRecord {
    /// Size class, 0 for large objects.
    pub class: usize,
    /// Bytes per object of the class (0 for large objects, whose sizes vary).
    pub object_size: usize,
    /// Estimated objects allocated (pprof `alloc_objects`).
    pub alloc_objects: u64,
    /// Estimated bytes allocated (pprof `alloc_space`).
    pub alloc_bytes: u64,
    /// Estimated objects still live (pprof `inuse_objects`).
    pub inuse_objects: u64,
    /// Estimated bytes still live (pprof `inuse_space`).
    pub inuse_bytes: u64,
    /// Samples taken in this bucket.
    pub sampled_allocs: u64,
    /// Of those, samples whose object is still live.
    pub sampled_inuse: u64,
}

/// The heap profile: what `SpanAlloc::profile` and `Heap::profile` return.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HeapProfile {
    /// Mean bytes between samples (0: profiling off).
    pub sample_rate: usize,
    /// Samples taken.
    pub samples: u64,
    /// Samples not tracked for in-use figures because the table was full.
    pub untracked: u64,
    /// Buckets with at least one sample, class order, large objects first.
    pub records: Vec<ProfileRecord>,
}

/// Raw sample counts of one bucket.
#[derive(Clone, Copy, Default)]
struct Bucket {
    sampled_allocs: u64,
    sampled_alloc_bytes: u64,
    sampled_inuse: u64,
    sampled_inuse_bytes: u64,
}

#[derive(Clone, Copy)]
struct Slot {
    addr: usize,
    class: usize,
    size: usize,
}

pub(crate) struct Inner {
    /// TABLE_SLOTS slots, mmapped at the first sample; addr 0 = empty.
    slots: *mut Slot,
    len: usize,
    buckets: [Bucket; NUM_CLASSES + 1],
    samples: u64,
    untracked: u64,
}

/// The profile's state behind its lock (named for `fork.rs`).
pub(crate) type ProfilerInner = Inner;

// SAFETY: the slot table is private memory used only under the mutex.
unsafe impl Send for Inner {}

/// The profile's shared state.
pub(crate) struct Profiler {
    rate: AtomicUsize,
    inner: Mutex<Inner>,
    /// Countdown and random state for the cache-less tier, which has no
    /// cache to hold them.
    uncached_next: AtomicIsize,
    uncached_rng: AtomicU64,
    /// A counting filter over live sampled addresses: the counter at
    /// `filter_slot(addr)` is the number of tracked samples hashing there
    /// (255 sticks). Zero means "certainly not sampled", so the thread
    /// cache's free stash can skip both the span and the table. Written
    /// under the `inner` lock, read without it.
    filter: [AtomicU8; FILTER_SLOTS],
}

fn filter_slot(addr: usize) -> usize {
    ((addr as u64 >> 3).wrapping_mul(0xd6e8_feb8_6659_fd93) >> (64 - FILTER_SLOTS.trailing_zeros()))
        as usize
}

const EMPTY_BUCKET: Bucket = Bucket {
    sampled_allocs: 0,
    sampled_alloc_bytes: 0,
    sampled_inuse: 0,
    sampled_inuse_bytes: 0,
};

/// pprof's `scaleHeapSample`: estimated (objects, bytes) behind `count`
/// samples totalling `bytes`, at `rate`.
fn scale(count: u64, bytes: u64, rate: usize) -> (u64, u64) {
    if count == 0 || bytes == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (count, bytes);
    }
    let avg = bytes as f64 / count as f64;
    let s = 1.0 / (1.0 - (-avg / rate as f64).exp());
    (
        (count as f64 * s).round() as u64,
        (bytes as f64 * s).round() as u64,
    )
}

/// Advances a xorshift64* generator.
pub(crate) fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Bytes until the next sample: exponential with mean `rate` (Go's
/// `fastexprand`). `rate == 0` means never.
pub(crate) fn next_gap(state: &mut u64, rate: usize) -> isize {
    if rate == 0 {
        return isize::MAX;
    }
    // Uniform in (0, 1]: 53 random bits, shifted off zero.
    let u = ((next_random(state) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let gap = -u.ln() * rate as f64;
    if gap >= isize::MAX as f64 {
        isize::MAX
    } else {
        gap as isize
    }
}

fn home(addr: usize) -> usize {
    ((addr as u64 >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - TABLE_SLOTS.trailing_zeros()))
        as usize
}

impl Profiler {
    const_unless_loom! {
        pub(crate) fn new() -> Profiler {
            Profiler {
                rate: AtomicUsize::new(DEFAULT_PROFILE_RATE),
                inner: Mutex::new(Inner {
                    slots: ptr::null_mut(),
                    len: 0,
                    buckets: [EMPTY_BUCKET; NUM_CLASSES + 1],
                    samples: 0,
                    untracked: 0,
                }),
                uncached_next: AtomicIsize::new(DEFAULT_PROFILE_RATE as isize),
                uncached_rng: AtomicU64::new(0x853c_49e6_748f_ea9b),
                filter: [const { AtomicU8::new(0) }; FILTER_SLOTS],
            }
        }
    }

    /// Locks the profile's table (for the fork handlers in `fork.rs`).
    #[cfg(not(loom))]
    pub(crate) fn lock_inner(&self) -> crate::sync::MutexGuard<'_, ProfilerInner> {
        self.inner.lock()
    }

    /// False when the object at `addr` is certainly not a tracked sample.
    #[inline(always)]
    pub(crate) fn may_be_sampled(&self, addr: usize) -> bool {
        self.filter[filter_slot(addr)].load(Ordering::Relaxed) != 0
    }

    fn filter_add(&self, addr: usize, up: bool) {
        let f = &self.filter[filter_slot(addr)];
        let v = f.load(Ordering::Relaxed);
        if v != u8::MAX {
            f.store(if up { v + 1 } else { v - 1 }, Ordering::Relaxed);
        }
    }

    /// Mean bytes between samples.
    pub(crate) fn rate(&self) -> usize {
        self.rate.load(Ordering::Relaxed)
    }

    /// Sets the mean bytes between samples (0 turns sampling off).
    pub(crate) fn set_rate(&self, rate: usize) {
        self.rate.store(rate, Ordering::Relaxed);
        let mut rng = self.uncached_rng.load(Ordering::Relaxed) | 1;
        self.uncached_next
            .store(next_gap(&mut rng, rate), Ordering::Relaxed);
        self.uncached_rng.store(rng, Ordering::Relaxed);
    }

    /// The cache-less tier's countdown: true if this allocation of `size`
    /// bytes is to be sampled.
    pub(crate) fn uncached_tick(&self, size: usize) -> bool {
        let before = self
            .uncached_next
            .fetch_sub(size as isize, Ordering::Relaxed);
        if before >= size as isize {
            return false;
        }
        let mut rng = self.uncached_rng.load(Ordering::Relaxed) | 1;
        self.uncached_next
            .store(next_gap(&mut rng, self.rate()), Ordering::Relaxed);
        self.uncached_rng.store(rng, Ordering::Relaxed);
        self.rate() != 0
    }

    /// Records a sampled allocation of `size` bytes at `addr` in span `s`.
    pub(crate) fn record(&self, addr: usize, class: usize, size: usize, s: *mut Span) {
        let mut inner = self.inner.lock();
        inner.samples += 1;
        let b = &mut inner.buckets[class];
        b.sampled_allocs += 1;
        b.sampled_alloc_bytes += size as u64;
        if inner.slots.is_null() {
            inner.slots = os::reserve(TABLE_SLOTS * size_of::<Slot>()).cast();
        }
        if inner.slots.is_null() || inner.len >= TABLE_SLOTS * 3 / 4 {
            inner.untracked += 1;
            return;
        }
        let b = &mut inner.buckets[class];
        b.sampled_inuse += 1;
        b.sampled_inuse_bytes += size as u64;
        let mut i = home(addr);
        // SAFETY: slots has TABLE_SLOTS entries, i is masked below that, and
        // the table is never full (len < 3/4), so probing ends.
        unsafe {
            while (*inner.slots.add(i)).addr != 0 && (*inner.slots.add(i)).addr != addr {
                i = (i + 1) & (TABLE_SLOTS - 1);
            }
            let old = *inner.slots.add(i);
            if old.addr == addr {
                // A stale record (its free was not seen): it is no longer in use.
                let b = &mut inner.buckets[old.class];
                b.sampled_inuse -= 1;
                b.sampled_inuse_bytes -= old.size as u64;
            } else {
                inner.len += 1;
                (*s).sampled.fetch_add(1, Ordering::Relaxed);
                self.filter_add(addr, true);
            }
            *inner.slots.add(i) = Slot { addr, class, size };
        }
    }

    /// A sampled object at `addr` of span `s` is being freed (called only when
    /// `s.sampled != 0`): remove it from in-use.
    pub(crate) fn on_free(&self, addr: usize, s: *mut Span) {
        let mut inner = self.inner.lock();
        if inner.slots.is_null() {
            return;
        }
        let slots = inner.slots;
        let mut i = home(addr);
        // SAFETY: slots has TABLE_SLOTS entries (not null, checked above) and
        // we hold the profile lock; i is masked below TABLE_SLOTS, and the
        // loop stops at an empty slot, which exists as the table is never full.
        unsafe {
            loop {
                let slot = *slots.add(i);
                if slot.addr == 0 {
                    return; // this object was not sampled
                }
                if slot.addr == addr {
                    break;
                }
                i = (i + 1) & (TABLE_SLOTS - 1);
            }
            let slot = *slots.add(i);
            let b = &mut inner.buckets[slot.class];
            b.sampled_inuse -= 1;
            b.sampled_inuse_bytes -= slot.size as u64;
            (*s).sampled.fetch_sub(1, Ordering::Relaxed);
            self.filter_add(addr, false);
            inner.len -= 1;
            // Backward-shift deletion keeps every probe chain unbroken.
            let mut hole = i;
            let mut j = i;
            loop {
                (*slots.add(hole)).addr = 0;
                loop {
                    j = (j + 1) & (TABLE_SLOTS - 1);
                    let a = (*slots.add(j)).addr;
                    if a == 0 {
                        return;
                    }
                    let k = home(a);
                    // Move j into the hole unless its home lies cyclically
                    // in (hole, j].
                    let stays = if hole <= j {
                        hole < k && k <= j
                    } else {
                        hole < k || k <= j
                    };
                    if !stays {
                        *slots.add(hole) = *slots.add(j);
                        hole = j;
                        break;
                    }
                }
            }
        }
    }

    /// The profile as pprof would summarise it by bucket.
    pub(crate) fn read(&self) -> HeapProfile {
        let (buckets, samples, untracked) = {
            let inner = self.inner.lock();
            (inner.buckets, inner.samples, inner.untracked)
        };
        let rate = self.rate();
        let records = buckets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.sampled_allocs > 0)
            .map(|(class, b)| {
                let (alloc_objects, alloc_bytes) =
                    scale(b.sampled_allocs, b.sampled_alloc_bytes, rate);
                let (inuse_objects, inuse_bytes) =
                    scale(b.sampled_inuse, b.sampled_inuse_bytes, rate);
                ProfileRecord {
                    class,
                    object_size: crate::size_class::TABLES.size[class],
                    alloc_objects,
                    alloc_bytes,
                    inuse_objects,
                    inuse_bytes,
                    sampled_allocs: b.sampled_allocs,
                    sampled_inuse: b.sampled_inuse,
                }
            })
            .collect();
        HeapProfile {
            sample_rate: self.rate(),
            samples,
            untracked,
            records,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_exponential_with_the_requested_mean() {
        let mut rng = 42u64;
        let n = 200_000;
        let rate = DEFAULT_PROFILE_RATE;
        let gaps: Vec<f64> = (0..n).map(|_| next_gap(&mut rng, rate) as f64).collect();
        let mean = gaps.iter().sum::<f64>() / n as f64;
        assert!(
            (mean / rate as f64 - 1.0).abs() < 0.02,
            "mean gap {mean}, wanted about {rate}"
        );
        // An exponential has P(gap > mean) = 1/e.
        let above = gaps.iter().filter(|&&g| g > rate as f64).count() as f64 / n as f64;
        assert!(
            (above - (-1f64).exp()).abs() < 0.01,
            "P(gap > mean) = {above}"
        );
        assert_eq!(next_gap(&mut rng, 0), isize::MAX, "rate 0 means never");
    }
}
