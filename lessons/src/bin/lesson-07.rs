//! Lesson 07: Cache, central, page heap — allocations followed through the three tiers, cross-thread frees, the heap drawn
//!
//! Go's allocator has three tiers: the per-P `mcache` (no lock), one
//! `mcentral` per size class (a lock), and the `mheap` (pages from the OS).
//! Each tier refills the one above it in bulk. This lesson uses the
//! inspectable `Heap`, which records every step it takes, to follow
//! allocations down the tiers and back; then it frees objects on a thread
//! that did not allocate them, with the real global-allocator face
//! `SpanAlloc`; and it draws the heap's spans from a snapshot.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::mpsc;

use allocator::{Heap, HeapEvent, SpanAlloc, SpanPlace, size_class_for};
use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::spans::{SpanView, occupancy_svg};

fn main() {
    let args = Cli::new("lesson-07", "cache, central, page heap")
        .number(
            "--size",
            "BYTES",
            "object size to follow",
            1_024,
            1..=32_768,
        )
        .number(
            "--objects",
            "N",
            "objects allocated and freed across threads",
            100_000,
            1..=10_000_000,
        )
        .flag(
            "--write-book",
            "also refresh the book's figure (book/runtime/img)",
        )
        .parse();
    let size = args.number("--size") as usize;
    let cross = if args.quick() {
        10_000
    } else {
        args.number("--objects") as usize
    };

    title("Lesson 07", "Cache, central, page heap");
    let mut heap = follow(size);
    cross_thread_frees(cross);

    section("5. A mixed workload, and the heap drawn");
    mixed_workload(&mut heap);
    let snap = heap.snapshot();
    let views: Vec<SpanView> = snap
        .spans
        .iter()
        .filter(|s| s.class != 0)
        .map(|s| SpanView {
            label: format!(
                "span at {:#x}, class {} ({} B), {}{}",
                s.start,
                s.class,
                s.object_size,
                place_name(s.place),
                if s.remote_pending > 0 {
                    format!(
                        ", {} freed by remote frees not yet collected",
                        s.remote_pending
                    )
                } else {
                    String::new()
                }
            ),
            used: s.occupancy.chars().map(|c| c == '1').collect(),
            free_index: Some(s.free_index).filter(|i| *i < s.objects),
        })
        .collect();
    let free_pages: usize = snap.free_runs.iter().map(|r| r.pages).sum();
    println!(
        "{} spans in use, {} free runs ({} free pages) in a {} KiB arena",
        snap.spans.len(),
        snap.free_runs.len(),
        free_pages,
        snap.arena_bytes / 1024
    );
    let dir = artefacts::lesson_dir(7).expect("create target/lessons/lesson-07");
    let svg = occupancy_svg(
        "lesson-07: the heap's small-object spans at the end",
        &views,
        64,
    );
    let path = artefacts::write(&dir, "heap.svg", &svg).expect("write heap.svg");
    wrote("the heap's spans", &path);
    let json = serde_json::to_string_pretty(&snap).expect("serialise the snapshot");
    let path = artefacts::write(&dir, "heap-snapshot.json", &json).expect("write json");
    wrote("the heap snapshot", &path);
    if args.flag("--write-book") {
        let img = artefacts::book_dir("runtime/img").expect("book/runtime/img");
        let path = artefacts::write(&img, "lesson-07-heap.svg", &svg).expect("write svg");
        wrote("the book's figure", &path);
    }
}

/// Allocates objects of four sizes in a fixed pseudo-random order, frees
/// every third, and prints where the spans ended up.
fn mixed_workload(heap: &mut Heap) {
    const SIZES: [usize; 4] = [24, 100, 640, 3_000];
    explain(&format!(
        "To give the picture some variety: 400 more objects of {SIZES:?} bytes in a \
         fixed pseudo-random order, then every third one freed."
    ));
    heap.record_events(false);
    let mut seed: u32 = 0x9e37_79b9;
    let mut live = Vec::new();
    for _ in 0..400 {
        // A small linear congruential generator: the same heap every run.
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let size = SIZES[(seed >> 24) as usize % SIZES.len()];
        live.push(heap.alloc(size).expect("room in the arena"));
    }
    for (i, &o) in live.iter().enumerate() {
        if i % 3 == 0 {
            heap.free(o).expect("free an allocated object");
        }
    }
    let snap = heap.snapshot();
    let mut t = Table::new([
        "span",
        "class",
        "object",
        "allocated",
        "freed, on the remote list",
        "where",
    ]);
    for s in snap.spans.iter().filter(|s| s.class != 0) {
        t.row([
            format!("{:#x}", s.start),
            s.class.to_string(),
            format!("{} B", s.object_size),
            format!("{} of {}", s.allocated, s.objects),
            s.remote_pending.to_string(),
            place_name(s.place).to_string(),
        ]);
    }
    t.print();
}

