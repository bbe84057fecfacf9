//! `runtime::net` against real sockets on 127.0.0.1: echo, the std errors a
//! Rust user expects, timeouts that leave the socket usable, a blocked read
//! that holds no P, 10,000 idle connections on a few threads with no fd
//! left behind, and a runtime dropped while Gs wait on sockets.
//!
//! Tests that count `/proc/self/fd` take `FDS` exclusively; the others take
//! it shared, so no other test opens sockets while fds are counted.

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use runtime::net::{TcpListener, TcpStream};
use runtime::{EventKind, Runtime, StopReason};

static FDS: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    FDS.write().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn rt(procs: usize) -> Runtime {
    Runtime::builder().procs(procs).build().unwrap()
}

/// A connected pair: (client, server side).
async fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let c = runtime::spawn(async move { TcpStream::connect(addr).await });
    let (s, peer) = l.accept().await?;
    let c = c.await.expect("connector G")?;
    assert_eq!(c.local_addr()?, peer, "accept reports the client's address");
    assert_eq!(c.peer_addr()?, addr);
    Ok((c, s))
}

#[test]
fn echo_round_trips_with_every_async_method() {
    let _g = shared();
    let rt = rt(2);
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = runtime::spawn(async move {
            let (mut s, _) = l.accept().await?;
            let mut buf = vec![0u8; 4096];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(());
                }
                s.write_all(&buf[..n]).await?;
            }
        });
        let c = TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        // Big enough to fill the socket buffers, so both sides park on
        // writes as well as reads.
        let msg: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
        // One G writes while this one reads: the stream is shared by ref.
        let c = Arc::new(c);
        let w = {
            let c = c.clone();
            let msg = msg.clone();
            runtime::spawn(async move {
                let mut s: &TcpStream = &c;
                write_all_generic(&mut s, &msg).await?;
                c.shutdown(Shutdown::Write)
            })
        };
        let mut s: &TcpStream = &c;
        let got = read_to_end_generic(&mut s).await.unwrap();
        w.await.unwrap().unwrap();
        assert_eq!(got.len(), msg.len(), "every byte echoed");
        assert!(got == msg, "echoed bytes differ from the ones sent");
        server.await.unwrap().unwrap();
    });
}

/// Generic code on `futures_io` traits, as a hyper adapter would use them.
async fn write_all_generic<W: AsyncWrite + Unpin>(w: &mut W, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write(cx, buf)).await?;
        buf = &buf[n..];
    }
    poll_fn(|cx| Pin::new(&mut *w).poll_flush(cx)).await
}

async fn read_to_end_generic<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, &mut buf)).await? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn read_exact_and_shutdown_give_eof_to_the_peer() {
    let _g = shared();
    let rt = rt(2);
    rt.block_on(async {
        let (mut c, mut s) = pair().await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        c.shutdown(Shutdown::Write).unwrap();
        assert_eq!(s.read(&mut buf).await.unwrap(), 0, "Ok(0) after shutdown");
        let e = s.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    });
}

#[test]
fn a_g_blocked_on_a_read_holds_no_p_on_procs_1() {
    let _g = shared();
    let rt = rt(1);
    rt.block_on(async {
        let (mut c, mut s) = pair().await.unwrap();
        let read_done = Arc::new(AtomicBool::new(false));
        let done = read_done.clone();
        let reader = runtime::spawn(async move {
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            done.store(true, Ordering::SeqCst);
            buf
        });
        // With one P, these Gs can only run if the reader gave it up.
        let mut sum = 0u64;
        for i in 0..100u64 {
            sum += runtime::spawn(async move { i }).await.unwrap();
        }
        assert_eq!(sum, 4950);
        assert!(
            !read_done.load(Ordering::SeqCst),
            "the reader finished before any data was sent"
        );
        c.write_all(b"hello").await.unwrap();
        assert_eq!(&reader.await.unwrap(), b"hello");
    });
    let m = rt.metrics();
    assert!(
        m.netpoll_readied >= 1,
        "the poller readied the reader: {m:?}"
    );
    assert!(m.netpoll_polls >= 1, "{m:?}");
}

#[test]
fn binding_a_taken_port_is_addr_in_use() {
    let _g = shared();
    let rt = rt(1);
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let e = TcpListener::bind(l.local_addr().unwrap()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
    });
}

