//! Lesson 09: Tri-color GC and write barriers — find an interleaving that frees a reachable object, then watch each barrier prevent it
//!
//! Go's collector marks while the program runs. The marker colours objects
//! white (not reached), grey (reached, not scanned) and black (scanned); at
//! the end every white object is freed. If the program, meanwhile, stores a
//! pointer to a white object into something already black and removes every
//! other path to it, the marker never comes back for it: a live object is
//! freed. Write barriers exist to make that impossible.
//!
//! This lesson is a **simulation**: a seeded scheduler interleaves the marker
//! with goroutines that move pointers around, so that an interleaving can be
//! searched for, printed and replayed. The heap is real: objects are
//! allocations in the course's allocator (`allocator::Heap`), mark bits are
//! per span, and sweep frees the unmarked objects back to their spans.
//!
//! Run with `--write-book` to refresh the book's figures.

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use lessons::svg::{Svg, legend};
use memsim::gc::{BarrierMode, Color, GcConfig, GraphSnapshot, Outcome, run, run_traced};
use std::collections::BTreeMap;

fn main() {
    let args = Cli::new("lesson-09", "tri-color GC and write barriers")
        .number(
            "--seeds",
            "N",
            "interleavings to search and to test per barrier mode",
            3_000,
            100..=1_000_000,
        )
        .flag(
            "--write-book",
            "also refresh the figures under book/runtime/img/",
        )
        .parse();
    let seeds = if args.quick() {
        1_000
    } else {
        args.number("--seeds")
    };

    title("Lesson 09", "Tri-color GC and write barriers");
    explain(
        "A simulated GC cycle: 6 objects in the real allocator's heap, 2 goroutines with 2 stack \
         slots each, 1 global. A seeded scheduler interleaves the concurrent marker with the \
         goroutines. Same seed, same interleaving, so anything found here can be replayed.",
    );

    // ANCHOR: search
    section("1. No barrier: search for an interleaving that frees a live object");
    let none = GcConfig::canonical(BarrierMode::None);
    let losing: Vec<Outcome> = (0..seeds)
        .map(|seed| run(&none, seed))
        .filter(|o| !o.lost.is_empty())
        .collect();
    let shortest = losing
        .iter()
        .min_by_key(|o| o.steps)
        .expect("with no barrier some seed should lose an object");
    // ANCHOR_END: search
    explain(&format!(
        "{} of {seeds} seeds lost a reachable object with no barrier. The shortest is seed {} \
         ({} steps). Step by step:",
        losing.len(),
        shortest.seed,
        shortest.steps
    ));
    let traced = run_traced(&none, shortest.seed);
    print_trace(&traced);
    notice(
        "both conditions of a lost object happened: a pointer to a white object was stored where \
         the marker had already been (black), and the only path the marker had not scanned yet was \
         cut. Nothing re-checked it, so mark termination found it white and sweep freed it.",
    );

    section("2. The same interleaving under each barrier");
    let mut table = Table::new([
        "barrier and protocol",
        "lost",
        "STW units",
        "of which stack slots",
        "garbage freed",
        "alloc bits == mark bits",
    ]);
    let mut runs = vec![
        GcConfig::bare(BarrierMode::Dijkstra),
        GcConfig::bare(BarrierMode::Yuasa),
    ];
    runs.splice(0..0, BarrierMode::all().map(GcConfig::canonical));
    for config in &runs {
        let o = run(config, shortest.seed);
        table.row([
            o.label.clone(),
            if o.lost.is_empty() {
                "-".into()
            } else {
                o.lost.join(",")
            },
            o.stw.total().to_string(),
            (o.stw.start_stack_slots + o.stw.termination_stack_slots).to_string(),
            o.garbage_freed.to_string(),
            o.sweep.alloc_bits_equal_mark_bits().to_string(),
        ]);
    }
    println!("{}", table.render());

    section("3. Why Dijkstra alone needs a stack re-scan");
    let dijkstra_bare = GcConfig::bare(BarrierMode::Dijkstra);
    match (0..seeds)
        .map(|seed| run(&dijkstra_bare, seed))
        .filter(|o| !o.lost.is_empty())
        .min_by_key(|o| o.steps)
    {
        Some(found) => {
            explain(&format!(
                "Dijkstra's barrier shades the new value of every heap write, but stack writes have no \
                 barrier. Seed {} loses {} when the stacks are not scanned again at the end:",
                found.seed,
                found.lost.join(",")
            ));
            print_trace(&run_traced(&dijkstra_bare, found.seed));
            let fixed = run_traced(&GcConfig::canonical(BarrierMode::Dijkstra), found.seed);
            let termination = fixed
                .trace
                .iter()
                .rev()
                .find(|s| s.text.starts_with("mark termination"))
                .map(|s| s.text.clone())
                .unwrap_or_default();
            explain(&format!(
                "With the re-scan (world stopped): {termination}. Lost: {}.",
                if fixed.lost.is_empty() {
                    "nothing".to_string()
                } else {
                    fixed.lost.join(",")
                }
            ));
            notice(
                "the pointer was hidden in a stack the marker had already scanned, and a stack write \
                 runs no barrier. Go 1.5 to 1.7 re-scanned every stack with the world stopped; with \
                 many goroutines that re-scan was most of the pause.",
            );
        }
        None => explain(&format!(
            "No seed among {seeds} lost an object under Dijkstra without re-scan; try more --seeds."
        )),
    }

    // ANCHOR: property
    section("4. Every mode over many interleavings");
    let mut table = Table::new([
        "barrier and protocol",
        "seeds",
        "seeds that lost objects",
        "STW units per cycle",
        "objects scanned concurrently per cycle",
    ]);
    for config in &runs {
        let mut lost = 0;
        let (mut stw, mut concurrent) = (0, 0);
        for seed in 0..seeds {
            let o = run(config, seed);
            lost += usize::from(!o.lost.is_empty());
            stw += o.stw.total();
            concurrent += o.concurrent_objects;
        }
        table.row([
            config.label(),
            seeds.to_string(),
            lost.to_string(),
            format!("{:.2}", stw as f64 / seeds as f64),
            format!("{:.2}", concurrent as f64 / seeds as f64),
        ]);
        if matches!(config.mode, BarrierMode::Hybrid) {
            println!("hybrid: {lost} of {seeds} seeds lost an object");
        }
    }
    // ANCHOR_END: property
    println!("\n{}", table.render());
    explain("Stop-the-world units per cycle as the number of goroutines grows (100 seeds each):");
    let mut scaling = Table::new([
        "goroutines",
        "dijkstra + stack re-scan",
        "yuasa + stack snapshot",
        "hybrid",
    ]);
    for goroutines in [2, 8, 32, 128] {
        let mut row = vec![goroutines.to_string()];
        for mode in [
            BarrierMode::Dijkstra,
            BarrierMode::Yuasa,
            BarrierMode::Hybrid,
        ] {
            let mut config = GcConfig::canonical(mode);
            config.shape.goroutines = goroutines;
            let total: usize = (0..SCALING_SEEDS)
                .map(|seed| run(&config, seed).stw.total())
                .sum();
            row.push(format!("{:.1}", total as f64 / SCALING_SEEDS as f64));
        }
        scaling.row(row);
    }
    println!("{}", scaling.render());
    notice(
        "the hybrid barrier loses nothing and needs no stop-the-world stack work: it shades the old \
         value (Yuasa) so no path can be cut, and the new value while the writer's stack is still \
         grey, so a pointer coming from an unscanned stack is not hidden either.",
    );

    section("5. Sweep: mark bits become allocation bits");
    let hybrid = run(&GcConfig::canonical(BarrierMode::Hybrid), shortest.seed);
    for span in &hybrid.sweep.spans {
        let used = span
            .alloc_bits
            .iter()
            .rposition(|&b| b)
            .map_or(8, |i| (i + 1).max(8));
        println!(
            "span {:#07x} ({:>2}-byte objects)  mark bits {}  alloc bits after sweep {}",
            span.span,
            span.object_size,
            bits(&span.mark_bits[..used]),
            bits(&span.alloc_bits[..used])
        );
    }
    explain(&format!(
        "Sweep freed {} unreachable objects. As in Go, each span's mark bits became its allocation bits \
         in one move (Heap::sweep_span: s.allocBits = s.gcmarkBits); reading each span back confirms \
         the two bitmaps are equal: {}.",
        hybrid.sweep.freed.len(),
        hybrid.sweep.alloc_bits_equal_mark_bits()
    ));

    let figure = draw(
        &traced,
        &run_traced(&GcConfig::canonical(BarrierMode::Hybrid), shortest.seed),
    );
    let dir = artefacts::lesson_dir(9).expect("create target/lessons/lesson-09");
    wrote(
        "object graph",
        &artefacts::write(&dir, "gc-lost-object.svg", &figure).expect("write the figure"),
    );
    let json = serde_json::to_string_pretty(&traced).expect("serialise the outcome");
    wrote(
        "interleaving",
        &artefacts::write(&dir, "gc-lost-object.json", &json).expect("write the trace"),
    );
    if args.flag("--write-book") {
        let img = artefacts::book_dir("runtime/img").expect("create book/runtime/img");
        wrote(
            "book figure",
            &artefacts::write(&img, "gc-lost-object.svg", &figure).expect("write the book figure"),
        );
    }
}

