//! The C API of `libspanalloc.so`, checked the way C programs meet it: each
//! test re-runs this test binary as a child process with the library in
//! `LD_PRELOAD`, so that `libc::malloc` and friends (and every allocation of
//! the Rust test harness itself) are the library's, bound by the dynamic
//! loader exactly as they are for `sort` or `python3`.
//!
//! The parent side of each test only starts the child and checks that it
//! passed; the child side (when `SPANALLOC_TEST_CHILD` is set) first proves
//! the preload took effect, then runs the checks.

use std::ffi::{CStr, c_void};
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

const CHILD: &str = "SPANALLOC_TEST_CHILD";

/// `libspanalloc.so`, which cargo builds beside this test binary (in
/// `target/<profile>/deps/`) before running it.
fn library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let so = exe.with_file_name("libspanalloc.so");
    assert!(so.exists(), "expected the cdylib at {}", so.display());
    so
}

/// In the parent: runs test `name` in a child with the library preloaded and
/// fails with the child's output unless it passed. In the child: true.
fn in_child(name: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        assert_preloaded();
        return true;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("LD_PRELOAD", library())
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child run of {name} under LD_PRELOAD failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    false
}

/// The `malloc` this process calls is the library's, not glibc's.
fn assert_preloaded() {
    // SAFETY: dladdr only reads the loader's tables; the names it returns
    // are NUL-terminated strings owned by the loader.
    let file = unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let f: unsafe extern "C" fn(usize) -> *mut c_void = libc::malloc;
        assert_ne!(libc::dladdr(f as *const c_void, &mut info), 0);
        CStr::from_ptr(info.dli_fname)
            .to_string_lossy()
            .into_owned()
    };
    assert!(
        file.ends_with("libspanalloc.so"),
        "malloc resolved to {file}, not the preloaded library"
    );
}

fn errno() -> i32 {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn clear_errno() {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() = 0 };
}

unsafe extern "C" {
    fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void;
    fn valloc(size: usize) -> *mut c_void;
    fn pvalloc(size: usize) -> *mut c_void;
    fn aligned_alloc(align: usize, size: usize) -> *mut c_void;
    fn malloc_usable_size(p: *mut c_void) -> usize;
}

#[test]
fn zero_sizes_and_null_behave_as_glibc_documents() {
    if !in_child("zero_sizes_and_null_behave_as_glibc_documents") {
        return;
    }
    // SAFETY: every pointer comes from the allocator and is freed once.
    unsafe {
        let a = libc::malloc(0);
        let b = libc::malloc(0);
        assert!(!a.is_null() && !b.is_null(), "malloc(0) gives a pointer");
        assert_ne!(a, b, "each malloc(0) is a unique pointer");
        libc::free(a);
        libc::free(b);
        libc::free(std::ptr::null_mut()); // a no-op
        assert_eq!(malloc_usable_size(std::ptr::null_mut()), 0);

        let p = libc::realloc(std::ptr::null_mut(), 40);
        assert!(!p.is_null(), "realloc(NULL, n) is malloc(n)");
        assert!(malloc_usable_size(p) >= 40);
        assert!(
            libc::realloc(p, 0).is_null(),
            "realloc(p, 0) frees p and returns NULL (glibc)"
        );
        let z = libc::calloc(0, 16);
        assert!(!z.is_null(), "calloc(0, n) gives a pointer");
        libc::free(z);
    }
}

