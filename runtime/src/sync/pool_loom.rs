//! Loom model of the per-P pool (`pool.rs`): an owner's put and get racing
//! a thief and a cleanup sweep.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p
//! runtime --release --lib loom_pool`. The Ps are loom threads calling the
//! pool's per-local operations with their P number, as a G on that P would.
//! Every object is a `Token` with a number; at the end, the numbers held by
//! the threads, still in the pool, and dropped by the sweeps must be each
//! object exactly once: none lost, none handed out twice; and the sweeps
//! must have dropped exactly the ones they say they dropped (an object
//! overwritten or dropped anywhere else is a loss too).

use std::sync::Mutex as StdMutex;

use super::pool::Inner;
use crate::loom::{Arc, thread};

/// An object with a number; records the number when dropped.
struct Token {
    id: u32,
    dropped: std::sync::Arc<StdMutex<Vec<u32>>>,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.dropped.lock().unwrap().push(self.id);
    }
}

/// P0 (the owner) puts a fourth object and takes one back; P1 (a thief,
/// with nothing of its own) takes one; a sweep runs two cleanup cycles.
/// P0 starts with objects 0 (private) and 1, 2 (shared).
///
/// Broken variants that failed:
///
/// * `cleanup` moving a shared list into the victims one object at a time
///   (its length read under one lock, each `pop_front().unwrap()` under
///   another) instead of taking the whole list in one critical section:
///   the thief steals between the two, and loom printed "called
///   `Option::unwrap()` on a `None` value" (pool.rs, in `cleanup`).
/// * `put` storing into the private slot without checking that it is
///   empty (`*p = x.take()`): the object there is dropped by the
///   overwrite, a loss no sweep counted, and loom printed "the sweeps
///   dropped [0, 1, 2] but counted 0".
#[test]
fn loom_pool_owner_thief_cleanup_no_loss_no_duplicate() {
    loom::model(|| {
        let dropped = std::sync::Arc::new(StdMutex::new(Vec::new()));
        let token = |id| Token {
            id,
            dropped: dropped.clone(),
        };
        let pool = Arc::new(Inner::<Token>::new(2, None));
        for id in 0..3 {
            pool.put_at(0, token(id));
        }
        let fourth = token(3);

        let p = pool.clone();
        let owner = thread::spawn(move || {
            p.put_at(0, fourth);
            p.get_at(0).map(|t| t.id)
        });
        let p = pool.clone();
        let thief = thread::spawn(move || p.get_at(1).map(|t| t.id));
        let p = pool.clone();
        let sweep = thread::spawn(move || p.cleanup() + p.cleanup());

        // Tokens are dropped right after `map` reads their id: count those
        // as held (they are also in `dropped`, checked below).
        let held: Vec<u32> = [owner.join().unwrap(), thief.join().unwrap()]
            .into_iter()
            .flatten()
            .collect();
        let swept_count = sweep.join().unwrap();

        let mut left = Vec::new();
        while let Some(t) = pool.get_at(0) {
            left.push(t.id);
        }
        let left_ids: Vec<u32> = left.clone();
        let swept: Vec<u32> = {
            let all = dropped.lock().unwrap();
            // Dropped ones minus the held ones (dropped when `map` ended)
            // minus the ones drained just now (dropped in the loop).
            all.iter()
                .copied()
                .filter(|id| !held.contains(id) && !left_ids.contains(id))
                .collect()
        };
        assert_eq!(
            swept.len(),
            swept_count,
            "the sweeps dropped {swept:?} but counted {swept_count}"
        );
        let mut seen: Vec<u32> = held.iter().chain(&left).chain(&swept).copied().collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            vec![0, 1, 2, 3],
            "each object exactly once among held {held:?}, left {left:?}, swept {swept:?}"
        );
        let all = dropped.lock().unwrap().clone();
        let mut all_sorted = all.clone();
        all_sorted.sort_unstable();
        all_sorted.dedup();
        assert_eq!(
            all_sorted.len(),
            all.len(),
            "no object dropped twice: {all:?}"
        );
    });
}
