//! `/debug/pprof/`: Go's `net/http/pprof` on the course's service, so that
//! `go tool pprof http://127.0.0.1:PORT/debug/pprof/profile?seconds=5`
//! works against it unchanged.
//!
//! | path | what it returns (gzipped `profile.proto`) |
//! |---|---|
//! | `profile?seconds=N` | a CPU profile of the next N seconds (default 30, at most 300) |
//! | `heap` | the sampled heap: in-use objects and bytes by allocation stack |
//! | `allocs` | the same samples, allocated objects and bytes shown first |
//! | `block` | where Gs waited on channels and locks, and for how long |
//! | `mutex` | how long lock holders kept others waiting, by lock site |
//! | `goroutine` | every live G by wait site and spawn site; `?debug=1` counts per stack as text, `?debug=2` Go's traceback format |
//!
//! Like Go's handler, a CPU profile request holds its connection for the
//! whole N seconds and only one runs at a time; a second one gets Go's
//! answer, a 500 saying "cpu profiling already in use". The wait happens
//! inside `runtime::syscall`, so the G's P goes to another M and the
//! service keeps answering the load it is profiling. The heap profile is
//! only as good as the allocator underneath: the service binary runs on
//! `allocator::SpanAlloc`, whose sampler records a stack per sample.

use std::time::Duration;

use crate::routes::{Body, Reply};

/// The longest `profile?seconds=N` accepted.
pub const MAX_PROFILE_SECONDS: u64 = 300;

const INDEX: &str = "/debug/pprof/

profiles (gzipped profile.proto, for `go tool pprof URL`):
  profile?seconds=N  CPU profile of the next N seconds (1..=300, default 30), 100 Hz
  heap               sampled live heap by allocation stack (inuse_space first)
  allocs             sampled allocations by stack (alloc_space first)
  block              time Gs spent waiting in runtime::sync, by call site
  mutex              delay lock holders caused to waiters, by lock site
  goroutine          every live G by wait and spawn site (?debug=1: text counts, ?debug=2: each G)
";

fn proto(bytes: Vec<u8>) -> Reply {
    Reply {
        status: 200,
        content_type: "application/octet-stream",
        body: Body::Owned(bytes),
        not_before: None,
    }
}

/// `seconds=N` from a query, Go's default 30 when absent.
fn seconds(query: &str) -> Result<u64, String> {
    let v = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "seconds")
        .map(|(_, v)| v);
    let Some(v) = v else { return Ok(30) };
    match v.parse::<u64>() {
        Ok(n) if (1..=MAX_PROFILE_SECONDS).contains(&n) => Ok(n),
        _ => Err(format!(
            "bad seconds={v}: expected a whole number of seconds from 1 to {MAX_PROFILE_SECONDS}\n"
        )),
    }
}

/// `debug=N` from a query (0 when absent): Go's 0 (proto), 1 and 2 (text).
fn debug(query: &str) -> Result<u8, String> {
    let v = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "debug")
        .map(|(_, v)| v);
    match v.map(str::parse::<u8>) {
        None => Ok(0),
        Some(Ok(n)) if n <= 2 => Ok(n),
        _ => Err(format!(
            "bad debug={}: expected 0, 1 or 2\n",
            v.unwrap_or_default()
        )),
    }
}

/// Answers `GET /debug/pprof/...` (`path` without the query), or `None`
/// for a path outside `/debug/pprof/`.
///
/// ```
/// let r = service::pprof::respond("/debug/pprof/profile", "seconds=0").unwrap();
/// assert_eq!(r.status, 400);
/// assert!(service::pprof::respond("/work", "").is_none());
/// ```
pub fn respond(path: &str, query: &str) -> Option<Reply> {
    let name = path.strip_prefix("/debug/pprof")?;
    let name = name.strip_prefix('/').unwrap_or(name);
    Some(match name {
        "" => Reply::text_owned(200, INDEX.to_string()),
        "profile" => match seconds(query) {
            Ok(n) => cpu_profile(Duration::from_secs(n)),
            Err(e) => Reply::text_owned(400, e),
        },
        "heap" => proto(profiler::heap::to_pprof(&profiler::heap::snapshot(), false)),
        "allocs" => proto(profiler::heap::to_pprof(&profiler::heap::snapshot(), true)),
        "block" => proto(profiler::contention::to_pprof(
            &runtime::sync::wait_records(),
            runtime::sync::Profile::Block,
        )),
        "mutex" => proto(profiler::contention::to_pprof(
            &runtime::sync::wait_records(),
            runtime::sync::Profile::Mutex,
        )),
        "goroutine" => match debug(query) {
            Ok(0) => proto(profiler::goroutine::to_pprof(&runtime::goroutines())),
            Ok(1) => Reply::text_owned(200, profiler::goroutine::debug1(&runtime::goroutines())),
            Ok(_) => Reply::text_owned(200, profiler::goroutine::debug2(&runtime::goroutines())),
            Err(e) => Reply::text_owned(400, e),
        },
        other => Reply::text_owned(404, format!("unknown profile {other:?}\n{INDEX}")),
    })
}