#[test]
fn impossible_sizes_fail_with_enomem_and_overflow_is_caught() {
    if !in_child("impossible_sizes_fail_with_enomem_and_overflow_is_caught") {
        return;
    }
    // SAFETY: failed calls return null and own nothing; `keep` is freed once.
    unsafe {
        for size in [
            usize::MAX,
            usize::MAX - 4096,
            isize::MAX as usize,
            1 << 62,
            1 << 50,
        ] {
            clear_errno();
            // black_box: an optimised build may otherwise assume that an
            // allocation whose pointer is only tested succeeded (LLVM
            // removes such a malloc), and the call would never be made.
            assert!(
                black_box(libc::malloc(size)).is_null(),
                "malloc({size}) should fail"
            );
            assert_eq!(errno(), libc::ENOMEM, "malloc({size}) sets ENOMEM");
        }
        clear_errno();
        assert!(
            black_box(libc::calloc(usize::MAX / 2, 3)).is_null(),
            "calloc overflow"
        );
        assert_eq!(errno(), libc::ENOMEM);
        clear_errno();
        assert!(
            black_box(libc::calloc(1 << 32, 1 << 32)).is_null(),
            "calloc overflow to 0"
        );
        assert_eq!(errno(), libc::ENOMEM);

        let keep = libc::malloc(64) as *mut u8;
        keep.write_bytes(0x5C, 64);
        clear_errno();
        assert!(reallocarray(keep.cast(), usize::MAX / 4, 8).is_null());
        assert_eq!(errno(), libc::ENOMEM, "reallocarray overflow sets ENOMEM");
        clear_errno();
        assert!(libc::realloc(keep.cast(), usize::MAX - 8).is_null());
        assert_eq!(errno(), libc::ENOMEM, "a huge realloc sets ENOMEM");
        let bytes = std::slice::from_raw_parts(keep, 64);
        assert!(
            bytes.iter().all(|&b| b == 0x5C),
            "a failed realloc leaves the block as it was"
        );
        let grown = reallocarray(keep.cast(), 10, 100) as *mut u8;
        assert!(!grown.is_null());
        assert!(
            std::slice::from_raw_parts(grown, 64)
                .iter()
                .all(|&b| b == 0x5C)
        );
        libc::free(grown.cast());
    }
}

#[test]
fn aligned_allocation_functions_align_and_reject_bad_alignments() {
    if !in_child("aligned_allocation_functions_align_and_reject_bad_alignments") {
        return;
    }
    // SAFETY: every pointer is written within its size and freed once.
    unsafe {
        let mut out: *mut c_void = std::ptr::null_mut();
        assert_eq!(libc::posix_memalign(&mut out, 24, 10), libc::EINVAL);
        assert_eq!(libc::posix_memalign(&mut out, 4, 10), libc::EINVAL);
        assert!(out.is_null(), "a failed posix_memalign leaves *out alone");
        for shift in 3..=22 {
            let align = 1usize << shift;
            for size in [0, 1, 24, 1000, 40_000] {
                assert_eq!(libc::posix_memalign(&mut out, align, size), 0);
                assert_eq!(out as usize % align, 0, "posix_memalign({align}, {size})");
                (out as *mut u8).write_bytes(1, size);
                libc::free(out);
                let p = aligned_alloc(align, size);
                assert_eq!(p as usize % align, 0, "aligned_alloc({align}, {size})");
                libc::free(p);
                let p = libc::memalign(align, size);
                assert_eq!(p as usize % align, 0, "memalign({align}, {size})");
                libc::free(p);
            }
        }
        clear_errno();
        assert!(aligned_alloc(48, 10).is_null(), "aligned_alloc rejects 48");
        assert_eq!(errno(), libc::EINVAL);
        let p = libc::memalign(48, 10);
        assert_eq!(p as usize % 64, 0, "memalign rounds 48 up to 64");
        libc::free(p);
        assert_eq!(
            libc::posix_memalign(&mut out, 64, usize::MAX - 100),
            libc::ENOMEM
        );

        let v = valloc(100);
        assert_eq!(v as usize % 4096, 0, "valloc is page-aligned");
        libc::free(v);
        let pv = pvalloc(1);
        assert_eq!(pv as usize % 4096, 0, "pvalloc is page-aligned");
        assert!(
            malloc_usable_size(pv) >= 4096,
            "pvalloc rounds up to a page"
        );
        libc::free(pv);

        for size in 9..2000 {
            let p = libc::malloc(size);
            assert_eq!(p as usize % 16, 0, "malloc({size}) is 16-aligned");
            libc::free(p);
        }
    }
}

#[test]
fn contents_survive_realloc_through_every_size_range() {
    if !in_child("contents_survive_realloc_through_every_size_range") {
        return;
    }
    // SAFETY: the block is used within its current size; each realloc gives
    // up the old pointer.
    unsafe {
        let mut p = libc::malloc(1) as *mut u8;
        *p = 0;
        let mut len = 1usize;
        for &size in &[
            7usize,
            100,
            5000,
            40_000,
            300_000,
            5 << 20,
            33_000,
            900,
            3,
            70_000,
        ] {
            let q = libc::realloc(p.cast(), size) as *mut u8;
            assert!(!q.is_null());
            let keep = len.min(size);
            for i in 0..keep {
                assert_eq!(
                    *q.add(i),
                    (i % 251) as u8,
                    "byte {i} lost growing to {size}"
                );
            }
            assert!(malloc_usable_size(q.cast()) >= size);
            for i in 0..size {
                *q.add(i) = (i % 251) as u8;
            }
            p = q;
            len = size;
        }
        libc::free(p.cast());
        let z = libc::calloc(1000, 33) as *mut u8;
        assert!(
            std::slice::from_raw_parts(z, 33_000)
                .iter()
                .all(|&b| b == 0)
        );
        libc::free(z.cast());
    }
}

