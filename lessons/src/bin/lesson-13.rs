//! Lesson 13: Channels and locks — a value handed straight to a parked receiver, a buffered channel's ring, a mutex that starves
//!
//! Go's channels and `sync.Mutex` park goroutines, not threads: a G that
//! must wait leaves a *sudog* in the channel's `sendq`/`recvq` (or in the
//! mutex's semaphore queue) and its M runs something else. This lesson
//! watches `runtime::sync` do that, through the `hchan` fields
//! (`qcount`, `sendx`, `recvx`, `sendq`, `recvq`) and the runtime's counters:
//!
//! 1. an unbuffered send to a parked receiver: the value goes into the
//!    receiver's sudog, never into a buffer (Go's `send`/`sendDirect`);
//! 2. a buffered channel's ring: `sendx` and `recvx` chase each other round
//!    the slots, and a sender parked on a full ring gets its value moved
//!    into the slot a receive frees;
//! 3. a contended mutex: in normal mode the G that just unlocked takes the
//!    lock straight back (barging); once a woken waiter has lost for more
//!    than 1 ms the mutex enters starvation mode and hands the lock over in
//!    FIFO order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lessons::artefacts;
use lessons::cli::Cli;
use lessons::report::{Table, explain, notice, section, title, wrote};
use runtime::Runtime;
use runtime::sync::{ChanStats, Mutex, Profile, channel, wait_records};

fn main() {
    let args = Cli::new("lesson-13", "channels and locks")
        .number("--gs", "N", "Gs contending for the mutex", 4, 2..=32)
        .number(
            "--hold-us",
            "US",
            "how long each G holds the mutex per turn",
            200,
            10..=5_000,
        )
        .number("--turns", "N", "lock turns per G", 40, 1..=10_000)
        .parse();
    let (gs, hold, turns) = if args.quick() {
        (4, Duration::from_micros(300), 30)
    } else {
        (
            args.number("--gs") as usize,
            Duration::from_micros(args.number("--hold-us")),
            args.number("--turns") as usize,
        )
    };

    title("Lesson 13", "Channels and locks");
    explain(
        "A runtime with 2 Ps. Every wait below parks a G in a queue of sudogs; the M \
         that ran it goes on with other Gs. The tables show the channel's hchan fields \
         as `runtime::sync` reports them.",
    );
    let rt = Runtime::builder()
        .procs(2)
        .build()
        .expect("build the runtime");
    let dir = artefacts::lesson_dir(13).expect("create target/lessons/lesson-13");

    let ring = rt.block_on(async {
        direct_hand_off().await;
        ring().await
    });
    let path = artefacts::write(
        &dir,
        "ring.json",
        &serde_json::to_string_pretty(&ring).expect("serialise"),
    )
    .expect("write ring.json");
    wrote("the ring's fields after each step", &path);

    let contention = rt.block_on(starvation(gs, hold, turns));
    let m = rt.metrics();
    section("What the runtime counted");
    let mut t = Table::new([
        "chan waits",
        "sync waits",
        "time parked",
        "entered starvation",
        "hand-offs",
    ]);
    t.row([
        m.chan_waits.to_string(),
        m.sync_waits.to_string(),
        format!("{:.1} ms", m.wait_ns as f64 / 1e6),
        m.mutex_starvations.to_string(),
        m.mutex_handoffs.to_string(),
    ]);
    t.print();
    println!(
        "starvation mode entered: {} times, lock handed over directly: {} times",
        m.mutex_starvations, m.mutex_handoffs
    );
    notice(
        "the wait counters are what Go's block profile is made of; the mutex profile \
         charges the delay to the G that held the lock (below, its lock() line).",
    );
    let records: Vec<_> = wait_records()
        .into_iter()
        .filter(|r| r.location.file().contains("lesson-13"))
        .collect();
    let mut t = Table::new(["profile", "kind", "where", "count", "total"]);
    for r in records.iter().take(6) {
        t.row([
            format!("{:?}", r.profile).to_lowercase(),
            format!("{:?}", r.kind),
            format!("lesson-13.rs:{}", r.location.line()),
            r.count.to_string(),
            format!("{:.2} ms", r.total_ns as f64 / 1e6),
        ]);
    }
    t.print();
    let mutex_rows = records
        .iter()
        .filter(|r| r.profile == Profile::Mutex)
        .count();
    println!("mutex-profile records charged to a holder: {mutex_rows}");

    let out = serde_json::json!({
        "metrics": m,
        "contention": contention,
        "wait_records": records,
    });
    let path = artefacts::write(
        &dir,
        "metrics.json",
        &serde_json::to_string_pretty(&out).expect("serialise"),
    )
    .expect("write metrics.json");
    wrote("metrics, per-G waits and wait records", &path);
}

fn fields(st: &ChanStats) -> [String; 5] {
    [
        st.qcount.to_string(),
        st.sendx.to_string(),
        st.recvx.to_string(),
        st.sendq.to_string(),
        st.recvq.to_string(),
    ]
}

/// Yields until `cond` holds (the other G got where we wait for it).
async fn until(cond: impl Fn() -> bool) {
    while !cond() {
        runtime::yield_now().await;
    }
}

