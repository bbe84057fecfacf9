//! # Exercise ex02: a priority worker pool that can grow and shrink
//!
//! A worker pool runs jobs on a fixed set of workers instead of one thread
//! per job: the number of workers bounds how much runs at once, and a queue
//! absorbs bursts. In Go, the workers are goroutines reading from a channel
//! (`for job := range jobs { ... }`) and a `sync.WaitGroup` waits for them.
//! This pool adds what the course's practice task asks for:
//!
//! - **Priorities.** Each job carries a priority; when every worker is busy,
//!   the queue hands out the highest priority first, and jobs of equal
//!   priority in the order they were submitted (a `BinaryHeap` ordered by
//!   `(priority, Reverse(id))`). A Go channel cannot do this; a mutex, a
//!   heap and a condition variable can.
//! - **Resizing while running.** [`Pool::resize`] starts new workers at once,
//!   or asks workers to retire: a worker that finds more workers running
//!   than wanted leaves, after finishing the job it is running (never in
//!   the middle of one, and never taking a job it will not finish).
//! - **No lost jobs.** Every job submitted produces exactly one [`Done`] on
//!   the results channel, even if it panics ([`JobPanicked`]).
//! - **Clean shutdown.** [`Pool::shutdown`] lets the workers finish every
//!   queued job, then joins every worker thread; afterwards no worker holds
//!   the results channel, so a receiver sees it disconnect.
//!
//! Workers are OS threads rather than tasks of the course's runtime: jobs
//! here are ordinary blocking closures (they may wait on a lock or a
//! channel), and the number of workers is the point of the exercise, while
//! a runtime's Ps are fixed and a blocking job would stall one. Go can use
//! goroutines because its runtime hides blocking from the scheduler; ours
//! would need `runtime::syscall` around every blocking call.
//!
//! ## Example
//!
//! ```no_run
//! use exercises::ex02_worker_pool::Pool;
//!
//! let (pool, results) = Pool::new(2);
//! pool.submit(1, || "routine");
//! pool.submit(9, || "urgent");
//! pool.resize(4);
//! pool.shutdown(); // runs both jobs, joins the workers
//! for done in results.iter() {
//!     println!("job {} (priority {}): {:?}", done.id, done.priority, done.result);
//! }
//! ```

use std::fmt;
use std::sync::mpsc;

/// Identifies a submitted job; ids count up from 0 in submission order.
pub type JobId = u64;

/// A job's panic, caught by its worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobPanicked {
    /// The panic's message.
    pub message: String,
}

impl fmt::Display for JobPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job panicked: {}", self.message)
    }
}

impl std::error::Error for JobPanicked {}

/// A finished job, sent on the results channel.
#[derive(Debug, PartialEq, Eq)]
pub struct Done<T> {
    /// Which job.
    pub id: JobId,
    /// Its priority.
    pub priority: u8,
    /// Its value, or its panic.
    pub result: Result<T, JobPanicked>,
}

// --- your code: imports ---
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

/// A queued job. Ordered by priority, then by age (a lower id is older).
struct Queued<T> {
    priority: u8,
    id: JobId,
    job: Box<dyn FnOnce() -> T + Send>,
}

impl<T> Queued<T> {
    fn rank(&self) -> (u8, Reverse<JobId>) {
        (self.priority, Reverse(self.id))
    }
}

impl<T> PartialEq for Queued<T> {
    fn eq(&self, other: &Self) -> bool {
        self.rank() == other.rank()
    }
}
impl<T> Eq for Queued<T> {}
impl<T> PartialOrd for Queued<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Queued<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// Everything the workers and the pool share, behind one lock.
struct State<T> {
    queue: BinaryHeap<Queued<T>>,
    next_id: JobId,
    /// Workers wanted.
    target: usize,
    /// Workers alive (started and not yet retired).
    running: usize,
    shutting_down: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when a job is queued, the size changes, or shutdown starts.
    changed: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Jobs run outside the lock and their panics are caught, so a
        // poisoned lock means a bug in the pool itself.
        self.state.lock().expect("worker pool state poisoned")
    }
}

