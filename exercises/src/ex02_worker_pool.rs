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
// --- end of your code ---
/// A pool of worker threads running prioritised jobs.
pub struct Pool<T> {
    // --- your code: helpers ---
    // Your fields: the queue shared with the workers (behind a lock, with a
    // condition variable), the wanted number of workers, the threads'
    // handles, the results sender...
    _results: std::marker::PhantomData<mpsc::Sender<Done<T>>>,
    // --- end of your code ---
}

impl<T: Send + 'static> Pool<T> {
    /// Starts `workers` worker threads. Results arrive on the returned
    /// receiver, one [`Done`] per job, in the order jobs finish.
    pub fn new(workers: usize) -> (Pool<T>, mpsc::Receiver<Done<T>>) {
        // --- your code: new ---
        let _ = workers;
        todo!("create the shared queue and the results channel, start the workers")
        // --- end of your code ---
    }

    /// Queues `job` with `priority` (higher runs first) and returns its id.
    pub fn submit(&self, priority: u8, job: impl FnOnce() -> T + Send + 'static) -> JobId {
        // --- your code: submit ---
        let _ = (priority, job);
        todo!("push onto the priority queue and wake one worker")
        // --- end of your code ---
    }

    /// Changes the number of workers to `workers`: starts new ones at once,
    /// or has surplus workers retire after their current job.
    pub fn resize(&self, workers: usize) {
        // --- your code: resize ---
        let _ = workers;
        todo!("start workers, or wake idle ones so that the surplus retires")
        // --- end of your code ---
    }

    /// The number of workers the pool is set to run.
    pub fn workers(&self) -> usize {
        // --- your code: workers ---
        todo!("the wanted number of workers")
        // --- end of your code ---
    }

    /// Runs every queued job, then stops and joins every worker thread.
    pub fn shutdown(self) {
        // --- your code: shutdown ---
        todo!("tell the workers to finish the queue and exit, then join them")
        // --- end of your code ---
    }
}

// --- your code: helpers ---
// --- end of your code ---
