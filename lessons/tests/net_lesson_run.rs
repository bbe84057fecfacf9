//! Runs lesson 12 (the network poller) in quick mode and checks what it
//! claims: hundreds of Gs parked on sockets on a handful of threads, pings
//! that ready only their own Gs, a trace with epoll wake-ups that Perfetto
//! can open, and no fd left open. Also its `--help` and a bad flag.

mod common;
use common::{quick, run};

const BIN: &str = env!("CARGO_BIN_EXE_lesson-12");

/// The row of numbers under the table header that contains `header`.
fn row_under<'a>(out: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = out.lines();
    lines
        .by_ref()
        .find(|l| l.contains(header))
        .unwrap_or_else(|| panic!("no table with {header:?} in:\n{out}"));
    lines.next(); // the dashes
    lines
        .next()
        .unwrap_or_else(|| panic!("no row under {header:?}"))
        .split_whitespace()
        .collect()
}

fn num(cell: &str) -> u64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a number"))
}

#[test]
fn lesson_12_parks_hundreds_of_gs_on_a_few_threads_and_traces_the_wakeups() {
    let out = quick(BIN);
    // connections, Gs alive, Gs parked, Ms, Ps, fds
    let idle = row_under(&out, "Gs parked on a socket   Ms (threads)");
    let (conns, parked, threads, procs) = (num(idle[0]), num(idle[2]), num(idle[3]), num(idle[4]));
    assert_eq!(
        parked, conns,
        "every connection's G should be parked:\n{out}"
    );
    assert!(
        threads <= procs + 3,
        "{threads} threads for {conns} connections:\n{out}"
    );
    // pings, readied, polls, blocking, still parked
    let ping = row_under(&out, "Gs readied by the poller");
    let (pings, readied) = (num(ping[0]), num(ping[1]));
    assert!(
        (pings..=2 * pings).contains(&readied),
        "{pings} pings should ready between {pings} and {} Gs, not {readied}:\n{out}",
        2 * pings
    );
    assert!(
        out.contains("Gs alive 0, Gs parked on a socket 0, sockets registered 0"),
        "{out}"
    );
    let traced = row_under(&out, "netpoll events traced");
    assert!(num(traced[0]) >= 1 && num(traced[2]) >= pings, "{out}");
    let fds = out
        .lines()
        .find(|l| l.starts_with("open fds before the runtime"))
        .expect("the fd line");
    let counts: Vec<&str> = fds
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(2)
        .collect();
    assert_eq!(counts[0], counts[1], "fds left open: {fds}");

    let path = lessons::artefacts::workspace_root().join("target/lessons/lesson-12/trace.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("trace.json")).expect("JSON");
    let events = json["traceEvents"].as_array().expect("traceEvents");
    assert!(
        events.iter().any(|e| e["name"] == "netpoll")
            && events.iter().any(|e| e["name"] == "epoll_wait"),
        "the trace has no netpoll markers or epoll_wait spans"
    );
}

#[test]
fn lesson_12_has_help_and_rejects_bad_flags_with_exit_code_2() {
    let r = run(BIN, &["--help"]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout.contains("--quick") && r.stdout.contains("--conns"),
        "{}",
        r.stdout
    );
    let r = run(BIN, &["--no-such-flag"]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("unknown flag `--no-such-flag`"),
        "{}",
        r.stderr
    );
    let r = run(BIN, &["--conns", "lots"]);
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("bad value `lots` for `--conns`"),
        "{}",
        r.stderr
    );
}
