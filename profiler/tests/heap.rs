//! The heap profile by stack, on the course allocator as this test
//! binary's global allocator: a leak is the stack whose in-use bytes grew
//! between two snapshots, a churning function shows in allocs only.

use std::hint::black_box;
use std::sync::Mutex;

use allocator::SpanAlloc;

#[global_allocator]
static A: SpanAlloc = SpanAlloc::new();

static KEPT: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Keeps 8 MiB in 2 KiB pieces: the leak.
#[inline(never)]
fn leaky_cache_insert() {
    let mut kept = KEPT.lock().unwrap();
    for i in 0..4096 {
        kept.push(black_box(vec![i as u8; 2048]));
    }
}

/// Allocates 16 MiB in 2 KiB pieces and frees each: churn, no leak.
#[inline(never)]
fn churn() {
    for i in 0..8192 {
        black_box(vec![i as u8; 2048]);
    }
}

#[test]
fn a_leak_is_the_stack_whose_in_use_bytes_grew() {
    let before = profiler::heap::by_stack(&profiler::heap::snapshot());
    leaky_cache_insert();
    churn();
    let snap = profiler::heap::snapshot();
    assert_eq!(snap.rate, allocator::DEFAULT_PROFILE_RATE);
    let after = profiler::heap::by_stack(&snap);
    let d = profiler::heap::diff(&before, &after);
    let sum = |name: &str, i: usize| -> i64 {
        d.iter()
            .filter(|(k, _)| k.iter().any(|f| f.contains(name)))
            .map(|(_, v)| v[i])
            .sum()
    };
    // 8 MiB kept: with one sample per 512 KiB the estimate is within a few
    // MiB (16 samples expected); the churn's in-use share is ~0.
    let leak = sum("leaky_cache_insert", 3);
    assert!(
        (3 << 20..16 << 20).contains(&leak),
        "leaky_cache_insert in use: {leak} bytes, expected about 8 MiB: {d:#?}"
    );
    let churn_inuse = sum("churn", 3);
    let churn_alloc = sum("churn", 1);
    assert!(
        churn_alloc > 6 << 20,
        "churn allocated ~16 MiB: {churn_alloc}"
    );
    assert!(churn_inuse < 1 << 20, "churn keeps nothing: {churn_inuse}");
    // The leaf of each stack is user code, not the allocator.
    for k in d.keys() {
        if let Some(leaf) = k.last() {
            assert!(!leaf.starts_with("allocator::"), "untrimmed: {k:?}");
        }
    }
    // The pprof form decodes, with Go's four sample types.
    let p = profiler::decode(&profiler::heap::to_pprof(&snap, false)).unwrap();
    let s = |i: i64| p.string_table[i as usize].as_str();
    let types: Vec<_> = p.sample_type.iter().map(|t| s(t.r#type)).collect();
    assert_eq!(
        types,
        [
            "alloc_objects",
            "alloc_space",
            "inuse_objects",
            "inuse_space"
        ]
    );
    assert_eq!(s(p.default_sample_type), "inuse_space");
    assert!(
        p.function
            .iter()
            .any(|f| s(f.name).contains("leaky_cache_insert"))
    );
}
