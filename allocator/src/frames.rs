//! Walking the stack by frame pointers, safely enough for a signal handler
//! or an allocator.
//!
//! With frame pointers kept (`-C force-frame-pointers=yes`, forced for the
//! workspace in `.cargo/config.toml`), every function's prologue pushes the
//! caller's `rbp` and points `rbp` at that slot, so the stack holds a linked
//! list: at `rbp` the caller's `rbp`, at `rbp + 8` the return address into
//! the caller. Following it costs two loads per frame and needs no unwind
//! tables, no allocation and no lock: what a SIGPROF handler may do
//! (pprof-rs#36 deadlocked because its DWARF unwinder took a lock that the
//! interrupted `malloc` held). Go's amd64 `tracebackPCs` uses the same list.
//!
//! A frame compiled without frame pointers (parts of libc, the vDSO) may use
//! `rbp` as an ordinary register, so the list can end in garbage. The walk
//! stops at the first pointer that does not climb the stack (frames only
//! get older towards higher addresses), is misaligned, or lies more than
//! [`MAX_STACK`] above the stack pointer, and it proves each new page of
//! stack readable before loading from it (`process_vm_readv` on our own
//! process returns `EFAULT` instead of faulting), so a bad pointer ends the
//! stack instead of the process.

//!
//! It lives in the allocator because the allocator is the lowest crate that
//! needs it (a heap sample records its stack, `stacks.rs`, and an allocator
//! may not allocate or lock to do so); the CPU profiler (`profiler::walk`)
//! uses the same walk from its SIGPROF handler.

use core::sync::atomic::{AtomicI32, Ordering};

/// How far above the interrupted stack pointer a frame may lie.
pub const MAX_STACK: u64 = 64 << 20;

/// Our pid, for `process_vm_readv` (`getpid` is async-signal-safe too, this
/// just saves the call). 0: not probed yet; -1: the call is not allowed.
static PID: AtomicI32 = AtomicI32::new(0);

/// Probes once, outside any signal handler, whether `process_vm_readv` on
/// ourselves works; without it the walk records only the interrupted pc.
pub fn init() -> bool {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    PID.store(pid, Ordering::Relaxed);
    let probe = 7u64;
    let ok = readable(&probe as *const u64 as u64);
    if !ok {
        PID.store(-1, Ordering::Relaxed);
    }
    ok
}

/// True if the 16 bytes at `addr` can be read (async-signal-safe).
fn readable(addr: u64) -> bool {
    let mut pid = PID.load(Ordering::Relaxed);
    if pid == 0 {
        // SAFETY: getpid has no preconditions (and is async-signal-safe).
        pid = unsafe { libc::getpid() };
        PID.store(pid, Ordering::Relaxed);
    }
    if pid < 0 {
        return false;
    }
    let mut buf = [0u8; 16];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: 16,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: 16,
    };
    // SAFETY: both iovecs describe 16 bytes; the kernel checks `remote` and
    // writes only into `buf`.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    n == 16
}

/// Writes `pc` and then the return addresses found by following frame
/// pointers from `fp` into `out`, leaf first; returns how many it wrote.
/// `sp` is the stack pointer of the same context (the lower bound).
/// Async-signal-safe: no allocation, no lock, only `process_vm_readv`.
// ANCHOR: walk
pub fn walk(pc: u64, fp: u64, sp: u64, out: &mut [u64]) -> usize {
    if out.is_empty() {
        return 0;
    }
    out[0] = pc;
    1 + callers(fp, sp, &mut out[1..])
}

/// The return addresses found by following frame pointers from `fp` (the
/// frame of the code that wants its callers), written into `out` oldest
/// last; returns how many. `sp` is the same context's stack pointer.
/// Async-signal-safe, like [`walk`].
pub fn callers(fp: u64, sp: u64, out: &mut [u64]) -> usize {
    let mut n = 0;
    let mut fp = fp;
    let hi = sp.saturating_add(MAX_STACK);
    let mut ok_page = u64::MAX; // no page proven yet
    while n < out.len() {
        if fp < sp || fp >= hi || !fp.is_multiple_of(8) {
            break;
        }
        let (first, last) = (fp & !4095, (fp + 15) & !4095);
        if first != ok_page || last != ok_page {
            if !readable(fp) {
                break;
            }
            ok_page = if first == last { first } else { u64::MAX };
        }
        // SAFETY: the 16 bytes at fp were just proven readable (or lie in a
        // page proven readable before); stack pages are not unmapped under
        // a running thread.
        let (next, ret) = unsafe { (*(fp as *const u64), *((fp + 8) as *const u64)) };
        if ret == 0 {
            break;
        }
        out[n] = ret;
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}
// ANCHOR_END: walk