#[test]
fn connecting_to_a_closed_port_is_connection_refused() {
    let _g = shared();
    let rt = rt(1);
    rt.block_on(async {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap(); // the listener is dropped: the port is closed
        let e = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");
        // And the runtime goes on.
        assert_eq!(runtime::spawn(async { 7 }).await.unwrap(), 7);
    });
}

#[test]
fn reading_after_the_peer_reset_is_connection_reset() {
    let _g = shared();
    let rt = rt(2);
    rt.block_on(async {
        let (c, mut s) = pair().await.unwrap();
        // SO_LINGER with a zero timeout: close sends RST instead of FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        use std::os::fd::AsRawFd;
        // SAFETY: a valid socket fd and a live linger struct of the right size.
        let r = unsafe {
            libc::setsockopt(
                c.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        drop(c);
        let mut buf = [0u8; 8];
        let e = s.read(&mut buf).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
        let e = s.write_all(&[0u8; 1 << 20]).await.unwrap_err();
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "a write after reset: {e}"
        );
    });
}

#[test]
fn sockets_outside_a_runtime_are_an_error_not_a_panic() {
    let _g = shared();
    let e = TcpListener::bind("127.0.0.1:0").unwrap_err();
    assert!(e.to_string().contains("need a runtime"), "{e}");
}

#[test]
fn a_timed_out_read_and_accept_leave_the_sockets_usable() {
    let _g = shared();
    let rt = rt(2);
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let r = runtime::timeout(Duration::from_millis(20), l.accept()).await;
        assert!(r.is_err(), "nobody connected, yet accept returned");
        let addr = l.local_addr().unwrap();
        let c = runtime::spawn(async move { TcpStream::connect(addr).await });
        let (mut s, _) = l.accept().await.unwrap();
        let mut c = c.await.unwrap().unwrap();

        let mut buf = [0u8; 3];
        let r = runtime::timeout(Duration::from_millis(20), s.read(&mut buf)).await;
        assert!(r.is_err(), "no data was sent, yet the read returned");
        assert_eq!(
            rt.metrics().netpoll_waiters,
            0,
            "the timed-out read still counts as waiting"
        );
        c.write_all(b"abc").await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc", "the socket works after the timeout");
    });
}

#[test]
fn netpoll_events_are_traced_and_gs_stop_for_io() {
    let _g = shared();
    let rt = Runtime::builder().procs(2).trace(true).build().unwrap();
    rt.block_on(async {
        let (mut c, mut s) = pair().await.unwrap();
        let echo = runtime::spawn(async move {
            let mut b = [0u8; 1];
            for _ in 0..10 {
                s.read_exact(&mut b).await.unwrap();
                s.write_all(&b).await.unwrap();
            }
        });
        let mut b = [0u8; 1];
        for i in 0..10u8 {
            c.write_all(&[i]).await.unwrap();
            c.read_exact(&mut b).await.unwrap();
            assert_eq!(b[0], i);
        }
        echo.await.unwrap();
    });
    let trace = rt.trace().unwrap();
    let polls = trace.count(|k| matches!(k, EventKind::NetPoll { readied, .. } if *readied > 0));
    assert!(polls >= 1, "no poll that readied a G was traced");
    let io_stops = trace.stops_by_reason().get(&StopReason::Io).copied();
    assert!(io_stops >= Some(1), "no G stopped for I/O: {io_stops:?}");
    assert!(trace.to_chrome_json().contains("\"netpoll\""));
}

/// Raises the soft open-file limit to at least `want`, if the hard limit
/// allows (it is 1,048,576 on these machines; the soft one 1,024).
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a live rlimit struct for the call to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur >= want {
        return;
    }
    assert!(
        lim.rlim_max >= want,
        "RLIMIT_NOFILE hard limit {} is below the {want} fds this test needs",
        lim.rlim_max
    );
    lim.rlim_cur = want;
    // SAFETY: a live, initialised rlimit struct for the call to read.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

const IDLE: usize = 10_000;
const HELPER_ENV: &str = "RUNTIME_NET_TEST_CONNECT_TO";

/// Not a test of its own: the helper process of the 10,000-connection test,
/// which holds the client ends (this machine's hard RLIMIT_NOFILE is
/// 20,000, too few for both ends of 10,000 connections in one process).
/// Run as a child of that test with `RUNTIME_NET_TEST_CONNECT_TO=addr`, it
/// connects `IDLE` times with std's blocking sockets, then holds the
/// connections until its stdin closes. Without the variable it returns.
#[test]
fn helper_process_holding_client_connections() {
    let Ok(addr) = std::env::var(HELPER_ENV) else {
        return;
    };
    raise_nofile(IDLE as u64 + 1_000);
    let conns: Vec<std::net::TcpStream> = (0..IDLE)
        .map(|_| std::net::TcpStream::connect(&addr).expect("helper connect"))
        .collect();
    let mut sink = String::new();
    let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink);
    drop(conns);
}

