//! Block and mutex profiles from `runtime::sync`'s wait records (Go's
//! `pprof.Lookup("block")` and `pprof.Lookup("mutex")`).
//!
//! The runtime records every wait that parked a G, keyed by the call site
//! of the `send`/`recv`/`lock`/... that waited (`#[track_caller]`), and, for
//! a mutex, the delay each unlock caused to the queue behind it, charged to
//! where the holder locked and scaled by the waiters still queued (Go 1.22,
//! go#61015; see `runtime/src/sync/profile.rs`). Both become profiles with
//! Go's sample types, `contentions/count` and `delay/nanoseconds`. A record
//! has a source site, not an address, so each sample's stack is one
//! location: the site, named `kind @ file:line`, so that `go tool pprof
//! -top` lists call sites.

use runtime::sync::{Profile, WaitKind, WaitRecord};

use crate::builder::ProfileBuilder;
use crate::symbols::Frame;

fn kind_name(k: WaitKind) -> &'static str {
    match k {
        WaitKind::ChanSend => "chan send",
        WaitKind::ChanRecv => "chan receive",
        WaitKind::Mutex => "Mutex::lock",
        WaitKind::RwLockRead => "RwLock::read",
        WaitKind::RwLockWrite => "RwLock::write",
        WaitKind::WaitGroup => "WaitGroup::wait",
    }
}

/// The site of a record as a frame (`Mutex::lock @ src/x.rs:12`).
pub fn site(r: &WaitRecord) -> Frame {
    Frame {
        function: format!(
            "{} @ {}:{}",
            kind_name(r.kind),
            r.location.file(),
            r.location.line()
        ),
        file: r.location.file().to_string(),
        line: r.location.line(),
    }
}

/// The records of one profile, summed by site: `(site, count, total_ns)`,
/// largest delay first.
pub fn by_site(records: &[WaitRecord], which: Profile) -> Vec<(Frame, u64, u64)> {
    let mut out: Vec<(Frame, u64, u64)> = Vec::new();
    for r in records.iter().filter(|r| r.profile == which) {
        let f = site(r);
        match out.iter_mut().find(|(g, _, _)| *g == f) {
            Some(e) => {
                e.1 += r.count;
                e.2 += r.total_ns;
            }
            None => out.push((f, r.count, r.total_ns)),
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.2));
    out
}

/// The gzipped `profile.proto` of the block or mutex profile of `records`
/// (normally `runtime::sync::wait_records()`).
pub fn to_pprof(records: &[WaitRecord], which: Profile) -> Vec<u8> {
    let mut b = ProfileBuilder::new(
        &[("contentions", "count"), ("delay", "nanoseconds")],
        ("contentions", "count"),
        1,
    );
    b.default_sample_type(1);
    for (f, count, ns) in by_site(records, which) {
        let loc = b.location_of_site(&f);
        b.add(vec![loc], vec![count as i64, ns as i64], &[], &[]);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contended_lock_shows_in_both_profiles_at_its_sites() {
        let rt = runtime::Runtime::builder().procs(2).build().unwrap();
        let m = std::sync::Arc::new(runtime::sync::Mutex::new(0u64));
        rt.block_on(async {
            // Held while the Gs start: every one of them queues at least once.
            let first = m.lock().await;
            let mut hs = Vec::new();
            for _ in 0..4 {
                let m = m.clone();
                hs.push(runtime::spawn(async move {
                    for _ in 0..20 {
                        let mut g = m.lock().await;
                        // Hold it across a yield so the others queue up.
                        runtime::yield_now().await;
                        *g += 1;
                    }
                }));
            }
            while m.waiters() < 4 {
                runtime::yield_now().await;
            }
            drop(first);
            for h in hs {
                h.await.unwrap();
            }
        });
        assert_eq!(*rt.block_on(m.lock()), 80);
        let recs = runtime::sync::wait_records();
        let block = by_site(&recs, Profile::Block);
        let mine = block
            .iter()
            .find(|(f, _, _)| {
                f.file.ends_with("contention.rs") && f.function.starts_with("Mutex::lock")
            })
            .unwrap_or_else(|| panic!("the lock site in the block profile: {block:?}"));
        assert!(mine.1 > 0 && mine.2 > 0, "{mine:?}");
        let mutex = by_site(&recs, Profile::Mutex);
        assert!(
            mutex
                .iter()
                .any(|(f, n, ns)| f.file.ends_with("contention.rs") && *n > 0 && *ns > 0),
            "the holder's site in the mutex profile: {mutex:?}"
        );
        let p = crate::decode(&to_pprof(&recs, Profile::Mutex)).unwrap();
        let s = |i: i64| p.string_table[i as usize].as_str();
        assert_eq!(s(p.sample_type[1].r#type), "delay");
        assert!(
            p.function
                .iter()
                .any(|f| s(f.name).contains("contention.rs"))
        );
    }
}
