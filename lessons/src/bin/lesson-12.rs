//! Lesson 12: The network poller — thousands of idle connections on a few Ms, and the epoll wake-ups that ready them
//!
//! A Go server holds each connection in a goroutine that reads it, and a
//! read with no data parks the goroutine, not the thread: the socket is
//! non-blocking, its fd sits in one epoll set, and the scheduler asks epoll
//! which sockets became ready (`netpoll`) when it looks for work, when an
//! M has nothing else to do (it sleeps in `epoll_wait` instead of on its
//! condition variable), and from sysmon. This lesson does the same on our
//! runtime with real sockets on 127.0.0.1: it opens thousands of
//! connections, each with a G parked on a read, counts Gs, Ms and Ps, pings
//! a few connections and counts the Gs the poller readied, and writes a
//! trace in which every epoll wake-up is a marker.

use std::io;
use std::time::Instant;

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use runtime::net::{TcpListener, TcpStream};
use runtime::{EventKind, Metrics, Runtime};

/// Fds open in this process now.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Both ends of every connection live in this process: raise the soft
/// open-file limit to fit them (up to the hard limit).
fn raise_nofile(want: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a live rlimit struct for the call to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < want {
        lim.rlim_cur = want.min(lim.rlim_max);
        // SAFETY: a live, initialised rlimit struct for the call to read.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

// ANCHOR: idle_conns
/// Opens `n` connections to `l`: on the server side, one G per connection,
/// parked on a read (it echoes a byte when one comes, ends on EOF); the
/// client ends are returned, idle.
async fn open_idle(l: TcpListener, n: usize) -> io::Result<Vec<TcpStream>> {
    let addr = l.local_addr()?;
    let server = runtime::spawn(async move {
        for _ in 0..n {
            let (mut s, _) = l.accept().await?;
            runtime::spawn(async move {
                let mut b = [0u8; 1];
                while let Ok(1) = s.read(&mut b).await {
                    if s.write_all(&b).await.is_err() {
                        break;
                    }
                }
            });
        }
        Ok::<_, io::Error>(())
    });
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(TcpStream::connect(addr).await?);
    }
    server.await.expect("the accepting G")?;
    Ok(clients)
}
// ANCHOR_END: idle_conns

fn counts_table(m: &Metrics, conns: usize, fds: usize) {
    let mut t = Table::new([
        "connections",
        "Gs alive",
        "Gs parked on a socket",
        "Ms (threads)",
        "Ps",
        "open fds",
    ]);
    t.row([
        conns.to_string(),
        m.tasks_alive.to_string(),
        m.netpoll_waiters.to_string(),
        m.threads.to_string(),
        m.procs.to_string(),
        fds.to_string(),
    ]);
    t.print();
}

fn main() {
    let args = Cli::new("lesson-12", "the network poller")
        .number(
            "--conns",
            "N",
            "idle connections to open",
            2_000,
            10..=8_000,
        )
        .number("--procs", "N", "number of Ps (Go's GOMAXPROCS)", 2, 1..=8)
        .number(
            "--pings",
            "N",
            "connections to ping, one after another",
            10,
            1..=100,
        )
        .parse();
    let conns = if args.quick() {
        300
    } else {
        args.number("--conns") as usize
    };
    let procs = args.number("--procs") as usize;
    let pings = (args.number("--pings") as usize).min(conns);

    title("Lesson 12", "The network poller");
    explain(&format!(
        "{conns} TCP connections on 127.0.0.1, each held by a G parked on a read, on a \
         runtime with {procs} Ps. Each socket is non-blocking and registered once with one \
         epoll set (edge-triggered, for read, write and peer close). A read with no data \
         parks the G; the poller readies it when epoll reports the socket."
    ));
    let limit = match raise_nofile(2 * conns as u64 + 256) {
        Ok(l) if l >= 2 * conns as u64 + 64 => l,
        Ok(l) => {
            eprintln!(
                "lesson-12: {conns} connections need {} fds in this process, but the \
                 open-file limit is {l}; try --conns {}",
                2 * conns + 64,
                (l.saturating_sub(64) / 2).max(10)
            );
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("lesson-12: cannot read or raise the open-file limit: {e}");
            std::process::exit(1);
        }
    };
    let fds_before = open_fds();
    let rt = Runtime::builder()
        .procs(procs)
        .trace(true)
        .build()
        .expect("runtime");

    let started = Instant::now();
    let total_polls = rt.block_on(async {
        section("1. Thousands of idle connections");
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let mut clients = open_idle(l, conns).await.expect("open the connections");
        // Each server G runs once and parks on its read.
        while rt.metrics().netpoll_waiters < conns {
            runtime::yield_now().await;
        }
        let idle = rt.metrics();
        counts_table(&idle, conns, open_fds());
        println!("(open-file limit {limit}: both ends of every connection are in this process)");
        notice(&format!(
            "{} Gs wait on {conns} sockets, yet the runtime has {} threads: the {} Ms it \
             started for {procs} Ps, and the block_on thread. A parked G holds no thread \
             and no P; a thread per connection would be {conns} threads, each with its \
             own stack.",
            idle.netpoll_waiters, idle.threads, idle.threads_started
        ));

        section("2. Pinging a few: the poller readies exactly their Gs");
        let before = rt.metrics();
        let mut b = [0u8; 1];
        for i in 0..pings {
            let c = &mut clients[i * (conns / pings)];
            c.write_all(b"x").await.expect("ping");
            c.read_exact(&mut b).await.expect("echo");
        }
        let after = rt.metrics();
        let mut t = Table::new([
            "pings",
            "Gs readied by the poller",
            "polls",
            "of which blocking",
            "Gs still parked",
        ]);
        t.row([
            pings.to_string(),
            (after.netpoll_readied - before.netpoll_readied).to_string(),
            (after.netpoll_polls - before.netpoll_polls).to_string(),
            (after.netpoll_blocking_polls - before.netpoll_blocking_polls).to_string(),
            after.netpoll_waiters.to_string(),
        ]);
        t.print();
        let readied = after.netpoll_readied - before.netpoll_readied;
        notice(&format!(
            "{pings} pings readied {readied} Gs: each ping readies the server's G (its socket \
             got a byte), and the root when the echo had not come back yet by the time it \
             read, so between {pings} and {}. The other {} Gs stayed parked and cost \
             nothing: epoll reports only the sockets that changed.",
            2 * pings,
            conns - pings
        ));

        section("3. Hang up");
        drop(clients);
        while rt.metrics().tasks_alive > 0 {
            runtime::yield_now().await;
        }
        let done = rt.metrics();
        println!(
            "after closing the client ends: Gs alive {}, Gs parked on a socket {}, sockets \
             registered {}",
            done.tasks_alive, done.netpoll_waiters, done.sockets
        );
        done.netpoll_polls
    });
    let elapsed = started.elapsed();

    section("4. The epoll wake-ups in the trace");
    let trace = rt.trace().expect("tracing is on");
    let polls: Vec<_> = trace
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::NetPoll {
                readied,
                events,
                waited_ns,
            } => Some((e, readied, events, waited_ns)),
            _ => None,
        })
        .collect();
    let blocking = polls.iter().filter(|p| p.3 > 0).count();
    let readied: usize = polls.iter().map(|p| p.1).sum();
    let mut t = Table::new([
        "netpoll events traced",
        "after blocking in epoll_wait",
        "Gs readied in them",
    ]);
    t.row([
        polls.len().to_string(),
        blocking.to_string(),
        readied.to_string(),
    ]);
    t.print();
    let mut t = Table::new([
        "t (ms)",
        "M",
        "on a P",
        "readied",
        "events",
        "slept in epoll_wait (µs)",
    ]);
    for (e, readied, events, waited) in polls.iter().filter(|p| p.1 > 0).take(6) {
        t.row([
            format!("{:.3}", e.ts_ns as f64 / 1e6),
            e.m.to_string(),
            e.p.map_or("no".into(), |p| format!("P{p}")),
            readied.to_string(),
            events.to_string(),
            format!("{:.1}", *waited as f64 / 1e3),
        ]);
    }
    t.print();
    notice(
        "a poll from an M without a P is the idle M that slept in epoll_wait and was woken \
         by the kernel (events counts every socket edge epoll reported, most for sockets \
         nobody waited on, such as a new connection becoming writable); its Gs go to the global queue in one batch and idle Ps get Ms for \
         them. A poll on a P is findRunnable's non-blocking look before it tries to steal.",
    );
    let dir = artefacts::lesson_dir(12).expect("create target/lessons/lesson-12");
    let path =
        artefacts::write(&dir, "trace.json", &trace.to_chrome_json()).expect("write trace.json");
    wrote("the trace (open it in https://ui.perfetto.dev)", &path);
    let json = serde_json::to_string_pretty(&rt.metrics()).expect("metrics json");
    let path = artefacts::write(&dir, "metrics.json", &json).expect("write metrics.json");
    wrote("the runtime's counters", &path);
    drop(rt);
    let fds_after = open_fds();
    println!(
        "\nopen fds before the runtime: {fds_before}, after dropping it: {fds_after}; \
         {conns} connections opened and closed in {:.2} s; {total_polls} polls in all",
        elapsed.as_secs_f64()
    );
}
