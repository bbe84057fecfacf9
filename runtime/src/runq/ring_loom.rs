//! Loom models: small rings (4 slots), every interleaving of the owner's
//! push/pop against a thief's claim/copy/release, with at most
//! `LOOM_MAX_PREEMPTIONS` forced switches.
use super::*;
use crate::loom::{Arc, thread};

/// Runs a thief against `victim`: steals into a ring of its own
/// `times` times, running (collecting) everything it got each time.
fn steal(victim: &Ring<usize>, times: usize) -> Vec<usize> {
    let (mine, mine_owner) = Ring::new();
    let mut got = Vec::new();
    for _ in 0..times {
        got.extend(victim.steal_into(&mine, &mine_owner));
        got.extend(std::iter::from_fn(|| mine.pop(&mine_owner)));
    }
    got
}

fn assert_each_once(seen: Vec<usize>, items: usize) {
    let mut counts = vec![0; items];
    for item in seen {
        counts[item] += 1;
    }
    assert!(
        counts.iter().all(|&c| c == 1),
        "each item seen exactly once, counts by item: {counts:?}"
    );
}

#[test]
fn loom_owner_push_pop_against_one_thief() {
    loom::model(|| {
        let (ring, ring_owner) = Ring::new();
        let ring = Arc::new(ring);
        ring.push_back(&ring_owner, 0, &mut |_| {
            unreachable!("4 slots hold 3 items")
        });
        ring.push_back(&ring_owner, 1, &mut |_| {
            unreachable!("4 slots hold 3 items")
        });

        let thief = {
            let ring = ring.clone();
            thread::spawn(move || steal(&ring, 2))
        };

        let mut seen = Vec::new();
        seen.extend(ring.pop(&ring_owner));
        ring.push_back(&ring_owner, 2, &mut |_| {
            unreachable!("4 slots hold 3 items")
        });
        seen.extend(ring.pop(&ring_owner));

        seen.extend(thief.join().unwrap());
        seen.extend(std::iter::from_fn(|| ring.pop(&ring_owner)));
        assert_each_once(seen, 3);
    });
}

#[test]
fn loom_owner_wraps_around_while_thief_copies() {
    // The race that Go's copy-before-CAS would have in Rust: the owner
    // pops and refills the ring past the slots a thief is reading.
    loom::model(|| {
        let (ring, ring_owner) = Ring::new();
        let ring = Arc::new(ring);
        let mut overflowed = Vec::new();
        for i in 0..3 {
            ring.push_back(&ring_owner, i, &mut |b| overflowed.extend(b));
        }

        let thief = {
            let ring = ring.clone();
            thread::spawn(move || steal(&ring, 1))
        };

        let mut seen = Vec::new();
        seen.extend(ring.pop(&ring_owner));
        for i in 3..6 {
            ring.push_back(&ring_owner, i, &mut |b| overflowed.extend(b));
        }

        seen.extend(thief.join().unwrap());
        seen.extend(std::iter::from_fn(|| ring.pop(&ring_owner)));
        seen.extend(overflowed);
        assert_each_once(seen, 6);
    });
}

#[test]
fn loom_two_ps_steal_from_each_other() {
    // Each thread owns one ring and steals from the other: a thief's
    // writes into its own ring race with the other thief reading it.
    loom::model(|| {
        let (r0, o0) = Ring::new();
        let (r1, o1) = Ring::new();
        let rings = Arc::new([r0, r1]);
        for i in 0..2 {
            rings[0].push_back(&o0, i, &mut |_| unreachable!("room for 2"));
            rings[1].push_back(&o1, 2 + i, &mut |_| unreachable!("room for 2"));
        }
        let other = {
            let rings = rings.clone();
            // The other thread owns ring 1, and gives its owner back at the end.
            thread::spawn(move || {
                let mut seen = Vec::new();
                seen.extend(rings[1].pop(&o1));
                seen.extend(rings[0].steal_into(&rings[1], &o1));
                seen.extend(std::iter::from_fn(|| rings[1].pop(&o1)));
                (seen, o1)
            })
        };
        let mut seen = Vec::new();
        seen.extend(rings[0].pop(&o0));
        seen.extend(rings[1].steal_into(&rings[0], &o0));
        seen.extend(std::iter::from_fn(|| rings[0].pop(&o0)));

        let (theirs, o1) = other.join().unwrap();
        seen.extend(theirs);
        seen.extend(std::iter::from_fn(|| rings[0].pop(&o0)));
        seen.extend(std::iter::from_fn(|| rings[1].pop(&o1)));
        assert_each_once(seen, 4);
    });
}

#[test]
fn loom_two_thieves_and_owner_pop() {
    loom::model(|| {
        let (ring, ring_owner) = Ring::new();
        let ring = Arc::new(ring);
        for i in 0..3 {
            ring.push_back(&ring_owner, i, &mut |_| {
                unreachable!("4 slots hold 3 items")
            });
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || steal(&ring, 1))
            })
            .collect();
        let mut seen = Vec::new();
        seen.extend(ring.pop(&ring_owner));
        for t in thieves {
            seen.extend(t.join().unwrap());
        }
        seen.extend(std::iter::from_fn(|| ring.pop(&ring_owner)));
        assert_each_once(seen, 3);
    });
}
