//! Lesson 19: Heap profiles — allocs versus in-use, and a leak found by diffing
//!
//! Go's heap profile samples about one allocation per 512 KiB
//! (`MemProfileRate`) and keeps, per allocation stack, what was allocated
//! (`alloc_space`) and what is still live (`inuse_space`). A leak is not a
//! big number in either: it is an `inuse_space` that keeps *growing*. So
//! the tool is the diff of two snapshots, `go tool pprof -base old new`.
//!
//! This binary runs on the course allocator (`#[global_allocator]`), whose
//! sampler walks the allocating stack at each sample. A service caches the
//! pages it renders, keyed by request, and never evicts: between two
//! snapshots the in-use growth sits under `render_page` called from
//! `PageCache::get_or_render`. A bounded cache (evict the oldest past a
//! cap) allocates the same bytes and its in-use growth is flat.

use std::collections::{HashMap, VecDeque};
use std::hint::black_box;

use allocator::SpanAlloc;
use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use profiler::heap::{by_stack, diff, snapshot, to_pprof};

#[global_allocator]
static ALLOC: SpanAlloc = SpanAlloc::new();

// ANCHOR: cache
/// Rendered pages by request id; `cap` 0 means never evict (the leak).
struct PageCache {
    pages: HashMap<u64, Vec<u8>>,
    order: VecDeque<u64>,
    cap: usize,
}

impl PageCache {
    #[inline(never)]
    fn get_or_render(&mut self, id: u64) -> usize {
        if let Some(p) = self.pages.get(&id) {
            return p.len();
        }
        let page = render_page(id);
        let n = page.len();
        self.pages.insert(id, page);
        self.order.push_back(id);
        if self.cap > 0 && self.order.len() > self.cap {
            let old = self.order.pop_front().expect("non-empty");
            self.pages.remove(&old);
        }
        n
    }
}
// ANCHOR_END: cache

/// A 4 KiB page for request `id`.
#[inline(never)]
fn render_page(id: u64) -> Vec<u8> {
    let mut v = vec![0u8; 4096];
    for (i, b) in v.iter_mut().enumerate() {
        *b = (id as usize + i) as u8;
    }
    v
}

/// Serves `n` distinct requests; returns the in-use growth (bytes) per
/// stack between a snapshot before and one after, and the two snapshots'
/// pprof files.
fn serve(cache: &mut PageCache, first: u64, n: u64) -> (Vec<(String, i64)>, Vec<u8>, Vec<u8>) {
    let s1 = snapshot();
    for id in first..first + n {
        black_box(cache.get_or_render(id));
    }
    let s2 = snapshot();
    let d = diff(&by_stack(&s1), &by_stack(&s2));
    let mut growth: Vec<(String, i64)> = d
        .into_iter()
        .map(|(stack, v)| {
            // Name a stack by its innermost frame of this lesson.
            let name = stack
                .iter()
                .rev()
                .find(|f| f.starts_with("lesson_19::"))
                .or(stack.last())
                .cloned()
                .unwrap_or_default();
            (name, v[3])
        })
        .collect();
    growth.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
    (growth, to_pprof(&s1, false), to_pprof(&s2, false))
}

fn main() {
    let args = Cli::new("lesson-19", "heap profiles and a leak")
        .number(
            "--requests",
            "N",
            "distinct requests between snapshots",
            20_000,
            100..=1_000_000,
        )
        .parse();
    let n = if args.quick() {
        6_000
    } else {
        args.number("--requests")
    };
    title(
        "Lesson 19",
        "Heap profiles: allocs versus in-use, and a leak",
    );
    explain(&format!(
        "{n} distinct requests, each rendering a 4 KiB page into a cache, between two \
         heap snapshots; one sample per {} KiB allocated on average.",
        allocator::DEFAULT_PROFILE_RATE / 1024
    ));
    let dir = artefacts::lesson_dir(19).expect("create target/lessons/lesson-19");

    let mut leaky = PageCache {
        pages: HashMap::new(),
        order: VecDeque::new(),
        cap: 0,
    };
    let (growth, p1, p2) = serve(&mut leaky, 0, n);
    std::fs::write(dir.join("heap-1.pb.gz"), p1).expect("write");
    std::fs::write(dir.join("heap-2.pb.gz"), p2).expect("write");
    wrote(
        "two snapshots (go tool pprof -top -base heap-1.pb.gz heap-2.pb.gz)",
        &dir.join("heap-2.pb.gz"),
    );
    section("In-use growth between the snapshots, by stack: the cache that never evicts");
    let mut t = Table::new(["innermost lesson frame", "inuse_space growth"]);
    for (f, b) in growth.iter().take(4) {
        t.row([
            f.clone(),
            format!("{:.1} MiB", *b as f64 / (1 << 20) as f64),
        ]);
    }
    t.print();
    let (top, leak) = growth.first().cloned().unwrap_or_default();
    println!("leak: {leak} bytes in use grew under {top}");
    println!("expected: about {} bytes (the pages kept)", n * 4096);

    let mut bounded = PageCache {
        pages: HashMap::new(),
        order: VecDeque::new(),
        cap: 256,
    };
    let (growth, _, _) = serve(&mut bounded, 0, n);
    let fixed: i64 = growth
        .iter()
        .filter(|(f, _)| f.contains("render_page"))
        .map(|(_, b)| b)
        .sum();
    section("The same requests through a cache bounded at 256 pages");
    println!("after the fix: {fixed} bytes in use grew under render_page");
    notice(
        "both caches allocate the same bytes (alloc_space); only the leaky one keeps them \
         (inuse_space). One snapshot shows a big cache; the diff of two shows one that \
         grows, and names the stack that keeps what it allocates.",
    );
}
