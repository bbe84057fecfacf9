//! Graded tests of exercise ex01: a fetch with a deadline, against a real
//! TCP server on the loopback interface, served by plain threads. A request
//! starting with "slow" is never answered: the server waits for the client
//! to hang up and reports it, which is how the tests see that a timed-out
//! fetch left nothing behind.

mod common;

use common::grade;
use exercises::ex01_timeouts::{FetchError, fetch};
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(60);
/// Generous bounds for a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    /// The request of each slow connection whose client hung up.
    hung_up: mpsc::Receiver<String>,
}

fn start_server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("the listener has an address");
    let (tx, hung_up) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            thread::spawn(move || serve(stream, &tx));
        }
    });
    Server { addr, hung_up }
}

fn serve(mut stream: TcpStream, hung_up: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone the connection"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let request = line.trim_end().to_string();
    if request.starts_with("slow") {
        // Never answer; wait until the client closes its end.
        let mut buf = [0_u8; 64];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = hung_up.send(request);
    } else {
        let _ = stream.write_all(format!("hello, {request}").as_bytes());
    }
}

/// A runtime that is only dropped (which joins its threads) when a test
/// gets to its end: a failing test must not hang on a stuck thread before
/// its message is out.
fn runtime(procs: usize) -> ManuallyDrop<runtime::Runtime> {
    ManuallyDrop::new(
        runtime::Runtime::builder()
            .procs(procs)
            .build()
            .expect("build the course runtime"),
    )
}

/// Dropping the runtime joins its threads: it hangs if one is stuck.
fn shut_down(rt: ManuallyDrop<runtime::Runtime>) {
    drop(ManuallyDrop::into_inner(rt));
}

/// Runs `future` as a task of `rt` and waits for its output on a plain
/// channel, so that the test thread is not one of the runtime's Ms and a
/// blocked M cannot hold up the wait.
fn run_on<T: Send + 'static>(
    rt: &runtime::Runtime,
    future: impl Future<Output = T> + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    drop(rt.spawn(async move {
        let _ = tx.send(future.await);
    }));
    rx.recv_timeout(SLACK).unwrap_or_else(|_| {
        panic!(
            "fetch did not return within {SLACK:?}: is the caller waiting on a blocked call? \
             runtime::timeout can only fire while the waiting future gets polled."
        )
    })
}

fn expect_hang_up(server: &Server, request: &str) {
    match server.hung_up.recv_timeout(SLACK) {
        Ok(r) => assert_eq!(
            r, request,
            "the connection that closed should be the one for {request:?}"
        ),
        Err(_) => panic!(
            "{SLACK:?} after fetch gave up on {request:?}, the connection was still open: a blocking read \
             is still running on some thread (a leak). Give the socket a deadline too (set_read_timeout)."
        ),
    }
}

#[test]
fn a_fast_answer_arrives() {
    grade("ex01", LIMIT, || {
        let server = start_server();
        let rt = runtime(2);
        let got = run_on(&rt, fetch(server.addr, "ana", Duration::from_secs(5)));
        match got {
            Ok(answer) => assert_eq!(
                answer, "hello, ana",
                "the answer is everything the server sent"
            ),
            Err(e) => {
                panic!("a server that answers at once should give Ok(\"hello, ana\"), got Err({e})")
            }
        }
        shut_down(rt);
    });
}

#[test]
fn a_slow_server_gives_deadline_exceeded_and_nothing_is_left_running() {
    grade("ex01", LIMIT, || {
        let server = start_server();
        // One P: the deadline must fire although a blocked call holds an M.
        let rt = runtime(1);
        let deadline = Duration::from_millis(300);
        let started = Instant::now();
        let got = run_on(&rt, fetch(server.addr, "slow 1", deadline));
        let took = started.elapsed();
        match got {
            Err(FetchError::DeadlineExceeded { deadline: d }) => {
                assert_eq!(
                    d, deadline,
                    "DeadlineExceeded should carry the deadline it was given"
                )
            }
            other => panic!(
                "a server that never answers should give Err(DeadlineExceeded), got {other:?}"
            ),
        }
        assert!(
            took + Duration::from_millis(10) >= deadline,
            "gave up after {took:?}, before the {deadline:?} deadline"
        );
        assert!(
            took < deadline + SLACK,
            "took {took:?} for a {deadline:?} deadline: the deadline did not stop the wait"
        );
        expect_hang_up(&server, "slow 1");
        shut_down(rt);
    });
}

#[test]
fn a_refused_connection_is_not_a_timeout() {
    grade("ex01", LIMIT, || {
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
            l.local_addr().expect("an address")
        }; // the listener is gone: connecting is refused
        let rt = runtime(1);
        match run_on(&rt, fetch(closed, "anyone?", Duration::from_secs(5))) {
            Err(FetchError::Io(e)) => assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused,
                "the io::Error should be the refusal itself"
            ),
            other => panic!(
                "a refused connection should be Err(FetchError::Io(..)), distinct from a deadline; got {other:?}"
            ),
        }
        shut_down(rt);
    });
}

#[test]
fn fast_and_slow_fetches_side_by_side() {
    grade("ex01", LIMIT, || {
        let server = start_server();
        let rt = runtime(2);
        let addr = server.addr;
        let deadline = Duration::from_secs(2);
        let outcomes = run_on(&rt, async move {
            let handles: Vec<_> = ["slow a", "bo", "slow b", "cy", "slow c", "di"]
                .into_iter()
                .map(|req| runtime::spawn(async move { (req, fetch(addr, req, deadline).await) }))
                .collect();
            let mut outcomes = Vec::new();
            for h in handles {
                outcomes.push(h.await.expect("a fetch task panicked"));
            }
            outcomes
        });
        for (req, outcome) in outcomes {
            match (req.starts_with("slow"), outcome) {
                (true, Err(FetchError::DeadlineExceeded { .. })) => {}
                (false, Ok(answer)) => {
                    assert_eq!(answer, format!("hello, {req}"), "answer to {req:?}")
                }
                (_, other) => panic!("request {req:?}: unexpected outcome {other:?}"),
            }
        }
        let mut closed: Vec<String> = (0..3)
            .map(|_| {
                server.hung_up.recv_timeout(SLACK).unwrap_or_else(|_| {
                    panic!("a timed-out connection was still open {SLACK:?} later: a blocking read leaked. Give the socket a deadline too.")
                })
            })
            .collect();
        closed.sort();
        assert_eq!(
            closed,
            ["slow a", "slow b", "slow c"],
            "each slow connection closed once"
        );
        shut_down(rt);
    });
}
