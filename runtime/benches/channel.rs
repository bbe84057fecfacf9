//! channel: two Gs play ping-pong over a pair of channels, 1,000 round trips
//! per iteration: every message parks the receiver and readies it (Go's
//! `chansend` handing the value to a parked receiver, then `goready`).
//!
//! Ours unbuffered (Go's `make(chan u64)`), ours with one slot, and tokio's
//! `mpsc::channel(1)` (its smallest), in one group with 2 workers each, so
//! the figures that matter are the ratios ours / tokio.

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

const ROUND_TRIPS: u64 = 1_000;

async fn ours_ping_pong(cap: usize) {
    let (ping_tx, mut ping_rx) = runtime::sync::channel::<u64>(cap);
    let (pong_tx, mut pong_rx) = runtime::sync::channel::<u64>(cap);
    let echo = runtime::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            pong_tx.send(v + 1).await.unwrap();
        }
    });
    let player = runtime::spawn(async move {
        let mut v = 0;
        for _ in 0..ROUND_TRIPS {
            ping_tx.send(v).await.unwrap();
            v = pong_rx.recv().await.unwrap();
        }
        v
    });
    assert_eq!(player.await.unwrap(), ROUND_TRIPS);
    echo.await.unwrap();
}

async fn tokio_ping_pong() {
    let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let echo = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            pong_tx.send(v + 1).await.unwrap();
        }
    });
    let player = tokio::spawn(async move {
        let mut v = 0;
        for _ in 0..ROUND_TRIPS {
            ping_tx.send(v).await.unwrap();
            v = pong_rx.recv().await.unwrap();
        }
        v
    });
    assert_eq!(player.await.unwrap(), ROUND_TRIPS);
    echo.await.unwrap();
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel_ping_pong");
    {
        let rt = common::ours_runtime();
        group.bench_function("ours_unbuffered", |b| {
            b.iter(|| rt.block_on(ours_ping_pong(0)))
        });
        group.bench_function("ours_cap1", |b| b.iter(|| rt.block_on(ours_ping_pong(1))));
    }
    {
        let rt = common::tokio_runtime();
        group.bench_function("tokio_mpsc_cap1", |b| {
            b.iter(|| rt.block_on(tokio_ping_pong()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