#[test]
fn ten_thousand_idle_connections_on_a_few_threads_and_no_fd_leak() {
    let _g = exclusive();
    raise_nofile(IDLE as u64 + 1_000);
    let before = open_fds();
    let procs = 2;
    let rt = rt(procs);
    let m = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut helper = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "helper_process_holding_client_connections",
                "--nocapture",
            ])
            .env(HELPER_ENV, addr.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the helper process");
        // One G per accepted connection, parked on a read until EOF.
        let mut readers = Vec::with_capacity(IDLE);
        for _ in 0..IDLE {
            let (mut s, _) = l.accept().await.unwrap();
            readers.push(runtime::spawn(async move {
                let mut b = [0u8; 1];
                s.read(&mut b).await
            }));
        }
        // Every reader G runs once and parks; wait (yielding) until all have.
        let mut rounds = 0u64;
        while rt.metrics().netpoll_waiters < IDLE {
            rounds += 1;
            assert!(
                rounds < 10_000_000,
                "only {} of {IDLE} readers parked",
                rt.metrics().netpoll_waiters
            );
            runtime::yield_now().await;
        }
        let m = rt.metrics();
        let fds_during = open_fds();
        // Hang up: the helper exits, every reader sees EOF and finishes.
        drop(helper.stdin.take());
        for r in readers {
            assert_eq!(r.await.unwrap().unwrap(), 0, "a reader saw data, not EOF");
        }
        assert!(
            runtime::syscall(|| helper.wait()).unwrap().success(),
            "the helper failed"
        );
        (m, fds_during)
    });
    let (m, fds_during) = m;
    println!(
        "{IDLE} idle connections: threads={} (procs={procs}), threads_started={}, \
         Gs alive={}, sockets={}, waiters={}, open fds: before={before} during={fds_during}",
        m.threads, m.threads_started, m.tasks_alive, m.sockets, m.netpoll_waiters,
    );
    assert!(m.tasks_alive >= IDLE, "{} Gs alive", m.tasks_alive);
    assert_eq!(
        m.sockets,
        IDLE + 1,
        "every connection and the listener registered"
    );
    assert!(
        fds_during >= before + IDLE,
        "{fds_during} fds open with {IDLE} connections"
    );
    // Bounded by the Ps, not the connections: an M per P, the block_on
    // thread, the M blocked in epoll_wait, and the Ms started during the
    // root's yield loop above (each yield lends its P to another M, and
    // `handoffp` starts one when none is idle at that instant; they stay
    // parked in the idle list). Seen here: 3 to 6 threads.
    assert!(
        m.threads <= 2 * procs + 3,
        "{} threads for {IDLE} connections on {procs} Ps",
        m.threads
    );
    drop(rt);
    let after = open_fds();
    assert_eq!(
        after, before,
        "fds open before the runtime and the connections ({before}) and after ({after})"
    );
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_runtime_drops_the_gs_waiting_on_sockets_and_closes_them() {
    let _g = exclusive();
    let before = open_fds();
    let dropped: Vec<Arc<AtomicBool>> = (0..2).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let rt = rt(2);
    let (accepting, reading) = rt.block_on(async {
        let (c, mut s) = pair().await.unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let f0 = SetOnDrop(dropped[0].clone());
        let accepting = runtime::spawn(async move {
            let _f = f0;
            l.accept().await.map(|_| ())
        });
        let f1 = SetOnDrop(dropped[1].clone());
        let reading = runtime::spawn(async move {
            let _f = f1;
            let _c = c; // keep the peer open: the read never completes
            let mut b = [0u8; 1];
            s.read(&mut b).await.map(|_| ())
        });
        while rt.metrics().netpoll_waiters < 2 {
            runtime::yield_now().await;
        }
        (accepting, reading)
    });
    drop(rt);
    assert!(
        dropped.iter().all(|d| d.load(Ordering::SeqCst)),
        "a waiting G was not dropped"
    );
    for h in [accepting, reading] {
        let r = futures_block_on(h);
        assert!(
            r.is_err(),
            "a G waiting on a socket completed after the drop"
        );
    }
    assert_eq!(open_fds(), before, "sockets or epoll fds left open");
}