/// Seeds per row of the stop-the-world scaling table.
const SCALING_SEEDS: u64 = 100;

fn bits(bits: &[bool]) -> String {
    bits.iter().map(|&b| if b { '1' } else { '0' }).collect()
}

fn print_trace(outcome: &Outcome) {
    for step in &outcome.trace {
        let who = match step.actor {
            memsim::gc::Actor::Setup => "setup".to_string(),
            memsim::gc::Actor::StopTheWorld => "STW".to_string(),
            memsim::gc::Actor::Marker => "marker".to_string(),
            memsim::gc::Actor::Mutator(g) => format!("G{g}"),
        };
        println!("  {:>3}  {who:<6}  {}", step.index, step.text);
    }
}

const WHITE: &str = "#ffffff";
const GREY: &str = "#b0b0b0";
const BLACK: &str = "#3a3a3a";
const LOST: &str = "#e15759";

/// Draws three panels: the graph when marking starts, at termination with no
/// barrier (the lost object in red), and at termination under the hybrid barrier.
fn draw(none: &Outcome, hybrid: &Outcome) -> String {
    let before = none.before.as_ref().expect("traced run has a before graph");
    let after_none = none.after.as_ref().expect("traced run has an after graph");
    let after_hybrid = hybrid
        .after
        .as_ref()
        .expect("traced run has an after graph");
    let positions = place(before, &[after_none, after_hybrid]);
    let cols = positions.values().map(|p| p.0).fold(0.0, f64::max);
    let panel_w = 110.0 + cols * COL_W;
    let rows = positions.values().map(|p| p.1).fold(0.0, f64::max) + 1.0;
    let height = 50.0 + rows * ROW_H + 30.0;
    let mut svg = Svg::new(panel_w * 3.0 + 20.0, height);
    let panels = [
        ("when marking starts (all white)", before, false),
        ("mark termination, no barrier", after_none, true),
        ("mark termination, hybrid barrier", after_hybrid, true),
    ];
    for (i, (caption, graph, coloured)) in panels.iter().enumerate() {
        let x0 = 10.0 + i as f64 * panel_w;
        svg.text(x0 + 6.0, 20.0, caption, 13.0, "start");
        draw_panel(&mut svg, x0, 40.0, graph, before, &positions, *coloured);
    }
    legend(
        &mut svg,
        16.0,
        height - 10.0,
        &[
            (GREY, "grey"),
            (BLACK, "black (or scanned root)"),
            (LOST, "reachable but white: freed (lost)"),
            (NEW_EDGE, "pointer written during marking"),
        ],
    );
    svg.finish()
}