fn place_name(place: SpanPlace) -> &'static str {
    match place {
        SpanPlace::Cached => "held by the cache",
        SpanPlace::Partial => "central partial list",
        SpanPlace::Full => "central full list",
        SpanPlace::Large => "large object",
    }
}

/// Names an event and the tier it happened in.
fn describe(e: &HeapEvent) -> (&'static str, String) {
    match *e {
        HeapEvent::CacheHit { offset, .. } => {
            ("cache", format!("hit: object at {offset:#x}, no lock"))
        }
        HeapEvent::SpanHandedBack { span, full, .. } => (
            "cache → central",
            format!(
                "span {span:#x} handed back ({})",
                if full { "full" } else { "has space" }
            ),
        ),
        HeapEvent::CacheRefill { span, fresh, .. } => (
            "central → cache",
            format!(
                "refill: span {span:#x} {}",
                if fresh {
                    "(new from the page heap)"
                } else {
                    "(from the partial list)"
                }
            ),
        ),
        HeapEvent::CentralGrow { span, pages, .. } => (
            "page heap → central",
            format!("grow: new span {span:#x} of {pages} page(s)"),
        ),
        HeapEvent::PageHeapGrow { pages } => {
            ("OS → page heap", format!("arena grown for {pages} page(s)"))
        }
        HeapEvent::LargeAlloc { offset, pages } => (
            "page heap",
            format!("large object at {offset:#x}: {pages} page(s) of its own"),
        ),
        HeapEvent::LargeFree { offset, pages } => (
            "page heap",
            format!("large object at {offset:#x} freed: {pages} page(s) back"),
        ),
        HeapEvent::LocalFree { offset, .. } => {
            ("cache", format!("free {offset:#x}: bit cleared, no lock"))
        }
        HeapEvent::RemoteFree { offset, .. } => (
            "span remote list",
            format!("free {offset:#x} into a span the cache does not hold: one CAS"),
        ),
        HeapEvent::SpanUnparked { span, .. } => (
            "central",
            format!("span {span:#x} moved from the full to the partial list"),
        ),
        HeapEvent::SpanReturned { span, pages, .. } => (
            "central → page heap",
            format!("span {span:#x} empty: {pages} page(s) returned"),
        ),
        HeapEvent::Scavenged { offset, pages } => (
            "page heap → OS",
            format!("{pages} page(s) at {offset:#x} returned to the OS"),
        ),
        HeapEvent::Sampled { offset, .. } => ("profile", format!("object at {offset:#x} sampled")),
        HeapEvent::Swept {
            span, kept, freed, ..
        } => (
            "sweep",
            format!(
                "span {span:#x} swept: mark bits became alloc bits, {kept} kept, {freed} freed"
            ),
        ),
    }
}

fn print_events(heap: &mut Heap, what: &str) -> Vec<HeapEvent> {
    let events = heap.take_events();
    let mut t = Table::new(["#", "tier", "what happened"]);
    for (i, e) in events.iter().enumerate() {
        let (tier, text) = describe(e);
        t.row([(i + 1).to_string(), tier.to_string(), text]);
    }
    println!("{what}:");
    t.print();
    events
}

