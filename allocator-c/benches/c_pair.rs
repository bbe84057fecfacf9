//! What one C `malloc`/`free` pair costs through `libspanalloc.so`, against
//! glibc's and against the same allocator linked into this Rust binary, in
//! one criterion group per size so that every figure is a ratio.
//!
//! The bench first re-runs itself with the library in `LD_PRELOAD` (the
//! child is what criterion measures), so that `libc::malloc` and
//! `libc::free` are bound by the dynamic loader to the library exactly as a
//! C program's are: a call through the GOT into a shared object, whose
//! thread cache is thread-local storage of a shared object. The members:
//!
//! * `glibc`: `__libc_malloc` / `__libc_free`, glibc's allocator, which
//!   glibc exports under these names even when `malloc` is replaced;
//! * `libspanalloc.so`: `malloc` / `free`, the preloaded library;
//! * `linked SpanAlloc`: `SpanAlloc::alloc` with a layout and `SpanAlloc::free`
//!   by address (what the library's `free` does), the allocator compiled into
//!   this executable, whose thread-local storage the linker resolves to a
//!   fixed offset from the thread pointer;
//! * `linked mimalloc`: the mimalloc crate's `MiMalloc`, a peer.
//!
//! `cargo bench -p allocator-c --bench c_pair` measures the library built
//! with initial-exec TLS (the default); `--no-default-features` builds the
//! library whose thread cache is a plain `thread_local!` (general-dynamic:
//! a `__tls_get_addr` call per access), the "before" of the book's table.
//!
//! As in the allocator's own bench, `ALLOC_BENCH_CLOCK=cpu` measures the
//! CPU time of the benchmarking thread instead of wall time: on a machine
//! shared with other work, wall time counts the time the thread waited for
//! a core.

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    bench::main();
}

#[cfg(not(loom))]
mod bench {
    use allocator::SpanAlloc;
    use criterion::Criterion;
    use criterion::measurement::{Measurement, ValueFormatter, WallTime};
    use std::alloc::{GlobalAlloc, Layout};
    use std::ffi::c_void;
    use std::hint::black_box;
    use std::time::Duration;

    const CHILD: &str = "SPANALLOC_BENCH_CHILD";

    unsafe extern "C" {
        fn __libc_malloc(size: usize) -> *mut c_void;
        fn __libc_free(p: *mut c_void);
    }

    static LINKED: SpanAlloc = SpanAlloc::new();
    static MIMALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

    pub fn main() {
        if std::env::var_os(CHILD).is_none() {
            // Re-run under LD_PRELOAD; the library sits beside this binary.
            let exe = std::env::current_exe().unwrap();
            let so = exe.with_file_name("libspanalloc.so");
            assert!(so.exists(), "expected the cdylib at {}", so.display());
            let status = std::process::Command::new(&exe)
                .args(std::env::args_os().skip(1))
                .env("LD_PRELOAD", &so)
                .env(CHILD, "1")
                .status()
                .unwrap();
            std::process::exit(status.code().unwrap_or(1));
        }
        let mut c = Criterion::default()
            .with_measurement(Clock)
            .configure_from_args();
        println!("libspanalloc.so thread cache TLS: {}", tls_model());
        for size in [16usize, 64, 256, 1024] {
            pair(&mut c, size);
        }
        c.final_summary();
    }

    /// The TLS model of the preloaded library's build, from its own report.
    fn tls_model() -> String {
        let path = std::env::temp_dir().join(format!("c_pair-{}.json", std::process::id()));
        let cpath = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: dlsym with a NUL-terminated name; the symbol, if present,
        // is the library's `int spanalloc_write_stats(const char *)`.
        let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"spanalloc_write_stats".as_ptr()) };
        assert!(!f.is_null(), "libspanalloc.so is not preloaded");
        // SAFETY: the signature above.
        let write: unsafe extern "C" fn(*const libc::c_char) -> i32 =
            unsafe { std::mem::transmute(f) };
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { write(cpath.as_ptr()) }, 0);
        let json = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["tls"].as_str().unwrap_or("?").to_string()
    }

    /// `CLOCK_MONOTONIC`, or this thread's CPU time with `ALLOC_BENCH_CLOCK=cpu`.
    fn now() -> Duration {
        let cpu = std::env::var("ALLOC_BENCH_CLOCK").as_deref() == Ok("cpu");
        let clock = if cpu {
            libc::CLOCK_THREAD_CPUTIME_ID
        } else {
            libc::CLOCK_MONOTONIC
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid, writable timespec; both clocks exist on Linux.
        let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime failed");
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Criterion's measurement on the clock `now` reads.
    struct Clock;

    impl Measurement for Clock {
        type Intermediate = Duration;
        type Value = Duration;

        fn start(&self) -> Duration {
            now()
        }
        fn end(&self, start: Duration) -> Duration {
            now().saturating_sub(start)
        }
        fn add(&self, a: &Duration, b: &Duration) -> Duration {
            *a + *b
        }
        fn zero(&self) -> Duration {
            Duration::ZERO
        }
        fn to_f64(&self, value: &Duration) -> f64 {
            value.as_nanos() as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            static NANOSECONDS: WallTime = WallTime;
            NANOSECONDS.formatter()
        }
    }

    fn pair(c: &mut Criterion<Clock>, size: usize) {
        let mut g = c.benchmark_group(format!("c_pair_{size}B"));
        g.bench_function("glibc", |b| {
            // SAFETY: the block is written within its size, then freed
            // once by the allocator that made it.
            b.iter(|| unsafe {
                let p = __libc_malloc(black_box(size)) as *mut u8;
                p.write(1);
                __libc_free(black_box(p).cast());
            })
        });
        g.bench_function("libspanalloc.so", |b| {
            // SAFETY: the block is written within its size, then freed
            // once by the allocator that made it.
            b.iter(|| unsafe {
                let p = libc::malloc(black_box(size)) as *mut u8;
                p.write(1);
                libc::free(black_box(p).cast());
            })
        });
        let layout = Layout::from_size_align(size, 16).unwrap();
        g.bench_function("linked SpanAlloc", |b| {
            // SAFETY: the block is written within its size, then freed
            // once by the allocator that made it.
            b.iter(|| unsafe {
                let p = LINKED.alloc(black_box(layout));
                p.write(1);
                LINKED.free(black_box(p));
            })
        });
        g.bench_function("linked mimalloc", |b| {
            // SAFETY: the block is written within its size, then freed
            // once by the allocator that made it.
            b.iter(|| unsafe {
                let p = MIMALLOC.alloc(black_box(layout));
                p.write(1);
                MIMALLOC.dealloc(black_box(p), layout);
            })
        });
        g.finish();
    }
}
