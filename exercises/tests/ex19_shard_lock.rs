//! Graded tests of exercise ex19: a sharded counter, graded on its totals
//! and on the mutex profile's delay falling when the one lock is split.

mod common;

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use common::grade;
use exercises::ex19_shard_lock::ShardedCounter;
use runtime::sync::{Profile, wait_records};

const LIMIT: Duration = Duration::from_secs(60);
const GS: u64 = 8;
const UPDATES: u64 = 100;

/// The profile figures are process-wide: one workload at a time.
static ONE: StdMutex<()> = StdMutex::new(());

/// Mutex-profile delay (ns) recorded at the exercise's lock sites.
fn mutex_delay_here() -> u64 {
    wait_records()
        .iter()
        .filter(|r| r.profile == Profile::Mutex && r.location.file().contains("ex19_shard_lock"))
        .map(|r| r.total_ns)
        .sum()
}

/// Runs the workload on `shards` shards; returns (mutex delay, counter).
fn workload(shards: usize) -> (u64, Arc<ShardedCounter>) {
    let rt = runtime::Runtime::builder().procs(2).build().unwrap();
    let c = Arc::new(ShardedCounter::new(shards));
    let before = mutex_delay_here();
    rt.block_on(async {
        let hs: Vec<_> = (0..GS)
            .map(|g| {
                let c = c.clone();
                runtime::spawn(async move {
                    for u in 0..UPDATES {
                        c.add(g + 16 * (u % 4), 1).await;
                    }
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    (mutex_delay_here() - before, c)
}

#[test]
fn every_update_is_counted_and_keys_pick_their_shard() {
    grade("ex19", LIMIT, || {
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let (_, c) = workload(16);
        let rt = runtime::Runtime::builder().procs(1).build().unwrap();
        let total: u64 = rt.block_on(async {
            let mut t = 0;
            for g in 0..GS {
                for k in 0..4 {
                    t += c.get(g + 16 * k).await;
                }
            }
            t
        });
        assert_eq!(total, GS * UPDATES, "every add is counted once");
        assert_eq!(rt.block_on(c.get(999)), 0, "a key never added counts 0");
        assert_eq!(c.shard_of(35), 3, "35 lives in shard 35 % 16");
        assert_eq!(ShardedCounter::new(0).shard_of(7), 0, "at least one shard");
    });
}

#[test]
fn sharding_cuts_the_mutex_profile_tenfold() {
    grade("ex19", LIMIT, || {
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let (one_lock, _) = workload(1);
        let (sharded, _) = workload(16);
        assert!(
            one_lock > 0,
            "one shard is contended: the mutex profile shows delay at its lock (is add holding the lock across yield_now?)"
        );
        assert!(
            sharded * 10 < one_lock,
            "16 shards should cut the mutex delay tenfold: one lock {one_lock} ns, sharded {sharded} ns"
        );
    });
}
