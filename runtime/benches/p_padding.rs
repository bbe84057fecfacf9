//! p_padding: what padding each P to its own cache line buys.
//!
//! Two threads, one per P, each run the scheduler's real per-slice bookkeeping
//! on its own P (`schedtick`, the poll counter: what `execute` writes on every
//! time slice). `padded` lays the Ps out as the scheduler does,
//! `Box<[CachePadded<P>]>`; `packed` puts them back to back in a `Box<[P]>`,
//! where the end of P0 and the start of P1 can share a cache line. Both
//! layouts are in one criterion group, so the figure is the ratio
//! packed / padded: what false sharing would cost the scheduler's hot path.

use std::sync::Barrier;
use std::thread;

use criterion::{Criterion, criterion_group, criterion_main};
use runtime::padding_probe::ProcArray;

/// Time slices each P runs per iteration, and polls counted per slice (a
/// short slice: a G that yields after one or two polls).
const SLICES: u64 = 200_000;
const POLLS_PER_SLICE: u64 = 2;

/// Both Ps run their slices at once, one thread each; the iteration ends when
/// both are done.
fn run_both(ps: &ProcArray, start: &Barrier) -> u64 {
    thread::scope(|s| {
        let other = s.spawn(|| {
            start.wait();
            ps.run_slices(1, SLICES, POLLS_PER_SLICE)
        });
        start.wait();
        let mine = ps.run_slices(0, SLICES, POLLS_PER_SLICE);
        mine + other.join().expect("the other P's thread panicked")
    })
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("p_padding");
    println!(
        "hot fields written every slice, at these offsets inside a P: {:?}",
        ProcArray::hot_field_offsets()
    );
    let start = Barrier::new(2);
    for (name, ps) in [
        ("padded", ProcArray::padded(2)),
        ("packed", ProcArray::packed(2)),
    ] {
        println!("{name}: {} bytes from one P to the next", ps.stride());
        group.bench_function(name, |b| b.iter(|| run_both(&ps, &start)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
