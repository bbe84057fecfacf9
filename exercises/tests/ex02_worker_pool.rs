//! Graded tests of exercise ex02: a worker pool with priorities that can be
//! resized while jobs flow. Ordering is made deterministic with gates (a job
//! that holds the only worker until the test opens it), not with sleeps.

mod common;

use common::grade;
use exercises::ex02_worker_pool::{Done, JobId, Pool};
use std::collections::HashSet;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
/// How long a test waits for something that should happen promptly.
const PROMPTLY: Duration = Duration::from_secs(10);

/// A gate jobs wait at until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }
    fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }
}

/// A meeting point for `n` jobs: each waits (up to PROMPTLY) for all `n`
/// to be there at once, and says whether they met.
#[derive(Clone)]
struct Rendezvous(Arc<(Mutex<usize>, Condvar, usize)>);

impl Rendezvous {
    fn new(n: usize) -> Self {
        Rendezvous(Arc::new((Mutex::new(0), Condvar::new(), n)))
    }
    fn arrive(&self) -> bool {
        let (count, cv, n) = &*self.0;
        let mut count = count.lock().unwrap();
        *count += 1;
        cv.notify_all();
        let (count, _) = cv.wait_timeout_while(count, PROMPTLY, |c| *c < *n).unwrap();
        *count >= *n
    }
}

fn recv<T>(rx: &mpsc::Receiver<Done<T>>, what: &str) -> Done<T> {
    rx.recv_timeout(PROMPTLY)
        .unwrap_or_else(|e| panic!("waited {PROMPTLY:?} for {what}: {e:?}"))
}

/// Occupies the pool's only worker until `gate` opens; returns once the
/// worker has really started it.
fn occupy(pool: &Pool<u32>, gate: &Gate) -> JobId {
    let (started_tx, started_rx) = mpsc::channel();
    let g = gate.clone();
    let id = pool.submit(0, move || {
        started_tx.send(()).unwrap();
        g.wait();
        0
    });
    started_rx
        .recv_timeout(PROMPTLY)
        .expect("the first job should start on the pool's worker");
    id
}

#[test]
fn results_come_back_with_ids() {
    grade("ex02", LIMIT, || {
        let (pool, rx) = Pool::new(2);
        assert_eq!(pool.workers(), 2, "a pool made with 2 workers reports 2");
        let ids: Vec<JobId> = (0..5_u32).map(|i| pool.submit(1, move || i * 10)).collect();
        assert_eq!(
            ids,
            [0, 1, 2, 3, 4],
            "job ids count up from 0 in submission order"
        );
        let mut got: Vec<(JobId, u32)> = (0..5)
            .map(|_| {
                let d = recv(&rx, "a job's result");
                (d.id, d.result.expect("no job panicked"))
            })
            .collect();
        got.sort_unstable();
        assert_eq!(
            got,
            [(0, 0), (1, 10), (2, 20), (3, 30), (4, 40)],
            "each job's value arrives with its id"
        );
        pool.shutdown();
    });
}

#[test]
fn higher_priority_runs_first_when_workers_are_busy() {
    grade("ex02", LIMIT, || {
        let (pool, rx) = Pool::new(1);
        let gate = Gate::default();
        let blocker = occupy(&pool, &gate);
        // The only worker is busy: these all wait in the queue.
        let mut by_id = std::collections::HashMap::new();
        for (priority, name) in [(1, 'a'), (5, 'b'), (3, 'c'), (5, 'd'), (2, 'e'), (9, 'f')] {
            by_id.insert(pool.submit(priority, move || u32::from(name)), name);
        }
        gate.open();
        assert_eq!(
            recv(&rx, "the blocking job").id,
            blocker,
            "the job that held the worker finishes first"
        );
        let order: String = (0..6)
            .map(|_| by_id[&recv(&rx, "a queued job").id])
            .collect();
        assert_eq!(
            order, "fbdcea",
            "queued jobs should run by priority (9, 5, 5, 3, 2, 1), equal priorities in submission order (b before d)"
        );
        pool.shutdown();
    });
}

