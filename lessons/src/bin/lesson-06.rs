//! Lesson 06: Size classes and spans — the 67 classes, rounding waste, and the alloc_cache walk on a real span
//!
//! Every small request (up to 32 KiB) is rounded up to one of 67 size
//! classes, and each class is served from spans: runs of 8 KiB pages cut into
//! equal slots (Go's `sizeclasses.go` and `mspan`). This lesson prints the
//! table, shows what rounding costs for a few request sizes, and then walks
//! a real span's `alloc_cache`: from the span's bitmap it predicts, one
//! trailing-zero count at a time, which slots the next allocations will take
//! (Go's `nextFreeFast`), then allocates and checks the prediction against
//! the addresses the allocator returned. Finally it draws the span.

use allocator::{Heap, SizeClass, size_class_for, size_classes};
use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::spans::{SpanView, occupancy_svg};

fn main() {
    let args = Cli::new("lesson-06", "size classes and spans")
        .number(
            "--size",
            "BYTES",
            "object size for the span walk",
            48,
            1..=32_768,
        )
        .flag(
            "--write-book",
            "also refresh the book's figure (book/runtime/img)",
        )
        .parse();
    let size = args.number("--size") as usize;

    title("Lesson 06", "Size classes and spans");

    section("The size-class table");
    print_table(args.quick());

    section("What rounding costs");
    print_waste(&[
        1, 8, 9, 24, 33, 100, 129, 500, 1_000, 1_025, 3_000, 10_000, 32_768, 32_769,
    ]);
    notice(
        "rounding never wastes more than about an eighth of an object, because the \
         classes step up by an eighth of the size. What it buys: every slot in a span \
         has the same size, so no object needs a header.",
    );

    section("Walking alloc_cache on a real span");
    let (spans, object_size) = walk(size);

    let dir = artefacts::lesson_dir(6).expect("create target/lessons/lesson-06");
    let svg = occupancy_svg(
        &format!("lesson-06: one span of {object_size} B objects, before and after the walk"),
        &spans,
        64, // one row per 64-bit word of alloc_bits
    );
    let path = artefacts::write(&dir, "span.svg", &svg).expect("write span.svg");
    wrote("the span's bitmap", &path);
    if args.flag("--write-book") {
        let img = artefacts::book_dir("runtime/img").expect("book/runtime/img");
        let path = artefacts::write(&img, "lesson-06-span.svg", &svg).expect("write svg");
        wrote("the book's figure", &path);
    }
}

fn print_table(quick: bool) {
    // ANCHOR: table
    let classes: &[SizeClass] = size_classes();
    let mut t = Table::new([
        "class",
        "bytes/obj",
        "bytes/span",
        "objects",
        "tail waste",
        "max waste",
    ]);
    let mut prev = 0;
    for c in classes {
        // Go's max waste: the smallest request that lands here (prev + 1
        // bytes) wastes size - prev - 1 bytes in each slot, plus the tail.
        let span = c.pages * 8192;
        let worst = (c.size - prev - 1) * c.objects + c.tail_waste;
        t.row([
            c.class.to_string(),
            c.size.to_string(),
            span.to_string(),
            c.objects.to_string(),
            c.tail_waste.to_string(),
            format!("{:.2}%", 100.0 * worst as f64 / span as f64),
        ]);
        prev = c.size;
    }
    // ANCHOR_END: table
    if quick {
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        for l in lines.iter().take(8).chain(lines.iter().rev().take(3).rev()) {
            println!("{l}");
        }
        println!("(quick mode: 11 of {} lines shown)", lines.len());
    } else {
        t.print();
    }
    let max_pages = classes.iter().map(|c| c.pages).max().unwrap_or(0);
    println!(
        "{} classes, from {} B to {} B; the largest span is {max_pages} pages",
        classes.len(),
        classes.first().map_or(0, |c| c.size),
        classes.last().map_or(0, |c| c.size)
    );
}

fn print_waste(requests: &[usize]) {
    let classes = size_classes();
    let mut t = Table::new(["request", "class", "slot", "wasted", "waste"]);
    for &bytes in requests {
        match size_class_for(bytes) {
            Some(class) => {
                let slot = classes[class - 1].size;
                t.row([
                    bytes.to_string(),
                    class.to_string(),
                    slot.to_string(),
                    (slot - bytes).to_string(),
                    format!("{:.1}%", 100.0 * (slot - bytes) as f64 / slot as f64),
                ]);
            }
            None => {
                let pages = bytes.div_ceil(8192);
                t.row([
                    bytes.to_string(),
                    "large".to_string(),
                    format!("{} pages", pages),
                    (pages * 8192 - bytes).to_string(),
                    format!(
                        "{:.1}%",
                        100.0 * (pages * 8192 - bytes) as f64 / (pages * 8192) as f64
                    ),
                ]);
            }
        }
    }
    t.print();
}

/// Slots freed before the walk: a scatter across the first three bitmap
/// words, so the walk skips runs of allocated slots and crosses a word.
const FREED: [usize; 15] = [2, 3, 5, 11, 12, 13, 40, 63, 64, 65, 90, 91, 127, 128, 150];