/// Polls a future to completion on this thread (a JoinHandle of a dead
/// runtime is ready at once).
fn futures_block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the JoinHandle of a dropped runtime is pending"),
    }
}

/// Waits (yielding the thread) until the runtime's Ps are all idle and
/// `waiters` Gs are parked on sockets: the moment an idle M goes to sleep
/// in `epoll_wait`. Returns the metrics seen then.
fn until_idle_with_waiters(rt: &Runtime, waiters: usize) -> runtime::Metrics {
    for _ in 0..50_000_000u64 {
        let m = rt.metrics();
        if m.netpoll_waiters == waiters && m.idle_procs == m.procs {
            return m;
        }
        std::thread::yield_now();
    }
    panic!("the runtime never went idle with {waiters} G(s) parked on a socket");
}

#[test]
fn the_idle_m_sleeps_in_epoll_wait_and_the_kernel_wakes_it() {
    let _g = shared();
    let rt = rt(1);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        let rt = &rt;
        let peer = sc.spawn(move || {
            let addr = addr_rx.recv().unwrap();
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            let before = until_idle_with_waiters(rt, 1);
            std::io::Write::write_all(&mut peer, b"k").unwrap();
            (peer, before)
        });
        // The root waits on the socket: its P goes to an M (Go's handoffp
        // rule: the last P, and nobody polls the network), which finds no
        // work and blocks in epoll_wait.
        let got = rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
            b
        });
        assert_eq!(&got, b"k");
        let (_peer, before) = peer.join().unwrap();
        let after = rt.metrics();
        assert!(
            after.netpoll_blocking_polls > before.netpoll_blocking_polls
                && after.netpoll_readied > before.netpoll_readied,
            "the byte should have been seen by a blocking poll: before {before:?}, after {after:?}"
        );
    });
}

#[test]
fn a_g_spawned_from_outside_wakes_the_m_blocked_in_epoll_wait() {
    let _g = shared();
    let rt = rt(1);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        let rt = &rt;
        let outsider = sc.spawn(move || {
            let addr = addr_rx.recv().unwrap();
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            until_idle_with_waiters(rt, 1);
            // No timer is pending, so the M in epoll_wait sleeps with no
            // deadline: only the eventfd (netpollBreak) can get it to run
            // this G.
            let (tx, rx) = std::sync::mpsc::channel();
            drop(rt.spawn(async move { tx.send(42) }));
            let got = rx.recv_timeout(Duration::from_secs(30));
            std::io::Write::write_all(&mut peer, b"k").unwrap();
            (got, peer)
        });
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1];
            s.read_exact(&mut b).await.unwrap();
        });
        let (got, _peer) = outsider.join().unwrap();
        assert_eq!(
            got,
            Ok(42),
            "the G spawned while the M slept in epoll_wait never ran: the wake-up was lost"
        );
    });
}

#[test]
fn sysmon_polls_when_every_m_is_busy() {
    let _g = shared();
    let rt = rt(1);
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        let rt = &rt;
        let peer = sc.spawn(move || {
            let addr = addr_rx.recv().unwrap();
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            // The reader is parked and the spinner holds the only P.
            for _ in 0..50_000_000u64 {
                let m = rt.metrics();
                if m.netpoll_waiters == 1 && m.idle_procs == 0 && m.yields > 0 {
                    break;
                }
                std::thread::yield_now();
            }
            std::io::Write::write_all(&mut peer, b"k").unwrap();
            peer
        });
        let spun = rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let done = Arc::new(AtomicBool::new(false));
            let d = done.clone();
            let reader = runtime::spawn(async move {
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await.unwrap();
                d.store(true, Ordering::SeqCst);
            });
            // Always runnable: findRunnable finds it in the local queue and
            // never gets as far as polling the network. Only sysmon's
            // 10 ms poll can ready the reader.
            let spinner = runtime::spawn(async move {
                let start = std::time::Instant::now();
                while !done.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(20) {
                    runtime::yield_now().await;
                }
                done.load(Ordering::SeqCst)
            });
            let spun = spinner.await.unwrap();
            reader.await.unwrap();
            spun
        });
        drop(peer.join().unwrap());
        assert!(
            spun,
            "the reader was never readied while the spinner held the only P"
        );
    });
}

