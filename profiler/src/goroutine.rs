//! The goroutine profile and dump (Go's `pprof.Lookup("goroutine")` and
//! `/debug/pprof/goroutine?debug=1|2`), from `runtime::goroutines()`.
//!
//! A Go goroutine's "stack" is its real call stack. Ours are stackless
//! futures, so a G's stack here is the two sites the runtime records
//! (`runtime/src/gstatus.rs`): where it waits, leaf first, and where it was
//! spawned, at the root. Each site is a source location, not an address, so
//! a frame is named `what @ file:line` in the proto (as the block profile's
//! are), which keeps `go tool pprof -top` listing one line per site.
//!
//! Three forms, as Go serves them:
//!
//! * `profile.proto` (no `debug`): one sample per G, type `goroutine/count`,
//!   with the G's labels, for `go tool pprof`;
//! * `debug=1`: `goroutine profile: total N`, then each distinct stack once
//!   with the number of Gs on it (Go's `printCountProfile`);
//! * `debug=2`: every G on its own, in the traceback format of a Go panic:
//!   `goroutine 7 [chan receive, 3 minutes]:`, its wait frame, and
//!   `created by ... in goroutine N`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::panic::Location;

use runtime::{GState, Goroutine, WaitReason};

use crate::builder::ProfileBuilder;
use crate::symbols::Frame;

/// The primitive a G waits in, named like the function Go's traceback
/// shows at the top of a blocked goroutine (`runtime.chanrecv1`...).
pub fn wait_function(r: WaitReason) -> &'static str {
    match r {
        WaitReason::ChanReceive => "runtime::sync::Receiver::recv",
        WaitReason::ChanSend => "runtime::sync::Sender::send",
        WaitReason::MutexLock => "runtime::sync::Mutex::lock",
        WaitReason::RwLockRead => "runtime::sync::RwLock::read",
        WaitReason::RwLockWrite => "runtime::sync::RwLock::write",
        WaitReason::WaitGroup => "runtime::sync::WaitGroup::wait",
        WaitReason::Join => "runtime::JoinHandle::poll",
        WaitReason::Sleep => "runtime::Sleep::poll",
        WaitReason::Io => "runtime::net::poll_io",
        WaitReason::Syscall => "runtime::syscall",
        _ => "core::future::Future::poll",
    }
}

/// A G's stack: (function, site), leaf first. A G that is not waiting
/// has its state as its leaf (Go shows a running G's own frames).
pub fn stack(g: &Goroutine) -> Vec<(String, Option<&'static Location<'static>>)> {
    let leaf = match g.wait_reason {
        Some(r) => wait_function(r).to_string(),
        None => format!("({})", g.state.as_str()),
    };
    vec![
        (leaf, g.wait_site),
        (creator(g).to_string(), Some(g.spawned_at)),
    ]
}

/// What started `g`: `spawn`, or `block_on` for a root (G 0).
fn creator(g: &Goroutine) -> &'static str {
    if g.id == 0 {
        "runtime::Runtime::block_on"
    } else {
        "runtime::spawn"
    }
}

fn site_frame(function: &str, at: Option<&'static Location<'static>>) -> Frame {
    match at {
        Some(l) => Frame {
            function: format!("{function} @ {}:{}", l.file(), l.line()),
            file: l.file().to_string(),
            line: l.line(),
        },
        None => Frame {
            function: function.to_string(),
            file: String::new(),
            line: 0,
        },
    }
}

/// The gzipped `profile.proto` of `gs` (normally `runtime::goroutines()`):
/// one `goroutine/count` sample per G, with its labels.
pub fn to_pprof(gs: &[Goroutine]) -> Vec<u8> {
    let mut b = ProfileBuilder::new(&[("goroutine", "count")], ("goroutine", "count"), 1);
    for g in gs {
        let locs = stack(g)
            .iter()
            .map(|(f, at)| b.location_of_site(&site_frame(f, *at)))
            .collect();
        b.add(locs, vec![1], &g.labels, &[]);
    }
    b.finish()
}

fn site(at: Option<&'static Location<'static>>) -> String {
    at.map_or_else(|| "?".to_string(), |l| format!("{}:{}", l.file(), l.line()))
}

