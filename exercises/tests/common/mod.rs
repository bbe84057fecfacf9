//! The grading harness every graded test goes through.
//!
//! Learner code can hang (a lost wake-up, a lock held forever) or panic (a
//! `todo!()` that is still there, an index out of bounds). Either way the
//! learner should get a sentence that names the exercise, says what went
//! wrong and points at the hint, not a test run that never ends or a bare
//! backtrace. So [`grade`] runs the test body on a thread of its own and
//! waits for it with a deadline:
//!
//! - the body returns: its value is handed back;
//! - the body panics: the test fails with "exNN panicked: <message>", and a
//!   `todo!()` reads as "exNN is not implemented yet: <what the todo says>";
//! - the body does not answer in time: the test fails with "exNN: no answer
//!   in N s: is something waiting forever?". The stuck thread is left behind
//!   (a thread cannot be killed safely); the test process exits anyway.
//!
//! Every failure message ends with the command that prints the hint.

#![allow(dead_code)] // each test target uses the part it needs

use std::any::Any;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The command that prints the hint of exercise `exercise` ("ex04").
pub fn hint_command(exercise: &str) -> String {
    format!("cargo run --bin course -- hint {exercise}")
}

/// Runs `body` as the graded test of `exercise` ("ex04"), failing the test
/// with a readable message if the body panics or does not finish within
/// `limit`.
pub fn grade<R, F>(exercise: &str, limit: Duration, body: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (done_tx, done_rx) = mpsc::channel();
    let worker = thread::Builder::new()
        .name(format!("{exercise}-graded-body"))
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
            // The receiver is gone only if the grader already gave up on us.
            let _ = done_tx.send(outcome);
        })
        .expect("the grading harness could not start a thread");

    match done_rx.recv_timeout(limit) {
        Ok(Ok(value)) => {
            let _ = worker.join();
            value
        }
        Ok(Err(payload)) => {
            let _ = worker.join();
            panic!("{}", describe_panic(exercise, payload.as_ref()));
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{exercise}: no answer in {} s: is something waiting forever? \
             (a lock never released, a wake-up lost, a loop that never ends)\n\
             Hint: {}",
            limit.as_secs_f64(),
            hint_command(exercise)
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
            "{exercise}: the graded body vanished without an answer\nHint: {}",
            hint_command(exercise)
        ),
    }
}

/// Turns a panic payload into the sentence the learner reads.
pub fn describe_panic(exercise: &str, payload: &(dyn Any + Send)) -> String {
    let message = panic_message(payload);
    let hint = hint_command(exercise);
    if let Some(what) = message.strip_prefix("not yet implemented") {
        let what = what.trim_start_matches(':').trim();
        let what = if what.is_empty() {
            "a todo!() is still there"
        } else {
            what
        };
        format!("{exercise} is not implemented yet: {what}\nHint: {hint}")
    } else {
        format!("{exercise} panicked: {message}\nHint: {hint}")
    }
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not text".to_string()
    }
}