const COL_W: f64 = 80.0;
const ROW_H: f64 = 50.0;
const NEW_EDGE: &str = "#f28e2b";

/// Column = distance from the roots in the starting graph, row = order found;
/// objects allocated during marking go in a last column.
fn place(graph: &GraphSnapshot, later: &[&GraphSnapshot]) -> BTreeMap<String, (f64, f64)> {
    let mut depth: BTreeMap<String, usize> = BTreeMap::new();
    let mut frontier: Vec<String> = Vec::new();
    for (root, _) in &graph.roots {
        for e in graph.edges.iter().filter(|e| &e.from == root) {
            if !depth.contains_key(&e.to) {
                depth.insert(e.to.clone(), 0);
                frontier.push(e.to.clone());
            }
        }
    }
    let mut d = 0;
    while !frontier.is_empty() {
        d += 1;
        let mut next = Vec::new();
        for n in &frontier {
            for e in graph.edges.iter().filter(|e| &e.from == n) {
                if !depth.contains_key(&e.to) {
                    depth.insert(e.to.clone(), d);
                    next.push(e.to.clone());
                }
            }
        }
        frontier = next;
    }
    let max_depth = depth.values().copied().max().unwrap_or(0);
    let mut per_column: BTreeMap<usize, usize> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (i, (root, _)) in graph.roots.iter().enumerate() {
        out.insert(root.clone(), (0.0, i as f64));
    }
    for node in &graph.nodes {
        let col = depth.get(&node.name).copied().unwrap_or(max_depth + 1);
        let row = per_column.entry(col).or_default();
        out.insert(node.name.clone(), (1.0 + col as f64, *row as f64));
        *row += 1;
    }
    let mut new_row = 0.0;
    for node in later.iter().flat_map(|g| &g.nodes) {
        if !out.contains_key(&node.name) {
            out.insert(node.name.clone(), (3.0 + max_depth as f64, new_row));
            new_row += 1.0;
        }
    }
    out
}

