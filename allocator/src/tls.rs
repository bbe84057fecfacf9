//! Where the thread cache lives: a thread-local, reached the cheapest way
//! the binary's shape allows.
//!
//! A thread-local variable is an offset into the thread's TLS block, which
//! starts at the thread pointer (`%fs` on x86-64). How the code finds the
//! offset is the *TLS model*, chosen by the compiler from where the code
//! will end up:
//!
//! | model | used for | cost of one access |
//! |---|---|---|
//! | local-exec | the executable's own variables | `mov %fs:OFFSET` (offset fixed at link time) |
//! | initial-exec | a library loaded at start-up | one load of the offset from the GOT, then `%fs`-relative |
//! | general-dynamic | any shared library (it might be `dlopen`ed later) | a call to `__tls_get_addr(module, offset)` |
//!
//! Rust's `thread_local!` compiled into a `cdylib` gets general-dynamic:
//! every `malloc` and every `free` called `__tls_get_addr`, a function in
//! the dynamic loader, which measured as most of a C malloc/free pair's cost
//! (see the book's "Your programs on our allocator"). Stable Rust has no way
//! to ask for another model: `-Z tls-model=initial-exec` and
//! `#[thread_local]` are nightly-only.
//!
//! Stable Rust does have inline assembly, and the TLS model is nothing but
//! the instructions and the relocation that reach the variable. So with the
//! feature `initial-exec-tls` on x86-64 Linux, the cache is a block in the
//! `.tbss` section defined in `global_asm!`, and it is reached with the
//! initial-exec sequence a C compiler emits for
//! `__attribute__((tls_model("initial-exec")))`:
//!
//! ```text
//!   mov  rax, qword ptr [rip + spanalloc_thread_cache@GOTTPOFF]   ; the block's offset from the thread pointer
//!   add  rax, qword ptr fs:[0]                                     ; + the thread pointer
//! ```
//!
//! The linker marks the library `STATIC_TLS`, so the loader puts its TLS
//! block in every thread's static TLS area: true of every library loaded at
//! start-up (`LD_PRELOAD` included), and of a `dlopen`ed one only if the
//! block fits glibc's small surplus (`glibc.rtld.optional_static_tls`,
//! 512 bytes by default; the cache is several KiB, so `dlopen` of the
//! library fails with "cannot allocate memory in static TLS block" unless
//! that tunable is raised). In an executable the linker relaxes the
//! sequence to local-exec. mimalloc and jemalloc make the same choice for
//! the same reason.
//!
//! The block is zeroed memory, not a constructed `Cache`: all-zero bytes are
//! a valid `Cache` whose state is "fresh", and `global.rs` writes
//! `Cache::new()` into a fresh cache before first use. That makes a rule for
//! `Cache`: every field must accept all-zero bytes (raw pointers, integers,
//! bools, arrays and structs of those). A `NonNull`, a reference or an enum
//! without a zero variant would make this storage unsound. Elsewhere, or
//! without the feature, the cache is an ordinary `thread_local!`.

use crate::cache::Cache;

/// The TLS model through which this build reaches the thread cache:
/// `"initial-exec"` (the `initial-exec-tls` feature on x86-64 Linux) or
/// `"thread_local!"` (Rust's choice: local-exec in an executable,
/// general-dynamic in a shared library).
///
/// ```
/// let model = allocator::thread_cache_tls_model();
/// assert!(model == "initial-exec" || model == "thread_local!");
/// ```
pub fn thread_cache_tls_model() -> &'static str {
    imp::MODEL
}

/// This thread's cache storage. Always succeeds (the storage has no
/// destructor, so it stays valid while the thread's destructors run).
#[inline(always)]
pub(crate) fn cache() -> *mut Cache {
    imp::cache()
}

#[cfg(all(
    feature = "initial-exec-tls",
    target_arch = "x86_64",
    target_os = "linux"
))]
mod imp {
    use crate::cache::Cache;

    pub(super) const MODEL: &str = "initial-exec";

    const _: () = assert!(core::mem::align_of::<Cache>() <= 64);

    // The thread cache's storage: zeroed TLS (`.tbss`), hidden so that it is
    // resolved inside the binary and never exported.
    core::arch::global_asm!(
        ".pushsection .tbss,\"awT\",@nobits",
        ".p2align 6",
        ".globl spanalloc_thread_cache",
        ".hidden spanalloc_thread_cache",
        ".type spanalloc_thread_cache, @object",
        ".size spanalloc_thread_cache, {size}",
        "spanalloc_thread_cache:",
        ".zero {size}",
        ".popsection",
        size = const core::mem::size_of::<Cache>(),
    );

    // ANCHOR: initial_exec
    #[inline(always)]
    pub(super) fn cache() -> *mut Cache {
        let p: *mut Cache;
        // SAFETY: the initial-exec access sequence: reads the GOT slot the
        // linker fills with the block's thread-pointer offset, and the
        // thread pointer's self-pointer at fs:0; writes only `p`.
        unsafe {
            core::arch::asm!(
                "mov {p}, qword ptr [rip + spanalloc_thread_cache@GOTTPOFF]",
                "add {p}, qword ptr fs:[0]",
                p = out(reg) p,
                options(pure, readonly, nostack),
            );
        }
        p
    }
    // ANCHOR_END: initial_exec
}

#[cfg(not(all(
    feature = "initial-exec-tls",
    target_arch = "x86_64",
    target_os = "linux"
)))]
mod imp {
    use core::cell::UnsafeCell;

    use crate::cache::Cache;

    pub(super) const MODEL: &str = "thread_local!";

    thread_local! {
        static CACHE: UnsafeCell<Cache> = const { UnsafeCell::new(Cache::new()) };
    }

    #[inline(always)]
    pub(super) fn cache() -> *mut Cache {
        // A const-initialised thread_local without a destructor is always
        // accessible, so `with` cannot fail.
        CACHE.with(|c| c.get())
    }
}
