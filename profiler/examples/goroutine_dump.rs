//! The goroutine dump of a small program: Gs parked on a channel, a mutex,
//! a sleep and a join, printed as `goroutine?debug=2` and `debug=1`, and
//! written as `target/goroutine.pb.gz` for `go tool pprof -top`.
//!
//! Run: `cargo run -p profiler --example goroutine_dump`.

use std::sync::Arc;
use std::time::Duration;

use runtime::GState;

fn main() {
    let rt = runtime::Runtime::builder().procs(2).build().unwrap();
    let gs = rt.block_on(async {
        let (tx, mut rx) = runtime::sync::channel::<u32>(0);
        let m = Arc::new(runtime::sync::Mutex::new(0u32));
        let held = m.lock().await;
        let consumer = runtime::spawn(async move { rx.recv().await });
        let lockers: Vec<_> = (0..3)
            .map(|_| {
                let m = m.clone();
                runtime::spawn(async move { *m.lock().await += 1 })
            })
            .collect();
        let sleeper = runtime::spawn(async { runtime::sleep(Duration::from_secs(90)).await });
        let joiner = runtime::spawn(async move { consumer.await.unwrap() });
        // Yield until all six are parked (no sleeping: each yield lets them run).
        let mut gs = runtime::goroutines();
        while gs.iter().filter(|g| g.state == GState::Waiting).count() < 6 {
            runtime::yield_now().await;
            gs = runtime::goroutines();
        }
        sleeper.abort();
        drop(held);
        for l in lockers {
            l.await.unwrap();
        }
        tx.send(1).await.unwrap();
        joiner.await.unwrap();
        gs
    });
    println!(
        "--- goroutine?debug=2\n{}",
        profiler::goroutine::debug2(&gs)
    );
    println!(
        "--- goroutine?debug=1\n{}",
        profiler::goroutine::debug1(&gs)
    );
    std::fs::create_dir_all("target").unwrap();
    std::fs::write("target/goroutine.pb.gz", profiler::goroutine::to_pprof(&gs)).unwrap();
    println!("wrote target/goroutine.pb.gz: go tool pprof -top target/goroutine.pb.gz");
}
