//! Workloads shared by the runtime benches, written once and run on both
//! runtimes so that only the scheduler differs.
//!
//! [`Exec`] is the little a workload needs from a runtime (spawn a task and
//! await its result, yield). [`Ours`] maps it onto this crate, [`Tokio`] onto
//! tokio's multi-thread runtime. The channel used by `ping_pong` and
//! `chained_spawn` is [`Chan`], built here from a mutex and a waker, so both
//! runtimes pay exactly the same for it.

#![allow(dead_code)] // each bench binary uses a subset

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Worker threads on both sides: this machine has 2 cores.
pub const WORKERS: usize = 2;

/// What a workload needs from a runtime.
pub trait Exec: 'static {
    /// Spawns `f` as a task; the returned future resolves to its output.
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Yields to the scheduler once.
    fn yield_now() -> impl Future<Output = ()> + Send;
}

/// This crate's runtime.
pub struct Ours;

impl Exec for Ours {
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = runtime::spawn(f);
        async move { handle.await.expect("bench task panicked") }
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        runtime::yield_now()
    }
}

/// tokio's multi-thread runtime, the peer.
pub struct Tokio;

impl Exec for Tokio {
    fn spawn<F>(f: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(f);
        async move { handle.await.expect("bench task panicked") }
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

/// Our runtime with [`WORKERS`] Ps and the default run queue.
pub fn ours_runtime() -> runtime::Runtime {
    runtime::Runtime::builder()
        .procs(WORKERS)
        .build()
        .expect("building our runtime")
}

/// tokio's multi-thread runtime with [`WORKERS`] worker threads.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .expect("building tokio's runtime")
}

/// Spawns `tasks` empty tasks, then awaits every one.
pub async fn spawn_many<E: Exec>(tasks: usize) {
    let handles: Vec<_> = (0..tasks).map(|_| E::spawn(async {})).collect();
    for handle in handles {
        handle.await;
    }
}

/// Spawns `tasks` tasks that each yield `yields` times, then awaits them.
pub async fn yield_many<E: Exec>(tasks: usize, yields: usize) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            E::spawn(async move {
                for _ in 0..yields {
                    E::yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await;
    }
}

/// `pairs` pairs of tasks; in each, one sends a number and the other sends
/// it back, `rounds` times, over two [`Chan`]s.
pub async fn ping_pong<E: Exec>(pairs: usize, rounds: u64) {
    let mut pingers = Vec::with_capacity(pairs);
    let mut pongers = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        let ping = Arc::new(Chan::new());
        let pong = Arc::new(Chan::new());
        let (ping_tx, pong_rx) = (ping.clone(), pong.clone());
        pingers.push(E::spawn(async move {
            let mut sum = 0;
            for round in 0..rounds {
                ping_tx.send(round);
                sum += pong_rx.recv().await;
            }
            sum
        }));
        pongers.push(E::spawn(async move {
            for _ in 0..rounds {
                let value = ping.recv().await;
                pong.send(value);
            }
        }));
    }
    let mut total = 0;
    for handle in pingers {
        total += handle.await;
    }
    for handle in pongers {
        handle.await;
    }
    assert_eq!(
        total,
        pairs as u64 * rounds * (rounds - 1) / 2,
        "every message came back"
    );
}

/// The root future (the one `block_on` drives) and one spawned task send a
/// number back and forth `rounds` times over two [`Chan`]s: every round
/// trip parks and wakes the root once.
pub async fn root_ping_pong<E: Exec>(rounds: u64) {
    let ping = Arc::new(Chan::new());
    let pong = Arc::new(Chan::new());
    let (ping_rx, pong_tx) = (ping.clone(), pong.clone());
    let echo = E::spawn(async move {
        for _ in 0..rounds {
            let value = ping_rx.recv().await;
            pong_tx.send(value);
        }
    });
    let mut sum = 0;
    for round in 0..rounds {
        ping.send(round);
        sum += pong.recv().await;
    }
    echo.await;
    assert_eq!(sum, rounds * (rounds - 1) / 2, "every message came back");
}

/// [`root_ping_pong`] over tokio's own `mpsc` channels, on either runtime
/// (tokio's channels need no tokio runtime).
pub async fn root_ping_pong_mpsc<E: Exec>(rounds: u64) {
    let (ping, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let (pong_tx, mut pong) = tokio::sync::mpsc::channel::<u64>(1);
    let echo = E::spawn(async move {
        while let Some(value) = ping_rx.recv().await {
            if pong_tx.send(value).await.is_err() {
                break;
            }
        }
    });
    let mut sum = 0;
    for round in 0..rounds {
        ping.send(round).await.expect("the echo task is alive");
        sum += pong.recv().await.expect("the echo task answers");
    }
    drop(ping);
    echo.await;
    assert_eq!(sum, rounds * (rounds - 1) / 2, "every message came back");
}

/// Each task spawns the next, `depth` deep; the last one signals the root.
pub async fn chained_spawn<E: Exec>(depth: usize) {
    fn link<E: Exec>(left: usize, done: Arc<Chan<usize>>) {
        if left == 0 {
            done.send(0);
        } else {
            // Detached: the chain is joined through `done`, as in tokio's
            // own chained_spawn bench.
            drop(E::spawn(async move { link::<E>(left - 1, done) }));
        }
    }
    let done = Arc::new(Chan::new());
    link::<E>(depth, done.clone());
    assert_eq!(done.recv().await, 0);
}

/// A binary tree of tasks `depth` levels deep: each node spawns its left
/// child, computes its right child itself, then joins the left one. Idle
/// workers only get work by stealing half-finished subtrees.
pub fn fork_join<E: Exec>(depth: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return 1;
        }
        let left = E::spawn(fork_join::<E>(depth - 1));
        let right = fork_join::<E>(depth - 1).await;
        left.await + right
    })
}

/// A minimal unbounded channel with one receiver, built from a mutex and a
/// waker. Used identically on both runtimes.
pub struct Chan<T> {
    state: Mutex<ChanState<T>>,
}

struct ChanState<T> {
    queue: VecDeque<T>,
    receiver: Option<Waker>,
}

impl<T> Default for Chan<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Chan<T> {
    /// An empty channel.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(ChanState {
                queue: VecDeque::with_capacity(1),
                receiver: None,
            }),
        }
    }

    /// Queues `value` and wakes the receiver if it is waiting.
    pub fn send(&self, value: T) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.queue.push_back(value);
            state.receiver.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Waits for the next value.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv { chan: self }
    }
}

/// The future returned by [`Chan::recv`].
pub struct Recv<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut state = self.chan.state.lock().unwrap();
        match state.queue.pop_front() {
            Some(value) => Poll::Ready(value),
            None => {
                match &mut state.receiver {
                    Some(waker) => waker.clone_from(cx.waker()),
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}