fn draw_panel(
    svg: &mut Svg,
    x0: f64,
    y0: f64,
    graph: &GraphSnapshot,
    start: &GraphSnapshot,
    at: &BTreeMap<String, (f64, f64)>,
    coloured: bool,
) {
    let pos = |name: &str| {
        let (c, r) = at.get(name).copied().unwrap_or((0.0, 0.0));
        (
            x0 + 10.0
                + if c == 0.0 {
                    0.0
                } else {
                    90.0 + (c - 1.0) * COL_W
                },
            y0 + 10.0 + r * ROW_H,
        )
    };
    let box_w = |name: &str| {
        if name.starts_with('G') || name.starts_with("global") {
            54.0
        } else {
            30.0
        }
    };
    for e in &graph.edges {
        let (fx, fy) = pos(&e.from);
        let (tx, ty) = pos(&e.to);
        let (sx, sy) = (fx + box_w(&e.from), fy + 12.0);
        let (ex, ey) = if (tx - fx).abs() < 1.0 && e.from == e.to {
            (tx + 30.0, ty + 4.0)
        } else if tx > fx + 1.0 {
            (tx, ty + 12.0)
        } else {
            (tx + 15.0, if ty > fy { ty } else { ty + 24.0 })
        };
        let written = !start.edges.iter().any(|s| s.from == e.from && s.to == e.to);
        let stroke = if written { NEW_EDGE } else { "#777777" };
        svg.arrow(
            (sx, sy),
            (ex, ey),
            stroke,
            Some(&format!("{} -> {}", e.from, e.to)),
        );
    }
    for (root, scanned) in &graph.roots {
        let (x, y) = pos(root);
        let fill = if coloured && *scanned { BLACK } else { WHITE };
        svg.rect(
            x,
            y,
            54.0,
            24.0,
            fill,
            Some(if *scanned {
                "root, scanned"
            } else {
                "root, not scanned yet"
            }),
        );
        svg.outline(x, y, 54.0, 24.0, "#333333");
        svg.text(x + 27.0, y + 38.0, root, 10.0, "middle");
    }
    for node in &graph.nodes {
        let (x, y) = pos(&node.name);
        let (fill, note) = match (coloured, node.color, node.reachable) {
            (false, _, _) => (WHITE, "white"),
            (true, Color::White, true) => (LOST, "reachable but white: lost"),
            (true, Color::White, false) => (WHITE, "white: garbage"),
            (true, Color::Grey, _) => (GREY, "grey"),
            (true, Color::Black, true) => (BLACK, "black"),
            (true, Color::Black, false) => (
                BLACK,
                "black but unreachable: floating garbage, freed next cycle",
            ),
        };
        svg.rect(
            x,
            y,
            30.0,
            24.0,
            fill,
            Some(&format!("{} @ {:#x}: {note}", node.name, node.addr)),
        );
        svg.outline(
            x,
            y,
            30.0,
            24.0,
            if node.reachable { "#333333" } else { "#bbbbbb" },
        );
        let label = match (node.reachable, coloured && node.color != Color::White) {
            (true, _) => node.name.clone(),
            (false, true) => format!("{} (floating)", node.name),
            (false, false) => format!("{} (garbage)", node.name),
        };
        svg.text(x + 15.0, y + 38.0, &label, 10.0, "middle");
    }
}
