//! How many allocations `runtime::sync::Pool` saves, counted by the course
//! allocator: the workload of runtime/benches/pool.rs (64 Gs on 4 Ps, 8
//! requests each, a 64 KiB buffer per request held across a yield) with a
//! fresh buffer per request, with a `Mutex<Vec<_>>` pool and with the per-P
//! pool.
//!
//! This test binary runs on `SpanAlloc`. A 64 KiB buffer is a large object
//! (over 32 KiB), which the allocator counts where it happens, so the
//! buffer counts are exact; the totals (small objects too: the Gs, their
//! wakers) are read after the runtime is dropped and its Ms have exited,
//! which flushes their thread caches' counts. Run with `--nocapture` to
//! see the table (the book's pool page copies it).
#![cfg(not(any(loom, asan)))] // the allocator is a dev-dependency only outside those

use std::sync::{Arc, Mutex};

use allocator::SpanAlloc;
use runtime::sync::Pool;

#[global_allocator]
static ALLOC: SpanAlloc = SpanAlloc::new();

const GS: usize = 64;
const REQUESTS: usize = 8;
const PROCS: usize = 4;
#[path = "../benches/common/buffers.rs"]
mod buffers;
use buffers::{Buffers, CAP, Locked, NoPool, PerP, RESPONSE};

async fn serve<B: Buffers>(bufs: Arc<B>) {
    let hs: Vec<_> = (0..GS)
        .map(|g| {
            let bufs = bufs.clone();
            runtime::spawn(async move {
                for r in 0..REQUESTS {
                    let mut buf = bufs.get();
                    buf.resize(RESPONSE, (g * REQUESTS + r) as u8);
                    runtime::yield_now().await;
                    assert_eq!(buf[RESPONSE - 1], (g * REQUESTS + r) as u8);
                    bufs.put(buf);
                }
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
}

/// (64 KiB buffers allocated during the workload, all objects allocated
/// from the runtime's start to its end).
fn measure<B: Buffers>(make: impl FnOnce() -> B + Send) -> (u64, u64) {
    let before_all = ALLOC.stats();
    let rt = runtime::Runtime::builder().procs(PROCS).build().unwrap();
    // Made inside the runtime: the per-P pool gets one local per P.
    let bufs = Arc::new(rt.block_on(async { make() }));
    let before = ALLOC.stats().large.allocs;
    rt.block_on(serve(bufs.clone()));
    let large = ALLOC.stats().large.allocs - before;
    drop(bufs);
    drop(rt);
    let total = ALLOC.stats().total_allocs - before_all.total_allocs;
    (large, total)
}

#[test]
fn the_per_p_pool_allocates_a_buffer_per_g_not_per_request() {
    let requests = (GS * REQUESTS) as u64;
    let none = measure(|| NoPool);
    let locked = measure(|| Locked(Mutex::new(Vec::new())));
    let ours = measure(|| PerP(Pool::new(|| Vec::with_capacity(CAP))));
    eprintln!("{GS} Gs x {REQUESTS} requests on {PROCS} Ps, 64 KiB buffers:");
    eprintln!(
        "{:<12} {:>16} {:>18}",
        "source", "64 KiB buffers", "all allocations"
    );
    for (name, (large, total)) in [
        ("no pool", none),
        ("Mutex<Vec>", locked),
        ("per-P Pool", ours),
    ] {
        eprintln!("{name:<12} {large:>16} {total:>18}");
    }
    assert_eq!(none.0, requests, "no pool: one buffer per request");
    // A `get` allocates only when every buffer made so far is held by
    // another G; the per-P pool may also leave one in each P's private
    // slot (and the no-P slot), which other Ps do not steal.
    assert!(
        (1..=GS as u64).contains(&locked.0),
        "Mutex<Vec>: at most one buffer per G, got {}",
        locked.0
    );
    assert!(
        (1..=(GS + PROCS + 1) as u64).contains(&ours.0),
        "per-P pool: at most one buffer per G plus one per local, got {}",
        ours.0
    );
    assert!(
        ours.1 + requests / 2 < none.1,
        "the pool saves most of the per-request allocations: {} vs {}",
        ours.1,
        none.1
    );
}