// --- end of your code ---
/// A pool of worker threads running prioritised jobs.
pub struct Pool<T> {
    // --- your code: helpers ---
    shared: Arc<Shared<T>>,
    results: mpsc::Sender<Done<T>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    // --- end of your code ---
}

impl<T: Send + 'static> Pool<T> {
    /// Starts `workers` worker threads. Results arrive on the returned
    /// receiver, one [`Done`] per job, in the order jobs finish.
    pub fn new(workers: usize) -> (Pool<T>, mpsc::Receiver<Done<T>>) {
        // --- your code: new ---
        let (results, receiver) = mpsc::channel();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: BinaryHeap::new(),
                next_id: 0,
                target: 0,
                running: 0,
                shutting_down: false,
            }),
            changed: Condvar::new(),
        });
        let pool = Pool {
            shared,
            results,
            threads: Mutex::new(Vec::new()),
        };
        pool.resize(workers);
        (pool, receiver)
        // --- end of your code ---
    }

    /// Queues `job` with `priority` (higher runs first) and returns its id.
    pub fn submit(&self, priority: u8, job: impl FnOnce() -> T + Send + 'static) -> JobId {
        // --- your code: submit ---
        let mut state = self.shared.lock();
        let id = state.next_id;
        state.next_id += 1;
        state.queue.push(Queued {
            priority,
            id,
            job: Box::new(job),
        });
        drop(state);
        self.shared.changed.notify_one();
        id
        // --- end of your code ---
    }

    /// Changes the number of workers to `workers`: starts new ones at once,
    /// or has surplus workers retire after their current job.
    pub fn resize(&self, workers: usize) {
        // --- your code: resize ---
        let mut state = self.shared.lock();
        state.target = workers;
        let missing = workers.saturating_sub(state.running);
        state.running += missing;
        drop(state);

        let mut threads = self.threads.lock().expect("thread list poisoned");
        // Forget the handles of workers that already retired.
        threads.retain(|t| !t.is_finished());
        for _ in 0..missing {
            let shared = self.shared.clone();
            let results = self.results.clone();
            threads.push(thread::spawn(move || work(&shared, &results)));
        }
        // Idle workers re-check the target: the surplus retires.
        self.shared.changed.notify_all();
        // --- end of your code ---
    }

    /// The number of workers the pool is set to run.
    pub fn workers(&self) -> usize {
        // --- your code: workers ---
        self.shared.lock().target
        // --- end of your code ---
    }

    /// Runs every queued job, then stops and joins every worker thread.
    pub fn shutdown(self) {
        // --- your code: shutdown ---
        // A pool resized to zero still owes its queued jobs a worker.
        if self.workers() == 0 {
            self.resize(1);
        }
        self.shared.lock().shutting_down = true;
        self.shared.changed.notify_all();
        let threads = std::mem::take(&mut *self.threads.lock().expect("thread list poisoned"));
        for t in threads {
            t.join().expect("a worker thread panicked outside a job");
        }
        // Dropping `self` drops the last Sender: receivers see the end.
        // --- end of your code ---
    }
}

// --- your code: helpers ---
/// A worker's loop: take the best job, run it, report it; retire when there
/// are more workers than wanted, or when shutdown finds the queue empty.
fn work<T>(shared: &Shared<T>, results: &mpsc::Sender<Done<T>>) {
    let mut state = shared.lock();
    loop {
        // Retirement is checked before taking a job, under the same lock
        // as `resize`, so a surplus worker never starts a new job.
        if state.running > state.target || (state.shutting_down && state.queue.is_empty()) {
            state.running -= 1;
            return;
        }
        let Some(Queued { priority, id, job }) = state.queue.pop() else {
            state = shared
                .changed
                .wait(state)
                .expect("worker pool state poisoned");
            continue;
        };
        drop(state);

        let result = catch_unwind(AssertUnwindSafe(job)).map_err(|payload| JobPanicked {
            message: payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a payload that is not text".to_string()),
        });
        // The receiver may be gone; the job still counts as done.
        let _ = results.send(Done {
            id,
            priority,
            result,
        });

        state = shared.lock();
    }
}
// --- end of your code ---