#[test]
fn blocks_freed_by_other_threads_come_back() {
    if !in_child("blocks_freed_by_other_threads_come_back") {
        return;
    }
    // Each thread allocates blocks that the next thread frees (remote frees
    // through the C API), for sizes across classes and large objects.
    let (tx, rx) = std::sync::mpsc::channel::<Vec<usize>>();
    let producer = std::thread::spawn(move || {
        for round in 0..50 {
            let blocks: Vec<usize> = (0..200)
                .map(|i| {
                    let size = [16, 100, 1000, 20_000, 100_000][(i + round) % 5];
                    // SAFETY: a fresh block, filled within its size.
                    unsafe {
                        let p = libc::malloc(size) as *mut u8;
                        p.write_bytes(round as u8, size);
                        p as usize
                    }
                })
                .collect();
            tx.send(blocks).unwrap();
        }
    });
    let consumer = std::thread::spawn(move || {
        let mut freed = 0;
        for (round, blocks) in rx.iter().enumerate() {
            for p in blocks {
                // SAFETY: the producer gave this block up; freed once here.
                unsafe {
                    assert_eq!(*(p as *const u8), round as u8, "block corrupted");
                    libc::free(p as *mut c_void);
                }
                freed += 1;
            }
        }
        freed
    });
    producer.join().unwrap();
    assert_eq!(consumer.join().unwrap(), 50 * 200);
}

// ANCHOR: fork_test
/// Three threads allocate and free without pause while the main thread
/// forks 200 times; each child allocates (small and large blocks, which
/// take the central and page-heap locks) and exits. A child that finds a
/// lock held by a thread that does not exist in it hangs: `alarm` kills it
/// after 10 s, and the parent counts it (and stops at the third).
#[test]
fn forked_children_of_a_busy_process_never_hang() {
    if !in_child("forked_children_of_a_busy_process_never_hang") {
        return;
    }
    use std::sync::atomic::{AtomicBool, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    let workers: Vec<_> = (0..3)
        .map(|t| {
            std::thread::spawn(move || {
                let mut held = Vec::new();
                let mut i = 0usize;
                while !STOP.load(Ordering::Relaxed) {
                    let size = [24, 512, 9000, 70_000, 600_000][(i + t) % 5];
                    // SAFETY: fresh blocks, freed once below.
                    unsafe { held.push(libc::malloc(size)) };
                    if held.len() > 64 {
                        for p in held.drain(..) {
                            // SAFETY: each block freed once.
                            unsafe { libc::free(p) };
                        }
                    }
                    i += 1;
                }
                for p in held {
                    // SAFETY: each block came from malloc and is freed once.
                    unsafe { libc::free(p) };
                }
            })
        })
        .collect();
    let mut hung = 0;
    for _ in 0..200 {
        // SAFETY: the child only calls async-signal-safe functions and the
        // allocator (which must work in a forked child), then _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: the forked child is single-threaded, and malloc/free (the
            // allocator under test) must work in a forked child; it _exits.
            unsafe {
                libc::alarm(10);
                for size in [16usize, 3000, 40_000, 1 << 20] {
                    let p = libc::malloc(size);
                    if p.is_null() {
                        libc::_exit(3);
                    }
                    (p as *mut u8).write_bytes(7, size);
                    libc::free(p);
                }
                libc::_exit(0);
            }
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        if libc::WIFSIGNALED(status) {
            hung += 1;
            if hung == 3 {
                break; // enough to fail; do not wait 10 s for every child
            }
        } else {
            assert_eq!(libc::WEXITSTATUS(status), 0, "a child failed to allocate");
        }
    }
    STOP.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(
        hung, 0,
        "{hung} of 200 forked children hung in the allocator"
    );
}
// ANCHOR_END: fork_test
