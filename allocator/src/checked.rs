//! Checked mode: catching a double free, a foreign pointer or a wrong layout,
//! and aborting with a message instead of corrupting the heap.
//!
//! The rule: checks run when the crate is built with the `checked` feature,
//! and always in builds with debug assertions (so every `cargo test` of a
//! debug build is checked). In a release build without the feature the free
//! path trusts its caller, as `GlobalAlloc` allows, and only the checks that
//! cost nothing stay (an address in no arena is still reported).
//!
//! What is checked on a free:
//! * the address is in one of our arenas, in a span that is in use, at the
//!   start of an object (else: "foreign pointer");
//! * the object is allocated (else: "double free"); for a free that lands on
//!   another thread's span, the bit is checked when the owner collects the
//!   remote list, which still stops the corruption before it spreads;
//! * the `Layout` passed to `dealloc` maps to the object's size class, or to
//!   its page count for a large object (else: "wrong layout").
//!
//! The message names the address and the size class and is written with
//! `write(2)`: an allocator that has just found its heap corrupt must not
//! allocate to format a message. Then the process aborts.
//!
//! `Heap`, the lessons' face, reports the same mistakes as `HeapError`s
//! instead of aborting, since there the mistakes are the lesson.

use crate::os;
use crate::size_class::TABLES;

/// Whether the optional checks are compiled in.
pub(crate) const CHECKED: bool = cfg!(any(feature = "checked", debug_assertions));

fn abort_with(what: &str, addr: usize, class: Option<usize>, detail: &[&[u8]]) -> ! {
    let mut hb = [0u8; 18];
    let mut cb = [0u8; 20];
    let mut sb = [0u8; 20];
    // One buffer, one write(2): the message arrives whole even if other
    // threads write to stderr at the same time.
    let mut msg = [0u8; 256];
    let mut len = 0;
    let mut push = |p: &[u8]| {
        let n = p.len().min(msg.len() - len);
        msg[len..len + n].copy_from_slice(&p[..n]);
        len += n;
    };
    push(b"allocator: ");
    push(what.as_bytes());
    push(b" of ");
    push(os::hex(addr, &mut hb));
    match class {
        Some(c) if c > 0 => {
            push(b" (size class ");
            push(os::dec(c, &mut cb));
            push(b", ");
            push(os::dec(TABLES.size[c], &mut sb));
            push(b"-byte objects)");
        }
        Some(_) => push(b" (large object, size class 0)"),
        None => push(b" (not from this allocator)"),
    }
    for d in detail {
        push(d);
    }
    push(b"\n");
    os::write_stderr(&[&msg[..len]]);
    std::process::abort()
}

/// A double free of the object at `addr` in `class`: abort.
#[cold]
pub(crate) fn double_free(addr: usize, class: usize) {
    abort_with("double free", addr, Some(class), &[])
}

/// A free of an address no live object of ours starts at: abort.
#[cold]
pub(crate) fn foreign(addr: usize, class: Option<usize>) -> ! {
    abort_with("free of a foreign pointer", addr, class, &[])
}

/// A large-object free that did not match a live large object.
#[cold]
pub(crate) fn bad_large_free(addr: usize) {
    abort_with("double free or foreign pointer", addr, Some(0), &[])
}

/// `dealloc` was given a layout that does not match the object.
#[cold]
pub(crate) fn wrong_layout(addr: usize, class: usize, size: usize, align: usize) -> ! {
    let mut a = [0u8; 20];
    let mut b = [0u8; 20];
    let s = os::dec(size, &mut a);
    let al = os::dec(align, &mut b);
    abort_with(
        "free with the wrong layout",
        addr,
        Some(class),
        &[b": layout size ", s, b", align ", al],
    )
}

/// Each case runs in a child process (this test binary, re-run with an
/// environment variable naming the case), since the expected outcome is an
/// abort.
#[cfg(all(test, not(loom), any(feature = "checked", debug_assertions)))]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Command;

    use crate::SpanAlloc;

    const CASE_VAR: &str = "ALLOCATOR_CHECKED_CASE";
    static A: SpanAlloc = SpanAlloc::new();

    /// Runs `case` in a child; returns the address it printed and its stderr.
    fn run(case: &str) -> (String, String) {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "checked::tests::child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CASE_VAR, case)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "case {case}: expected an abort, got {:?}\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        let addr = stdout
            .lines()
            .find_map(|l| l.split("bad free of ").nth(1))
            .unwrap_or_else(|| panic!("case {case}: child printed no address:\n{stdout}"))
            .to_string();
        (addr, stderr)
    }

    #[test]
    #[ignore = "a child process for the checked-mode tests; aborts on purpose"]
    fn child() {
        let Ok(case) = std::env::var(CASE_VAR) else {
            return;
        };
        let small = Layout::from_size_align(32, 8).unwrap();
        let large = Layout::from_size_align(100_000, 8).unwrap();
        // SAFETY: each case makes exactly one deliberate mistake, which the
        // allocator must catch before touching the heap.
        unsafe {
            let (p, layout) = match case.as_str() {
                "double_free" => {
                    let p = A.alloc(small);
                    A.dealloc(p, small);
                    (p, small)
                }
                "foreign" => {
                    let local = 0u64;
                    (&local as *const u64 as *mut u8, small)
                }
                "interior" => (A.alloc(small).add(8), small),
                "wrong_layout" => (A.alloc(small), Layout::from_size_align(100, 8).unwrap()),
                "large_double_free" => {
                    let p = A.alloc(large);
                    A.dealloc(p, large);
                    (p, large)
                }
                "large_wrong_layout" => {
                    (A.alloc(large), Layout::from_size_align(50_000, 8).unwrap())
                }
                other => panic!("unknown case {other}"),
            };
            println!("bad free of {:#x}", p as usize);
            A.dealloc(p, layout);
        }
        println!("the allocator did not abort");
    }

    #[test]
    fn double_free_aborts_naming_address_and_class() {
        let (addr, err) = run("double_free");
        assert!(
            err.contains(&format!(
                "allocator: double free of {addr} (size class 4, 32-byte objects)"
            )),
            "stderr: {err}"
        );
    }

    #[test]
    fn foreign_pointer_aborts() {
        let (addr, err) = run("foreign");
        assert!(
            err.contains(&format!(
                "free of a foreign pointer of {addr} (not from this allocator)"
            )),
            "stderr: {err}"
        );
    }

    #[test]
    fn interior_pointer_aborts_naming_its_class() {
        let (addr, err) = run("interior");
        assert!(
            err.contains(&format!(
                "free of a foreign pointer of {addr} (size class 4"
            )),
            "stderr: {err}"
        );
    }

    #[test]
    fn wrong_layout_aborts() {
        let (addr, err) = run("wrong_layout");
        assert!(
            err.contains(&format!("free with the wrong layout of {addr} (size class 4, 32-byte objects): layout size 100, align 8")),
            "stderr: {err}"
        );
    }

    #[test]
    fn large_object_mistakes_abort() {
        let (addr, err) = run("large_double_free");
        assert!(
            err.contains(&format!(
                "double free or foreign pointer of {addr} (large object"
            )),
            "stderr: {err}"
        );
        let (addr, err) = run("large_wrong_layout");
        assert!(
            err.contains(&format!(
                "free with the wrong layout of {addr} (large object"
            )),
            "stderr: {err}"
        );
    }
}
