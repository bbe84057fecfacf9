//! Lesson 11: Alignment and cache lines — what field order costs, and what two counters on one cache line cost
//!
//! Part 1 measures real layouts: `size_of`, `align_of` and `offset_of!` of
//! the same fields under `repr(C)`, which keeps the written order (as C and Go
//! do), and under plain `repr(Rust)`, which lets the compiler reorder them.
//!
//! Part 2 runs two real threads that each increment their own counter, first
//! with the two counters side by side (one cache line, false sharing), then
//! with each in its own line (`crossbeam_utils::CachePadded`). This live run is
//! information, not a benchmark: the measured ratio for the book comes from
//! the criterion bench `cargo bench -p memsim --bench false_sharing`.
//!
//! Run with `--write-book` to refresh the book's figure.

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{explain, notice, section, title, wrote};
use lessons::svg::{Svg, legend};
use memsim::layout::{
    AdjacentCounters, LayoutRow, PaddedCounters, counter_distance, describe, hammer, layout_table,
};
use std::time::Duration;

fn main() {
    let args = Cli::new("lesson-11", "alignment and cache lines")
        .number(
            "--increments",
            "N",
            "increments per thread per round",
            5_000_000,
            1_000..=1_000_000_000,
        )
        .number(
            "--rounds",
            "N",
            "rounds per layout (the median is shown)",
            3,
            1..=101,
        )
        .flag(
            "--write-book",
            "also refresh the figure under book/runtime/img/",
        )
        .parse();
    let (increments, rounds) = if args.quick() {
        (200_000, 3)
    } else {
        (
            args.number("--increments"),
            args.number("--rounds") as usize,
        )
    };

    title("Lesson 11", "Alignment and cache lines");

    section("1. Field order decides the size (measured with offset_of!)");
    // ANCHOR: table
    let table = layout_table();
    for row in &table {
        println!("{}", describe(row));
    }
    // ANCHOR_END: table
    explain(
        "A field starts at a multiple of its alignment, and the size is rounded up to a multiple of \
         the largest alignment so that arrays stay aligned. u8 then u32 is 8 bytes either way; \
         u8, u32, u8 is 12 bytes in the order written and 8 with the u32 first. repr(C) keeps the \
         written order, as C and Go do; repr(Rust) let rustc put the u32 first on its own.",
    );
    notice(
        "in Go, and in repr(C) structs, the order you write is the order you get: sort fields from \
         the largest alignment down and the padding mostly disappears (MixedC: 40 bytes, the same \
         fields reordered: 24).",
    );

    section("2. False sharing (real threads, a live run)");
    let adjacent = AdjacentCounters::default();
    let padded = PaddedCounters::default();
    let (d_adj, same_adj) = counter_distance(&adjacent);
    let (d_pad, same_pad) = counter_distance(&padded);
    println!("adjacent counters: {d_adj} bytes apart, same 64-byte line: {same_adj}");
    println!("padded counters:   {d_pad} bytes apart, same 64-byte line: {same_pad}");
    // ANCHOR: live
    let median = |f: &dyn Fn() -> Duration| {
        let mut times: Vec<Duration> = (0..rounds).map(|_| f()).collect();
        times.sort();
        times[times.len() / 2]
    };
    let t_adj = median(&|| hammer(&AdjacentCounters::default(), increments));
    let t_pad = median(&|| hammer(&PaddedCounters::default(), increments));
    // ANCHOR_END: live
    let per_op = |t: Duration| t.as_nanos() as f64 / increments as f64;
    println!(
        "2 threads x {increments} increments, median of {rounds}: adjacent {:.1} ms ({:.2} ns per increment), padded {:.1} ms ({:.2} ns per increment)",
        t_adj.as_secs_f64() * 1e3,
        per_op(t_adj),
        t_pad.as_secs_f64() * 1e3,
        per_op(t_pad)
    );
    println!(
        "adjacent / padded: {:.2}x",
        t_adj.as_secs_f64() / t_pad.as_secs_f64()
    );
    notice(
        "the two threads never touch each other's counter, yet with the counters on one line every \
         increment must take the line from the other core. The ratio depends on the machine and on \
         whether both threads really run at once: on a busy machine they often take turns, and the \
         effect shrinks. The criterion bench measures it properly. Our runtime pads each P the same \
         way (runtime/src/scheduler: Box<[CachePadded<P>]>), so one P's hot run-queue indices do not \
         share a line with its neighbour's.",
    );

    let svg = draw_layouts(&table);
    let dir = artefacts::lesson_dir(11).expect("create target/lessons/lesson-11");
    wrote(
        "layout figure",
        &artefacts::write(&dir, "struct-layouts.svg", &svg).expect("write the figure"),
    );
    if args.flag("--write-book") {
        let img = artefacts::book_dir("runtime/img").expect("create book/runtime/img");
        wrote(
            "book figure",
            &artefacts::write(&img, "struct-layouts.svg", &svg).expect("write the book figure"),
        );
    }
}

const FIELD: &str = "#4e79a7";
const PAD: &str = "#f1ce63";

/// One row per struct, one cell per byte: fields blue, padding yellow.
fn draw_layouts(rows: &[LayoutRow]) -> String {
    let rows: Vec<&LayoutRow> = rows.iter().filter(|r| r.size <= 40).collect();
    let cell = 14.0;
    let left = 190.0;
    let max = rows.iter().map(|r| r.size).max().unwrap_or(8) as f64;
    let mut svg = Svg::new(
        left + max * cell + 40.0,
        40.0 + rows.len() as f64 * 34.0 + 30.0,
    );
    svg.text(
        10.0,
        20.0,
        "struct layouts, one cell per byte (measured with offset_of!)",
        13.0,
        "start",
    );
    for (i, row) in rows.iter().enumerate() {
        let y = 36.0 + i as f64 * 34.0;
        svg.text(
            left - 8.0,
            y + 12.0,
            &format!("{} ({}): {} B", row.name, row.repr, row.size),
            11.0,
            "end",
        );
        for b in 0..row.size {
            let field = row
                .fields
                .iter()
                .find(|f| b >= f.offset && b < f.offset + f.size);
            let (fill, tip) = match field {
                Some(f) => (
                    FIELD,
                    format!("{} at offset {}, {} B", f.name, f.offset, f.size),
                ),
                None => (PAD, format!("padding at byte {b}")),
            };
            svg.rect(
                left + b as f64 * cell,
                y,
                cell - 1.0,
                16.0,
                fill,
                Some(&tip),
            );
        }
        for f in &row.fields {
            svg.text(
                left + (f.offset as f64 + f.size as f64 / 2.0) * cell,
                y + 28.0,
                f.name,
                9.0,
                "middle",
            );
        }
    }
    let h = 40.0 + rows.len() as f64 * 34.0 + 20.0;
    legend(&mut svg, left, h, &[(FIELD, "field"), (PAD, "padding")]);
    svg.finish()
}
