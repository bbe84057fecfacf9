//! A quick tour: spawn a fork-join tree on 2 Ps and print what the scheduler did.
//!
//! Run with `cargo run -p runtime --example demo` (add `RUNTIME_SCHEDTRACE=10`
//! to see Go-style schedtrace lines).

use std::time::{Duration, Instant};

fn fib(n: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
    Box::pin(async move {
        if n < 2 {
            return n as u64;
        }
        let a = runtime::spawn(fib(n - 1));
        let b = fib(n - 2).await;
        a.await.unwrap() + b
    })
}

fn main() -> Result<(), runtime::BuildError> {
    let rt = runtime::Runtime::builder().procs(2).build()?;
    let start = Instant::now();
    let v = rt.block_on(async {
        runtime::sleep(Duration::from_millis(2)).await;
        fib(20).await
    });
    println!("fib(20) = {v} in {:?}", start.elapsed());

    // Timer accuracy: how late does sleep(d) wake up?
    for ms in [1u64, 5] {
        let d = Duration::from_millis(ms);
        let lates: Vec<Duration> = (0..20)
            .map(|_| {
                let t = Instant::now();
                rt.block_on(runtime::sleep(d));
                t.elapsed() - d
            })
            .collect();
        let mean = lates.iter().sum::<Duration>() / lates.len() as u32;
        let max = lates.iter().max().unwrap();
        println!("sleep({d:?}): late by {mean:?} on average, {max:?} at most (20 runs)");
    }
    println!("{}", rt.schedtrace_line());
    println!("{}", serde_json::to_string_pretty(&rt.metrics()).unwrap());
    Ok(())
}
