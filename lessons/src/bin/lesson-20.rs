//! Lesson 20: Block and mutex profiles — a contended lock, found and fixed by sharding
//!
//! A CPU profile cannot see a G that is *waiting*: it burns no CPU. Go has
//! two profiles for that, both fed by its locks and channels: the **block**
//! profile (how long Gs waited, charged to where they waited) and the
//! **mutex** profile (how long a lock holder kept others waiting, charged
//! to where the holder locked, recorded at unlock and scaled by the waiters
//! still queued, Go 1.22, go#61015). `runtime::sync` records both; the
//! profiler writes them as `profile.proto` (`/debug/pprof/block`, `mutex`).
//!
//! The experiment: 8 Gs on 2 Ps update a shared table of counters, each
//! update holding the table's lock across a yield (the shape of "I/O under
//! a lock"). One lock: every G queues behind it. Sixteen shards, a G's keys
//! in its own shard: the same work, next to no waiting. Both profiles are
//! measured before and after, at this file's lock sites only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use runtime::Runtime;
use runtime::sync::{Mutex, Profile, WaitRecord, wait_records};

const SHARDS: usize = 16;

// ANCHOR: tables
/// One lock over the whole table.
struct OneLock(Mutex<HashMap<u64, u64>>);

/// The table split by key into shards, each behind its own lock.
struct Sharded(Vec<Mutex<HashMap<u64, u64>>>);

impl OneLock {
    async fn add(&self, key: u64) {
        let mut t = self.0.lock().await;
        runtime::yield_now().await; // work done while holding the lock
        *t.entry(key).or_insert(0) += 1;
    }
}

impl Sharded {
    async fn add(&self, key: u64) {
        let mut t = self.0[key as usize % SHARDS].lock().await;
        runtime::yield_now().await;
        *t.entry(key).or_insert(0) += 1;
    }
}
// ANCHOR_END: tables

/// (waits, delay ns) recorded at this file's sites for one profile.
fn here(records: &[WaitRecord], which: Profile) -> (u64, u64) {
    records
        .iter()
        .filter(|r| r.profile == which && r.location.file().ends_with("lesson-20.rs"))
        .fold((0, 0), |(n, ns), r| (n + r.count, ns + r.total_ns))
}

fn delta(before: (u64, u64), after: (u64, u64)) -> (u64, u64) {
    (after.0 - before.0, after.1 - before.1)
}

fn main() {
    let args = Cli::new("lesson-20", "block and mutex profiles")
        .number("--gs", "N", "Gs updating the table", 8, 2..=64)
        .number("--updates", "N", "updates per G", 400, 1..=100_000)
        .parse();
    let (gs, updates) = if args.quick() {
        (8, 150)
    } else {
        (args.number("--gs"), args.number("--updates"))
    };
    title("Lesson 20", "Block and mutex profiles");
    explain(&format!(
        "{gs} Gs on 2 Ps, {updates} updates each; G i updates keys congruent to i modulo \
         {SHARDS}, so with shards no two Gs share a lock. Each update holds its lock \
         across a yield."
    ));
    let rt = Runtime::builder()
        .procs(2)
        .build()
        .expect("build the runtime");
    let dir = artefacts::lesson_dir(20).expect("create target/lessons/lesson-20");

    let one = Arc::new(OneLock(Mutex::new(HashMap::new())));
    let r0 = wait_records();
    let t0 = Instant::now();
    rt.block_on(async {
        let hs: Vec<_> = (0..gs)
            .map(|g| {
                let one = one.clone();
                runtime::spawn(async move {
                    for u in 0..updates {
                        one.add(g + (u % 4) * SHARDS as u64).await;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.expect("a G");
        }
    });
    let one_time = t0.elapsed();
    let r1 = wait_records();
    std::fs::write(
        dir.join("block-one-lock.pb.gz"),
        profiler::contention::to_pprof(&r1, Profile::Block),
    )
    .expect("write");
    std::fs::write(
        dir.join("mutex-one-lock.pb.gz"),
        profiler::contention::to_pprof(&r1, Profile::Mutex),
    )
    .expect("write");

    let sharded = Arc::new(Sharded(
        (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
    ));
    let t1 = Instant::now();
    rt.block_on(async {
        let hs: Vec<_> = (0..gs)
            .map(|g| {
                let sharded = sharded.clone();
                runtime::spawn(async move {
                    for u in 0..updates {
                        sharded.add(g + (u % 4) * SHARDS as u64).await;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.expect("a G");
        }
    });
    let shard_time = t1.elapsed();
    let r2 = wait_records();
    std::fs::write(
        dir.join("mutex-sharded.pb.gz"),
        profiler::contention::to_pprof(&r2, Profile::Mutex),
    )
    .expect("write");
    wrote(
        "block and mutex profiles (go tool pprof -top FILE)",
        &dir.join("mutex-one-lock.pb.gz"),
    );

    let b1 = delta(here(&r0, Profile::Block), here(&r1, Profile::Block));
    let m1 = delta(here(&r0, Profile::Mutex), here(&r1, Profile::Mutex));
    let b2 = delta(here(&r1, Profile::Block), here(&r2, Profile::Block));
    let m2 = delta(here(&r1, Profile::Mutex), here(&r2, Profile::Mutex));
    section("The two profiles, at this lesson's lock sites");
    let mut t = Table::new([
        "table",
        "block waits",
        "block delay",
        "mutex events",
        "mutex delay",
        "wall time",
    ]);
    let ms = |ns: u64| format!("{:.2} ms", ns as f64 / 1e6);
    t.row([
        "one lock".to_string(),
        b1.0.to_string(),
        ms(b1.1),
        m1.0.to_string(),
        ms(m1.1),
        format!("{:.1} ms", one_time.as_secs_f64() * 1e3),
    ]);
    t.row([
        "16 shards".to_string(),
        b2.0.to_string(),
        ms(b2.1),
        m2.0.to_string(),
        ms(m2.1),
        format!("{:.1} ms", shard_time.as_secs_f64() * 1e3),
    ]);
    t.print();
    println!("block delay: one lock {} ns, sharded {} ns", b1.1, b2.1);
    println!("mutex delay: one lock {} ns, sharded {} ns", m1.1, m2.1);
    let total_one: u64 = one.0.try_lock().map_or(0, |t| t.values().sum());
    let total_sharded: u64 = sharded
        .0
        .iter()
        .map(|s| s.try_lock().map_or(0, |t| t.values().sum::<u64>()))
        .sum();
    println!("updates counted: one lock {total_one}, sharded {total_sharded}");
    notice(
        "the block profile says who waited and the mutex profile says who made them wait; \
         with one lock both point at `OneLock::add`'s lock, and sharding by key makes \
         both fall by orders of magnitude for the same number of updates.",
    );
}