/// A CPU profile of the next `d`: Go's `pprof.Profile` handler.
pub fn cpu_profile(d: Duration) -> Reply {
    let p = match profiler::CpuProfiler::start(profiler::DEFAULT_HZ) {
        Ok(p) => p,
        Err(e) => return Reply::text_owned(500, format!("Could not enable CPU profiling: {e}\n")),
    };
    // Block this thread, not the P: other Gs keep serving meanwhile.
    runtime::syscall(|| std::thread::sleep(d));
    proto(p.stop().to_pprof())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_seconds_are_a_400_and_unknown_names_a_404() {
        for q in [
            "seconds=0",
            "seconds=301",
            "seconds=99999999999999999999",
            "seconds=x",
        ] {
            let r = respond("/debug/pprof/profile", q).unwrap();
            assert_eq!(r.status, 400, "{q}");
            assert!(
                std::str::from_utf8(r.body.as_bytes())
                    .unwrap()
                    .contains("bad seconds")
            );
        }
        assert_eq!(seconds(""), Ok(30), "Go's default");
        assert_eq!(respond("/debug/pprof/nope", "").unwrap().status, 404);
        assert_eq!(respond("/debug/pprof/", "").unwrap().status, 200);
        assert!(respond("/debug/pprofx", "").is_some_and(|r| r.status == 404));
    }

    /// One test, because one CPU profile runs per process at a time.
    #[test]
    fn a_cpu_profile_is_valid_and_a_second_at_once_gets_gos_500() {
        let r = cpu_profile(Duration::from_millis(200));
        assert_eq!(r.status, 200);
        // An idle moment: an empty or near-empty profile that still decodes.
        let p = profiler::decode(r.body.as_bytes()).unwrap();
        assert_eq!(p.sample_type.len(), 2);

        let running = profiler::CpuProfiler::start(100).unwrap();
        let second = cpu_profile(Duration::from_secs(1));
        assert_eq!(second.status, 500);
        let body = String::from_utf8(second.body.as_bytes().to_vec()).unwrap();
        assert_eq!(
            body,
            "Could not enable CPU profiling: cpu profiling already in use\n"
        );
        running.stop();
    }

    #[test]
    fn block_and_mutex_are_valid_profiles() {
        for name in ["block", "mutex", "heap", "allocs"] {
            let r = respond(&format!("/debug/pprof/{name}"), "").unwrap();
            assert_eq!(r.status, 200, "{name}");
            profiler::decode(r.body.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[cfg(test)]
mod goroutine_tests {
    use super::*;

    /// Served from inside a G (as the service's handlers run), the dump
    /// lists a G parked on a channel at this file's line, in all three forms.
    #[test]
    fn the_goroutine_dump_is_served_in_gos_three_forms() {
        let rt = runtime::Runtime::builder().procs(1).build().unwrap();
        let (line, id, replies) = rt.block_on(async {
            let (tx, mut rx) = runtime::sync::channel::<()>(0);
            #[rustfmt::skip]
            let (line, h) = (line!(), runtime::spawn(async move { rx.recv().await }));
            // procs(1): one yield lets the G run up to its park.
            while !runtime::goroutines()
                .iter()
                .any(|g| g.state == runtime::GState::Waiting)
            {
                runtime::yield_now().await;
            }
            let replies: Vec<Reply> = ["", "debug=1", "debug=2", "debug=3"]
                .iter()
                .map(|q| respond("/debug/pprof/goroutine", q).unwrap())
                .collect();
            let id = h.id();
            drop(tx);
            h.await.unwrap();
            (line, id, replies)
        });
        let body = |r: &Reply| String::from_utf8_lossy(r.body.as_bytes()).into_owned();
        assert_eq!(replies[0].status, 200);
        let p = profiler::decode(replies[0].body.as_bytes()).unwrap();
        assert_eq!(p.sample.len(), 2, "the root and one G: {p:?}");
        let site = format!("{}:{line}", file!());
        assert!(
            body(&replies[1]).starts_with("goroutine profile: total 2\n")
                && body(&replies[1]).contains(&site),
            "{}",
            body(&replies[1])
        );
        let two = body(&replies[2]);
        assert!(
            two.starts_with("goroutine 0 [running]:\n")
                && two.contains(&format!("goroutine {id} [chan receive]:\n"))
                && two.contains(&site),
            "{two}"
        );
        assert_eq!(replies[3].status, 400, "debug=3 is not Go's either");
    }
}
