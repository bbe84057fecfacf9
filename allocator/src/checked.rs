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
    abort_with("free with the wrong layout", addr, Some(class), &[b": layout size ", s, b", align ", al])
}
