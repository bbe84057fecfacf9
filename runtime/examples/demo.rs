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
    println!("{}", rt.schedtrace_line());
    println!("{}", serde_json::to_string_pretty(&rt.metrics()).unwrap());
    Ok(())
}
