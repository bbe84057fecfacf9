//! Fork under load: three threads allocate and free (small objects of
//! several classes, and large blocks that go to the page heap every time)
//! while the main thread forks 300 times; each child allocates small and
//! large objects itself and exits. A child that blocks on an allocator lock
//! some parent thread held at the moment of `fork()` never exits: the test
//! waits for each child with a bounded timeout (a pidfd and `poll`), kills
//! the ones that did not finish, counts them, and fails unless none hung.
//!
//! `SpanAlloc` is this binary's global allocator, so every allocation in the
//! parent's threads and in the children goes through it. No test harness
//! (`harness = false`): main runs the one check, so no harness threads exist
//! besides the three allocating ones. `FORKS=n` changes the number of forks.

#[cfg(loom)]
fn main() {}

#[cfg(not(loom))]
fn main() {
    check::main();
}

#[cfg(not(loom))]
mod check {
    use allocator::SpanAlloc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    #[global_allocator]
    static GLOBAL: SpanAlloc = SpanAlloc::new();

    /// How long a child may take before it counts as hung. A healthy child
    /// exits in well under a millisecond; a loaded machine gets slack.
    const CHILD_TIMEOUT_MS: i32 = 3000;

    /// What every thread (and every child) allocates: small objects of a
    /// few classes, more than a span's worth so that central lists are
    /// visited, and large blocks of 1 MiB and more, beyond the thread
    /// cache's large stash, so that they take the page heap's lock.
    fn churn(round: u64) -> u64 {
        let mut sum = 0u64;
        let small: Vec<Box<[u64]>> = (0..600)
            .map(|i| vec![round ^ i; 1 + (i as usize % 5) * 7].into_boxed_slice())
            .collect();
        let large: Vec<Vec<u8>> = (0..3)
            .map(|i| vec![i as u8 + 1; (1 << 20) + i * 40_000])
            .collect();
        for b in &small {
            sum = sum.wrapping_add(b[0]);
        }
        for v in &large {
            sum = sum.wrapping_add(v[v.len() - 1] as u64);
        }
        sum
    }

    /// Waits up to `CHILD_TIMEOUT_MS` for `pid` to exit. Returns its wait
    /// status, or `None` if it hung (it is killed and reaped then).
    fn wait_bounded(pid: libc::pid_t) -> Option<libc::c_int> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
        assert!(
            fd >= 0,
            "pidfd_open failed: {}",
            std::io::Error::last_os_error()
        );
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; the pidfd becomes readable when the
        // child exits.
        let ready = unsafe { libc::poll(&mut pfd, 1, CHILD_TIMEOUT_MS) };
        let hung = ready == 0;
        if hung {
            // SAFETY: pid is our child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: reaps our own child; status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid, "waitpid failed");
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        (!hung).then_some(status)
    }

    pub fn main() {
        if std::env::args().any(|a| a == "--list") {
            println!("fork_under_load: test");
            return;
        }
        let forks: usize = std::env::var("FORKS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(300);
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..3)
            .map(|t| {
                let (stop, rounds) = (stop.clone(), rounds.clone());
                std::thread::spawn(move || {
                    let mut r = t;
                    let mut sink = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        sink = sink.wrapping_add(churn(r));
                        r += 3;
                        rounds.fetch_add(1, Ordering::Relaxed);
                    }
                    sink
                })
            })
            .collect();
        let mut hung = 0;
        let mut failed = 0;
        for i in 0..forks {
            // SAFETY: the child only allocates, frees and calls _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
            if pid == 0 {
                let ok = churn(i as u64) != u64::MAX;
                let v: Vec<String> = (0..100).map(|k| format!("child {i} {k}")).collect();
                let ok = ok && v[99].ends_with("99");
                // SAFETY: ends the child without running the parent's atexit
                // handlers or destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            match wait_bounded(pid) {
                None => hung += 1,
                Some(status) if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) => {
                    failed += 1
                }
                Some(_) => {}
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        println!(
            "fork_under_load: {forks} forks while 3 threads allocated ({} rounds): {hung} children hung, {failed} failed",
            rounds.load(Ordering::Relaxed)
        );
        assert_eq!(
            (hung, failed),
            (0, 0),
            "every child should allocate and exit: {hung} of {forks} hung on an allocator lock held at fork, {failed} exited with an error"
        );
        println!("test fork_under_load ... ok");
    }
}
