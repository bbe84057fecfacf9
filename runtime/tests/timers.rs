//! sleep and timeout: accuracy under light load, parked Ms woken by
//! timers, and nothing left behind by a cancelled timeout.
#![cfg(not(loom))]

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use runtime::Runtime;

/// Generous: timing assertions must survive a loaded 2-core CI machine.
const SLACK: Duration = Duration::from_millis(250);

#[test]
fn sleep_in_the_root_wakes_a_parked_m_on_time() {
    for procs in [1, 2] {
        let rt = Runtime::builder().procs(procs).build().unwrap();
        for ms in [1u64, 2, 5, 20] {
            let d = Duration::from_millis(ms);
            let start = Instant::now();
            rt.block_on(runtime::sleep(d));
            let took = start.elapsed();
            assert!(took >= d, "slept {took:?} < {d:?}");
            assert!(took < d + SLACK, "slept {took:?} for {d:?}");
        }
        assert!(rt.metrics().timers_fired >= 4);
    }
}

#[test]
fn sleeping_tasks_wake_in_deadline_order_and_on_time() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let results = rt.block_on(async {
        let start = Instant::now();
        let hs: Vec<_> = (1..=10u64)
            .rev()
            .map(|ms| {
                runtime::spawn(async move {
                    runtime::sleep(Duration::from_millis(ms)).await;
                    (ms, start.elapsed())
                })
            })
            .collect();
        let mut out = Vec::new();
        for h in hs {
            out.push(h.await.unwrap());
        }
        out
    });
    for (ms, took) in results {
        let d = Duration::from_millis(ms);
        assert!(took >= d && took < d + SLACK, "sleep({d:?}) took {took:?}");
    }
    assert_eq!(rt.metrics().timers_pending, 0);
}

#[test]
fn timeout_returns_elapsed_or_the_value() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let start = Instant::now();
    let r = rt.block_on(runtime::timeout(
        Duration::from_millis(5),
        std::future::pending::<()>(),
    ));
    assert!(r.is_err());
    assert!(start.elapsed() >= Duration::from_millis(5));
    assert_eq!(r.unwrap_err().to_string(), "deadline has elapsed");
    let r = rt.block_on(runtime::timeout(Duration::from_secs(10), async {
        runtime::sleep(Duration::from_millis(1)).await;
        9
    }));
    assert_eq!(r, Ok(9));
    assert_eq!(
        rt.metrics().timers_pending,
        0,
        "the unused 10 s timer must be gone"
    );
}

/// Polls a future once, then drops it: a cancelled timeout.
struct PollOnce<F>(Option<Pin<Box<F>>>);
impl<F: Future> Future for PollOnce<F> {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let mut f = self.0.take().unwrap();
        Poll::Ready(f.as_mut().poll(cx).is_pending())
    }
}

#[test]
fn a_cancelled_timeout_leaves_no_timer_behind() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    rt.block_on(async {
        let t = runtime::timeout(Duration::from_secs(3600), std::future::pending::<()>());
        let mut once = PollOnce(Some(Box::pin(t)));
        // Poll it once (registers its timer), keep it alive, check, then drop it.
        let pending = Pin::new(&mut once).await;
        assert!(pending);
    });
    assert_eq!(
        rt.metrics().timers_pending,
        0,
        "a dropped timeout left its timer registered"
    );

    // Same with a timer that is still registered while we look.
    rt.block_on(async {
        let mut t = Box::pin(runtime::timeout(
            Duration::from_secs(3600),
            std::future::pending::<()>(),
        ));
        std::future::poll_fn(|cx| {
            assert!(t.as_mut().poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        assert_eq!(
            rt.metrics().timers_pending,
            1,
            "the polled timeout registered one timer"
        );
        drop(t);
    });
    assert_eq!(rt.metrics().timers_pending, 0);
}

#[test]
fn a_registered_timer_is_counted_until_dropped() {
    let rt = Runtime::builder().procs(1).build().unwrap();
    let h = rt.spawn(runtime::sleep(Duration::from_secs(3600)));
    // Let the G run once so that it registers its timer.
    rt.block_on(async {
        for _ in 0..10 {
            runtime::yield_now().await;
        }
    });
    assert_eq!(rt.metrics().timers_pending, 1);
    drop(h);
    drop(rt); // shutdown drops the sleeping G, and its timer
}

/// A huge duration means "practically never", not a panic: `sleep`,
/// `timeout` and `sleep_until` clamp to a far-future deadline (as tokio
/// does), and a G asleep that long still lets the others run and the
/// runtime shut down.
#[test]
fn huge_deadlines_are_clamped_not_overflowed() {
    let rt = Runtime::builder().procs(2).build().unwrap();
    let far = Instant::now()
        .checked_add(Duration::from_secs(1000 * 365 * 24 * 3600))
        .expect("this platform's Instant reaches 1000 years ahead");
    let v = rt.block_on(async move {
        let never = runtime::spawn(runtime::sleep(Duration::MAX));
        let never_until = runtime::spawn(runtime::sleep_until(far));
        let r = runtime::timeout(Duration::MAX, async { 5 }).await;
        assert_eq!(r, Ok(5), "a future that finishes beats a huge timeout");
        let r = runtime::timeout(Duration::MAX, runtime::sleep(Duration::from_millis(1))).await;
        assert_eq!(r, Ok(()), "a short sleep inside a huge timeout finishes");
        // Polled and registered, they wait; a short timeout around each ends.
        let r = runtime::timeout(Duration::from_millis(2), runtime::sleep(Duration::MAX)).await;
        assert!(r.is_err(), "sleep(Duration::MAX) finished");
        let r = runtime::timeout(Duration::from_millis(2), runtime::sleep_until(far)).await;
        assert!(r.is_err(), "sleep_until(1000 years ahead) finished");
        assert!(!never.is_finished() && !never_until.is_finished());
        7
    });
    assert_eq!(v, 7);
    drop(rt); // the hour-long, the century-long: dropped, not waited for
}
