//! Lesson 10: Stacks and escape analysis — a goroutine stack that grows by copying, a task whose future is its stack, and where variables live
//!
//! Part 1 is a **simulation** of Go's contiguous goroutine stacks: 2 KiB to
//! start, a check in every function prologue, growth by doubling and copying
//! with the pointers into the stack adjusted, shrinking at GC time; and the
//! segmented stacks Go had before 1.3, with their hot split.
//!
//! Part 2 is **real**: a task in our runtime has no stack of its own. Its
//! future is a state machine whose size the compiler fixes, and it holds every
//! local that lives across an `.await`. The lesson prints real `size_of_val`
//! figures and counts the real heap allocations that spawning costs, through a
//! counting wrapper around the course's allocator (`allocator::SpanAlloc`).
//!
//! Part 3 runs a small escape analysis that reproduces Go's `-gcflags=-m`
//! verdicts on the canonical cases.
//!
//! Run with `--write-book` to refresh the book's figure.

use allocator::SpanAlloc;
use lessons::artefacts;
use lessons::chart::BarChart;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use memsim::counting::{Counting, Counts};
use memsim::escape::{analyze, canonical_cases};
use memsim::stack::{GoStack, Word, hot_split};
use runtime::Runtime;
use std::future::Future;

// ANCHOR: global_allocator
/// Every allocation of this program goes through the course's allocator, counted.
#[global_allocator]
static HEAP: Counting<SpanAlloc> = Counting::new(SpanAlloc::new());
// ANCHOR_END: global_allocator

fn main() {
    let args = Cli::new("lesson-10", "stacks and escape analysis")
        .number(
            "--depth",
            "N",
            "recursion depth for the simulated stack",
            400,
            10..=100_000,
        )
        .number(
            "--tasks",
            "N",
            "tasks spawned per kind of future",
            1000,
            10..=1_000_000,
        )
        .flag(
            "--write-book",
            "also refresh the figure under book/runtime/img/",
        )
        .parse();
    let (depth, tasks) = if args.quick() {
        (200, 200)
    } else {
        (
            args.number("--depth") as usize,
            args.number("--tasks") as usize,
        )
    };

    title("Lesson 10", "Stacks and escape analysis");
    simulated_stack(depth);
    segmented_vs_contiguous();
    let sizes = futures_are_stacks(tasks);
    escape_analysis();

    let mut chart = BarChart::new("bytes on the heap per spawned task (measured)");
    for (label, bytes) in &sizes {
        chart = chart.bar(label, *bytes);
    }
    let svg = chart.to_svg();
    let dir = artefacts::lesson_dir(10).expect("create target/lessons/lesson-10");
    wrote(
        "chart",
        &artefacts::write(&dir, "task-bytes.svg", &svg).expect("write the chart"),
    );
    if args.flag("--write-book") {
        let img = artefacts::book_dir("runtime/img").expect("create book/runtime/img");
        wrote(
            "book figure",
            &artefacts::write(&img, "task-bytes.svg", &svg).expect("write the book figure"),
        );
    }
}

fn simulated_stack(depth: usize) {
    section("1. A goroutine stack grows by copying (simulated)");
    explain(&format!(
        "A recursive function, {depth} calls deep, 48-byte frames. Each frame stores its depth and a \
         pointer to its parent frame's depth: pointers into the stack that every copy must fix."
    ));
    // ANCHOR: recursion
    let mut stack = GoStack::new();
    stack.call("main", 16);
    stack.store(0, Word::Scalar(0));
    for d in 1..depth as u64 {
        stack.call("recurse", 48);
        stack.store(0, Word::Scalar(d));
        let parent = stack.slot_addr_in(stack.depth() - 2, 0);
        stack.store(1, Word::Ptr(parent));
    }
    // ANCHOR_END: recursion
    for line in stack.log() {
        println!("  {line}");
    }
    let peak = stack.size();
    let mut broken = 0;
    for d in (1..depth as u64).rev() {
        match (stack.load(0), stack.load(1)) {
            (Word::Scalar(v), Word::Ptr(p)) if v == d && stack.read(p) == Word::Scalar(d - 1) => {}
            _ => broken += 1,
        }
        stack.ret();
    }
    let s = stack.stats();
    println!(
        "stack {} B after the recursion; {} grows, {} B copied, {} pointers adjusted; parent pointers broken: {broken}",
        peak, s.morestack, s.bytes_copied, s.pointers_adjusted
    );
    let mut sizes = vec![stack.size()];
    while stack.shrink_if_underused() {
        sizes.push(stack.size());
    }
    println!(
        "after returning, each GC halves the stack: {}",
        sizes
            .iter()
            .map(|s| format!("{s} B"))
            .collect::<Vec<_>>()
            .join(" -> ")
    );
    notice(
        "growth is rare (log2 of the final size) and each copy is proportional to what is in use, \
         so the total copying is amortised O(1) per byte of stack. The price is that the runtime \
         must know every pointer into the stack; Go's compiler emits stack maps for that.",
    );
}

