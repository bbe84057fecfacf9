//! `SpanAlloc` as the global allocator of a whole test binary.
//!
//! Every allocation in this process goes through our allocator: Vec growth
//! through one size class after another and on into large objects, Strings,
//! HashMaps and BTreeMaps, big boxed slices, and eight threads that build
//! collections and send boxes to each other, so that many frees happen on a
//! thread other than the one that allocated. Each check verifies the contents
//! it built, and reads `SpanAlloc::stats()` through the static to confirm that
//! our allocator, not the system's, served the allocations and took the frees
//! back.
//!
//! The statistics are process-wide, and a running thread's counts reach them
//! only in batches (see the allocator's `stats.rs`), so this binary has no
//! test harness (`harness = false` in Cargo.toml): `main` runs the checks one
//! after another on the main thread, with no harness threads allocating
//! meanwhile. `stats()` flushes the calling thread's counts and every worker
//! thread flushes its own when it exits, so the counts taken around a check
//! are exact, and a check can demand that its allocations and frees balance.
//! Arguments that are not flags select checks by substring, as libtest's
//! filters do; `--list` lists them.

// Under `--cfg loom` the allocator has no `SpanAlloc`; the binary is empty.
#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    checks::main();
}

#[cfg(not(loom))]
mod checks {
    use allocator::SpanAlloc;
    use std::collections::{BTreeMap, HashMap};
    use std::sync::mpsc;

    #[global_allocator]
    static GLOBAL: SpanAlloc = SpanAlloc::new();

    /// Allocations and frees counted so far, summed over every size class and
    /// large objects.
    fn counts() -> (u64, u64) {
        // `stats()` flushes this thread's counters; threads that exited flushed
        // theirs on the way out (see the allocator's `stats.rs`).
        let stats = GLOBAL.stats();
        let per_class: u64 = stats.classes.iter().map(|c| c.allocs).sum();
        assert_eq!(
            per_class + stats.large.allocs,
            stats.total_allocs,
            "the per-class and large counts should add up to the total"
        );
        (stats.total_allocs, stats.total_frees)
    }

    /// Runs `work` and returns how many allocations and frees the allocator
    /// counted meanwhile.
    fn counted<R>(work: impl FnOnce() -> R) -> (R, u64, u64) {
        let (a0, f0) = counts();
        let result = work();
        let (a1, f1) = counts();
        (result, a1 - a0, f1 - f0)
    }

    /// Allocations that may outlive a check: things std creates once and keeps
    /// (the first thread spawn's bookkeeping, stdout's buffer).
    const SLACK: u64 = 16;

