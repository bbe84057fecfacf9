//! The allocator's only contact with the operating system: reserving address
//! space, giving physical pages back, and writing a message to stderr without
//! allocating.
//!
//! Go's runtime has the same thin layer (`sysReserve`, `sysMap`, `sysUnused`
//! in mem_linux.go). Memory is reserved with `mmap(PROT_READ | PROT_WRITE,
//! MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)`: Linux commits a page only when
//! it is first touched, so a 64 MiB arena costs nothing until it is used.
//! Returning idle pages (Go's scavenger) is `madvise(MADV_DONTNEED)`: the
//! range stays mapped, and reads back as zeros when touched again.

use core::ptr;

/// Reserves `bytes` of zeroed, read-write, lazily committed memory, or returns
/// null if the OS refuses.
pub(crate) fn reserve(bytes: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's
    // choosing touches no existing memory; the result is checked below.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Reserves `bytes` aligned to `align` (a power of two, at least the OS page):
/// over-reserves by `align` and unmaps the unaligned head and tail.
pub(crate) fn reserve_aligned(bytes: usize, align: usize) -> *mut u8 {
    let Some(total) = bytes.checked_add(align) else {
        return ptr::null_mut();
    };
    let raw = reserve(total);
    if raw.is_null() {
        return raw;
    }
    let start = raw as usize;
    let aligned = (start + align - 1) & !(align - 1);
    let head = aligned - start;
    let tail = total - head - bytes;
    if head > 0 {
        release(raw, head);
    }
    if tail > 0 {
        release((aligned + bytes) as *mut u8, tail);
    }
    aligned as *mut u8
}

/// Unmaps a range obtained from [`reserve`] (or a page-aligned part of one).
pub(crate) fn release(p: *mut u8, bytes: usize) {
    // SAFETY: callers pass a page-aligned range that they reserved and no
    // longer use; munmap of such a range cannot affect other memory.
    unsafe {
        libc::munmap(p.cast(), bytes);
    }
}

/// Tells the OS that the pages of `[p, p + bytes)` are idle: their physical
/// memory is freed now and they read back as zeros (Go's `sysUnused`).
pub(crate) fn discard(p: *mut u8, bytes: usize) {
    // SAFETY: the range is page-aligned, inside a private anonymous mapping we
    // own, and holds no live objects; MADV_DONTNEED only drops its contents.
    unsafe {
        libc::madvise(p.cast(), bytes, libc::MADV_DONTNEED);
    }
}

/// Moves the pages of `[from, from + bytes)` to `[to, to + bytes)` without
/// copying them: `mremap(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)`
/// hands the physical pages (the page-table entries) to the new address and
/// leaves `from` mapped, empty: it reads back as zeros and stays part of its
/// arena. Both ranges are page-aligned parts of our private anonymous
/// mappings and do not overlap. Returns false, having changed nothing, if the
/// kernel refuses (`MREMAP_DONTUNMAP` needs Linux 5.7); the caller copies.
/// (glibc's `realloc` moves its mmapped chunks with `mremap` too.)
///
/// Why not a plain move and then `mmap(MAP_FIXED)` at `from` again: between
/// the two calls `from` is a hole in the address space, and any thread's
/// `mmap` (ours for span metadata, or a library's) may be placed in it, and
/// then `MAP_FIXED` silently replaces that mapping with zeros. The test
/// `a_move_leaves_no_hole_for_another_threads_mapping` catches that race.
pub(crate) fn move_pages(from: *mut u8, bytes: usize, to: *mut u8) -> bool {
    // SAFETY: both ranges are ours and page-aligned (caller's contract); on
    // success `to` holds what `from` held and `from` is still mapped, empty.
    let moved = unsafe {
        libc::mremap(
            from.cast(),
            bytes,
            bytes,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP,
            to.cast::<libc::c_void>(),
        )
    };
    if moved == to.cast() {
        return true;
    }
    // Linux refuses unknown flags before touching anything, but a move that
    // fails later (out of memory for page tables) has already unmapped `to`.
    // Map it back only if it is now a hole: MAP_FIXED_NOREPLACE fails, with
    // nothing changed, wherever anything is still mapped.
    // SAFETY: an anonymous mapping that replaces nothing.
    unsafe {
        let back = libc::mmap(
            to.cast(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        );
        if back != libc::MAP_FAILED && back != to.cast() {
            // A kernel without MAP_FIXED_NOREPLACE (before 4.17) took it as
            // a hint and mapped elsewhere: undo that.
            libc::munmap(back, bytes);
        }
    }
    false
}

/// Writes `parts` to stderr with `write(2)` and no allocation: the allocator
/// cannot call `eprintln!`, which may allocate through the allocator itself.
pub(crate) fn write_stderr(parts: &[&[u8]]) {
    for part in parts {
        let mut rest = *part;
        while !rest.is_empty() {
            // SAFETY: `rest` is a valid byte slice for the length passed.
            let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
            if n <= 0 {
                return;
            }
            rest = &rest[n as usize..];
        }
    }
}

/// Formats `value` as `0x...` hexadecimal into `buf`, returning the used part.
pub(crate) fn hex(value: usize, buf: &mut [u8; 18]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        buf[i] = DIGITS[v & 15];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    i -= 1;
    buf[i] = b'x';
    i -= 1;
    buf[i] = b'0';
    &buf[i..]
}

/// Formats `value` in decimal into `buf`, returning the used part.
pub(crate) fn dec(value: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    let mut v = value;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn reserve_is_zeroed_aligned_and_discard_zeroes_again() {
        let align = 1 << 22;
        let p = reserve_aligned(1 << 20, align);
        assert!(!p.is_null());
        assert_eq!(p as usize % align, 0, "reservation not aligned to 4 MiB");
        // SAFETY: p points to 1 MiB of read-write memory we reserved.
        unsafe {
            assert_eq!(*p.add(4096), 0);
            *p.add(4096) = 7;
            assert_eq!(*p.add(4096), 7);
        }
        discard(p, 1 << 20);
        // SAFETY: still mapped after madvise; reads back as zero.
        unsafe { assert_eq!(*p.add(4096), 0, "MADV_DONTNEED should zero the page") };
        release(p, 1 << 20);
    }

    #[test]
    fn move_pages_moves_contents_and_leaves_zeros_behind() {
        let bytes = 1 << 20;
        let a = reserve(bytes);
        let b = reserve(bytes);
        assert!(!a.is_null() && !b.is_null());
        // SAFETY: both are 1 MiB of our read-write memory.
        unsafe {
            for i in (0..bytes).step_by(4096) {
                *a.add(i) = (i / 4096) as u8 | 1;
            }
            assert!(move_pages(a, bytes, b), "mremap refused the move");
            for i in (0..bytes).step_by(4096) {
                assert_eq!(
                    *b.add(i),
                    (i / 4096) as u8 | 1,
                    "page {} not moved",
                    i / 4096
                );
                assert_eq!(*a.add(i), 0, "the old range should read as zero");
            }
        }
        release(a, bytes);
        release(b, bytes);
    }

    /// One thread moves 1 MiB back and forth while two others map 64 KiB
    /// chunks, fill them and check them a few rounds later. A move that left
    /// its old range unmapped for a moment would let a chunk land there and
    /// then be replaced by zeros when the range was mapped back (with that
    /// variant this test fails every time, often by a crash, since any
    /// mapping can fall in the hole). Every loop is bounded: nothing waits
    /// for anything but the start and the joins.
    #[test]
    fn a_move_leaves_no_hole_for_another_threads_mapping() {
        use std::sync::Barrier;
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        const ROUNDS: usize = 2000;
        const CHUNK: usize = 64 << 10;
        const RING: usize = 16;
        let bytes = 1 << 20;
        let (a, b) = (reserve(bytes) as usize, reserve(bytes) as usize);
        assert!(a != 0 && b != 0);
        let start = Barrier::new(3);
        let mapping = AtomicUsize::new(2);
        let (lost, refused) = std::thread::scope(|scope| {
            let mappers: Vec<_> = (0..2u8)
                .map(|t| {
                    let (start, mapping) = (&start, &mapping);
                    scope.spawn(move || {
                        let mut ring = [(ptr::null_mut::<u8>(), 0u8); RING];
                        let mut lost = 0;
                        start.wait();
                        for round in 0..ROUNDS {
                            let (old, m) = ring[round % RING];
                            if !old.is_null() {
                                // SAFETY: old is a chunk we mapped and filled.
                                lost += (0..CHUNK)
                                    .step_by(4096)
                                    .filter(|&i| unsafe { *old.add(i) } != m)
                                    .count();
                                release(old, CHUNK);
                            }
                            let (c, mark) = (reserve(CHUNK), (round as u8) | 1 | t << 7);
                            assert!(!c.is_null());
                            for i in (0..CHUNK).step_by(4096) {
                                // SAFETY: c is CHUNK bytes of our memory.
                                unsafe { *c.add(i) = mark };
                            }
                            ring[round % RING] = (c, mark);
                        }
                        for (c, _) in ring {
                            release(c, CHUNK);
                        }
                        mapping.fetch_sub(1, Relaxed);
                        lost
                    })
                })
                .collect();
            start.wait();
            let mut refused = None;
            let mut i = 0;
            while mapping.load(Relaxed) > 0 && i < 1_000_000 {
                let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
                if !move_pages(from as *mut u8, bytes, to as *mut u8) {
                    refused = Some(i);
                    break;
                }
                i += 1;
            }
            let lost: usize = mappers.into_iter().map(|m| m.join().unwrap()).sum();
            (lost, refused)
        });
        assert_eq!(refused, None, "a move was refused");
        assert_eq!(lost, 0, "pages of other threads' mappings zeroed by a move");
        release(a as *mut u8, bytes);
        release(b as *mut u8, bytes);
    }

    #[test]
    fn number_formatting() {
        let mut b = [0; 18];
        assert_eq!(hex(0x1f2e, &mut b), b"0x1f2e");
        let mut b = [0; 18];
        assert_eq!(hex(0, &mut b), b"0x0");
        let mut d = [0; 20];
        assert_eq!(dec(1234567, &mut d), b"1234567");
        let mut d = [0; 20];
        assert_eq!(dec(usize::MAX, &mut d), b"18446744073709551615");
    }
}