#[test]
fn growing_lets_more_jobs_run_at_once() {
    grade("ex02", LIMIT, || {
        let (pool, rx) = Pool::new(1);
        let meet = Rendezvous::new(4);
        for _ in 0..4 {
            let m = meet.clone();
            pool.submit(1, move || u32::from(m.arrive()));
        }
        // One worker cannot gather four jobs; four can.
        pool.resize(4);
        assert_eq!(
            pool.workers(),
            4,
            "after resize(4) the pool reports 4 workers"
        );
        let met = (0..4)
            .filter(|_| recv(&rx, "a rendezvous job").result == Ok(1))
            .count();
        assert_eq!(
            met, 4,
            "after resize(4), four jobs should run at the same time; only {met} of them met"
        );
        pool.shutdown();
    });
}

#[test]
fn shrinking_leaves_one_job_running_at_a_time() {
    grade("ex02", LIMIT, || {
        let (pool, rx) = Pool::new(4);
        pool.resize(1);
        assert_eq!(
            pool.workers(),
            1,
            "after resize(1) the pool reports 1 worker"
        );
        let gate = Gate::default();
        let (started_tx, started_rx) = mpsc::channel();
        for i in 0..3_u32 {
            let (g, tx) = (gate.clone(), started_tx.clone());
            pool.submit(1, move || {
                tx.send(i).unwrap();
                g.wait();
                i
            });
        }
        started_rx
            .recv_timeout(PROMPTLY)
            .expect("one worker should start a job");
        match started_rx.recv_timeout(Duration::from_millis(500)) {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!(
                "after resize(1) only one job may run at a time, but a second one started ({other:?}): \
                 surplus workers should retire instead of taking jobs"
            ),
        }
        gate.open();
        let ids: HashSet<JobId> = (0..3).map(|_| recv(&rx, "a gated job").id).collect();
        assert_eq!(ids.len(), 3, "all three jobs finish once the gate opens");
        pool.shutdown();
    });
}

#[test]
fn no_job_lost_while_resizing_under_load() {
    grade("ex02", LIMIT, || {
        let (pool, rx) = Pool::new(2);
        let mut submitted = HashSet::new();
        for (round, size) in [8, 2, 5, 1, 3, 0, 6].into_iter().enumerate() {
            for k in 0..300_u64 {
                let id = pool.submit((k % 7) as u8, move || k * 2);
                submitted.insert(id);
            }
            pool.resize(size);
            assert_eq!(
                pool.workers(),
                size,
                "round {round}: resize({size}) should be reflected by workers()"
            );
        }
        let mut seen = HashSet::new();
        for _ in 0..submitted.len() {
            let done = recv(&rx, "a job submitted while resizing");
            assert!(
                submitted.contains(&done.id),
                "result for job {} that was never submitted",
                done.id
            );
            assert!(seen.insert(done.id), "job {} reported twice", done.id);
        }
        assert_eq!(
            seen, submitted,
            "every submitted job should report exactly once"
        );
        pool.shutdown();
        assert!(
            rx.try_recv().is_err(),
            "no extra results after every job reported"
        );
    });
}

#[test]
fn a_panicking_job_is_reported_and_the_worker_survives() {
    grade("ex02", LIMIT, || {
        let (pool, rx) = Pool::new(1);
        let bad = pool.submit(1, || -> u32 { panic!("job exploded") });
        let done = recv(&rx, "the panicking job's report");
        assert_eq!(
            done.id, bad,
            "the panicking job is reported under its own id"
        );
        let err = done
            .result
            .expect_err("a panicking job reports Err(JobPanicked)");
        assert_eq!(
            err.message, "job exploded",
            "the report carries the panic message"
        );
        pool.submit(1, || 7);
        assert_eq!(
            recv(&rx, "a job after the panic").result,
            Ok(7),
            "the pool keeps working after a job panics"
        );
        pool.shutdown();
    });
}

#[test]
fn shutdown_finishes_the_queue_and_joins_every_worker() {
    grade("ex02", LIMIT, || {
        let (pool, rx) = Pool::new(1);
        let gate = Gate::default();
        occupy(&pool, &gate);
        for i in 0..50 {
            pool.submit((i % 3) as u8, move || i);
        }
        pool.resize(3);
        gate.open();
        pool.shutdown();
        let mut got = 0;
        loop {
            match rx.recv_timeout(PROMPTLY) {
                Ok(_) => got += 1,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "after shutdown returned, something still holds the results Sender ({got} results so far): \
                     shutdown should join every worker, and the pool's own Sender must be dropped"
                ),
            }
        }
        assert_eq!(
            got, 51,
            "shutdown must run every queued job before returning (1 blocker + 50 queued)"
        );
    });
}
