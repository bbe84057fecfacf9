//! tcp_echo: 64-byte echo round trips over loopback, with 1 and with 64
//! connections at once; the cost of a socket wait through the netpoller.
//!
//! Each runtime runs its own echo server (a G / task per connection: read,
//! write back) and its own clients. One measured round is: every client
//! writes 64 bytes and reads the echo, all connections at once, so with 64
//! connections a round is 64 round trips in flight together. Both runtimes
//! have 2 workers and sit in one criterion group per connection count, so
//! the figure that matters is the ratio ours / tokio.
//!
//! `cargo bench -p runtime --bench tcp_echo -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

const MSG: usize = 64;

mod ours {
    use super::MSG;
    use runtime::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    /// `conns` connected clients, each with an echo G on the server side.
    pub fn setup(rt: &runtime::Runtime, conns: usize) -> Vec<TcpStream> {
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            runtime::spawn(async move {
                loop {
                    let Ok((mut s, _)) = l.accept().await else {
                        return;
                    };
                    s.set_nodelay(true).unwrap();
                    runtime::spawn(async move {
                        let mut buf = [0u8; MSG];
                        while s.read_exact(&mut buf).await.is_ok() {
                            if s.write_all(&buf).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            let mut clients = Vec::with_capacity(conns);
            for _ in 0..conns {
                let c = TcpStream::connect(addr).await.unwrap();
                c.set_nodelay(true).unwrap();
                clients.push(c);
            }
            clients
        })
    }

    /// `rounds` rounds on every client at once; returns the elapsed time.
    pub fn run(rt: &runtime::Runtime, clients: &mut Vec<TcpStream>, rounds: u64) -> Duration {
        let taken = std::mem::take(clients);
        let (elapsed, back) = rt.block_on(async move {
            let start = Instant::now();
            let handles: Vec<_> = taken
                .into_iter()
                .map(|mut c| {
                    runtime::spawn(async move {
                        let mut buf = [7u8; MSG];
                        for _ in 0..rounds {
                            c.write_all(&buf).await.unwrap();
                            c.read_exact(&mut buf).await.unwrap();
                        }
                        c
                    })
                })
                .collect();
            let mut back = Vec::with_capacity(handles.len());
            for h in handles {
                back.push(h.await.unwrap());
            }
            (start.elapsed(), back)
        });
        *clients = back;
        elapsed
    }
}

mod tokio_peer {
    use super::MSG;
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    pub fn setup(rt: &tokio::runtime::Runtime, conns: usize) -> Vec<TcpStream> {
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let Ok((mut s, _)) = l.accept().await else {
                        return;
                    };
                    s.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let mut buf = [0u8; MSG];
                        while s.read_exact(&mut buf).await.is_ok() {
                            if s.write_all(&buf).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            let mut clients = Vec::with_capacity(conns);
            for _ in 0..conns {
                let c = TcpStream::connect(addr).await.unwrap();
                c.set_nodelay(true).unwrap();
                clients.push(c);
            }
            clients
        })
    }

    pub fn run(
        rt: &tokio::runtime::Runtime,
        clients: &mut Vec<TcpStream>,
        rounds: u64,
    ) -> Duration {
        let taken = std::mem::take(clients);
        let (elapsed, back) = rt.block_on(async move {
            let start = Instant::now();
            let handles: Vec<_> = taken
                .into_iter()
                .map(|mut c| {
                    tokio::spawn(async move {
                        let mut buf = [7u8; MSG];
                        for _ in 0..rounds {
                            c.write_all(&buf).await.unwrap();
                            c.read_exact(&mut buf).await.unwrap();
                        }
                        c
                    })
                })
                .collect();
            let mut back = Vec::with_capacity(handles.len());
            for h in handles {
                back.push(h.await.unwrap());
            }
            (start.elapsed(), back)
        });
        *clients = back;
        elapsed
    }
}

fn bench(c: &mut Criterion) {
    for conns in [1usize, 64] {
        let mut group = c.benchmark_group(format!("tcp_echo/{conns}_conns"));
        {
            let rt = common::ours_runtime();
            let mut clients = ours::setup(&rt, conns);
            group.bench_function("ours", |b| {
                b.iter_custom(|iters| ours::run(&rt, &mut clients, iters))
            });
        }
        {
            let rt = common::tokio_runtime();
            let mut clients = tokio_peer::setup(&rt, conns);
            group.bench_function("tokio", |b| {
                b.iter_custom(|iters| tokio_peer::run(&rt, &mut clients, iters))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
