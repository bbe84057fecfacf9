//! Graded tests of exercise ex03: joined errors with codes, followed back to
//! the panic that started them.

mod common;

use common::grade;
use exercises::ex03_error_chains::{
    BoxError, Code, CodedError, Joined, PanicError, Task, catch_panic, chain, codes, find_panic,
    join, run_all,
};
use std::error::Error;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(10);

/// Panics on a line whose number it first stores in `line`.
fn explode(line: &AtomicU32) {
    line.store(line!() + 1, Ordering::SeqCst);
    panic!("disk on fire");
}

#[test]
fn catch_panic_passes_values_through() {
    grade("ex03", LIMIT, || {
        assert_eq!(
            catch_panic(|| 6 * 7),
            Ok(42),
            "a closure that does not panic returns Ok(its value)"
        );
    });
}

#[test]
fn catch_panic_reports_message_and_location() {
    grade("ex03", LIMIT, || {
        let line = AtomicU32::new(0);
        let caught = catch_panic(|| explode(&line))
            .expect_err("a panicking closure should give Err(PanicError)");
        assert_eq!(
            caught.message, "disk on fire",
            "the PanicError should carry the panic's message"
        );
        assert_eq!(
            (caught.file.as_str(), caught.line),
            (file!(), line.load(Ordering::SeqCst)),
            "the PanicError should point at the panic!() itself (file and line), not at catch_panic"
        );
        assert!(
            caught.column > 0,
            "the column of the panic!() should be recorded too"
        );

        let n = 3;
        let formatted = catch_panic(|| -> u8 { panic!("{n} disks on fire") }).unwrap_err();
        assert_eq!(
            formatted.message, "3 disks on fire",
            "a formatted panic message (a String payload) should be kept"
        );
    });
}

#[test]
fn catch_panic_works_on_many_threads_at_once() {
    grade("ex03", LIMIT, || {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    let expected_line = line!() + 1;
                    let caught = catch_panic(move || -> u8 { panic!("worker {i}") }).unwrap_err();
                    (i, caught, expected_line)
                })
            })
            .collect();
        for h in handles {
            // A panic escaping catch_panic is re-raised here with its own message.
            let (i, caught, line) = h
                .join()
                .unwrap_or_else(|p| panic!("{}", common::panic_message(p.as_ref())));
            assert_eq!(
                caught.message,
                format!("worker {i}"),
                "each thread sees its own panic"
            );
            assert_eq!(caught.line, line, "each thread sees its own panic's line");
        }
    });
}

#[test]
fn source_chain_follows_wrapped_causes() {
    grade("ex03", LIMIT, || {
        let root = io::Error::new(io::ErrorKind::TimedOut, "read timed out");
        let err = CodedError::wrap(
            Code::Timeout,
            "fetch /users",
            CodedError::wrap(Code::Internal, "read response", root),
        );
        let first = err
            .source()
            .expect("CodedError::source should return the wrapped cause");
        assert_eq!(
            first.to_string(),
            "read response (500 Internal)",
            "the first link is the inner CodedError"
        );
        let second = first
            .source()
            .expect("the inner CodedError wraps the io::Error");
        assert_eq!(
            second.to_string(),
            "read timed out",
            "the last link is the original io::Error"
        );
        assert!(
            CodedError::new(Code::NotFound, "no cause")
                .source()
                .is_none(),
            "no cause, no source"
        );

        let walked: Vec<String> = chain(&err).iter().map(|e| e.to_string()).collect();
        assert_eq!(
            walked,
            [
                "fetch /users (504 Timeout)",
                "read response (500 Internal)",
                "read timed out"
            ],
            "chain() should list the error and then every source, outermost first"
        );
        assert_eq!(
            codes(&err),
            [Code::Timeout, Code::Internal],
            "codes() lists each CodedError's code in order"
        );
    });
}