// ANCHOR: hand_off
async fn direct_hand_off() {
    section("1. An unbuffered channel: the value goes straight to a parked receiver");
    let (tx, mut rx) = channel::<&'static str>(0);
    let receiver = runtime::spawn(async move {
        let v = rx.recv().await; // parks: nothing to receive yet
        (v, rx)
    });
    until(|| tx.stats().recvq == 1).await;
    let mut t = Table::new(["step", "qcount", "sendx", "recvx", "sendq", "recvq"]);
    let row = |t: &mut Table, step: &str, st: ChanStats| {
        let [a, b, c, d, e] = fields(&st);
        t.row([step.to_string(), a, b, c, d, e]);
    };
    row(&mut t, "receiver parked", tx.stats());
    tx.send("hello").await.unwrap(); // completes at once: a receiver waits
    row(&mut t, "after send(\"hello\")", tx.stats());
    let (v, mut rx) = receiver.await.unwrap();
    // Now the other way round: the sender parks first.
    let tx2 = tx.clone();
    let sender = runtime::spawn(async move { tx2.send("world").await });
    until(|| tx.stats().sendq == 1).await;
    row(&mut t, "sender parked", tx.stats());
    let w = rx.recv().await;
    row(&mut t, "after recv()", tx.stats());
    sender.await.unwrap().unwrap();
    t.print();
    println!("the receiver got {v:?}, then {w:?}; the ring was never used (qcount stayed 0)");
    notice(
        "with a receiver parked, send() put the value in the receiver's sudog and readied \
         it; recvq went from 1 to 0 and qcount never moved. With no receiver, the sender \
         itself parked on sendq, holding its value, until recv() took it from there.",
    );
}
// ANCHOR_END: hand_off

// ANCHOR: ring
async fn ring() -> Vec<serde_json::Value> {
    section("2. A buffered channel is a ring: sendx and recvx go round");
    let (tx, mut rx) = channel::<u32>(3);
    let mut t = Table::new(["step", "qcount", "sendx", "recvx", "sendq", "recvq"]);
    let mut log = Vec::new();
    let mut row = |t: &mut Table, step: String, st: ChanStats| {
        let [a, b, c, d, e] = fields(&st);
        t.row([step.clone(), a, b, c, d, e]);
        log.push(serde_json::json!({ "step": step, "hchan": st }));
    };
    row(&mut t, "empty".into(), tx.stats());
    for v in 1..=3 {
        tx.send(v).await.unwrap();
        row(&mut t, format!("send({v})"), tx.stats());
    }
    let full = tx.try_send(4).is_err();
    row(&mut t, format!("try_send(4) refused: {full}"), tx.stats());
    let r = rx.recv().await.unwrap();
    row(&mut t, format!("recv() = {r}"), tx.stats());
    tx.send(4).await.unwrap(); // into the slot recv freed: sendx wraps to 1
    row(&mut t, "send(4)".into(), tx.stats());
    let tx2 = tx.clone();
    let parked = runtime::spawn(async move { tx2.send(5).await });
    until(|| tx.stats().sendq == 1).await;
    row(&mut t, "send(5) parks: ring full".into(), tx.stats());
    let r = rx.recv().await.unwrap();
    row(&mut t, format!("recv() = {r}, 5 moves in"), tx.stats());
    parked.await.unwrap().unwrap();
    let rest: Vec<u32> = (0..3).map(|_| rx.try_recv().unwrap()).collect();
    row(&mut t, format!("drain: {rest:?}"), tx.stats());
    t.print();
    notice(
        "qcount never exceeds 3 and the values come out in the order they went in, \
         even 5, which waited on sendq: the receive that freed a slot moved 5 into it \
         (at sendx) and readied its sender in the same step, as Go's recv does.",
    );
    log
}
// ANCHOR_END: ring

// ANCHOR: starvation
async fn starvation(gs: usize, hold: Duration, turns: usize) -> Vec<serde_json::Value> {
    section("3. A contended mutex: barging, then starvation mode");
    explain(&format!(
        "{gs} Gs each take one runtime::sync::Mutex {turns} times and hold it for {} µs, \
         yielding once while they hold it (so a woken waiter gets to run, and finds the \
         lock taken again by the G that just released it).",
        hold.as_micros()
    ));
    let m = Arc::new(Mutex::new(Vec::<usize>::new()));
    let hs: Vec<_> = (0..gs)
        .map(|id| {
            let m = m.clone();
            runtime::spawn(async move {
                let mut longest = Duration::ZERO;
                let mut starving_turns = 0;
                for _ in 0..turns {
                    let asked = Instant::now();
                    let mut order = m.lock().await;
                    longest = longest.max(asked.elapsed());
                    starving_turns += usize::from(m.is_starving());
                    order.push(id);
                    let t = Instant::now();
                    while t.elapsed() < hold {
                        std::hint::spin_loop();
                    }
                    runtime::yield_now().await;
                }
                (id, longest, starving_turns)
            })
        })
        .collect();
    let mut t = Table::new([
        "G",
        "longest wait for the lock",
        "turns taken in starvation mode",
    ]);
    let mut out = Vec::new();
    for h in hs {
        let (id, longest, starving) = h.await.unwrap();
        t.row([
            id.to_string(),
            format!("{:.2} ms", longest.as_secs_f64() * 1e3),
            starving.to_string(),
        ]);
        out.push(serde_json::json!({ "g": id, "longest_wait_us": longest.as_micros() as u64, "starving_turns": starving }));
    }
    t.print();
    let order = m.lock().await;
    let streak = order
        .chunk_by(|a, b| a == b)
        .map(|run| run.len())
        .max()
        .unwrap_or(0);
    println!(
        "longest run of turns by one G in a row: {streak} (of {} turns in all)",
        order.len()
    );
    notice(
        "in normal mode the G that unlocks takes the lock straight back (runs of turns by \
         one G); a waiter passed over for more than 1 ms switches the mutex to \
         starvation mode, where unlock hands it to the front waiter, so no G's wait grows \
         without bound: Go trades some throughput for that bound.",
    );
    out
}
// ANCHOR_END: starvation