fn follow(size: usize) -> Heap {
    let class = size_class_for(size).expect("--size is at most 32 KiB, a small object");
    let (per_span, object_size) = Heap::class_shape(class).expect("a valid class");
    section("1. Allocations, tier by tier");
    explain(&format!(
        "A fresh 1 MiB heap. {size}-byte objects are class {class}: {object_size}-byte \
         slots, {per_span} to a span. We allocate {} of them, two spans and one more, \
         and print every step the allocator recorded.",
        2 * per_span + 1
    ));
    // ANCHOR: follow
    let mut heap = Heap::with_arena(1 << 20).expect("a 1 MiB arena");
    heap.set_profile_rate(0); // keep sampling events out of the log
    let objects: Vec<usize> = (0..2 * per_span + 1)
        .map(|_| heap.alloc(size).expect("room in the arena"))
        .collect();
    // ANCHOR_END: follow
    let events = print_events(&mut heap, "allocations");
    let count = |f: fn(&HeapEvent) -> bool| events.iter().filter(|e| f(e)).count();
    println!(
        "{} allocations: {} cache hits, {} refills from central, {} central grows from the page heap",
        objects.len(),
        count(|e| matches!(e, HeapEvent::CacheHit { .. })),
        count(|e| matches!(e, HeapEvent::CacheRefill { .. })),
        count(|e| matches!(e, HeapEvent::CentralGrow { .. })),
    );
    notice(
        "only the first object of each span needed the lower tiers. The rest were cache \
         hits: a bitmap scan in a span this thread already holds, with no lock.",
    );

    section("2. Frees, and a span coming back");
    explain(
        "We free the first span's objects. That span is parked on the central full \
         list, not in the cache, so nobody owns its bitmap: each free is pushed onto \
         the span's remote list (one compare-and-swap), and the first one moves the \
         span from the full list to the partial list.",
    );
    // ANCHOR: frees
    for &o in &objects[..per_span] {
        heap.free(o).expect("free an allocated object");
    }
    // ANCHOR_END: frees
    let events = print_events(&mut heap, "frees");
    println!(
        "{} frees: {} remote, {} local; spans returned to the page heap: {}",
        per_span,
        events
            .iter()
            .filter(|e| matches!(e, HeapEvent::RemoteFree { .. }))
            .count(),
        events
            .iter()
            .filter(|e| matches!(e, HeapEvent::LocalFree { .. }))
            .count(),
        events
            .iter()
            .filter(|e| matches!(e, HeapEvent::SpanReturned { .. }))
            .count(),
    );

    explain(&format!(
        "Now {per_span} more allocations. The cache fills the span it holds, then \
         refills from the central partial list: it gets the first span back and \
         collects its remote frees in one swap, without asking the page heap."
    ));
    let more: Vec<usize> = (0..per_span)
        .map(|_| heap.alloc(size).expect("room in the arena"))
        .collect();
    let events = print_events(&mut heap, "allocations");
    let reused = events
        .iter()
        .filter(|e| matches!(e, HeapEvent::CacheRefill { fresh: false, .. }))
        .count();
    let grown = events
        .iter()
        .filter(|e| matches!(e, HeapEvent::CentralGrow { .. }))
        .count();
    println!(
        "{} allocations: {reused} refill(s) from the partial list, {grown} new span(s) from the page heap",
        more.len()
    );
    notice(
        "the span came back to a cache through the central list, and its freed slots \
         were reused; the page heap was not involved.",
    );

    section("3. A large object");
    let big = heap.alloc(100 * 1024).expect("room for 100 KiB");
    heap.free(big).expect("free the large object");
    print_events(&mut heap, "alloc and free of 100 KiB");
    notice(
        "an object over 32 KiB skips the cache and the central lists: it gets whole \
         pages from the page heap, and gives them back when freed.",
    );
    heap
}

fn cross_thread_frees(n: usize) {
    section("4. Frees from another thread (SpanAlloc, the real allocator)");
    explain(&format!(
        "Thread A allocates {n} 64-byte objects with SpanAlloc and sends them to thread \
         B, which frees them. B's cache never held A's spans, so every free is a remote \
         free: a push onto the owning span's lock-free list, collected by A's cache."
    ));
    static ALLOC: SpanAlloc = SpanAlloc::new();
    let layout = Layout::from_size_align(64, 8).expect("a valid layout");
    let before = ALLOC.stats();
    // ANCHOR: cross_thread
    let (tx, rx) = mpsc::sync_channel::<usize>(1024);
    let freer = std::thread::spawn(move || {
        let mut freed = 0;
        for addr in rx {
            // SAFETY: `addr` was allocated by ALLOC with `layout` on thread A
            // and is freed exactly once, here.
            unsafe { ALLOC.dealloc(addr as *mut u8, layout) };
            freed += 1;
        }
        freed
    });
    let producer = std::thread::spawn(move || {
        for _ in 0..n {
            // SAFETY: `layout` has a non-zero size.
            let p = unsafe { ALLOC.alloc(layout) };
            assert!(!p.is_null(), "out of memory");
            tx.send(p as usize).expect("the freeing thread is alive");
        }
    });
    producer.join().expect("thread A");
    let freed = freer.join().expect("thread B");
    // ANCHOR_END: cross_thread
    let after = ALLOC.stats();
    let class = size_class_for(64).expect("64 is small");
    let (b, a) = (
        before.class(class).cloned().unwrap_or_default(),
        after.class(class).cloned().unwrap_or_default(),
    );
    let mut t = Table::new(["class 64 B", "before", "after"]);
    t.row([
        "allocs".to_string(),
        b.allocs.to_string(),
        a.allocs.to_string(),
    ]);
    t.row([
        "frees".to_string(),
        b.frees.to_string(),
        a.frees.to_string(),
    ]);
    t.row([
        "in use".to_string(),
        b.in_use_objects.to_string(),
        a.in_use_objects.to_string(),
    ]);
    t.row([
        "spans".to_string(),
        b.spans.to_string(),
        a.spans.to_string(),
    ]);
    t.print();
    println!(
        "thread B freed {freed} objects it never allocated; in use afterwards: {}",
        a.in_use_objects
    );
    notice(
        "no lock was shared between the two threads on the hot path: A allocated from \
         its own cache, B pushed onto each span's remote list, and A's cache took those \
         lists back in one swap when its span ran out of slots.",
    );
}