fn labels_json(labels: &[(String, String)]) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// `goroutine?debug=1`: each distinct stack (with its labels) once, with
/// the number of Gs on it, most first (Go's `printCountProfile`).
///
/// ```
/// let rt = runtime::Runtime::builder().procs(1).build().unwrap();
/// let text = rt.block_on(async {
///     let _h = runtime::spawn(async {});
///     profiler::goroutine::debug1(&runtime::goroutines())
/// });
/// // The spawned G and the block_on root (G 0), which took the dump.
/// assert!(text.starts_with("goroutine profile: total 2\n1 @"), "{text}");
/// ```
pub fn debug1(gs: &[Goroutine]) -> String {
    // (stack as (function, site) pairs, labels) -> number of Gs.
    type Pairs = Vec<(String, String)>;
    let mut groups: BTreeMap<(Pairs, Pairs), usize> = BTreeMap::new();
    for g in gs {
        let st = stack(g).into_iter().map(|(f, at)| (f, site(at))).collect();
        *groups.entry((st, g.labels.clone())).or_default() += 1;
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = format!("goroutine profile: total {}\n", gs.len());
    for ((st, labels), n) in groups {
        let _ = write!(out, "{n} @");
        if !labels.is_empty() {
            let _ = write!(out, " # labels: {}", labels_json(&labels));
        }
        out.push('\n');
        for (f, at) in st {
            let _ = writeln!(out, "#\t{f}\t{at}");
        }
        out.push('\n');
    }
    out
}

/// The bracket of a G's header line: `chan receive, 3 minutes` (Go prints
/// the minutes only from one minute on), `running`, `runnable`.
fn status(g: &Goroutine) -> String {
    let mut s = match (g.state, g.wait_reason) {
        (GState::Waiting, Some(r)) => r.as_str().to_string(),
        (state, _) => state.as_str().to_string(),
    };
    if let Some(w) = g.waited {
        let mins = w.as_secs() / 60;
        if mins >= 1 {
            let _ = write!(s, ", {mins} minutes");
        }
    }
    s
}

/// `goroutine?debug=2`: every G in Go's traceback format.
///
/// ```text
/// goroutine 7 [chan receive]:
/// runtime::sync::Receiver::recv(...)
///         src/bin/lesson-20.rs:41
/// created by runtime::spawn in goroutine 0
///         src/bin/lesson-20.rs:41
/// ```
pub fn debug2(gs: &[Goroutine]) -> String {
    let mut out = String::new();
    for g in gs {
        let _ = writeln!(out, "goroutine {} [{}]:", g.id, status(g));
        if !g.labels.is_empty() {
            let _ = writeln!(out, "labels: {}", labels_json(&g.labels));
        }
        match g.wait_reason {
            Some(r) => {
                let _ = writeln!(out, "{}(...)\n\t{}", wait_function(r), site(g.wait_site));
            }
            None => {
                let _ = writeln!(out, "({})", g.state.as_str());
            }
        }
        let parent = match g.parent {
            Some(p) => format!(" in goroutine {p}"),
            None => " outside the runtime".to_string(),
        };
        let _ = writeln!(
            out,
            "created by {}{parent}\n\t{}\n",
            creator(g),
            site(Some(g.spawned_at))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Gs parked on a channel, a mutex and a sleep, dumped in the three
    /// forms: each names its reason and this file's line where it waits.
    #[test]
    fn the_three_forms_name_each_gs_wait_and_sites() {
        let rt = runtime::Runtime::builder().procs(2).build().unwrap();
        let (gs, lines) = rt.block_on(async {
            let (tx, mut rx) = runtime::sync::channel::<()>(0);
            let m = Arc::new(runtime::sync::Mutex::new(()));
            let held = m.lock().await;
            let m2 = m.clone();
            #[rustfmt::skip]
            let (l1, a) = (line!(), runtime::spawn(async move { rx.recv().await }));
            #[rustfmt::skip]
            let (l2, b) = (line!(), runtime::spawn(async move { drop(m2.lock().await) }));
            #[rustfmt::skip]
            let (l3, c) = (line!(), runtime::spawn(async { runtime::sleep(Duration::from_secs(3600)).await }));
            let ids = [a.id(), b.id(), c.id()];
            let mut gs = Vec::new();
            for _ in 0..1_000_000 {
                gs = runtime::goroutines();
                let waiting = gs.iter().filter(|g| g.state == GState::Waiting).count();
                if waiting == 3 {
                    break;
                }
                runtime::yield_now().await;
            }
            c.abort();
            drop(held);
            drop(tx);
            let _ = (a.await, b.await, c.await);
            (gs, ids.into_iter().zip([l1, l2, l3]).collect::<Vec<_>>())
        });
        let text = debug2(&gs);
        for ((id, line), reason) in lines
            .iter()
            .zip(["chan receive", "sync.Mutex.Lock", "sleep"])
        {
            let want = format!(
                "goroutine {id} [{reason}]:\n{}(...)\n\t{f}:{line}\ncreated by runtime::spawn in goroutine 0\n\t{f}:{line}\n",
                wait_function(
                    gs.iter()
                        .find(|g| g.id == *id)
                        .unwrap()
                        .wait_reason
                        .unwrap()
                ),
                f = file!()
            );
            assert!(
                text.contains(&want),
                "debug=2 should contain\n{want}\nin\n{text}"
            );
        }
        assert!(
            text.contains("goroutine 0 [running]:\n(running)\ncreated by runtime::Runtime::block_on outside the runtime"),
            "debug=2 lists the block_on root, which ran the dump, as G 0:\n{text}"
        );
        let one = debug1(&gs);
        assert!(
            one.starts_with("goroutine profile: total 4\n"),
            "three Gs and the root: {one}"
        );
        assert_eq!(
            one.lines().filter(|l| l.starts_with("1 @")).count(),
            4,
            "{one}"
        );
        let p = crate::decode(&to_pprof(&gs)).unwrap();
        let s = |i: i64| p.string_table[i as usize].as_str();
        assert_eq!(
            (s(p.sample_type[0].r#type), s(p.sample_type[0].unit)),
            ("goroutine", "count")
        );
        assert_eq!(p.sample.len(), 4, "three Gs and the root");
        assert!(
            p.sample
                .iter()
                .all(|x| x.value == [1] && x.location_id.len() == 2)
        );
        let sleep_site = format!("runtime::Sleep::poll @ {}:{}", file!(), lines[2].1);
        assert!(
            p.function.iter().any(|f| s(f.name) == sleep_site),
            "the proto names the sleep's site {sleep_site}"
        );
    }

    #[test]
    fn minutes_show_from_one_minute_on() {
        let g = |secs| Goroutine {
            id: 1,
            state: GState::Waiting,
            wait_reason: Some(WaitReason::ChanSend),
            waited: Some(Duration::from_secs(secs)),
            wait_site: None,
            spawned_at: Location::caller(),
            parent: None,
            labels: vec![],
        };
        assert_eq!(status(&g(59)), "chan send");
        assert_eq!(status(&g(180)), "chan send, 3 minutes");
    }
}
