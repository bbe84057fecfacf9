//! ex15's bench: the learner's router (or, with `--features solutions`, the
//! reference one) against `matchit` on the same route table and paths, in
//! one criterion group, so the figure that matters is the ratio. The target
//! is at most 15% slower than matchit.
//!
//! `cargo bench -p exercises --features solutions --bench ex15_router -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

#[path = "../tests/routes/mod.rs"]
mod table;

fn routers(c: &mut Criterion) {
    let mut ours = exercises::ex15_router::Router::new();
    let mut theirs = matchit::Router::new();
    for (i, route) in table::ROUTES.iter().enumerate() {
        ours.insert(route, i).expect("our router takes the table");
        theirs.insert(*route, i).expect("matchit takes the table");
    }
    let mut g = c.benchmark_group("ex15_router: match 34 paths");
    g.bench_function("matchit", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in table::PATHS {
                if let Ok(m) = theirs.at(black_box(p)) {
                    n += *m.value + m.params.len();
                }
            }
            n
        })
    });
    g.bench_function("ours (std only)", |b| {
        b.iter(|| {
            let mut n = 0;
            for p in table::PATHS {
                if let Some(m) = ours.at(black_box(p)) {
                    n += *m.value + m.params.len();
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, routers);
criterion_main!(benches);