fn walk(size: usize) -> (Vec<SpanView>, usize) {
    let class = size_class_for(size).expect("--size is at most 32 KiB, a small object");
    let (objects, object_size) = Heap::class_shape(class).expect("a valid class");
    explain(&format!(
        "A fresh heap. {size}-byte objects are class {class}: {object_size}-byte slots, \
         {objects} to a span. We allocate all {objects} (the span is now full), free a \
         few, and predict where the next allocations land."
    ));
    let mut heap = Heap::with_arena(1 << 20).expect("a 1 MiB arena");
    let offsets: Vec<usize> = (0..objects)
        .map(|_| heap.alloc(size).expect("the arena has room"))
        .collect();
    let first = heap.span_view(offsets[0]).expect("the first object's span");
    assert!(
        offsets
            .iter()
            .all(|o| heap.span_view(*o).is_some_and(|s| s.start == first.start)),
        "the first {objects} objects share one span"
    );
    let mut freed: Vec<usize> = FREED.iter().copied().filter(|i| *i < objects).collect();
    if freed.is_empty() {
        freed.push(0);
    }
    for &slot in &freed {
        heap.free(offsets[slot]).expect("free an allocated object");
    }
    let span = heap.span_view(offsets[0]).expect("the span");
    println!(
        "span at offset {:#x}: {} pages, {} of {} slots allocated, free_index = {}, alloc_cache = {:#x}",
        span.start, span.pages, span.allocated, span.objects, span.free_index, span.alloc_cache
    );
    println!("freed slots: {freed:?}");
    let before = view(&span, "after the frees");

    // ANCHOR: walk
    let bits: Vec<bool> = span.occupancy.chars().map(|c| c == '1').collect();
    let word = |w: usize| -> u64 {
        (0..64).fold(0u64, |acc, i| {
            let slot = w * 64 + i;
            acc | (u64::from(bits.get(slot).copied().unwrap_or(false)) << i)
        })
    };
    // Start from the span's own search state. If free_index has run off the
    // end, the next allocation rewinds it to 0 and loads word 0.
    let (mut free_index, mut cache) = if span.free_index < objects {
        println!(
            "\nthe walk starts where the span's search stands: free_index and alloc_cache above"
        );
        (span.free_index, span.alloc_cache)
    } else {
        println!(
            "\nfree_index ran off the end: the next allocation rewinds to slot 0 and loads word 0"
        );
        (0, !word(0))
    };
    let mut predicted = Vec::new();
    let mut t = Table::new([
        "step",
        "free_index",
        "alloc_cache",
        "low 16 bits",
        "trailing zeros",
        "slot",
    ]);
    while predicted.len() < freed.len() {
        let tz = cache.trailing_zeros() as usize;
        if tz == 64 {
            // Nothing free in this word: load the next (Go's refillAllocCache).
            free_index = (free_index / 64 + 1) * 64;
            if free_index >= objects {
                break;
            }
            cache = !word(free_index / 64);
            t.row([
                "refill".into(),
                free_index.to_string(),
                format!("{cache:#018x}"),
                format!("{:016b}", cache & 0xffff),
                "-".into(),
                "-".into(),
            ]);
            continue;
        }
        let slot = free_index + tz;
        if slot >= objects {
            break;
        }
        t.row([
            (predicted.len() + 1).to_string(),
            free_index.to_string(),
            format!("{cache:#018x}"),
            format!("{:016b}", cache & 0xffff),
            tz.to_string(),
            slot.to_string(),
        ]);
        predicted.push(slot);
        let (fi, c) = take(free_index, cache, slot);
        free_index = fi;
        cache = c;
        if free_index % 64 == 0 && free_index < objects {
            cache = !word(free_index / 64);
        }
    }
    // ANCHOR_END: walk
    t.print();

    let mut got = Vec::new();
    for _ in 0..predicted.len() {
        let off = heap.alloc(size).expect("room in the span");
        got.push((off - span.start) / object_size);
    }
    let matches = predicted == got;
    println!("predicted slots: {predicted:?}");
    println!("allocator gave:  {got:?}");
    println!(
        "prediction {} ({} of {} allocations)",
        if matches {
            "matched every allocation"
        } else {
            "DID NOT MATCH"
        },
        predicted.iter().zip(&got).filter(|(a, b)| a == b).count(),
        predicted.len()
    );
    assert!(matches, "the trailing-zero walk predicts the allocator");
    notice(
        "each allocation was one trailing-zero count on a 64-bit word, no matter how \
         many allocated slots it skipped. Scanning the bitmap bit by bit would have \
         looked at every one of them.",
    );
    let after = view(
        &heap.span_view(offsets[0]).expect("the span"),
        "after the walk",
    );
    (vec![before, after], object_size)
}

/// Takes `slot`: shift the cache past it, move free_index after it.
// ANCHOR: take
fn take(free_index: usize, alloc_cache: u64, slot: usize) -> (usize, u64) {
    let bit = slot - free_index;
    // Two shifts, since bit + 1 may be 64.
    ((slot + 1), (alloc_cache >> bit) >> 1)
}
// ANCHOR_END: take

fn view(span: &allocator::SpanSnapshot, when: &str) -> SpanView {
    SpanView {
        label: format!(
            "class {} ({} B), {} page(s), {when}",
            span.class, span.object_size, span.pages
        ),
        used: span.occupancy.chars().map(|c| c == '1').collect(),
        free_index: Some(span.free_index).filter(|i| *i < span.objects),
    }
}