fn segmented_vs_contiguous() {
    section("2. Segmented stacks and the hot split (simulated)");
    let iterations = 100_000;
    let (seg, contiguous) = hot_split(4096, 7, 400, iterations);
    explain(&format!(
        "Seven 400-byte frames fill a 4 KiB segment to its edge; then a loop calls a 400-byte function \
         {iterations} times."
    ));
    let mut t = Table::new([
        "stack kind",
        "morestack calls",
        "stack allocations",
        "stack frees",
        "bytes copied",
    ]);
    for (kind, s) in [
        ("segmented (Go <= 1.2)", seg),
        ("contiguous (Go >= 1.3)", contiguous),
    ] {
        t.row([
            kind.to_string(),
            s.morestack.to_string(),
            s.allocations.to_string(),
            s.frees.to_string(),
            s.bytes_copied.to_string(),
        ]);
    }
    println!("{}", t.render());
    notice(
        "the segmented stack allocates and frees a segment on every call of the loop, because the \
         call sits exactly on a segment boundary; the contiguous stack copies while it grows to fit the deepest call (twice here), and never again.",
    );
}

// ANCHOR: futures
async fn small_task() -> u64 {
    let x = 1u64;
    runtime::yield_now().await;
    x + 1
}

async fn big_local_task() -> u64 {
    let buf = [1u8; 16 * 1024]; // alive across the await: stored in the future
    runtime::yield_now().await;
    buf.iter().map(|&b| u64::from(b)).sum()
}

async fn boxed_local_task() -> u64 {
    let buf = Box::new([1u8; 16 * 1024]); // only the 8-byte Box is in the future
    runtime::yield_now().await;
    buf.iter().map(|&b| u64::from(b)).sum()
}

async fn rarely_big(big: bool) -> u64 {
    if big {
        big_local_task().await
    } else {
        small_task().await
    }
}

async fn rarely_big_boxed(big: bool) -> u64 {
    if big {
        Box::pin(big_local_task()).await
    } else {
        small_task().await
    }
}
// ANCHOR_END: futures

/// Spawns `n` copies of `make()` on `rt`, waits for all of them, and returns
/// the future's size and the heap counts from the first spawn to the last join.
fn spawn_cost<F, Fut>(rt: &Runtime, n: usize, make: F) -> (usize, Counts)
where
    F: Fn() -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let size = std::mem::size_of_val(&make());
    let mut handles = Vec::with_capacity(n);
    let counts = rt.block_on(async {
        let before = HEAP.counts();
        for _ in 0..n {
            handles.push(runtime::spawn(make()));
        }
        for h in handles.drain(..) {
            h.await.expect("task finished");
        }
        HEAP.counts().since(before)
    });
    (size, counts)
}

fn futures_are_stacks(tasks: usize) -> Vec<(String, f64)> {
    section("3. A task's future is its stack (real, measured)");
    explain(
        "Our runtime's tasks are futures. A future is a struct holding every local that lives \
         across an .await, so its size is fixed at compile time by its largest state. Spawning \
         boxes it into a task on the heap. Measured with std::mem::size_of_val, and by counting \
         every allocation from the first spawn to the last join, through the course's allocator:",
    );
    let rt = Runtime::builder()
        .procs(2)
        .build()
        .expect("build the runtime");
    let mut table = Table::new([
        "future",
        "size_of_val (B)",
        "heap allocs per task",
        "heap bytes per task",
    ]);
    let mut chart = Vec::new();
    let mut row = |label: &str, (size, c): (usize, Counts)| {
        let per = c.bytes as f64 / tasks as f64;
        table.row([
            label.to_string(),
            size.to_string(),
            format!("{:.2}", c.allocs as f64 / tasks as f64),
            format!("{per:.0}"),
        ]);
        chart.push((label.to_string(), per));
    };
    row("small_task()", spawn_cost(&rt, tasks, small_task));
    row("big_local_task()", spawn_cost(&rt, tasks, big_local_task));
    row(
        "boxed_local_task()",
        spawn_cost(&rt, tasks, boxed_local_task),
    );
    row(
        "rarely_big(false)",
        spawn_cost(&rt, tasks, || rarely_big(false)),
    );
    row(
        "rarely_big_boxed(false)",
        spawn_cost(&rt, tasks, || rarely_big_boxed(false)),
    );
    println!("{}", table.render());
    notice(
        "rarely_big(false) never touches its 16 KiB buffer, yet every task pays for it: a future is \
         as big as its biggest path. A goroutine would start at 2 KiB and grow only if that path \
         ran. Box::pin moves the big path to the heap, allocated only when it runs, so the task \
         is small again. boxed_local_task pays the same 16 KiB in a second allocation, but only \
         from its first poll to its end, not while it waits in a run queue.",
    );
    chart
}

fn escape_analysis() {
    section("4. Escape analysis: where Go puts a variable");
    explain(
        "Each case in Go, then the verdicts of a small escape analysis over a toy language, beside what go build -gcflags=-m prints:",
    );
    let mut agree = 0;
    let cases = canonical_cases();
    for case in &cases {
        let got = analyze(&case.func).messages();
        let ok = got == case.expected;
        agree += usize::from(ok);
        println!("\n  // {}", case.title);
        for line in case.go.lines() {
            println!("  {line}");
        }
        for v in analyze(&case.func).verdicts {
            println!("    => {:<40} ({})", v.message, v.reason);
        }
        if !ok {
            println!("    !! Go prints {:?}", case.expected);
        }
    }
    println!(
        "\nescape analysis: {agree} of {} cases agree with Go's verdicts",
        cases.len()
    );
    notice(
        "a variable moves to the heap when its address can outlive the frame: returned, stored in a \
         global, captured by a goroutine, held by something already on the heap, or when its size \
         is too big or unknown at compile time. Rust makes the same choice explicit: a value is on \
         the stack (or in the future) unless you Box it.",
    );
}