#[test]
fn join_is_like_errors_join() {
    grade("ex03", LIMIT, || {
        assert!(
            join(Vec::<BoxError>::new()).is_none(),
            "joining no errors gives None (Go's errors.Join returns nil)"
        );
        let joined = join([
            BoxError::from(CodedError::new(Code::NotFound, "user 7")),
            BoxError::from(CodedError::new(Code::InvalidInput, "bad page size")),
        ])
        .expect("two errors join into Some(Joined)");
        assert_eq!(joined.len(), 2, "both errors are kept");
        assert_eq!(
            joined.to_string(),
            "user 7 (404 NotFound)\nbad page size (400 InvalidInput)",
            "a Joined error prints one error per line, in order"
        );
        assert_eq!(
            codes(&joined),
            [Code::NotFound, Code::InvalidInput],
            "codes() visits every joined error"
        );
    });
}

#[test]
fn chain_walks_a_tree_depth_first() {
    grade("ex03", LIMIT, || {
        let inner = join([
            BoxError::from(CodedError::new(Code::NotFound, "b1")),
            BoxError::from(CodedError::wrap(
                Code::Timeout,
                "b2",
                CodedError::new(Code::Internal, "b2-cause"),
            )),
        ])
        .expect("two errors");
        let outer = join([
            BoxError::from(CodedError::new(Code::InvalidInput, "a")),
            BoxError::from(CodedError::wrap(Code::Internal, "b", inner)),
            BoxError::from(CodedError::new(Code::NotFound, "c")),
        ])
        .expect("three errors");
        let names: Vec<String> = chain(&outer)
            .iter()
            .filter_map(|e| e.downcast_ref::<CodedError>())
            .map(|e| e.context.clone())
            .collect();
        assert_eq!(
            names,
            ["a", "b", "b1", "b2", "b2-cause", "c"],
            "chain() should go depth-first: into b's joined errors before moving on to c"
        );
        let joined_nodes = chain(&outer).iter().filter(|e| e.is::<Joined>()).count();
        assert_eq!(
            joined_nodes, 2,
            "the Joined nodes themselves are part of the walk"
        );
        assert_eq!(
            codes(&outer),
            [
                Code::InvalidInput,
                Code::Internal,
                Code::NotFound,
                Code::Timeout,
                Code::Internal,
                Code::NotFound
            ],
            "codes() in chain order"
        );
    });
}

#[test]
fn run_all_joins_failures_and_keeps_the_panic_location() {
    grade("ex03", LIMIT, || {
        let panic_line = Arc::new(AtomicU32::new(0));
        let recorded = panic_line.clone();
        let result = run_all(vec![
            Task::new("load", || Ok(())),
            Task::new("lookup", || Err(CodedError::new(Code::NotFound, "user 42"))),
            Task::new("render", move || {
                explode(&recorded);
                Ok(())
            }),
            Task::new("save", || Ok(())),
        ]);
        assert!(
            run_all(vec![Task::new("fine", || Ok(()))]).is_ok(),
            "no failures gives Ok(())"
        );

        let joined = result.expect_err("two tasks failed, so run_all should return Err(Joined)");
        assert_eq!(
            joined.len(),
            2,
            "one error per failed task: the Err and the panic"
        );
        assert_eq!(
            codes(&joined),
            [Code::NotFound, Code::Internal],
            "the panic becomes a CodedError with Code::Internal"
        );

        let panicked = joined
            .errors()
            .filter_map(|e| e.downcast_ref::<CodedError>())
            .find(|e| e.code == Code::Internal)
            .expect("the panic is reported as a CodedError");
        assert_eq!(
            panicked.context, "task render panicked",
            "the context names the task that panicked"
        );

        let origin: &PanicError =
            find_panic(&joined).expect("find_panic should reach the PanicError through the chain");
        assert_eq!(origin.message, "disk on fire");
        let line = panic_line.load(Ordering::SeqCst);
        assert_eq!(
            format!("{}:{}", origin.file, origin.line),
            format!("{}:{}", file!(), line),
            "following the chain should lead to the file:line of the original panic"
        );
        assert!(
            find_panic(&CodedError::new(Code::NotFound, "x")).is_none(),
            "no panic in the chain, None"
        );
    });
}