    /// The checks, in the order `main` runs them.
    const CHECKS: [(&str, fn()); 4] = [
        (
            "vec_grows_through_every_size_class_and_into_large_objects",
            vec_grows_through_every_size_class_and_into_large_objects,
        ),
        (
            "strings_hashmaps_and_btreemaps_hold_their_contents",
            strings_hashmaps_and_btreemaps_hold_their_contents,
        ),
        (
            "large_boxed_slices_come_from_the_page_heap_and_go_back",
            large_boxed_slices_come_from_the_page_heap_and_go_back,
        ),
        (
            "eight_threads_build_collections_and_free_each_others_boxes",
            eight_threads_build_collections_and_free_each_others_boxes,
        ),
    ];

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--list") {
            for (name, _) in CHECKS {
                println!("{name}: test");
            }
            return;
        }
        let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let selected: Vec<_> = CHECKS
            .iter()
            .filter(|(name, _)| {
                filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
            })
            .collect();
        println!(
            "\nrunning {} checks with SpanAlloc as the global allocator",
            selected.len()
        );
        for (name, check) in &selected {
            // A failed assertion panics, which ends the process with a failure.
            check();
            println!("test {name} ... ok");
        }
        let stats = GLOBAL.stats();
        println!(
            "\nok: {} checks; SpanAlloc served {} allocations and {} frees in this process ({} bytes in use)",
            selected.len(),
            stats.total_allocs,
            stats.total_frees,
            stats.in_use_bytes
        );
    }

    fn vec_grows_through_every_size_class_and_into_large_objects() {
        let (_, allocs, frees) = counted(|| {
            // Doubling growth: 8 B up to 16 MiB, one realloc per doubling.
            let mut v: Vec<u64> = Vec::new();
            for i in 0..2_000_000u64 {
                v.push(i * 3);
            }
            assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));

            // Growth by exact steps: one realloc to every size class's size and
            // one byte past it, so realloc crosses every class boundary.
            let mut bytes: Vec<u8> = Vec::new();
            for class in allocator::size_classes() {
                for target in [class.size, class.size + 1] {
                    let old_len = bytes.len();
                    bytes.reserve_exact(target - old_len);
                    bytes.extend((old_len..target).map(|i| (i % 251) as u8));
                }
            }
            assert!(
                bytes.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8),
                "contents survived every realloc"
            );

            // And back down: shrinking reallocs keep the prefix.
            let mut len = bytes.len();
            while len > 8 {
                len /= 3;
                bytes.truncate(len);
                bytes.shrink_to_fit();
                assert!(bytes.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
            }
        });
        // Growing from one class into the next cannot stay in place: at least one
        // allocation per class (a realloc within a class may be done in place).
        assert!(
            allocs >= allocator::size_classes().len() as u64,
            "our allocator counted only {allocs} allocations for a Vec grown through every class"
        );
        assert!(
            allocs.abs_diff(frees) <= SLACK,
            "allocations ({allocs}) and frees ({frees}) should balance once the Vecs are dropped"
        );
    }

    fn strings_hashmaps_and_btreemaps_hold_their_contents() {
        let (_, allocs, frees) = counted(|| {
            let mut words: HashMap<String, Vec<u32>> = HashMap::new();
            for i in 0..20_000u32 {
                let key = format!("word-{}", i % 5_000);
                words.entry(key).or_default().push(i);
            }
            assert_eq!(words.len(), 5_000);
            for (key, positions) in &words {
                let n: u32 = key["word-".len()..].parse().unwrap();
                assert_eq!(positions, &[n, n + 5_000, n + 10_000, n + 15_000]);
            }

            let mut tree: BTreeMap<u64, Box<[u8]>> = BTreeMap::new();
            for i in 0..3_000u64 {
                let len = (i as usize * 37) % 5_000 + 1;
                tree.insert(
                    i * 7919 % 3_001,
                    vec![(i % 256) as u8; len].into_boxed_slice(),
                );
            }
            for (key, value) in &tree {
                let i = (0..3_000u64).find(|i| i * 7919 % 3_001 == *key).unwrap();
                assert_eq!(value.len(), (i as usize * 37) % 5_000 + 1);
                assert!(value.iter().all(|&b| b == (i % 256) as u8));
            }
            // Remove half: frees in key order, not allocation order.
            tree.retain(|k, _| k % 2 == 0);
            let even_keys = (0..3_000u64).filter(|i| i * 7919 % 3_001 % 2 == 0).count();
            assert_eq!(tree.len(), even_keys);

            let mut text = String::new();
            for i in 0..10_000 {
                text.push_str(&i.to_string());
                text.push(' ');
            }
            let sum: u64 = text
                .split_whitespace()
                .map(|w| w.parse::<u64>().unwrap())
                .sum();
            assert_eq!(sum, 9_999 * 10_000 / 2);
        });
        assert!(
            allocs >= 5_000 + 3_000,
            "expected at least one allocation per key and per boxed slice, counted {allocs}"
        );
        assert!(
            allocs.abs_diff(frees) <= SLACK,
            "allocations ({allocs}) and frees ({frees}) should balance once the maps are dropped"
        );
    }

    fn large_boxed_slices_come_from_the_page_heap_and_go_back() {
        let sizes = [
            32 * 1024 + 1,
            100_000,
            256 * 1024,
            1024 * 1024 + 13,
            8 * 1024 * 1024,
            64 * 1024 * 1024,
        ];
        let large_before = GLOBAL.stats().large;
        let (_, allocs, frees) = counted(|| {
            let boxes: Vec<Box<[u8]>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let mut b = vec![0u8; n].into_boxed_slice();
                    b[0] = i as u8;
                    b[n / 2] = i as u8 + 1;
                    b[n - 1] = i as u8 + 2;
                    b
                })
                .collect();
            for (i, b) in boxes.iter().enumerate() {
                assert_eq!(b.len(), sizes[i]);
                assert_eq!(
                    (b[0], b[b.len() / 2], b[b.len() - 1]),
                    (i as u8, i as u8 + 1, i as u8 + 2)
                );
                // Zeroed memory really is zero, also in a page the allocator reused.
                assert_eq!(b[1], 0);
                assert_eq!(b[b.len() - 2], 0);
            }
        });
        let large_after = GLOBAL.stats().large;
        assert!(
            large_after.allocs - large_before.allocs >= sizes.len() as u64,
            "each of the {} slices above 32 KiB should be a large object; counted {}",
            sizes.len(),
            large_after.allocs - large_before.allocs
        );
        assert!(
            large_after.frees - large_before.frees >= sizes.len() as u64,
            "each large slice should have been freed"
        );
        assert!(
            allocs.abs_diff(frees) <= SLACK,
            "allocs {allocs}, frees {frees}"
        );
    }

    fn eight_threads_build_collections_and_free_each_others_boxes() {
        const THREADS: usize = 8;
        const BOXES_PER_THREAD: usize = 5_000;
        let (received, allocs, frees) = counted(|| {
            // Thread t sends its boxes to thread t + 1, which checks and drops them:
            // every one of those frees is cross-thread.
            let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
                .map(|_| mpsc::channel::<(usize, usize, Box<[u64]>)>())
                .unzip();
            let handles: Vec<_> = receivers
                .into_iter()
                .enumerate()
                .map(|(t, rx)| {
                    let tx = senders[(t + 1) % THREADS].clone();
                    std::thread::spawn(move || {
                        // Local collections, built and dropped on this thread.
                        let mut local: HashMap<usize, String> = HashMap::new();
                        for i in 0..2_000 {
                            local.insert(i, format!("{t}:{i}"));
                        }
                        assert_eq!(local[&1_999], format!("{t}:1999"));
                        drop(local);

                        for i in 0..BOXES_PER_THREAD {
                            let len = 1 + (i * 13 + t) % 600;
                            let payload = vec![(t * 1_000_000 + i) as u64; len].into_boxed_slice();
                            tx.send((t, i, payload))
                                .expect("receiver alive until all senders hang up");
                        }
                        drop(tx);
                        let mut received = 0;
                        for (from, i, payload) in rx {
                            assert_eq!(
                                from,
                                (t + THREADS - 1) % THREADS,
                                "box from the wrong thread"
                            );
                            assert_eq!(payload.len(), 1 + (i * 13 + from) % 600);
                            assert!(payload.iter().all(|&x| x == (from * 1_000_000 + i) as u64));
                            received += 1;
                        }
                        received
                    })
                })
                .collect();
            drop(senders);
            handles
                .into_iter()
                .map(|h| h.join().expect("a worker thread panicked"))
                .sum::<usize>()
        });
        assert_eq!(
            received,
            THREADS * BOXES_PER_THREAD,
            "every box arrived once"
        );
        assert!(
            allocs >= (THREADS * BOXES_PER_THREAD) as u64,
            "our allocator should have served every box: counted {allocs} allocations"
        );
        // Frees on a thread other than the allocating one, and the caches of the
        // exited threads, must all be accounted for once the threads are joined.
        assert!(
            allocs.abs_diff(frees) <= SLACK,
            "allocations ({allocs}) and frees ({frees}) should balance after the threads exit"
        );
    }
}