#[test]
fn a_timed_out_write_leaves_the_stream_usable() {
    let _g = shared();
    let rt = rt(2);
    rt.block_on(async {
        let (mut c, mut s) = pair().await.unwrap();
        // Nobody reads `s`: the socket buffers fill and the write parks.
        let big = vec![1u8; 64 << 20];
        let r = runtime::timeout(Duration::from_millis(50), c.write_all(&big)).await;
        assert!(
            r.is_err(),
            "64 MiB fit in the socket buffers of an unread peer"
        );
        assert_eq!(
            rt.metrics().netpoll_waiters,
            0,
            "the timed-out write still waits"
        );
        // Drain what the write got through, then the stream still works.
        let drain = runtime::spawn(async move {
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0usize;
            loop {
                match s.read(&mut buf).await.unwrap() {
                    0 => return total,
                    n => total += n,
                }
            }
        });
        c.write_all(b"after the timeout").await.unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let total = drain.await.unwrap();
        assert!(
            total > "after the timeout".len(),
            "only {total} bytes arrived"
        );
    });
}

#[test]
fn an_address_that_does_not_parse_is_invalid_input() {
    let _g = shared();
    let rt = rt(1);
    rt.block_on(async {
        let e = TcpListener::bind("not an address").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        let e = TcpStream::connect("127.0.0.1:no-port").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    });
}

#[test]
fn a_g_whose_socket_always_has_data_still_gives_up_its_p() {
    let _g = shared();
    let rt = rt(1);
    const BYTES: usize = 64 << 10;
    let read_before_other_ran = rt.block_on(async {
        let (mut c, mut s) = pair().await.unwrap();
        // All of it is in the socket before the reader starts: no read
        // returns EAGAIN, so only the budget can make the reader yield.
        c.write_all(&vec![9u8; BYTES]).await.unwrap();
        let other_ran = Arc::new(AtomicBool::new(false));
        let flag = other_ran.clone();
        // Spawned first, so it waits in the queue behind the reader (the
        // reader takes `runnext`).
        let other = runtime::spawn(async move { flag.store(true, Ordering::SeqCst) });
        let reader = runtime::spawn(async move {
            let mut b = [0u8; 1];
            for n in 0..BYTES {
                if other_ran.load(Ordering::SeqCst) {
                    return n;
                }
                s.read_exact(&mut b).await.unwrap();
            }
            BYTES
        });
        other.await.unwrap();
        reader.await.unwrap()
    });
    assert!(
        read_before_other_ran < BYTES,
        "the reader read all {BYTES} bytes one by one before the other G ran"
    );
    assert!(rt.metrics().preemptions_budget >= 1);
}

#[test]
fn gs_readied_by_one_poll_go_in_as_one_batch() {
    let _g = shared();
    const N: usize = 8;
    let rt = Runtime::builder().procs(1).trace(true).build().unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        let rt = &rt;
        let writer = sc.spawn(move || {
            let addr = addr_rx.recv().unwrap();
            let mut peers: Vec<_> = (0..N)
                .map(|_| std::net::TcpStream::connect(addr).unwrap())
                .collect();
            // The readers are parked and the spinner holds the only P: no M
            // is free to poll, so all N sockets are ready before anyone looks.
            for _ in 0..50_000_000u64 {
                let m = rt.metrics();
                if m.netpoll_waiters == N && m.idle_procs == 0 && m.yields > 0 {
                    break;
                }
                std::thread::yield_now();
            }
            for p in &mut peers {
                std::io::Write::write_all(p, b"k").unwrap();
            }
            peers
        });
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            addr_tx.send(l.local_addr().unwrap()).unwrap();
            let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut readers = Vec::new();
            for _ in 0..N {
                let (mut s, _) = l.accept().await.unwrap();
                let done = done.clone();
                readers.push(runtime::spawn(async move {
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b).await.unwrap();
                    done.fetch_add(1, Ordering::SeqCst);
                }));
            }
            let spinner = runtime::spawn(async move {
                let start = std::time::Instant::now();
                while done.load(Ordering::SeqCst) < N && start.elapsed() < Duration::from_secs(20) {
                    runtime::yield_now().await;
                }
            });
            spinner.await.unwrap();
            for r in readers {
                r.await.unwrap();
            }
        });
        drop(writer.join().unwrap());
    });
    let trace = rt.trace().unwrap();
    let biggest = trace
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::NetPoll { readied, .. } => Some(readied),
            _ => None,
        })
        .max();
    assert_eq!(
        biggest,
        Some(N),
        "one poll (sysmon's) should have readied all {N} readers at once"
    );
}
